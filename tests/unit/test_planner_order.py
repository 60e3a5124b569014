"""Longest units first (issue 18.4): within a wave, the planner orders a group's units by their remaining
work (per hop an install with its reboot, per image still to download; an HA pair both members' work), the
longest first, ties by hostname then serial; ``maxParallel`` slots go in that order; canaries and waves do
not change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from reconciler.core.desired import DesiredState, build
from reconciler.core.inventory import Device, Inventory
from reconciler.core.observed import Observed
from reconciler.core.plan import HOP_WORK, IMAGE_WORK
from reconciler.core.planner import BLOCKED, UPGRADE, Plan, plan
from reconciler.core.progress import DeviceProgress
from reconciler.core.upgrade_path import parse_upgrade_paths
from reconciler.core.version import PanOsVersion

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
V = PanOsVersion.parse
CATALOG = ["10.1.14-h9", "10.2.0", "10.2.9", "11.0.0", "11.0.6", "11.1.0", "11.1.4", "11.1.6-h1"]


def desired(**kw: Any) -> DesiredState:
    return build(
        [
            {
                "apiVersion": "panos-upgrade/v1",
                "groups": [{"name": "br", "select": {"deviceGroups": ["br"]}, "target": "11.1.6-h1", **kw}],
            }
        ]
    )


def fw(serial: str, version: str = "11.1.4", hostname: str | None = None) -> Device:
    return Device(
        serial,
        hostname or f"fw-{serial.lower()}",
        sw_version=version,
        device_group="br",
        device_type="standalone",
        ha_state="standalone",
    )


def pair(a: str, b: str, version: str = "11.1.4") -> list[Device]:
    return [
        Device(
            s,
            f"fw-{s.lower()}",
            sw_version=version,
            device_group="br",
            device_type="ha_pair",
            ha_state="active" if s == a else "passive",
            peer_serial=p,
        )
        for s, p in ((a, b), (b, a))
    ]


def offered(version: str, downloaded: tuple[str, ...] = ()) -> Observed:
    return Observed.of(version, available=CATALOG, downloaded=list(downloaded))


def run(
    state: DesiredState,
    devices: list[Device],
    observed: Mapping[str, Observed] | None = None,
    status: Mapping[str, DeviceProgress] | None = None,
) -> Plan:
    return plan(state, Inventory.of(devices), observed or {}, status or {}, NOW)


def order(p: Plan) -> list[str]:
    return [d.serial for d in sorted(p.devices, key=lambda d: (d.order or 0, d.ha_member or 0))]


def test_units_with_more_hops_start_first_and_equal_work_keeps_the_hostname_order() -> None:
    # "b" three hops (upgrade_paths.json) with six images, "d" one hop with three images, "a" and "c" one hop and one
    # image each.
    table = parse_upgrade_paths({"10.1.14-h9": ["10.2.9", "11.0.6", "11.1.6-h1"]})
    state = desired().with_upgrade_paths(table)
    devices = [fw("A", "11.1.4"), fw("B", "10.1.14-h9"), fw("C", "11.1.4"), fw("D", "10.2.9")]
    obs = {d.serial: offered(d.sw_version) for d in devices}
    p = run(state, devices, obs)
    hops = {d.serial: len(d.hops) for d in p.devices}
    images = {d.serial: len(d.missing_images) for d in p.devices}
    assert (hops, images) == ({"A": 1, "B": 3, "C": 1, "D": 1}, {"A": 1, "B": 6, "C": 1, "D": 3})
    for d in p.devices:
        assert d.work == hops[d.serial] * HOP_WORK + images[d.serial] * IMAGE_WORK
    assert order(p) == ["B", "D", "A", "C"]
    assert [p.device(s).order for s in "BDAC"] == [1, 2, 3, 4]  # type: ignore[union-attr]


def test_images_already_downloaded_count_less() -> None:
    devices = [fw("A", "11.1.4"), fw("B", "11.1.4")]
    obs = {"A": offered("11.1.4", ("11.1.6-h1",)), "B": offered("11.1.4")}
    p = run(desired(), devices, obs)
    assert p.device("B").work == HOP_WORK + IMAGE_WORK  # type: ignore[union-attr]
    assert p.device("A").work == HOP_WORK  # type: ignore[union-attr]
    assert order(p) == ["B", "A"]


def test_an_ha_pair_counts_both_members_work_and_goes_before_a_standalone_of_the_same_path() -> None:
    devices = [fw("A", hostname="aa"), *pair("P1", "P2")]  # "aa" sorts before "fw-p1"
    p = run(desired(), devices)
    one = HOP_WORK + IMAGE_WORK
    assert p.device("A").work == one  # type: ignore[union-attr]
    assert p.device("P1").work == p.device("P2").work == 2 * one  # type: ignore[union-attr]
    assert order(p) == ["P2", "P1", "A"]  # the pair first, its passive member (P2) first within it


def test_max_parallel_slots_go_to_the_longest_units() -> None:
    devices = [fw("A", "11.1.4"), fw("B", "11.1.4"), fw("C", "10.2.9")]
    obs = {d.serial: offered(d.sw_version) for d in devices}
    p = run(desired(maxParallel=1), devices, obs)
    queued = {d.serial: d.queued for d in p.devices}
    assert queued == {"C": False, "A": True, "B": True}
    assert all(p.device(s).action == UPGRADE for s in "ABC")  # type: ignore[union-attr]


def test_canaries_and_waves_do_not_change_longest_first_orders_within_each_wave() -> None:
    # The canary is the first unit by hostname ("a", one hop), not the longest: waves stay as they were.
    devices = [fw("A", "11.1.4", "a"), fw("B", "11.1.4", "b"), fw("C", "10.2.9", "c"), fw("D", "11.0.6", "d")]
    obs = {d.serial: offered(d.sw_version) for d in devices}
    p = run(desired(waves={"canary": 1}), devices, obs)
    waves = {d.serial: d.wave for d in p.devices}
    assert waves == {"A": 1, "B": 2, "C": 2, "D": 2}
    assert order(p) == ["A", "C", "D", "B"]
    assert p.device("A").action == UPGRADE  # type: ignore[union-attr]
    assert {p.device(s).reason for s in "BCD"} == {"wave-pending"}  # type: ignore[union-attr]
    assert {p.device(s).action for s in "BCD"} == {BLOCKED}  # type: ignore[union-attr]


def test_remaining_work_is_counted_from_the_observed_version() -> None:
    # The same inventory version, but one device is observed further along: less is left to do on it.
    devices = [fw("A", "10.2.9", "a"), fw("B", "10.2.9", "b")]
    obs = {"A": offered("11.1.4"), "B": offered("10.2.9")}
    p = run(desired(), devices, obs)
    assert p.device("B").work > p.device("A").work  # type: ignore[union-attr]
    assert order(p) == ["B", "A"]


def test_the_order_is_deterministic_whatever_the_inventory_order() -> None:
    devices = [fw("A", "11.1.4"), fw("B", "10.2.9"), *pair("P1", "P2"), fw("C", "11.1.4")]
    obs = {d.serial: offered(d.sw_version) for d in devices}
    first = run(desired(), devices, obs)
    second = run(desired(), devices[::-1], obs)
    assert [(d.serial, d.order, d.work) for d in first.devices] == [
        (d.serial, d.order, d.work) for d in second.devices
    ]
