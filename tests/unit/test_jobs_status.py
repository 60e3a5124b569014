"""status/jobs/<id>.json: built from the job's own device records, schema-valid, and the finishing rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler import machine
from reconciler.core.inventory import Device, Inventory
from reconciler.jobs import job_status
from reconciler.jobs.job_status import DeviceJobStatus, finished_state
from reconciler.jobs.queue import JobSpec
from reconciler.machine.observations import Begin, CancelRequest, HoldRequest, PreflightResult
from reconciler.machine.records import DeviceRecord, Hop, new_record
from reconciler.workdir import schemas
from reconciler.workdir.layout import WorkPaths

T0 = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
INV = Inventory.of(
    [
        Device("007001", "dc-1", "127.0.0.3", "PA-3220", "10.2.9", "dc", "ha_pair", "active", "007002"),
        Device("007002", "dc-2", "127.0.0.4", "PA-3220", "10.2.9", "dc", "ha_pair", "passive", "007001"),
    ]
)
PAIR = JobSpec(
    "job-9", "ha_pair", ("007001", "007002"), target_version="11.0.3", created_at="2026-03-01T00:59:00Z"
)


def record(serial: str, job_id: str = "job-9") -> DeviceRecord:
    return new_record(
        serial=serial,
        starting_version="10.2.9",
        target_version="11.0.3",
        hops=Hop.for_path("10.2.9", ("11.0.3",)),
        now=T0,
        hostname=f"h-{serial}",
        job_id=job_id,
    )


def test_build_uses_only_the_jobs_own_records_and_validates(tmp_path: Path) -> None:
    working = machine.step(record("007001"), Begin(), T0).record
    foreign = record("007002", job_id="someone-else")
    status = job_status.build(PAIR, "active", {"007001": working, "007002": foreign}, T0, inventory=INV)
    data = status.to_json()
    assert [] == schemas.errors("job-status", data)
    first, second = data["device_status"]
    assert ("preflight", "10.2.9", "11.0.3") == (
        first["upgrade_status"],
        first["current_version"],
        first["target_version"],
    )
    assert ("pending", "dc-2", "waiting for the engine to start this job") == (
        second["upgrade_status"],
        second["hostname"],
        second["upgrade_message"],
    )
    assert {"total": 2, "pending": 1, "in_progress": 1, "completed": 0, "skipped": 0, "failed": 0,
            "cancelled": 0, "held": 0} == data["summary"]  # fmt: skip
    assert ("2026-03-01T00:59:00Z", "2026-03-01T01:00:00.000Z", None) == (
        data["created_at"],
        data["started_at"],
        data["finished_at"],
    )
    paths = WorkPaths(tmp_path)
    job_status.write(paths, status)
    assert status == job_status.read(paths, "job-9")
    assert job_status.read(paths, "missing") is None


def test_failed_device_carries_its_error_object() -> None:
    started = machine.step(record("007001"), Begin(), T0).record
    failed = machine.step(started, PreflightResult("9.1.0", 40.0), T0).record  # off its path
    status = job_status.build(PAIR, "failed", {"007001": failed}, T0)
    err = status.to_json()["device_status"][0]["last_error"]
    assert ("unexpected-version", "preflight") == (err["reason"], err["phase"])
    assert "2026-03-01T01:00:00.000Z" == status.finished_at
    assert [] == schemas.errors("job-status", status.to_json())


def test_devices_of_a_cancelled_job_that_never_started_show_cancelled() -> None:
    status = job_status.build(PAIR, "cancelled", {}, T0, reason="cancelled by operator")
    assert ["cancelled", "cancelled"] == [d.upgrade_status for d in status.device_status]
    assert 2 == status.summary["cancelled"]


def entries(*statuses: str) -> list[DeviceJobStatus]:
    return [DeviceJobStatus(str(i), upgrade_status=s) for i, s in enumerate(statuses)]


@pytest.mark.parametrize(
    ("statuses", "cancel", "expected"),
    [
        (("done", "downloaded"), False, "completed"),
        (("done", "dry_run_complete", "skipped"), False, "completed"),
        (("done", "install"), False, None),
        (("done", "pending"), False, None),
        (("done", "held"), False, None),
        (("done", "failed"), False, "failed"),
        (("done", "cancelled"), False, "cancelled"),
        (("held", "pending"), True, "cancelled"),
        (("held", "reboot"), True, None),
        (("failed", "held"), True, "failed"),
        (("some_future_phase",), False, None),
    ],
)
def test_finished_state(statuses: tuple[str, ...], cancel: bool, expected: str | None) -> None:
    assert expected == finished_state(entries(*statuses), cancel_requested=cancel)


def test_held_device_is_counted_as_held() -> None:
    held = machine.step(record("007001"), HoldRequest(by="ann"), T0).record
    status = job_status.build(PAIR, "active", {"007001": held}, T0)
    assert 1 == status.summary["held"]


def test_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown job state 'paused'"):
        job_status.build(PAIR, "paused", {}, T0)


def test_read_rejects_a_file_off_schema(tmp_path: Path) -> None:
    paths = WorkPaths(tmp_path)
    paths.job_status_file("job-9").parent.mkdir(parents=True)
    paths.job_status_file("job-9").write_text(json.dumps({"job_id": "job-9"}))
    from reconciler.core.errors import StoreError

    with pytest.raises(StoreError, match="does not match job-status schema"):
        job_status.read(paths, "job-9")


def test_a_cancelled_job_is_finished_only_once_no_device_works_any_more() -> None:
    working = machine.step(record("007001"), Begin(), T0).record
    held = machine.step(record("007002"), CancelRequest(by="ops"), T0).record  # finished, cancelled
    status = job_status.build(PAIR, "cancelled", {"007001": working, "007002": held}, T0)
    assert (None, "preflight") == (status.finished_at, status.device_status[0].upgrade_status)
    stopped = machine.step(working, HoldRequest(by="ops"), T0).record
    status = job_status.build(PAIR, "cancelled", {"007001": stopped, "007002": held}, T0)
    assert "cancelled" == finished_state(status.device_status, cancel_requested=True)
