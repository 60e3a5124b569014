"""The device status record: ``status/devices/<serial>.json``, a contract with the web application.

``DeviceRecord`` is immutable; the state machine (``reconciler.machine``) returns a new one on every
transition and the executor persists it with ``to_json()`` (validated by
``schemas/device-status.schema.json``). ``from_json()`` is the inverse, so a restarted daemon resumes from
the file. Field names of the original tool are kept: ``upgrade_status`` (the phase), ``upgrade_path``,
``current_path_index``, ``starting_version``, ``current_version``, ``progress``, ``upgrade_message``,
``downloaded_versions``, ``skipped_versions``.

Timestamps are ISO-8601 strings handed in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from reconciler.core.rules import DEFAULT_RULES, UpgradeRules
from reconciler.core.upgrade_path import PathHop
from reconciler.core.version import PanOsVersion
from reconciler.machine.commands import Command, JobKind, command_from_json, command_to_json

FORMAT_VERSION = 1

Instant = datetime | str
"""A point in time: an aware ``datetime`` or an ISO-8601 string with a zone."""


def to_instant(now: Instant) -> datetime:
    """Accept an aware datetime or an ISO-8601 string; naive values are refused (no guessing zones)."""
    dt = datetime.fromisoformat(now) if isinstance(now, str) else now
    if dt.tzinfo is None:
        raise ValueError(f"timestamp {now!r} has no time zone")
    return dt.astimezone(UTC)


def iso(now: Instant) -> str:
    """The records' timestamp format: UTC, milliseconds, ``Z``."""
    return to_instant(now).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Phase(StrEnum):
    """Where one device is in its upgrade. The value is what ``upgrade_status`` holds."""

    PENDING = "pending"
    PREFLIGHT = "preflight"
    SOFTWARE_CHECK = "software_check"
    CONTENT_UPDATE = "content_update"
    DOWNLOAD_BASE = "download_base"
    DOWNLOAD_TARGET = "download_target"
    INSTALL = "install"
    REBOOT = "reboot"
    WAIT_READY = "wait_ready"
    VERIFY_VERSION = "verify_version"
    POSTFLIGHT = "postflight"
    NEXT_HOP = "next_hop"
    DONE = "done"
    DOWNLOADED = "downloaded"
    DRY_RUN_COMPLETE = "dry_run_complete"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"
    HELD = "held"


# Phases in which the machine is working (a command is outstanding).
ACTIVE_PHASES = frozenset(
    {
        Phase.PREFLIGHT,
        Phase.SOFTWARE_CHECK,
        Phase.CONTENT_UPDATE,
        Phase.DOWNLOAD_BASE,
        Phase.DOWNLOAD_TARGET,
        Phase.INSTALL,
        Phase.REBOOT,
        Phase.WAIT_READY,
        Phase.VERIFY_VERSION,
        Phase.POSTFLIGHT,
    }
)
# Phases that wait for someone else (scheduler, pair coordinator, an operator): no command outstanding.
RESTING_PHASES = frozenset({Phase.PENDING, Phase.NEXT_HOP, Phase.HELD})
# Phases a device leaves only on an operator's request (retry, hold).
TERMINAL_PHASES = frozenset(
    {Phase.DONE, Phase.DOWNLOADED, Phase.DRY_RUN_COMPLETE, Phase.SKIPPED, Phase.FAILED, Phase.CANCELLED}
)
# Phases where the device's software is changing under us (the HA invariant is about these).
DISRUPTIVE_PHASES = frozenset({Phase.INSTALL, Phase.REBOOT, Phase.WAIT_READY, Phase.VERIFY_VERSION})


class Mode(StrEnum):
    """What the run does: a full upgrade, pre-staging images only, or a rehearsal that changes nothing."""

    UPGRADE = "upgrade"
    DOWNLOAD_ONLY = "download_only"
    DRY_RUN = "dry_run"


class HopOutcome(StrEnum):
    """How a hop's post-flight validation ended."""

    PASSED = "passed"
    BREACH_REPORT_ONLY = "breach-report-only"
    BREACH = "breach"
    NO_BASELINE = "no-baseline"


