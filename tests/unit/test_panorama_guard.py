"""The Panorama compatibility guard (issue 16 point 1): the rule, and the planner blocking a firewall hop
past what its Panorama manages with ``panorama-too-old``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.core.inventory import Inventory
from reconciler.core.panorama import can_manage, managing_version, min_panorama_for
from reconciler.core.plan import BLOCK_REASONS, PANORAMA_TOO_OLD
from reconciler.core.planner import BLOCKED, UPGRADE, plan
from reconciler.core.version import PanOsVersion
from reconciler.sim.panorama import can_manage as sim_can_manage
from reconciler.sim.version import Version as SimVersion
from tests.unit.test_planner import CATALOG, NOW, desired, fw, group, offered, pair

V = PanOsVersion.parse


@pytest.mark.parametrize(
    ("panorama", "firewall", "ok"),
    [
        ("12.1.3", "11.1.4", True),
        ("11.1.4", "12.1.3", False),
        ("11.1.4", "11.1.6-h1", True),  # later maintenance release, Panorama 10.2.7 or later
        ("10.2.7", "10.2.13-h3", True),
        ("10.2.4", "10.2.9", False),  # before 10.2.7: only the same or an older release
        ("10.2.9", "10.2.9", True),
        ("10.2.13-h3", "11.0.0", False),
        ("10.1.14", "10.1.14-h9", False),
    ],
)
def test_rule(panorama: str, firewall: str, ok: bool) -> None:
    assert can_manage(V(panorama), V(firewall)) is ok
    # The simulator models the same documented rule with its own code.
    assert sim_can_manage(SimVersion.parse(panorama), SimVersion.parse(firewall)) is ok


def test_rule_agrees_with_the_simulator_over_the_catalogue() -> None:
    versions = [*CATALOG, "10.2.4", "10.2.7"]
    for p in versions:
        for f in versions:
            assert can_manage(V(p), V(f)) is sim_can_manage(SimVersion.parse(p), SimVersion.parse(f)), (p, f)
            assert can_manage(min_panorama_for(V(f)), V(f)), f


def test_min_panorama_and_managing_version() -> None:
    assert str(min_panorama_for(V("12.1.3"))) == "12.1.2"  # 12.1's first release
    assert str(min_panorama_for(V("11.1.6-h1"))) == "11.1.0"
    assert str(min_panorama_for(V("10.2.9"))) == "10.2.7"
    assert str(min_panorama_for(V("10.2.4"))) == "10.2.4"
    assert str(managing_version(["11.1.4", "12.1.3"])) == "11.1.4"  # a Panorama HA pair mid-upgrade
    assert managing_version(["", ""]) is None
    assert PANORAMA_TOO_OLD in BLOCK_REASONS


def _plan(devices: list, panorama_version: str, peer: str = "", target: str = "12.1.3"):  # type: ignore[no-untyped-def]
    inventory = Inventory.of(devices, panorama_version=panorama_version, panorama_peer_version=peer)
    observed = {d.serial: offered() for d in devices}
    return plan(desired(group("br", target=target)), inventory, observed, {}, NOW)


def test_planner_blocks_a_hop_past_panorama() -> None:
    p = _plan([fw("A", version="11.1.4")], "11.1.4")
    a = p.device("A")
    assert a is not None and (a.action, a.reason) == (BLOCKED, PANORAMA_TOO_OLD)
    assert a.detail == "Panorama runs 11.1.4; 12.1.3 needs Panorama 12.1.2 or later"  # the first hop past it
    summary = p.groups[0]
    assert summary.blocked == {PANORAMA_TOO_OLD: 1}


def test_planner_allows_what_panorama_manages() -> None:
    # Same feature release, later maintenance release: Panorama 11.1.4 manages 11.1.6-h1.
    p = _plan([fw("A", version="11.1.4")], "11.1.4", target="11.1.6-h1")
    assert p.device("A").action == UPGRADE  # type: ignore[union-attr]
    # Panorama on the target's release: fine; unknown Panorama version: no guard (discovery did not say).
    assert _plan([fw("A", version="11.1.4")], "12.1.3").device("A").action == UPGRADE  # type: ignore[union-attr]
    assert _plan([fw("A", version="11.1.4")], "").device("A").action == UPGRADE  # type: ignore[union-attr]


def test_the_older_panorama_of_an_ha_pair_limits() -> None:
    p = _plan([fw("A", version="11.1.4")], "12.1.3", peer="11.1.4")
    a = p.device("A")
    assert a is not None and a.reason == PANORAMA_TOO_OLD and a.detail.startswith("Panorama runs 11.1.4;")


def test_an_ha_pair_is_blocked_as_a_unit() -> None:
    devices = pair("H1", "H2", dg="br", version="11.1.4")
    p = _plan(devices, "11.1.4", target="11.2.7")
    assert {p.device(s).reason for s in ("H1", "H2")} == {PANORAMA_TOO_OLD}  # type: ignore[union-attr]


def test_inventory_keeps_panorama_versions_and_digest() -> None:
    inv = Inventory.of([fw("A")], panorama="pano", panorama_version="11.1.4", panorama_peer_version="11.1.6")
    back = Inventory.from_json(inv.to_json())
    assert (back.panorama_version, back.panorama_peer_version) == ("11.1.4", "11.1.6")
    assert back.digest() == inv.digest()
    assert Inventory.of([fw("A")]).digest() != inv.digest()  # planning depends on it
    assert Inventory.of([fw("A")], panorama="pano").digest() == Inventory.of([fw("A")]).digest()


def test_validate_inventory_warns_about_targets_past_panorama(
    tmp_path: Path, runner: CliRunner, home: Path
) -> None:
    desired_file = tmp_path / "d.yaml"
    desired_file.write_text(
        """\
apiVersion: panos-upgrade/v1
groups:
  - {name: br, select: {deviceGroups: [br]}, target: "12.1.3"}
  - {name: dc, select: {deviceGroups: [dc]}, target: "11.1.6-h1"}
"""
    )
    inv = tmp_path / "inventory.json"
    devices = [fw("A", dg="br"), fw("B", dg="dc")]
    inv.write_text(json.dumps(Inventory.of(devices, panorama_version="11.1.4").to_json()))
    result = runner.invoke(app, ["validate", str(desired_file), "--inventory", str(inv)])
    assert result.exit_code == 0, result.output
    assert (
        "warning: group 'br': target 12.1.3 is past what Panorama manages (Panorama runs 11.1.4; 12.1.3 "
        "needs Panorama 12.1.2 or later)"
    ) in result.stderr
    assert "group 'dc'" not in result.stderr  # a later maintenance release of Panorama's own: managed
    as_json = runner.invoke(app, ["validate", str(desired_file), "--inventory", str(inv), "--json"])
    warnings = json.loads(as_json.stdout)["warnings"]
    assert [w.split(":")[0] for w in warnings] == ["group 'br'"]
    # Without a known Panorama version there is nothing to warn about.
    inv.write_text(json.dumps(Inventory.of(devices).to_json()))
    assert (
        "Panorama" not in runner.invoke(app, ["validate", str(desired_file), "--inventory", str(inv)]).stderr
    )
