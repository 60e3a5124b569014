"""Panorama as a desired-state target (issue 16 point 2), pure parts: the ``panorama`` block, and the
planner putting Panorama's unit first and holding firewalls back with ``panorama-upgrade-pending`` until
Panorama is verified on its new version."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.desired import PANORAMA_GROUP, DesiredState, DesiredStateInvalid, build
from reconciler.core.inventory import Device, Inventory
from reconciler.core.observed import Observed
from reconciler.core.plan import (
    BLOCK_REASONS,
    BLOCKED,
    CONVERGED,
    FAILED_REASON,
    NONE,
    OUTSIDE_WINDOW,
    PANORAMA_TOO_OLD,
    PANORAMA_UPGRADE_PENDING,
    UPGRADE,
    Plan,
)
from reconciler.core.planner import plan
from reconciler.core.progress import DeviceProgress
from reconciler.core.version import PanOsVersion
from reconciler.device import parsers as px
from tests.unit.test_planner import CATALOG, NOW, fw, group, offered

V = PanOsVersion.parse
PANO = "000710000001"
PEER = "000710000002"


def desired(panorama: dict[str, Any] | None, *groups: dict[str, Any]) -> DesiredState:
    doc: dict[str, Any] = {"apiVersion": "panos-upgrade/v1", "groups": list(groups)}
    if panorama is not None:
        doc["panorama"] = panorama
    return build([doc])


def panoramas(version: str = "11.1.4", peer: str | None = None) -> tuple[Device, ...]:
    if peer is None:
        return (Device(PANO, "panorama", "127.0.0.1", "M-200", version, "", "standalone", "standalone"),)
    return (
        Device(PANO, "panorama", "127.0.0.1", "M-200", version, "", "ha_pair", "active", PEER),
        Device(PEER, "panorama-b", "127.0.0.2", "M-200", peer, "", "ha_pair", "passive", PANO),
    )


def run(
    d: DesiredState,
    devices: list[Device],
    pano: tuple[Device, ...],
    status: dict[str, DeviceProgress] | None = None,
    seen: dict[str, Observed] | None = None,
) -> Plan:
    versions = [p.sw_version for p in pano]
    inventory = Inventory.of(
        devices,
        panorama_version=versions[0] if versions else "",
        panorama_peer_version=versions[1] if len(versions) > 1 else "",
        panoramas=pano,
    )
    observed = {s.serial: offered() for s in (*devices, *pano)}
    observed.update(seen or {})
    return plan(d, inventory, observed, status or {}, NOW)


def test_the_block_builds_panoramas_group_and_changes_the_digest() -> None:
    without = desired(None, group("br"))
    with_block = desired({"target": "12.1.3"}, group("br"))
    assert without.panorama is None and with_block.panorama is not None
    assert with_block.panorama.name == PANORAMA_GROUP and str(with_block.panorama.target) == "12.1.3"
    assert with_block.group(PANORAMA_GROUP) is with_block.panorama
    assert without.digest != with_block.digest
    # The normalised form is a valid input again, with the same digest.
    assert build([with_block.to_json()]).digest == with_block.digest
    # Only a panorama block: a valid desired state without firewall groups.
    assert build([{"apiVersion": "panos-upgrade/v1", "panorama": {"target": "12.1.3"}}]).groups == ()


def test_the_block_refuses_a_group_of_its_name_and_a_bad_path() -> None:
    with pytest.raises(DesiredStateInvalid) as err:
        desired({"target": "12.1.3"}, group(PANORAMA_GROUP))
    assert err.value.problems[0].path == ("groups", 0, "name")
    with pytest.raises(DesiredStateInvalid) as err:
        desired({"target": "11.2.7", "path": ["12.1.2"]}, group("br"))
    assert err.value.problems[0].path == ("panorama", "path", 0)
    assert "beyond the target 11.2.7" in err.value.problems[0].message
    # Without the block, a group may still be called panorama.
    assert desired(None, group(PANORAMA_GROUP)).groups[0].name == PANORAMA_GROUP


def test_panorama_is_planned_first_and_firewalls_needing_it_wait() -> None:
    d = desired({"target": "12.1.3"}, group("br", target="12.1.3"), group("lab", target="11.1.6-h1"))
    p = run(d, [fw("A"), fw("B", dg="lab")], panoramas())
    assert p.devices[0].serial == PANO and p.groups[0].name == PANORAMA_GROUP
    pano = p.device(PANO)
    assert pano is not None and pano.action == UPGRADE and pano.group == PANORAMA_GROUP
    # The same path rules as a standalone firewall: one install, the base images downloaded first.
    assert [str(h.version) for h in pano.hops] == ["12.1.3"]
    assert [str(v) for v in pano.missing_images] == ["11.2.0", "12.1.2", "12.1.3"]
    a, b = p.device("A"), p.device("B")
    assert a is not None and (a.action, a.reason) == (BLOCKED, PANORAMA_UPGRADE_PENDING)
    assert a.detail == (
        "Panorama runs 11.1.4; 12.1.3 needs Panorama 12.1.2 or later; waiting for Panorama's upgrade to "
        "12.1.3 (Panorama's upgrade is planned)"
    )
    assert b is not None and b.action == UPGRADE  # Panorama 11.1.4 manages 11.1.6-h1 already
    assert p.group("br").blocked == {PANORAMA_UPGRADE_PENDING: 1}  # type: ignore[union-attr]
    assert PANORAMA_UPGRADE_PENDING in BLOCK_REASONS


def test_too_old_stays_without_a_target_or_with_one_that_does_not_manage_the_hop() -> None:
    p = run(desired(None, group("br", target="12.1.3")), [fw("A")], panoramas())
    assert p.device("A").reason == PANORAMA_TOO_OLD  # type: ignore[union-attr]
    p = run(desired({"target": "11.2.7"}, group("br", target="12.1.3")), [fw("A")], panoramas())
    a = p.device("A")
    assert a is not None and a.reason == PANORAMA_TOO_OLD
    assert a.detail.endswith("the panorama target 11.2.7 does not manage it either")


def in_progress(serial: str, version: str, target: str = "12.1.3") -> DeviceProgress:
    return DeviceProgress(
        serial,
        "in_progress",
        target=V(target),
        starting_version=V("11.1.4"),
        current_version=V(version),
        updated_at=NOW,
    )


def test_firewalls_wait_while_panorama_works_and_go_once_it_is_verified() -> None:
    d = desired({"target": "12.1.3"}, group("br", target="12.1.3"))
    # Rebooted onto the target, not yet verified: still waiting.
    seen = {PANO: Observed.of(V("12.1.3"), available=CATALOG)}
    p = run(d, [fw("A")], panoramas(), {PANO: in_progress(PANO, "12.1.3")}, seen)
    a = p.device("A")
    assert a is not None and a.reason == PANORAMA_UPGRADE_PENDING
    assert a.detail.endswith(f"(Panorama {PANO} in progress)")
    # Verified (the engine's record is done): the firewall goes, with no operator action.
    done = DeviceProgress(
        PANO, "done", target=V("12.1.3"), current_version=V("12.1.3"), finished_at=NOW, updated_at=NOW
    )
    p = run(d, [fw("A")], panoramas(), {PANO: done}, seen)
    assert (p.device(PANO).action, p.device(PANO).reason) == (NONE, CONVERGED)  # type: ignore[union-attr]
    assert p.device("A").action == UPGRADE  # type: ignore[union-attr]


def test_a_failed_panorama_leaves_the_firewalls_waiting() -> None:
    d = desired({"target": "12.1.3"}, group("br", target="12.1.3"))
    failed = DeviceProgress(
        PANO,
        "failed",
        target=V("12.1.3"),
        reason="ha-rejoin-timeout: not back in sync",
        current_version=V("12.1.3"),
        finished_at=NOW,
        updated_at=NOW,
        group_digest=d.group_digest(d.panorama),  # type: ignore[arg-type]
    )
    seen = {PANO: Observed.of(V("12.1.3"), available=CATALOG)}
    p = run(d, [fw("A")], panoramas(), {PANO: failed}, seen)
    assert p.device(PANO).reason == FAILED_REASON  # type: ignore[union-attr]
    a = p.device("A")
    assert a is not None and (a.action, a.reason) == (BLOCKED, PANORAMA_UPGRADE_PENDING)
    assert f"Panorama {PANO} failed:" in a.detail


def test_panoramas_window_gates_its_own_upgrade_only() -> None:
    closed = [{"days": ["mon"], "start": "01:00", "end": "02:00", "timezone": "UTC"}]  # NOW is a Saturday
    d = desired({"target": "12.1.3", "maintenanceWindows": closed}, group("br", target="11.1.6-h1"))
    p = run(d, [fw("A")], panoramas())
    assert p.device(PANO).reason == OUTSIDE_WINDOW  # type: ignore[union-attr]
    assert p.device("A").action == UPGRADE  # type: ignore[union-attr]
    assert p.groups[0].window_open is False and p.groups[1].window_open is True


def test_a_panorama_ha_pair_is_one_unit_passive_first_and_the_older_member_counts() -> None:
    d = desired({"target": "12.1.3"}, group("br", target="12.1.3"))
    p = run(d, [fw("A")], panoramas("11.1.4", peer="11.1.4"))
    first, second = p.devices[0], p.devices[1]
    assert (first.serial, first.ha_member, second.serial, second.ha_member) == (PEER, 1, PANO, 2)
    assert first.ha_pair == second.ha_pair and first.action == second.action == UPGRADE
    # One member done on the target, the other still on the old release: not verified, the firewall waits.
    done = DeviceProgress(PEER, "done", target=V("12.1.3"), current_version=V("12.1.3"), updated_at=NOW)
    seen = {PEER: Observed.of(V("12.1.3"), available=CATALOG)}
    p = run(d, [fw("A")], panoramas("11.1.4", peer="11.1.4"), {PEER: done}, seen)
    assert p.device("A").reason == PANORAMA_UPGRADE_PENDING  # type: ignore[union-attr]


def test_an_undiscovered_panorama_peer_blocks_panorama_and_its_firewalls() -> None:
    d = desired({"target": "12.1.3"}, group("br", target="12.1.3"))
    unknown = (
        Device(PANO, "panorama", "127.0.0.1", "M-200", "11.1.4", "", "unknown", "unknown", error="HA peer x"),
    )
    p = run(d, [fw("A")], unknown)
    assert p.device(PANO).reason == "ha-peer-unhealthy"  # type: ignore[union-attr]
    assert p.device("A").reason == PANORAMA_UPGRADE_PENDING  # type: ignore[union-attr]
    # An inventory from before Panorama was recorded as a device: the firewalls say what to do.
    inventory = Inventory.of([fw("A")], panorama_version="11.1.4")
    p = plan(d, inventory, {"A": offered()}, {}, NOW)
    assert "run 'panos-upgrade device discover'" in p.device("A").detail  # type: ignore[union-attr]


def test_panorama_ha_answer_reads_as_a_firewall_pair() -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(
        "<response status='success'><result><enabled>yes</enabled>"
        "<local-info><state>secondary-passive</state><build-rel>12.1.3</build-rel></local-info>"
        "<peer-info><conn-status>up</conn-status><state>primary-active</state>"
        "<mgmt-ip>127.0.0.2/8</mgmt-ip><build-rel>11.1.4</build-rel></peer-info>"
        "<running-sync>not synchronized</running-sync></result></response>"
    )
    ha = px.panorama_ha(root)
    assert (ha.peer_address, ha.peer_version, ha.local_version) == ("127.0.0.2", "11.1.4", "12.1.3")
    view = ha.as_ha_state()
    assert (view.local_state, view.peer_state, view.peer_connected) == ("passive", "active", True)
    assert view.state_sync == "complete" and view.running_sync == "not synchronized"
    assert px.panorama_role("Primary-Suspended") == "suspended"


def test_a_stale_plan_notices_panoramas_devices() -> None:
    inv = Inventory.of([fw("A")], panoramas=panoramas())
    back = Inventory.from_json(inv.to_json())
    assert back.panoramas == inv.panoramas and back.digest() == inv.digest()
    assert Inventory.of([fw("A")]).digest() != inv.digest()
    assert back.panorama_device(PANO) is not None and back.get(PANO) is None


def test_validate_warns_that_firewalls_will_wait_for_the_declared_panorama() -> None:
    from reconciler.core.panorama import target_warnings

    targets = [("br", V("12.1.3")), ("dc", V("11.1.6-h1"))]
    waiting = target_warnings(targets, ("11.1.4", ""), V("12.1.3"))
    assert len(waiting) == 1 and waiting[0].startswith(
        "group 'br': target 12.1.3 is past what Panorama manages"
    )
    assert waiting[0].endswith("its firewalls will wait panorama-upgrade-pending until Panorama runs 12.1.3")
    # A declared target that does not manage it either, or none: panorama-too-old.
    for declared in (V("11.2.7"), None):
        (line,) = target_warnings(targets, ("11.1.4", ""), declared)
        assert line.endswith("will be blocked panorama-too-old until Panorama is upgraded")


def test_the_engine_starts_panoramas_unit_before_any_firewall() -> None:
    from reconciler.engine.reconcile import _start_order

    # The firewall has more work left (two hops) than Panorama: the work-first order alone would start it
    # first and could fill workers.max before Panorama, which the waiting firewalls need.
    d = desired({"target": "11.1.6-h1"}, group("br", target="11.1.6-h1"))
    p = run(d, [fw("A", version="10.2.9")], panoramas("11.1.4"))
    assert p.device("A").work > p.device(PANO).work  # type: ignore[union-attr]
    devices, _ = _start_order(p)
    assert [dp.serial for dp in devices] == [PANO, "A"]
