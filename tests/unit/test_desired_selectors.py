"""Selectors: which group manages which device; conflicts and unmanaged devices."""

from __future__ import annotations

import pytest

from reconciler.core.inventory import Device, Inventory
from reconciler.core.selectors import Selection, Selector, assign

INV = Inventory.of(
    [
        Device("S1", "fw-br-001", model="PA-440", device_group="branches", device_type="standalone"),
        Device("S2", "FW-BR-002", model="PA-460", device_group="branches", device_type="standalone"),
        Device("S3", "fw-dc-1a", model="PA-3220", device_group="dc", device_type="ha_pair", peer_serial="S4"),
        Device("S4", "fw-dc-1b", model="PA-3220", device_group="dc", device_type="ha_pair", peer_serial="S3"),
        Device("S5", "lab-1", model="PA-VM", device_group="lab", device_type="standalone"),
    ]
)


def matched(selector: Selector) -> list[str]:
    return [d.serial for d in INV if selector.matches(d)]


@pytest.mark.parametrize(
    "selector, serials",
    [
        (Selector(device_groups=frozenset({"branches"})), ["S1", "S2"]),
        (Selector(serials=frozenset({"S5", "nope"})), ["S5"]),
        (Selector(hostnames=("fw-br-*",)), ["S1", "S2"]),  # globs are case-insensitive
        (Selector(models=("pa-4*",)), ["S1", "S2"]),
        (Selector(models=("PA-4*",), hostnames=("*001",)), ["S1"]),  # criteria AND
        (Selector(device_groups=frozenset({"branches", "lab"}), models=("PA-VM",)), ["S5"]),  # values OR
        (Selector(ha_pairs=frozenset({"S4"})), ["S3", "S4"]),  # either member selects the pair
        (Selector(ha=True), ["S3", "S4"]),
        (Selector(ha=False, device_groups=frozenset({"dc", "lab"})), ["S5"]),
        (Selector(all=True), ["S1", "S2", "S3", "S4", "S5"]),
        (Selector(), []),
    ],
)
def test_selector_matching(selector: Selector, serials: list[str]) -> None:
    assert matched(selector) == serials


def test_selector_json_round_trip() -> None:
    s = Selector(frozenset({"b", "a"}), frozenset({"x"}), ("h*",), ("PA-*",), frozenset({"p"}), True, False)
    assert Selector.from_json(s.to_json()) == s
    assert s.to_json()["deviceGroups"] == ["a", "b"]


def test_assign_gives_one_group_reports_conflicts_and_leaves_the_rest_unmanaged() -> None:
    branches = Selection((Selector(device_groups=frozenset({"branches"})),))
    pa440 = Selection((Selector(models=("PA-440",)),))
    dc = Selection((Selector(ha=True),), (Selector(serials=frozenset({"S4"})),))
    result = assign([("branches", branches), ("small", pa440), ("dc", dc)], INV)
    assert result.group_of == {"S2": "branches", "S3": "dc"}
    assert result.conflicts == {"S1": ("branches", "small")}
    assert result.members("dc") == ["S3"]
    unmanaged = {d.serial for d in INV} - set(result.group_of) - set(result.conflicts)
    assert unmanaged == {"S4", "S5"}


def test_assign_uses_every_clause_once() -> None:
    sel = Selection((Selector(serials=frozenset({"S1"})), Selector(hostnames=("fw-br-00*",))))
    assert assign([("g", sel)], INV).group_of == {"S1": "g", "S2": "g"}


def test_explicit_serials() -> None:
    sel = Selection(
        (Selector(serials=frozenset({"A", "B"})), Selector(serials=frozenset({"C"}), models=("x",))),
        (Selector(serials=frozenset({"B"})),),
    )
    assert sel.explicit_serials() == frozenset({"A"})
