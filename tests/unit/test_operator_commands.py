"""Operator command files: reading (accept/reject), deciding through the state machine, applying offline."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler import machine
from reconciler.core.inventory import Device, Inventory
from reconciler.jobs import operator_requests, queue
from reconciler.jobs import operator_requests as oc
from reconciler.machine.commands import Reboot
from reconciler.machine.observations import Begin, CancelRequest, HoldRequest, PreflightResult, RetryRequest
from reconciler.machine.records import DeviceRecord, Hop, Phase, new_record
from reconciler.workdir import lock, record_store, schemas
from reconciler.workdir.layout import WorkPaths

T0 = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
INV = Inventory.of(
    [
        Device("001", "fw-1", "127.0.0.1", "PA-440", "10.2.9", "edge", "standalone", "standalone"),
        Device("002", "fw-2", "127.0.0.2", "PA-440", "10.2.9", "edge", "standalone", "standalone"),
        Device("003", "fw-3", "127.0.0.3", "PA-440", "", "edge", "unknown", "unknown"),
    ]
)


@pytest.fixture
def wp(tmp_path: Path) -> WorkPaths:
    paths = WorkPaths(tmp_path / "work")
    for d in paths.directories():
        d.mkdir(parents=True, exist_ok=True)
    return paths


def rec(serial: str = "001", job_id: str = "job-1", phase: str = "pending") -> DeviceRecord:
    """A record of ``job_id`` in a few reachable phases, built through the machine itself."""
    r = new_record(
        serial=serial,
        starting_version="10.2.9",
        target_version="11.0.3",
        hops=Hop.for_path("10.2.9", ("11.0.3",)),
        now=T0,
        hostname=f"fw-{serial}",
        job_id=job_id,
    )
    if phase == "pending":
        return r
    r = machine.step(r, Begin(), T0).record
    if phase == "preflight":
        return r
    if phase == "failed":
        return machine.step(r, PreflightResult("9.1.0", 40.0), T0).record  # a version off its path
    if phase == "held":
        return machine.step(r, HoldRequest(by="x"), T0).record
    if phase == "reboot":
        # Mid-reboot: not a safe point (between install submission and version verified).
        return r.with_changes(phase=Phase.REBOOT, outstanding=Reboot(), due_at="2026-03-01T01:00:00.000Z")
    raise AssertionError(phase)


def command(wp: WorkPaths, name: str, data: object) -> Path:
    path = wp.commands("incoming") / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def reasons(wp: WorkPaths) -> dict[str, str]:
    return {
        p.name.removesuffix(".reason"): p.read_text().strip()
        for p in wp.commands("rejected").iterdir()
        if p.name.endswith(".reason")
    }


def test_read_incoming_resolves_devices_and_jobs_and_moves_files(wp: WorkPaths) -> None:
    queue.submit(wp, [queue.JobSpec("web-job-123", "standalone", ("002",))], INV)
    command(
        wp, "a.json", {"command": "hold", "serial": "001", "reason": "change freeze", "submitted_by": "ann"}
    )
    command(
        wp,
        "b.json",
        {
            "command": "cancel_upgrade",
            "target": "job",
            "job_id": "web-job-123",
            "device_serial": "",
            "reason": "Admin takeover",
            "timestamp": "2025-11-21T12:30:00Z",
        },
    )
    command(wp, "c.json", {"command": "retry", "device_serial": "001"})
    requests = oc.read_incoming(wp, inventory=INV, now=T0)
    by_name = {r.file.name: r for r in requests}
    assert ("001",) == by_name["a.json"].serials
    assert HoldRequest(by="ann", reason="change freeze") == by_name["a.json"].observation
    assert (("002",), "web-job-123") == (by_name["b.json"].serials, by_name["b.json"].job_id)
    assert CancelRequest(by="operator", reason="Admin takeover") == by_name["b.json"].observation
    assert RetryRequest(by="operator") == by_name["c.json"].observation
    assert all(r.file.parent == wp.commands("processed") for r in requests)
    assert [] == os.listdir(wp.commands("incoming"))
    assert "2026-03-01T01:00:00.000Z" == requests[0].received_at


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"command": "cancel_upgrade", "target": "job", "job_id": "nope"}, "unknown job id 'nope'"),
        (
            {"command": "hold", "serial": "999"},
            "unknown serial '999': not in the inventory and no status file",
        ),
        (
            {"command": "hold", "serial": "001", "device_serial": "002"},
            "'serial' '001' and 'device_serial' '002' disagree",
        ),
        ({"command": "hold", "device_serial": ""}, "'serial' is required for a device command"),
        ({"command": "format_disk", "serial": "001"}, "command: 'format_disk' is not one of"),
        ({"command": "hold", "serial": "../001"}, "serial: '../001'"),
        ({"command": "cancel_upgrade", "target": "job", "job_id": "../../x"}, "job_id"),
        ("{not json", "invalid JSON"),
    ],
)
def test_bad_command_files_are_rejected_with_a_reason_and_no_side_effect(
    wp: WorkPaths, data: object, reason: str
) -> None:
    before = record_store.load_all(wp).records
    command(wp, "bad.json", data)
    assert [] == oc.read_incoming(wp, inventory=INV, now=T0)
    assert reason in reasons(wp)["bad.json"]
    assert (wp.commands("rejected") / "bad.json").exists()
    assert [] == os.listdir(wp.commands("processed"))
    assert before == record_store.load_all(wp).records
    assert not wp.audit_file.exists()


def request(wp: WorkPaths, data: dict[str, object]) -> oc.OperatorRequest:
    command(wp, "x.json", data)
    (req,) = oc.read_incoming(wp, inventory=INV, now=T0)
    return req


def test_decide_follows_the_machine_and_refuses_illegal_requests(wp: WorkPaths) -> None:
    hold = request(wp, {"command": "hold", "serial": "001", "reason": "freeze"})
    d = oc.decide(hold, "001", rec(phase="pending"), INV, T0)
    assert (oc.APPLIED, "pending", "held") == (d.outcome.result, d.outcome.from_phase, d.outcome.to_phase)
    assert d.record is not None and d.record.hold is not None and "freeze" == d.record.hold.reason
    at_safe_point = oc.decide(hold, "001", rec(phase="preflight"), INV, T0)
    assert (oc.APPLIED, "held") == (at_safe_point.outcome.result, at_safe_point.outcome.to_phase)
    deferred = oc.decide(hold, "001", rec(phase="reboot"), INV, T0)
    assert (oc.DEFERRED, "reboot") == (deferred.outcome.result, deferred.outcome.to_phase)
    assert "hold recorded; takes effect at the next safe point" == deferred.outcome.message
    assert deferred.record is not None and deferred.record.pending_request is not None
    again = oc.decide(hold, "001", rec(phase="held"), INV, T0)
    assert (oc.REFUSED, "already held", None) == (again.outcome.result, again.outcome.message, again.record)
    retry = request(wp, {"command": "retry", "serial": "001"})
    assert "only a failed or cancelled device can be retried (upgrade_status held); release it first" == (
        oc.decide(retry, "001", rec(phase="held"), INV, T0).outcome.message
    )
    done = oc.decide(retry, "001", rec(phase="failed"), INV, T0)
    assert (oc.APPLIED, "pending", 2) == (done.outcome.result, done.outcome.to_phase, done.record.attempt)  # type: ignore[union-attr]


def test_a_job_cancel_touches_only_that_jobs_records(wp: WorkPaths) -> None:
    queue.submit(wp, [queue.JobSpec("job-1", "standalone", ("001",))], INV)
    cancel = request(wp, {"command": "cancel_upgrade", "target": "job", "job_id": "job-1"})
    other = oc.decide(cancel, "001", rec(job_id="desired-rollout"), INV, T0)
    assert (oc.NOT_APPLICABLE, None) == (other.outcome.result, other.record)
    assert "belongs to job desired-rollout" in other.outcome.message
    mine = oc.decide(cancel, "001", rec(job_id="job-1"), INV, T0)
    assert ("cancelled", oc.APPLIED) == (mine.outcome.to_phase, mine.outcome.result)
    never = oc.decide(cancel, "001", None, INV, T0)
    assert oc.NOT_STARTED == never.outcome.result


def test_offline_apply_changes_the_status_file_and_audits(wp: WorkPaths) -> None:
    record_store.save(wp, rec("001", phase="failed"))
    command(wp, "retry.json", {"command": "retry", "serial": "001", "submitted_by": "ann"})
    requests = oc.read_incoming(wp, inventory=INV, now=T0)
    (outcome,) = oc.apply_offline(wp, requests, T0 + timedelta(minutes=1), inventory=INV)
    saved = record_store.load(wp.device_status_file("001"))
    assert (Phase.PENDING, 2, None) == (saved.phase, saved.attempt, saved.last_error)
    assert [] == schemas.errors("device-status", json.loads(wp.device_status_file("001").read_text()))
    out = json.loads((wp.commands("processed") / "retry.outcome.json").read_text())
    assert ("applied", "failed", "pending") == (
        out["devices"][0]["result"],
        out["devices"][0]["from_phase"],
        out["devices"][0]["to_phase"],
    )
    assert outcome.changed
    audit = [json.loads(line) for line in wp.audit_file.read_text().splitlines()]
    assert [("operator-retry", "ann", "001", "applied")] == [
        (a["action"], a["actor"], a["serial"], a["result"]) for a in audit
    ]


def test_hold_on_a_never_upgraded_device_creates_a_hold_only_record_that_release_removes(
    wp: WorkPaths,
) -> None:
    (out,) = oc.apply_offline(
        wp, [request(wp, {"command": "hold", "serial": "002", "reason": "RMA"})], T0, inventory=INV
    )
    assert (oc.CREATED, "held") == (out.devices[0].result, out.devices[0].to_phase)
    held = record_store.load(wp.device_status_file("002"))
    assert (Phase.HELD, "RMA", "10.2.9", ()) == (held.phase, held.hold.reason, held.target_version, held.hops)  # type: ignore[union-attr]
    assert oc.is_hold_only(held)
    from reconciler.machine.plan_view import progress_of

    assert "held" == progress_of(held).category, "the planner blocks it as held"
    (rel,) = oc.apply_offline(wp, [request(wp, {"command": "release", "serial": "002"})], T0, inventory=INV)
    assert oc.REMOVED == rel.devices[0].result
    assert not wp.device_status_file("002").exists()


def test_hold_without_a_known_version_is_refused_and_nothing_is_written(wp: WorkPaths) -> None:
    (out,) = oc.apply_offline(wp, [request(wp, {"command": "hold", "serial": "003"})], T0, inventory=INV)
    assert (oc.REFUSED, False) == (out.devices[0].result, out.changed)
    assert not wp.device_status_file("003").exists()


def test_offline_job_cancel_moves_the_job_and_writes_its_status(wp: WorkPaths) -> None:
    queue.submit(
        wp,
        [queue.JobSpec("job-1", "standalone", ("001",)), queue.JobSpec("job-2", "standalone", ("002",))],
        INV,
    )
    queue.move(wp, "job-2", "active")
    record_store.save(wp, rec("002", job_id="job-2", phase="reboot"))
    cancel_1 = request(wp, {"command": "cancel_upgrade", "target": "job", "job_id": "job-1"})
    (o1,) = oc.apply_offline(wp, [cancel_1], T0, inventory=INV)
    assert ("cancelled", oc.NOT_STARTED) == (o1.job_state, o1.devices[0].result)
    assert wp.queue("cancelled").joinpath("job-1.json").exists()
    status = json.loads(wp.job_status_file("job-1").read_text())
    assert [] == schemas.errors("job-status", status)
    assert ("cancelled", "cancelled", 1) == (
        status["state"],
        status["device_status"][0]["upgrade_status"],
        status["summary"]["cancelled"],
    )
    assert "2026-03-01T01:00:00.000Z" == status["finished_at"], "nothing left running: finished now"
    cancel_2 = request(
        wp, {"command": "cancel_upgrade", "target": "job", "job_id": "job-2", "reason": "takeover"}
    )
    (o2,) = oc.apply_offline(wp, [cancel_2], T0, inventory=INV)
    rec2 = record_store.load(wp.device_status_file("002"))
    assert "cancelled" == o2.job_state
    assert (Phase.REBOOT, "cancel", "takeover") == (
        rec2.phase,
        rec2.pending_request.kind if rec2.pending_request else None,
        rec2.pending_request.reason if rec2.pending_request else None,
    )
    assert oc.DEFERRED == o2.devices[0].result
    status_2 = json.loads(wp.job_status_file("job-2").read_text())
    assert ("cancelled", None, "reboot") == (
        status_2["state"],
        status_2["finished_at"],
        status_2["device_status"][0]["upgrade_status"],
    ), "a device still rebooting: the job is cancelled but not finished"


def test_damaged_status_file_is_left_alone(wp: WorkPaths) -> None:
    wp.device_status_file("001").write_text("{torn")
    (out,) = oc.apply_offline(wp, [request(wp, {"command": "hold", "serial": "001"})], T0, inventory=INV)
    assert oc.REFUSED == out.devices[0].result and "unusable" in out.devices[0].message
    assert "{torn" == wp.device_status_file("001").read_text()


def test_apply_now_defers_to_a_running_daemon(wp: WorkPaths) -> None:
    record_store.save(wp, rec("001", phase="failed"))
    path = oc.write_command(wp, {"command": "retry", "serial": "001"}, T0)
    with lock.DaemonLock(wp.lock_file):
        applied = oc.apply_now(wp, T0, inventory=INV)
        assert applied.holder is not None and os.getpid() == applied.holder["pid"]
        assert path.exists(), "left for the daemon"
    assert Phase.FAILED is record_store.load(wp.device_status_file("001")).phase
    applied = oc.apply_now(wp, T0, inventory=INV)
    assert applied.holder is None
    outcome = applied.for_file(path.name)
    assert outcome is not None and outcome.changed
    assert Phase.PENDING is record_store.load(wp.device_status_file("001")).phase


def test_write_command_validates(wp: WorkPaths) -> None:
    with pytest.raises(operator_requests.UserError, match="invalid command"):
        oc.write_command(wp, {"command": "reboot", "serial": "001"}, T0)
    assert [] == os.listdir(wp.commands("incoming"))


def test_unfinished_finds_processed_commands_without_outcome(wp: WorkPaths) -> None:
    record_store.save(wp, rec("001", phase="failed"))
    command(wp, "r.json", {"command": "retry", "serial": "001"})
    requests = oc.read_incoming(wp, inventory=INV, now=T0)
    assert ["r.json"] == [r.file.name for r in oc.unfinished(wp, inventory=INV)]
    oc.apply_offline(wp, requests, T0, inventory=INV)
    assert [] == oc.unfinished(wp, inventory=INV)


def member(serial: str, peer: str, phase: str) -> DeviceRecord:
    return rec(serial, phase=phase).with_changes(ha_peer=peer)


def test_a_job_cancel_holds_the_resting_member_of_a_pair_under_way_and_cancels_one_never_started(
    wp: WorkPaths,
) -> None:
    queue.submit(wp, [queue.JobSpec("job-1", "standalone", ("001",))], INV)
    cancel = request(wp, {"command": "cancel_upgrade", "target": "job", "job_id": "job-1", "reason": "stop"})
    working, resting = member("001", "002", "preflight"), member("002", "001", "pending")
    held = oc.decide(cancel, "002", resting, INV, T0, peer=working)
    assert (oc.APPLIED, "pending", "held") == (
        held.outcome.result,
        held.outcome.from_phase,
        held.outcome.to_phase,
    )
    assert held.record is not None and held.record.hold is not None and "stop" == held.record.hold.reason
    # Neither member started: the pair never began, both are simply cancelled.
    idle = oc.decide(cancel, "002", resting, INV, T0, peer=member("001", "002", "pending"))
    assert (oc.APPLIED, "cancelled") == (idle.outcome.result, idle.outcome.to_phase)
    # Another job's record is not this pair's peer: cancelled as before.
    other = oc.decide(cancel, "002", resting, INV, T0, peer=rec("001", job_id="job-9", phase="preflight"))
    assert "cancelled" == other.outcome.to_phase


def test_releasing_one_held_member_releases_its_held_peer_too(wp: WorkPaths) -> None:
    record_store.save(wp, member("001", "002", "held"))
    record_store.save(wp, member("002", "001", "held"))
    record_store.save(wp, rec("003", phase="held"))
    (out,) = oc.apply_offline(wp, [request(wp, {"command": "release", "serial": "002"})], T0, inventory=INV)
    assert [("002", oc.APPLIED, "pending"), ("001", oc.APPLIED, "pending")] == [
        (d.serial, d.result, d.to_phase) for d in out.devices
    ]
    assert out.devices[1].message.endswith("(together with its HA peer 002)")
    assert {Phase.PENDING} == {record_store.load(wp.device_status_file(s)).phase for s in ("001", "002")}
    assert Phase.HELD is record_store.load(wp.device_status_file("003")).phase
    # A peer that is not held (or works for other work) is left alone.
    lookup = {"001": member("001", "002", "held"), "002": member("002", "001", "pending")}.get
    assert {"001": None} == oc.acts_on(request(wp, {"command": "release", "serial": "001"}), lookup)
