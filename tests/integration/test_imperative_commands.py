"""Operator commands through the CLI on a real work directory: the offline path (no daemon) changes status
records at once; with the lock held the command waits for the daemon; bad files never act."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler import machine
from reconciler.core.inventory import Device, Inventory
from reconciler.jobs import queue
from reconciler.machine.observations import Begin, PreflightResult
from reconciler.machine.records import DeviceRecord, Hop, Mode, Phase, new_record
from reconciler.workdir import inventory_store, lock, record_store, schemas
from reconciler.workdir.layout import WorkPaths

T0 = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
INV = Inventory.of(
    [
        Device("001", "fw-1", "127.0.0.1", "PA-440", "10.2.9", "edge", "standalone", "standalone"),
        Device("002", "fw-2", "127.0.0.2", "PA-440", "10.2.9", "edge", "standalone", "standalone"),
        Device("003", "fw-3", "127.0.0.3", "PA-440", "10.2.9", "edge", "standalone", "standalone"),
    ]
)


@pytest.fixture
def wp(work: WorkPaths) -> WorkPaths:
    inventory_store.save(work, INV)
    return work


def record(serial: str, *, job_id: str = "", failed: bool = False, mode: Mode = Mode.UPGRADE) -> DeviceRecord:
    rec = new_record(
        serial=serial,
        starting_version="10.2.9",
        target_version="11.0.3",
        hops=Hop.for_path("10.2.9", ("11.0.3",)),
        now=T0,
        mode=mode,
        hostname=f"fw-{serial}",
        job_id=job_id,
    )
    if failed:
        # A version off the path fails pre-flight (unexpected-version) whatever the disk or image cleanup.
        rec = machine.step(machine.step(rec, Begin(), T0).record, PreflightResult("9.1.0", 40.0), T0).record
    return rec


def saved(wp: WorkPaths, serial: str) -> DeviceRecord:
    return record_store.load(wp.device_status_file(serial))


def audit(wp: WorkPaths) -> list[dict[str, Any]]:
    return [json.loads(line) for line in wp.audit_file.read_text().splitlines()]


def test_hold_and_release_of_a_pending_device(wp: WorkPaths, cli: Callable[..., Any]) -> None:
    record_store.save(wp, record("001"))
    held = cli("device", "hold", "001", "--reason", "change freeze")
    assert 0 == held.exit_code, held.output + held.stderr
    assert "001: applied (pending -> held): held by " in held.output
    rec = saved(wp, "001")
    assert (Phase.HELD, "change freeze") == (rec.phase, rec.hold.reason if rec.hold else None)
    assert [] == schemas.errors("device-status", json.loads(wp.device_status_file("001").read_text()))
    again = cli("device", "hold", "001")
    assert 1 == again.exit_code and "001: refused: already held" in again.output
    released = cli("device", "release", "001")
    assert 0 == released.exit_code, released.stderr
    assert (Phase.PENDING, None) == (saved(wp, "001").phase, saved(wp, "001").hold)
    actions = [
        (a["action"], a["serial"], a["result"]) for a in audit(wp) if a["action"].startswith("operator")
    ]
    assert [
        ("operator-hold", "001", "applied"),
        ("operator-hold", "001", "refused"),
        ("operator-release", "001", "applied"),
    ] == actions
    processed = sorted(os.listdir(wp.commands("processed")))
    assert 6 == len(processed) and 3 == sum(n.endswith(".outcome.json") for n in processed)
    assert [] == os.listdir(wp.commands("incoming"))


def test_hold_of_an_idle_device_blocks_it_until_released(wp: WorkPaths, cli: Callable[..., Any]) -> None:
    result = cli("device", "hold", "002", "--reason", "RMA pending")
    assert 0 == result.exit_code, result.stderr
    assert "002: created (no record -> held): held by " in result.output
    rec = saved(wp, "002")
    assert (Phase.HELD, (), "10.2.9") == (rec.phase, rec.hops, rec.target_version)
    status = json.loads(wp.device_status_file("002").read_text())
    assert ("held", "RMA pending") == (status["upgrade_status"], status["hold"]["reason"])
    shown = cli("device", "status", "002")
    assert "held" in shown.output
    released = cli("device", "release", "002")
    assert 0 == released.exit_code and "002: removed (held -> no record)" in released.output
    assert not wp.device_status_file("002").exists()


def test_retry_of_a_failed_device_and_refusals(wp: WorkPaths, cli: Callable[..., Any]) -> None:
    record_store.save(wp, record("001", failed=True))
    result = cli("device", "retry", "001")
    assert 0 == result.exit_code, result.stderr
    rec = saved(wp, "001")
    assert (Phase.PENDING, 2, None) == (rec.phase, rec.attempt, rec.last_error)
    twice = cli("device", "retry", "001")
    assert 1 == twice.exit_code
    assert "only a failed or cancelled device can be retried (upgrade_status pending)" in twice.output
    nothing = cli("device", "release", "003")
    assert 1 == nothing.exit_code and "003: not-applicable: not held: no upgrade status" in nothing.output
    unknown = cli("device", "hold", "999")
    assert 1 == unknown.exit_code and "device 999 is not in the inventory" in unknown.stderr
    assert not any(n.startswith("cmd-") for n in os.listdir(wp.commands("incoming")))


def test_job_cancel_offline(wp: WorkPaths, cli: Callable[..., Any]) -> None:
    submitted = cli("job", "submit", "--device", "003", "--job-id", "job-a")
    assert 0 == submitted.exit_code, submitted.stderr
    queue.submit(wp, [queue.JobSpec("job-b", "standalone", ("001",))], INV)
    queue.move(wp, "job-b", "active")
    record_store.save(wp, record("001", job_id="job-b"))
    a = cli("job", "cancel", "job-a", "--reason", "wrong device")
    assert 0 == a.exit_code, a.stderr
    assert "003: not-started" in a.output and "job job-a: cancelled" in a.output
    b = cli("job", "cancel", "job-b")
    assert 0 == b.exit_code, b.stderr
    assert Phase.CANCELLED is saved(wp, "001").phase
    shown = json.loads(cli("job", "show", "job-b", "--json").output)
    assert ("cancelled", "cancelled") == (shown["state"], shown["device_status"][0]["upgrade_status"])
    assert [] == schemas.errors("job-status", {k: v for k, v in shown.items() if k != "file"})
    assert {"job-a", "job-b"} == {p.stem for p in wp.queue("cancelled").iterdir()}
    missing = cli("job", "cancel", "job-zzz")
    assert 1 == missing.exit_code and "no job 'job-zzz'" in missing.stderr


def test_with_a_daemon_holding_the_lock_the_command_waits_for_it(
    wp: WorkPaths, cli: Callable[..., Any]
) -> None:
    record_store.save(wp, record("001", failed=True))
    with lock.DaemonLock(wp.lock_file):
        result = cli("device", "retry", "001", "--no-wait")
        # Waiting (the default) for a daemon that does not apply it: exit 1 after the timeout, saying so.
        late = cli("device", "retry", "001", "--timeout", "0.5")
    assert 0 == result.exit_code, result.stderr
    assert f"the running daemon (pid {os.getpid()}" in result.output
    assert 1 == late.exit_code, late.output
    assert "has not applied" in late.stderr and "within 0.5 s; it stays queued" in late.stderr
    waiting, _late = sorted(os.listdir(wp.commands("incoming")))
    assert {"command": "retry", "serial": "001"}.items() <= json.loads(
        (wp.commands("incoming") / waiting).read_text()
    ).items()
    assert Phase.FAILED is saved(wp, "001").phase, "nothing applied behind the daemon's back"


def test_bad_command_file_is_rejected_without_side_effects(wp: WorkPaths, cli: Callable[..., Any]) -> None:
    record_store.save(wp, record("001", failed=True))
    before = wp.device_status_file("001").read_bytes()
    (wp.commands("incoming") / "evil.json").write_text(
        json.dumps({"command": "retry", "serial": "001", "also": "rm -rf /"})
    )
    (wp.commands("incoming") / "ghost.json").write_text(
        json.dumps({"command": "cancel_upgrade", "target": "job", "job_id": "no-such-job"})
    )
    result = cli("device", "hold", "002")
    assert 0 == result.exit_code, result.stderr
    assert before == wp.device_status_file("001").read_bytes()
    rejected = sorted(os.listdir(wp.commands("rejected")))
    assert ["evil.json", "evil.json.reason", "ghost.json", "ghost.json.reason"] == rejected
    assert (
        "Additional properties are not allowed ('also' was unexpected)"
        in (wp.commands("rejected") / "evil.json.reason").read_text()
    )
    assert "unknown job id 'no-such-job'" in (wp.commands("rejected") / "ghost.json.reason").read_text()
    assert not [a for a in audit(wp) if a.get("serial") == "001"]


def test_job_list_shows_rejected_jobs_with_their_reason(wp: WorkPaths, cli: Callable[..., Any]) -> None:
    (wp.queue("pending") / "web-1.json").write_text(
        json.dumps({"job_id": "web-1", "type": "standalone", "devices": ["404"]})
    )
    queue.read_pending(wp, INV)
    listed = cli("job", "list")
    assert 0 == listed.exit_code, listed.stderr
    assert "rejected web-1: web-1.json: serial '404' is not in the inventory" in listed.output
    data = json.loads(cli("job", "list", "--status", "rejected", "--json").output)
    assert ["web-1"] == [d["job_id"] for d in data]
    assert "not in the inventory" in data[0]["reason"]
    shown = cli("job", "show", "web-1")
    assert "reason" in shown.output and "not in the inventory" in shown.output
    bad = cli("job", "list", "--status", "paused")
    assert 1 == bad.exit_code and "--status: 'paused' is not one of" in bad.stderr


def test_download_status_lists_staged_images(wp: WorkPaths, cli: Callable[..., Any]) -> None:
    rec = record("001", job_id="dl-1", mode=Mode.DOWNLOAD_ONLY).with_changes(
        phase=Phase.DOWNLOADED, downloaded_versions=("11.0.3",), skipped_versions=("11.0.0",), progress=100
    )
    record_store.save(wp, rec)
    cli("job", "submit", "--device", "002", "--download-only", "--job-id", "dl-2")
    data = json.loads(cli("download-status", "--json").output)
    assert {"total": 2, "downloaded": 1, "downloading": 0, "waiting": 1, "failed": 0, "stopped": 0} == data[
        "summary"
    ]
    first, second = data["devices"]
    assert ("001", ["11.0.0", "11.0.3"], [], "downloaded") == (
        first["serial"],
        first["staged_versions"],
        first["remaining_versions"],
        first["state"],
    )
    assert ("002", "dl-2", "waiting") == (second["serial"], second["job_id"], second["state"])
    text = cli("download-status").output
    assert "1 downloaded, 0 downloading, 1 waiting" in text