def _opt_str(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{name}: expected a string or null, got {value!r}")


def _str(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"{name}: expected a string, got {value!r}")


def _int(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"{name}: expected an integer, got {value!r}")


def _opt_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{name}: expected a number or null, got {value!r}")


def _version(value: Any, name: str) -> str:
    """Check that ``value`` is a PAN-OS version and return its canonical text."""
    try:
        return str(PanOsVersion.parse(value))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class Hop:
    """One step of an upgrade path, as a device's status record keeps it (the planner computes it as a
    ``reconciler.core.upgrade_path.PathHop``).

    ``images`` are the versions to have downloaded before installing ``version``, in download order: base
    images first, then (normally) ``version`` itself. ``min_content_version`` is the lowest content
    (App-ID) version PAN-OS accepts for installing ``version``; ``None`` when unknown or not required.
    """

    version: str
    images: tuple[str, ...]
    min_content_version: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", _version(self.version, "hop.version"))
        object.__setattr__(self, "images", tuple(_version(i, "hop.images") for i in self.images))

    @property
    def bases(self) -> tuple[str, ...]:
        """The images other than the hop's own version (base images)."""
        return tuple(i for i in self.images if i != self.version)

    @classmethod
    def of(cls, hop: PathHop) -> Hop:
        """The planner's hop as the record keeps it (versions as text, its minimum content version)."""
        return cls(str(hop.version), tuple(str(i) for i in hop.images), hop.min_content)

    @classmethod
    def for_path(
        cls, starting_version: str, path: Sequence[str], rules: UpgradeRules = DEFAULT_RULES
    ) -> tuple[Hop, ...]:
        """Hops for ``path`` with the images the rules require (bases of every train entered, then target)."""
        hops = []
        current = PanOsVersion.parse(starting_version)
        for raw in path:
            target = PanOsVersion.parse(raw)
            images = [str(b) for b in rules.required_bases(current, target) if b != target]
            images.append(str(target))
            hops.append(cls(str(target), tuple(images)))
            current = target
        return tuple(hops)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "images": list(self.images),
            "min_content_version": self.min_content_version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Hop:
        return cls(
            version=_str(data["version"], "hop.version"),
            images=tuple(_str(i, "hop.images") for i in data["images"]),
            min_content_version=_opt_str(data.get("min_content_version"), "hop.min_content_version"),
        )


@dataclass(frozen=True)
class ErrorInfo:
    """Why a device failed: a stable ``reason`` code (for decisions and metrics) and a message for people."""

    reason: str
    phase: str
    message: str
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "phase": self.phase, "message": self.message, "at": self.at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ErrorInfo:
        return cls(
            _str(data["reason"], "reason"),
            _str(data["phase"], "phase"),
            _str(data["message"], "message"),
            _str(data["at"], "at"),
        )


@dataclass(frozen=True)
class JobRef:
    """A PAN-OS job this device is waiting on; ``progress_at`` is when ``progress`` last moved."""

    id: str
    kind: JobKind
    image: str | None
    started_at: str
    progress: int
    progress_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "image": self.image,
            "started_at": self.started_at,
            "progress": self.progress,
            "progress_at": self.progress_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRef:
        return cls(
            id=_str(data["id"], "job.id"),
            kind=JobKind(data["kind"]),
            image=_opt_str(data.get("image"), "job.image"),
            started_at=_str(data["started_at"], "job.started_at"),
            progress=_int(data["progress"], "job.progress"),
            progress_at=_str(data["progress_at"], "job.progress_at"),
        )


@dataclass(frozen=True)
class HoldInfo:
    """An administrative hold: the device is not touched until released."""

    held_by: str
    reason: str
    since: str
    from_phase: str

    def to_json(self) -> dict[str, Any]:
        return {
            "held_by": self.held_by,
            "reason": self.reason,
            "since": self.since,
            "from_phase": self.from_phase,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HoldInfo:
        return cls(
            _str(data["held_by"], "held_by"),
            _str(data["reason"], "reason"),
            _str(data["since"], "since"),
            _str(data["from_phase"], "from_phase"),
        )


@dataclass(frozen=True)
class RollbackInfo:
    """An operator's rollback (``device rollback``): the record's one hop returns the device from
    ``from_version`` to ``to_version``, the version it ran before its last hop. ``undone_target`` is the
    target of the upgrade undone: once the rollback is done the desired state holds the device while its
    group's target is still that version, until an operator releases it (``released_by``/``released_at``)."""

    from_version: str
    to_version: str
    undone_target: str
    by: str
    reason: str
    at: str
    released_by: str | None = None
    released_at: str | None = None

    @property
    def holds(self) -> bool:
        """The hold after the rollback is in force (not released)."""
        return self.released_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "from_version": self.from_version,
            "to_version": self.to_version,
            "undone_target": self.undone_target,
            "by": self.by,
            "reason": self.reason,
            "at": self.at,
            "released_by": self.released_by,
            "released_at": self.released_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RollbackInfo:
        return cls(
            from_version=_version(data["from_version"], "rollback.from_version"),
            to_version=_version(data["to_version"], "rollback.to_version"),
            undone_target=_version(data["undone_target"], "rollback.undone_target"),
            by=_str(data["by"], "rollback.by"),
            reason=_str(data["reason"], "rollback.reason"),
            at=_str(data["at"], "rollback.at"),
            released_by=_opt_str(data.get("released_by"), "rollback.released_by"),
            released_at=_opt_str(data.get("released_at"), "rollback.released_at"),
        )


@dataclass(frozen=True)
class PendingRequest:
    """A cancel or hold received at an unsafe point; applied at the next safe point."""

    kind: str  # "cancel" | "hold"
    by: str
    reason: str
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "by": self.by, "reason": self.reason, "at": self.at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingRequest:
        kind = _str(data["kind"], "pending_request.kind")
        if kind not in ("cancel", "hold"):
            raise ValueError(f"pending_request.kind: {kind!r} is not cancel or hold")
        return cls(kind, _str(data["by"], "by"), _str(data["reason"], "reason"), _str(data["at"], "at"))


@dataclass(frozen=True)
class RebootWatch:
    """The wait for a rebooting device: when the reboot was issued, whether it was seen down, next delay,
    and (once it answered with its uptime) how long it took to boot."""

    issued_at: str
    seen_down: bool
    polls: int
    next_delay: float
    issues: int = 1  # how many times the reboot was requested this hop
    # Seconds from the restart request to the boot, once the device's uptime told (``machine.expect``).
    booted_after: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "issued_at": self.issued_at,
            "seen_down": self.seen_down,
            "polls": self.polls,
            "next_delay": self.next_delay,
            "issues": self.issues,
            "booted_after": self.booted_after,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RebootWatch:
        seen = data["seen_down"]
        if not isinstance(seen, bool):
            raise ValueError("reboot.seen_down: expected a boolean")
        return cls(
            _str(data["issued_at"], "reboot.issued_at"),
            seen,
            _int(data["polls"], "reboot.polls"),
            float(data["next_delay"]),
            _int(data.get("issues", 1), "reboot.issues"),
            _opt_float(data.get("booted_after"), "reboot.booted_after"),
        )


@dataclass(frozen=True)
class HopResult:
    """One finished hop: when, and how its validation ended (``validation_path`` is the comparison file)."""

    version: str
    started_at: str
    finished_at: str
    outcome: HopOutcome
    validation_path: str | None = None
    backup_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome.value,
            "validation_path": self.validation_path,
            "backup_path": self.backup_path,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HopResult:
        return cls(
            version=_version(data["version"], "history.version"),
            started_at=_str(data["started_at"], "history.started_at"),
            finished_at=_str(data["finished_at"], "history.finished_at"),
            outcome=HopOutcome(data["outcome"]),
            validation_path=_opt_str(data.get("validation_path"), "history.validation_path"),
            backup_path=_opt_str(data.get("backup_path"), "history.backup_path"),
        )


@dataclass(frozen=True)
class PlannedHop:
    """What a hop needs, as found on the device: the dry-run report (and visible for real runs too)."""

    version: str
    to_download: tuple[str, ...]
    already_downloaded: tuple[str, ...]
    content_update: bool
    deferred: tuple[str, ...] = ()  # download-only: not staged because the disk would run short

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "to_download": list(self.to_download),
            "already_downloaded": list(self.already_downloaded),
            "content_update": self.content_update,
            "deferred": list(self.deferred),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlannedHop:
        return cls(
            version=_version(data["version"], "planned.version"),
            to_download=tuple(_str(v, "planned.to_download") for v in data["to_download"]),
            already_downloaded=tuple(
                _str(v, "planned.already_downloaded") for v in data["already_downloaded"]
            ),
            content_update=bool(data["content_update"]),
            deferred=tuple(_str(v, "planned.deferred") for v in data.get("deferred", [])),
        )


def _tuple_of(items: Iterable[Any], cls: Any) -> tuple[Any, ...]:
    return tuple(cls.from_json(i) for i in items)


@dataclass(frozen=True)
class DeviceRecord:
    """The persisted state of one device's upgrade. Build with ``new_record``; change through the machine.

    ``current_path_index`` counts finished hops: it is the index in ``hops`` of the hop being worked on
    (or about to start), and ``len(hops)`` when the path is complete. ``outstanding`` is the command the
    executor must run next (at ``due_at``); it is ``None`` exactly when the device waits for someone else.
    """

    serial: str
    mode: Mode
    starting_version: str
    target_version: str
    hops: tuple[Hop, ...]
    hostname: str = ""
    group: str = ""
    job_id: str = ""
    current_version: str = ""
    current_path_index: int = 0
    phase: Phase = Phase.PENDING
    phase_started_at: str = ""
    started_at: str | None = None
    updated_at: str = ""
    finished_at: str | None = None
    attempt: int = 1
    last_error: ErrorInfo | None = None
    job: JobRef | None = None
    progress: int = 0
    message: str = ""
    hold: HoldInfo | None = None
    pending_request: PendingRequest | None = None
    desired_revision: str | None = None
    group_digest: str | None = None
    ha_peer: str | None = None
    sync_to_peer: bool = False
    history: tuple[HopResult, ...] = ()
    outstanding: Command | None = None
    due_at: str | None = None
    retries: int = 0
    install_attempts: int = 0
    download_attempts: int = 0
    reboot: RebootWatch | None = None
    hop_started_at: str | None = None
    pre_snapshot: str | None = None
    post_snapshot: str | None = None
    backup: str | None = None
    content_version: str | None = None
    content_updated: bool = False
    disk_free_gb: float | None = None
    job_watermark: int | None = None
    downloaded_versions: tuple[str, ...] = ()
    skipped_versions: tuple[str, ...] = ()
    deleted_versions: tuple[str, ...] = ()  # images this run deleted to make room (image cleanup)
    planned: tuple[PlannedHop, ...] = ()
    skip_reason: str | None = None
    # An operator's rollback: this record's one hop returns the device to an older version.
    rollback: RollbackInfo | None = None
    # How the engine reached the device at its last call: "direct" (its management address) or
    # "panorama SERIAL" (through that Panorama member, firewall.connection); None before any call.
    reached: str | None = None

    @property
    def upgrade_path(self) -> tuple[str, ...]:
        """The hop versions, in order (the original tool's ``upgrade_path``)."""
        return tuple(h.version for h in self.hops)

    @property
    def dry_run(self) -> bool:
        return self.mode is Mode.DRY_RUN

    @property
    def hop(self) -> Hop | None:
        """The hop being worked on, or ``None`` once the path is complete."""
        return self.hops[self.current_path_index] if self.current_path_index < len(self.hops) else None

    @property
    def hop_from_version(self) -> str:
        """The version the device runs before the current hop (starting version for the first hop)."""
        i = self.current_path_index
        return self.starting_version if i == 0 else self.hops[min(i, len(self.hops)) - 1].version

    def with_changes(self, **changes: Any) -> DeviceRecord:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The status file body. ``upgrade_path`` and ``dry_run`` are derived, for readers' convenience."""
        return {
            "format_version": FORMAT_VERSION,
            "serial": self.serial,
            "hostname": self.hostname,
            "group": self.group,
            "job_id": self.job_id,
            "mode": self.mode.value,
            "dry_run": self.dry_run,
            "starting_version": self.starting_version,
            "current_version": self.current_version,
            "target_version": self.target_version,
            "upgrade_path": list(self.upgrade_path),
            "hops": [h.to_json() for h in self.hops],
            "current_path_index": self.current_path_index,
            "upgrade_status": self.phase.value,
            "upgrade_message": self.message,
            "progress": self.progress,
            "phase_started_at": self.phase_started_at,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "attempt": self.attempt,
            "last_error": self.last_error.to_json() if self.last_error else None,
            "job": self.job.to_json() if self.job else None,
            "hold": self.hold.to_json() if self.hold else None,
            "pending_request": self.pending_request.to_json() if self.pending_request else None,
            "desired_revision": self.desired_revision,
            "group_digest": self.group_digest,
            "ha_peer": self.ha_peer,
            "sync_to_peer": self.sync_to_peer,
            "history": [h.to_json() for h in self.history],
            "outstanding": command_to_json(self.outstanding) if self.outstanding else None,
            "due_at": self.due_at,
            "retries": self.retries,
            "install_attempts": self.install_attempts,
            "download_attempts": self.download_attempts,
            "reboot": self.reboot.to_json() if self.reboot else None,
            "hop_started_at": self.hop_started_at,
            "pre_snapshot": self.pre_snapshot,
            "post_snapshot": self.post_snapshot,
            "backup": self.backup,
            "content_version": self.content_version,
            "content_updated": self.content_updated,
            "disk_free_gb": self.disk_free_gb,
            "job_watermark": self.job_watermark,
            "downloaded_versions": list(self.downloaded_versions),
            "skipped_versions": list(self.skipped_versions),
            "deleted_versions": list(self.deleted_versions),
            "planned": [p.to_json() for p in self.planned],
            "skip_reason": self.skip_reason,
            "rollback": self.rollback.to_json() if self.rollback else None,
            "reached": self.reached,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceRecord:
        """Rebuild a record; raise ``ValueError`` naming the field for anything inconsistent."""
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version: expected {FORMAT_VERSION}, got {data.get('format_version')!r}")
        try:
            hops = _tuple_of(data["hops"], Hop)
            mode = Mode(data["mode"])
            record = cls(
                serial=_str(data["serial"], "serial"),
                mode=mode,
                starting_version=_version(data["starting_version"], "starting_version"),
                target_version=_version(data["target_version"], "target_version"),
                hops=hops,
                hostname=_str(data.get("hostname", ""), "hostname"),
                group=_str(data.get("group", ""), "group"),
                job_id=_str(data.get("job_id", ""), "job_id"),
                current_version=_str(data.get("current_version", ""), "current_version"),
                current_path_index=_int(data["current_path_index"], "current_path_index"),
                phase=Phase(data["upgrade_status"]),
                phase_started_at=_str(data.get("phase_started_at", ""), "phase_started_at"),
                started_at=_opt_str(data.get("started_at"), "started_at"),
                updated_at=_str(data.get("updated_at", ""), "updated_at"),
                finished_at=_opt_str(data.get("finished_at"), "finished_at"),
                attempt=_int(data.get("attempt", 1), "attempt"),
                last_error=ErrorInfo.from_json(data["last_error"]) if data.get("last_error") else None,
                job=JobRef.from_json(data["job"]) if data.get("job") else None,
                progress=_int(data.get("progress", 0), "progress"),
                message=_str(data.get("upgrade_message", ""), "upgrade_message"),
                hold=HoldInfo.from_json(data["hold"]) if data.get("hold") else None,
                pending_request=(
                    PendingRequest.from_json(data["pending_request"]) if data.get("pending_request") else None
                ),
                desired_revision=_opt_str(data.get("desired_revision"), "desired_revision"),
                group_digest=_opt_str(data.get("group_digest"), "group_digest"),
                ha_peer=_opt_str(data.get("ha_peer"), "ha_peer"),
                sync_to_peer=bool(data.get("sync_to_peer", False)),
                history=_tuple_of(data.get("history", []), HopResult),
                outstanding=command_from_json(data["outstanding"]) if data.get("outstanding") else None,
                due_at=_opt_str(data.get("due_at"), "due_at"),
                retries=_int(data.get("retries", 0), "retries"),
                install_attempts=_int(data.get("install_attempts", 0), "install_attempts"),
                download_attempts=_int(data.get("download_attempts", 0), "download_attempts"),
                reboot=RebootWatch.from_json(data["reboot"]) if data.get("reboot") else None,
                hop_started_at=_opt_str(data.get("hop_started_at"), "hop_started_at"),
                pre_snapshot=_opt_str(data.get("pre_snapshot"), "pre_snapshot"),
                post_snapshot=_opt_str(data.get("post_snapshot"), "post_snapshot"),
                backup=_opt_str(data.get("backup"), "backup"),
                content_version=_opt_str(data.get("content_version"), "content_version"),
                content_updated=bool(data.get("content_updated", False)),
                disk_free_gb=None if data.get("disk_free_gb") is None else float(data["disk_free_gb"]),
                job_watermark=None
                if data.get("job_watermark") is None
                else _int(data["job_watermark"], "job_watermark"),
                downloaded_versions=tuple(
                    _str(v, "downloaded_versions") for v in data.get("downloaded_versions", [])
                ),
                skipped_versions=tuple(_str(v, "skipped_versions") for v in data.get("skipped_versions", [])),
                deleted_versions=tuple(_str(v, "deleted_versions") for v in data.get("deleted_versions", [])),
                planned=_tuple_of(data.get("planned", []), PlannedHop),
                skip_reason=_opt_str(data.get("skip_reason"), "skip_reason"),
                rollback=RollbackInfo.from_json(data["rollback"]) if data.get("rollback") else None,
                reached=_opt_str(data.get("reached"), "reached"),
            )
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]!r}") from None
        if "upgrade_path" in data and list(data["upgrade_path"]) != list(record.upgrade_path):
            raise ValueError("upgrade_path: does not match hops")
        if "dry_run" in data and data["dry_run"] != record.dry_run:
            raise ValueError("dry_run: does not match mode")
        if not 0 <= record.current_path_index <= len(record.hops):
            raise ValueError(f"current_path_index: {record.current_path_index} outside 0..{len(record.hops)}")
        return record


def new_record(
    *,
    serial: str,
    starting_version: str,
    target_version: str,
    hops: Sequence[Hop | PathHop],
    now: Instant,
    mode: Mode = Mode.UPGRADE,
    hostname: str = "",
    group: str = "",
    job_id: str = "",
    desired_revision: str | None = None,
    group_digest: str | None = None,
    ha_peer: str | None = None,
) -> DeviceRecord:
    """A fresh record in ``pending``. ``hops``: the planner's path hops (or record hops); empty means the
    planner found no path (the device is skipped after pre-flight unless it already runs the target)."""
    start = _version(starting_version, "starting_version")
    stamp = iso(now)
    return DeviceRecord(
        serial=serial,
        mode=mode,
        starting_version=start,
        target_version=_version(target_version, "target_version"),
        hops=tuple(h if isinstance(h, Hop) else Hop.of(h) for h in hops),
        hostname=hostname,
        group=group,
        job_id=job_id,
        current_version=start,
        phase_started_at=stamp,
        updated_at=stamp,
        desired_revision=desired_revision,
        group_digest=group_digest,
        ha_peer=ha_peer,
        message="waiting to start",
    )


__all__ = [
    "ACTIVE_PHASES",
    "DISRUPTIVE_PHASES",
    "RESTING_PHASES",
    "TERMINAL_PHASES",
    "DeviceRecord",
    "ErrorInfo",
    "HoldInfo",
    "Hop",
    "HopOutcome",
    "HopResult",
    "Instant",
    "JobKind",
    "JobRef",
    "Mode",
    "PendingRequest",
    "Phase",
    "PlannedHop",
    "RebootWatch",
    "RollbackInfo",
    "iso",
    "new_record",
    "to_instant",
]
