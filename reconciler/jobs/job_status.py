"""``status/jobs/<job_id>.json``: one imperative job's progress, built from its devices' records.

The engine writes it (``write``) after each change of one of the job's device records; ``job list`` and
``job show`` read it (``read``), and when it is missing they ``build`` the same view in memory from the
queue file and the device status files, so the CLI never depends on the engine having run. Pure except
for ``read``/``write``; the clock is a parameter.

Only records whose ``job_id`` is this job's count: a device that another job or the desired state is
working on shows as not started here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.inventory import Inventory
from reconciler.jobs.queue import FINISHED_STATES, JobSpec
from reconciler.machine.records import ACTIVE_PHASES, DeviceRecord, ErrorInfo, Instant, Phase, iso
from reconciler.workdir import store
from reconciler.workdir.layout import QUEUE_STATES, WorkPaths

SCHEMA = "job-status"
FORMAT_VERSION = 1

PENDING = "pending"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
SKIPPED = "skipped"
FAILED = "failed"
CANCELLED = "cancelled"
HELD = "held"
CATEGORIES = (PENDING, IN_PROGRESS, COMPLETED, SKIPPED, FAILED, CANCELLED, HELD)

_CATEGORY = {
    Phase.PENDING: PENDING,
    Phase.NEXT_HOP: IN_PROGRESS,
    Phase.DONE: COMPLETED,
    Phase.DOWNLOADED: COMPLETED,
    Phase.DRY_RUN_COMPLETE: COMPLETED,
    Phase.SKIPPED: SKIPPED,
    Phase.FAILED: FAILED,
    Phase.CANCELLED: CANCELLED,
    Phase.HELD: HELD,
    **{p: IN_PROGRESS for p in ACTIVE_PHASES},
}
# ``upgrade_status`` values a job shows for a device it has no record of yet.
NOT_STARTED = "pending"


def category_of(upgrade_status: str) -> str:
    """The summary bucket of a device's ``upgrade_status`` (a phase name); unknown values count as working."""
    try:
        return _CATEGORY[Phase(upgrade_status)]
    except ValueError:
        return IN_PROGRESS


@dataclass(frozen=True)
class DeviceJobStatus:
    """One device of a job, as the web app shows it."""

    serial: str
    hostname: str = ""
    upgrade_status: str = NOT_STARTED
    current_version: str | None = None
    target_version: str | None = None
    progress: int = 0
    upgrade_message: str = ""
    last_error: ErrorInfo | None = None

    @property
    def category(self) -> str:
        return category_of(self.upgrade_status)

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "hostname": self.hostname,
            "upgrade_status": self.upgrade_status,
            "current_version": self.current_version,
            "target_version": self.target_version,
            "progress": self.progress,
            "upgrade_message": self.upgrade_message,
            "last_error": self.last_error.to_json() if self.last_error else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceJobStatus:
        err = data.get("last_error")
        return cls(
            serial=str(data["serial"]),
            hostname=str(data.get("hostname", "")),
            upgrade_status=str(data.get("upgrade_status", NOT_STARTED)),
            current_version=data.get("current_version"),
            target_version=data.get("target_version"),
            progress=int(data.get("progress", 0)),
            upgrade_message=str(data.get("upgrade_message", "")),
            last_error=ErrorInfo.from_json(err) if isinstance(err, Mapping) else None,
        )


