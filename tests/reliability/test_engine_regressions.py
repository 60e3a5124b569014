"""Engine defects the reliability suite found, each pinned by a test."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from reconciler.device import discovery
from reconciler.device.parsers import HaState, PanoramaDevice, SystemInfo
from reconciler.engine.session import open_session
from reconciler.machine import step
from reconciler.machine.commands import PollReady, Reboot
from reconciler.machine.observations import CommandFailed, DeviceAnswered
from reconciler.machine.records import Hop, Phase, new_record
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import FleetSpec, HaSpec
from reconciler.workdir import inventory_store, record_store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths
from tests.integration.fleet_env import HEADER, fleet_env
from tests.integration.test_engine import dev, group
from tests.reliability import hostile
from tests.reliability.conftest import block

DESIRED = (
    HEADER
    + 'groups:\n  - name: dc\n    select: {deviceGroups: [dc]}\n    target: "11.1.6-h1"\n'
    + "    validation: {minDiskGb: 1.5, tcpSessionMargin: 0.5}\n"
)


def test_resumed_records_get_their_groups_settings(work: WorkPaths, tmp_path: Path) -> None:
    """Found by the chaos test: after a SIGKILL, devices resumed before the first pass loaded the desired
    state got the default margins (5 % sessions, 5 GB free disk) for the rest of their hop, so a group that
    asked for a stricter margin was validated more loosely after a crash, and a looser one failed."""
    inventory_store.save(work, hostile.INVENTORY)
    desired = tmp_path / "desired.yaml"
    desired.write_text(DESIRED)
    record = new_record(
        serial="001",
        starting_version="11.1.2",
        target_version="11.1.6-h1",
        hops=(Hop("11.1.6-h1", ("11.1.6-h1",)),),
        now=datetime(2026, 1, 1, tzinfo=UTC),
        group="dc",
    )
    record_store.save(work, record)
    session = open_session(work, Config.load(work.config_file), desired_path=desired, serve_metrics=False)
    try:
        assert [] == session.reconciler.load_records()
        settings = session.executor.devices["001"].settings
        assert (1.5, 0.5) == (settings.min_disk_gb, settings.tcp_session_margin)
    finally:
        session.close()


def test_a_blocked_ha_pair_holds_no_worker_slot(tmp_path: Path) -> None:
    """Found by the chaos test: when one member failed on a later hop, the other rested in next_hop and was
    counted in flight for good; with ``workers.max`` such pairs no device could ever start again."""
    failing = (Fault.create("install_fail", version="11.1.6-h1"),)
    fleet = FleetSpec(
        devices=(
            dev("801", "10.2.9", ha=HaSpec("802", priority=10), faults=failing),
            dev("802", "10.2.9", ha=HaSpec("801", priority=20)),
            dev("811", "10.2.9", ha=HaSpec("812", priority=10), faults=failing),
            dev("812", "10.2.9", ha=HaSpec("811", priority=20)),
            dev("803", "11.1.2", device_group="lab"),
        )
    )
    lab = '  - name: lab\n    select: {deviceGroups: [lab]}\n    target: "%s"\n'
    budget = 'failureBudget: "100%"'
    with fleet_env(tmp_path, fleet, base_address=block(), **{"workers.max": 2}) as env:
        env.write_desired(group("11.1.6-h1", budget) + lab % "11.1.6-h1")
        _, records = env.converge(timeout=120)
        # Each pair needs both slots; once the first is blocked, the second (and 803) must still get them.
        assert {"801", "811"} <= set(records), f"a pair never started: {sorted(records)}"
        assert {Phase.FAILED} == {records[s].phase for s in ("801", "811")}
        assert {Phase.NEXT_HOP} == {records[s].phase for s in ("802", "812")}
        assert "11.1.6-h1" == env.sim.device("803").version


def test_an_ha_member_reporting_ha_disabled_is_not_taken_for_standalone() -> None:
    """Found by the faults test: periodic re-discovery caught a member right after its reboot, when it says
    "enabled: no"; it became standalone in the inventory, was upgraded alone past its peer's feature
    release, and the peer suspended itself ("Peer version too old"). Panorama still lists the peer."""
    listed = PanoramaDevice("008", "fw-008", "127.0.0.8", "PA-VM", "11.0.6", True, "passive", "007")
    info = SystemInfo("008", "fw-008", "PA-VM", "11.0.6")
    device = discovery._record(listed, "dc", discovery.Probe("008", info, HaState(enabled=False)), "now")
    assert ("unknown", "unknown") == (device.device_type, device.ha_state)
    assert "Panorama lists HA peer 007" in device.error
    alone = PanoramaDevice("009", "fw-009", "127.0.0.9", "PA-VM", "11.0.6", True)
    standalone = discovery._record(alone, "dc", discovery.Probe("009", info, HaState(enabled=False)), "now")
    assert "standalone" == standalone.device_type


def test_a_failed_poll_is_no_proof_that_a_device_rebooted() -> None:
    """Found by the faults test: the restart request was lost (HTTP 500 / dropped connection), one poll then
    failed too, and the device, still up on the old version with a long uptime, was declared "came back
    on the old version" and failed. Its uptime shows it never restarted: ask again after the grace period."""
    from tests.unit.machine_world import FAST, FakeFirewall, at, reboot_issued, record, run_until

    rec, now = run_until(record(), FakeFirewall("0001", "10.2.9"), PollReady)
    issued = reboot_issued(rec)
    rec = step(rec, CommandFailed("PollReady", True, "http-5xx", "HTTP 500"), at(now), FAST).record
    assert rec.reboot is not None and rec.reboot.seen_down
    result = step(rec, DeviceAnswered(True, "10.2.9", 86400), at(now + 1), FAST)
    assert Phase.WAIT_READY is result.record.phase, result.record.message
    again = step(rec, DeviceAnswered(True, "10.2.9", 86400), at(issued + FAST.reboot_start_grace), FAST)
    assert Phase.REBOOT is again.record.phase and (Reboot(),) == again.commands
