"""Building blocks of every transition: ``Step``, the failure ``Reason`` codes, time, and record moves.

``move`` is the only way a handler changes phase: it stamps ``updated_at`` / ``phase_started_at``, sets
the outstanding command and its due time, and resets the retry counter (a handler that retries passes
``retries`` explicitly).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from reconciler.core.errors import PanosUpgradeError
from reconciler.core.version import PanOsVersion
from reconciler.machine.commands import (
    Command,
    FunctionalSelf,
    Install,
    JobKind,
    ListJobs,
    ReadPairRoles,
    SuspendSelf,
)
from reconciler.machine.observations import Observation
from reconciler.machine.records import DeviceRecord, ErrorInfo, HoldInfo, Phase, iso, to_instant
from reconciler.machine.settings import MachineSettings


class Reason(StrEnum):
    """Stable failure reasons (``last_error.reason``): dashboards, metrics and tests rely on them."""

    INSUFFICIENT_DISK = "insufficient-disk"
    IMAGE_DELETE_FAILED = "image-delete-failed"
    READINESS_CHECK_FAILED = "readiness-check-failed"
    JOB_ALREADY_RUNNING = "job-already-running"
    UNEXPECTED_VERSION = "unexpected-version"
    IMAGE_NOT_AVAILABLE = "image-not-available"
    PREFLIGHT_FAILED = "preflight-failed"
    SNAPSHOT_FAILED = "snapshot-failed"
    BACKUP_FAILED = "backup-failed"
    SOFTWARE_CHECK_FAILED = "software-check-failed"
    CONTENT_UPDATE_FAILED = "content-update-failed"
    DOWNLOAD_FAILED = "download-failed"
    INSTALL_FAILED = "install-failed"
    SOFTWARE_MANAGER_BUSY = "software-manager-busy"
    JOB_STALLED = "job-stalled"
    REBOOT_FAILED = "reboot-failed"
    REBOOT_TIMEOUT = "reboot-timeout"
    CAME_BACK_ON_OLD_VERSION = "came-back-on-old-version"
    VALIDATION_FAILED = "validation-failed"
    POSTFLIGHT_BREACH = "postflight-breach"
    UNREACHABLE = "unreachable"
    HA_PEER_UNHEALTHY = "ha-peer-unhealthy"
    HA_REJOIN_TIMEOUT = "ha-rejoin-timeout"


class IllegalTransition(PanosUpgradeError):
    """An observation that the record's phase (or outstanding command) does not accept."""

    def __init__(self, record: DeviceRecord, observation: Observation, why: str = "") -> None:
        detail = f": {why}" if why else ""
        super().__init__(
            f"{record.serial}: {observation.name} is not accepted in phase {record.phase.value}"
            f" (outstanding: {record.outstanding.name if record.outstanding else 'none'}){detail}"
        )
        self.record = record
        self.observation = observation


@dataclass(frozen=True)
class Step:
    """A transition's result: the new record, the commands to run, and after how many seconds."""

    record: DeviceRecord
    commands: tuple[Command, ...] = ()
    requeue_after: float | None = None


@dataclass(frozen=True)
class Ctx:
    """What a handler sees: the record, the injected clock, the settings."""

    record: DeviceRecord
    now: datetime
    settings: MachineSettings

    @property
    def iso(self) -> str:
        return iso(self.now)

    def since(self, stamp: str | None) -> float:
        """Seconds from ``stamp`` to now (0 when unknown)."""
        if not stamp:
            return 0.0
        return (self.now - to_instant(stamp)).total_seconds()

    def at(self, record: DeviceRecord) -> Ctx:
        return replace(self, record=record)


# -- building blocks ------------------------------------------------------------------------------------------