@dataclass(frozen=True)
class JobStatus:
    """The whole status file. ``state`` is the queue folder the job file is in."""

    job_id: str
    type: str
    devices: tuple[str, ...]
    dry_run: bool
    download_only: bool
    target_version: str | None
    state: str
    updated_at: str
    device_status: tuple[DeviceJobStatus, ...]
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.state not in QUEUE_STATES:
            raise ValueError(f"unknown job state {self.state!r}; expected one of {', '.join(QUEUE_STATES)}")

    @property
    def summary(self) -> dict[str, int]:
        counts = {c: 0 for c in CATEGORIES}
        for dev in self.device_status:
            counts[dev.category] += 1
        return {"total": len(self.device_status), **counts}

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "job_id": self.job_id,
            "type": self.type,
            "devices": list(self.devices),
            "dry_run": self.dry_run,
            "download_only": self.download_only,
            "target_version": self.target_version,
            "state": self.state,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "updated_at": self.updated_at,
            "reason": self.reason,
            "device_status": [d.to_json() for d in self.device_status],
            "summary": self.summary,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobStatus:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version: expected {FORMAT_VERSION}, got {data.get('format_version')!r}")
        return cls(
            job_id=str(data["job_id"]),
            type=str(data["type"]),
            devices=tuple(data["devices"]),
            dry_run=bool(data["dry_run"]),
            download_only=bool(data["download_only"]),
            target_version=data.get("target_version"),
            state=str(data["state"]),
            updated_at=str(data["updated_at"]),
            device_status=tuple(DeviceJobStatus.from_json(d) for d in data["device_status"]),
            created_at=data.get("created_at"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            reason=data.get("reason"),
        )


def device_entry(
    spec: JobSpec, serial: str, record: DeviceRecord | None, inventory: Inventory | None, state: str
) -> DeviceJobStatus:
    """One device's line: from its record when the record belongs to this job, else "not started"."""
    if record is not None and record.job_id == spec.job_id:
        return DeviceJobStatus(
            serial=serial,
            hostname=record.hostname,
            upgrade_status=record.phase.value,
            current_version=record.current_version or None,
            target_version=record.target_version,
            progress=record.progress,
            upgrade_message=record.message,
            last_error=record.last_error,
        )
    dev = inventory.get(serial) if inventory is not None else None
    if state in ("cancelled", "rejected"):
        status, message = CANCELLED, f"job {state} before this device started"
    else:
        status, message = NOT_STARTED, "waiting for the engine to start this job"
    return DeviceJobStatus(
        serial=serial,
        hostname=dev.hostname if dev else "",
        upgrade_status=status,
        current_version=(dev.sw_version or None) if dev else None,
        target_version=spec.target_version,
        upgrade_message=message,
    )


def build(
    spec: JobSpec,
    state: str,
    records: Mapping[str, DeviceRecord | None],
    now: Instant,
    *,
    inventory: Inventory | None = None,
    started_at: str | None = None,
    finished_at: str | None = None,
    reason: str | None = None,
) -> JobStatus:
    """The status of ``spec`` in queue ``state`` from its devices' records (serial -> record or None).

    ``started_at``/``finished_at`` default to the earliest start / latest finish among this job's records
    (``finished_at`` only once ``state`` is a finished one; a cancelled job, whose file moves at once, only
    once none of its devices is still working: one on its way to its next safe point, or released again,
    keeps it open).
    """
    entries = tuple(device_entry(spec, s, records.get(s), inventory, state) for s in spec.devices)
    own = [r for r in records.values() if r is not None and r.job_id == spec.job_id]
    if started_at is None:
        started_at = min((r.started_at for r in own if r.started_at), default=None)
    settled = state != "cancelled" or finished_state(entries, cancel_requested=True) is not None
    if finished_at is None and state in FINISHED_STATES and settled:
        finished_at = max((r.finished_at for r in own if r.finished_at), default=None)
    return JobStatus(
        job_id=spec.job_id,
        type=spec.type,
        devices=spec.devices,
        dry_run=spec.dry_run,
        download_only=spec.download_only,
        target_version=spec.target_version,
        state=state,
        updated_at=iso(now),
        device_status=entries,
        created_at=spec.created_at or None,
        started_at=started_at,
        finished_at=finished_at,
        reason=reason,
    )


def finished_state(entries: Iterable[DeviceJobStatus], *, cancel_requested: bool = False) -> str | None:
    """The queue state a job should move to once every device is finished, else ``None``.

    A held device is finished only when the job was cancelled (a cancel holds started devices at their
    next safe point); a device not started counts as finished only then too. Any failure makes the job
    ``failed``; otherwise any cancelled (or cancel) makes it ``cancelled``; else ``completed``.
    """
    cats = [e.category for e in entries]
    waiting = {PENDING, HELD} if not cancel_requested else set()
    if any(c == IN_PROGRESS or c in waiting for c in cats):
        return None
    if FAILED in cats:
        return "failed"
    if cancel_requested or CANCELLED in cats:
        return "cancelled"
    return "completed"


def write(paths: WorkPaths, status: JobStatus) -> None:
    """Write ``status/jobs/<job_id>.json`` atomically (validated against the schema)."""
    store.atomic_write_json(paths.job_status_file(status.job_id), status.to_json(), schema=SCHEMA)


def read(paths: WorkPaths, job_id: str) -> JobStatus | None:
    """The engine's status file for ``job_id`` (``None`` if there is none); ``StoreError`` if damaged."""
    try:
        data = store.read_json(paths.job_status_file(job_id), schema=SCHEMA)
    except FileNotFoundError:
        return None
    return JobStatus.from_json(data)