def move(
    ctx: Ctx,
    phase: Phase,
    command: Command | None = None,
    delay: float = 0.0,
    **changes: Any,
) -> Step:
    """Enter ``phase`` (or stay), with ``command`` outstanding after ``delay`` seconds."""
    rec = ctx.record
    delay = max(0.0, delay)
    fields: dict[str, Any] = {
        "phase": phase,
        "phase_started_at": ctx.iso if phase is not rec.phase else rec.phase_started_at,
        "updated_at": ctx.iso,
        "outstanding": command,
        "due_at": iso(ctx.now + timedelta(seconds=delay)) if command else None,
        "retries": 0,
    }
    fields.update(changes)
    new = replace(rec, **fields)
    if command is None:
        return Step(new)
    return Step(new, (command,), delay)


def finish(ctx: Ctx, phase: Phase, message: str, **changes: Any) -> Step:
    """Enter a terminal phase: nothing outstanding, nothing tracked."""
    return move(
        ctx,
        phase,
        finished_at=ctx.iso,
        message=message,
        job=None,
        reboot=None,
        pending_request=None,
        **changes,
    )


def fail(ctx: Ctx, reason: str, message: str, **changes: Any) -> Step:
    """Enter ``failed`` with ``last_error`` = (reason, the phase it failed in, message)."""
    rec = ctx.record
    error = ErrorInfo(reason, rec.phase.value, message, ctx.iso)
    return finish(ctx, Phase.FAILED, f"failed ({reason}): {message}", last_error=error, **changes)


def held(ctx: Ctx, by: str, reason: str) -> Step:
    """Enter ``held`` (admin takeover): the device is not touched again until released."""
    rec = ctx.record
    hold = HoldInfo(by, reason, ctx.iso, rec.phase.value)
    text = f"held by {by}" + (f": {reason}" if reason else "")
    return move(ctx, Phase.HELD, hold=hold, job=None, reboot=None, pending_request=None, message=text)


def version_of(text: str) -> PanOsVersion:
    """Parse a version the record holds (records only hold valid ones)."""
    return PanOsVersion.parse(text)


def same(a: str | None, b: str | None) -> bool:
    """True when both texts are the same PAN-OS version (``None`` or unparseable never match)."""
    if a is None or b is None:
        return False
    va, vb = PanOsVersion.try_parse(a), PanOsVersion.try_parse(b)
    return va is not None and va == vb


def _content_key(text: str) -> tuple[int, ...]:
    """Order content (App-ID) versions such as ``8799-8509``: by their numeric parts. These are not
    PAN-OS software versions, so ``PanOsVersion`` does not apply."""
    parts = []
    for chunk in text.replace("-", " ").split():
        if not chunk.isdigit():
            break
        parts.append(int(chunk))
    return tuple(parts)


def content_below(current: str | None, minimum: str | None) -> bool:
    """True when the device's content version is known to be below the hop's minimum."""
    if not minimum:
        return False
    if not current:
        return True
    return _content_key(current) < _content_key(minimum)


def is_safe_point(record: DeviceRecord) -> bool:
    """May the device stop here (cancel/hold)? Never between install submission and version verified, nor
    while an HA member's roles are being changed around its reboot (it would stay suspended)."""
    if record.phase in (Phase.REBOOT, Phase.WAIT_READY, Phase.VERIFY_VERSION):
        return False
    out = record.outstanding
    if isinstance(out, ReadPairRoles | SuspendSelf | FunctionalSelf):
        return False
    if record.phase is Phase.INSTALL:
        return record.job is None and isinstance(out, Install)
    if record.phase is Phase.CONTENT_UPDATE:
        installing = (record.job is not None and record.job.kind is JobKind.CONTENT_INSTALL) or (
            isinstance(out, ListJobs) and out.kind is JobKind.CONTENT_INSTALL
        )
        return not installing
    return True


def retry_delay(settings: MachineSettings, retries: int) -> float:
    """Exponential backoff for the ``retries``-th retry of a failed command, capped."""
    delay: float = settings.command_retry_delay * (2 ** min(retries, 16))
    return float(min(delay, settings.command_retry_max_delay))
