"""``DeviceProgress``: the planner's view of the engine's per-device record. Pure data plus one adapter.

The engine keeps a richer record (``status/devices/<serial>.json``); the planner needs only what decides a
plan: which category of phase the device is in, what it was working toward, at which desired revision,
why it failed, and when it finished. ``progress_from_status`` maps the status file's fields to this view
and ignores the rest, so the two can evolve separately.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.core.observed import format_time, parse_time
from reconciler.core.upgrade_path import PathHop
from reconciler.core.version import PanOsVersion

IDLE = "idle"
IN_PROGRESS = "in_progress"
DONE = "done"
FAILED = "failed"
HELD = "held"
CANCELLED = "cancelled"
CATEGORIES = (IDLE, IN_PROGRESS, DONE, FAILED, HELD, CANCELLED)

# Phase names (ours and the original tool's ``upgrade_status`` values) by category. A phase not listed
# counts as in progress: never start new work on a device in a state we do not understand.
_PHASES = {
    IDLE: ("", "idle", "none", "skipped", "not_started", "released", "dry_run_complete"),
    DONE: ("done", "complete", "completed", "success", "succeeded", "upgraded", "downloaded", "converged"),
    FAILED: ("failed", "failure", "error"),
    HELD: ("held", "hold", "on_hold"),
    CANCELLED: ("cancelled", "canceled"),
}
_CATEGORY_OF = {phase: cat for cat, phases in _PHASES.items() for phase in phases}
# In progress, but between steps: nothing is being done to the device right now.
_RESTING = frozenset({"pending", "next_hop"})


def category_of(phase: str) -> str:
    """The category of a phase name (case and ``-``/space insensitive)."""
    key = phase.strip().lower().replace("-", "_").replace(" ", "_")
    if key in CATEGORIES:
        return key
    return _CATEGORY_OF.get(key, IN_PROGRESS)


@dataclass(frozen=True)
class DeviceProgress:
    """Where the engine stands with one device.

    - ``category``: idle | in_progress | done | failed | held | cancelled.
    - ``target``: the version it was working toward; ``desired_revision``: the desired state's
      ``identity`` (revision or digest) at the time, for people; ``group_digest``: what the device's group
      meant at the time (``DesiredState.group_digest``), which decides whether a failure still counts
      (empty in records older than it); ``starting_version``: the version the upgrade started from (crash
      resume follows the path computed from it); ``hops``: the hops the engine still has to do, as it
      recorded them (the plan shows them for a device in progress whose image list it does not know).
    - ``reason``: why it failed or is held. ``finished_at``: when it reached done/failed (soak times count
      from it). ``current_version``: the version the engine last recorded, ``updated_at`` when.
    - ``download_only``: the work was pre-staging only.
    - ``resting``: in progress, but at rest between steps (``pending`` or ``next_hop``): not working on the
      device right now. An HA member resting while its peer is stopped waits for an operator, not for a
      slot (the planner reads it so).
    """

    serial: str
    category: str = IDLE
    target: PanOsVersion | None = None
    desired_revision: str = ""
    starting_version: PanOsVersion | None = None
    reason: str = ""
    finished_at: datetime | None = None
    current_version: PanOsVersion | None = None
    updated_at: datetime | None = None
    download_only: bool = False
    resting: bool = False
    group_digest: str = ""
    hops: tuple[PathHop, ...] = ()

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(
                f"unknown progress category {self.category!r}; expected one of {', '.join(CATEGORIES)}"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "category": self.category,
            "target": str(self.target) if self.target else None,
            "desired_revision": self.desired_revision,
            "group_digest": self.group_digest,
            "starting_version": str(self.starting_version) if self.starting_version else None,
            "reason": self.reason,
            "finished_at": format_time(self.finished_at),
            "current_version": str(self.current_version) if self.current_version else None,
            "updated_at": format_time(self.updated_at),
            "download_only": self.download_only,
            "resting": self.resting,
            "hops": [h.to_json() for h in self.hops],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceProgress:
        return progress_from_status(data)


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if data.get(key) not in (None, ""):
            return data[key]
    return None


def _reason(value: Any) -> str:
    if isinstance(value, Mapping):
        value = _first(value, "message", "reason", "error") or ""
    return str(value) if value is not None else ""


def progress_from_status(data: Mapping[str, Any]) -> DeviceProgress:
    """Adapt a device status record (``status/devices/<serial>.json``) to ``DeviceProgress``.

    Reads, when present: ``serial``; ``category`` (or ``phase_category``), else ``upgrade_status`` (or
    ``phase``/``status``) mapped by ``category_of``; ``held`` (true) or ``hold`` (a non-null object, the
    engine's hold record) forces held, ``cancelled`` (true) cancelled; ``target_version`` (or ``target``);
    ``desired_revision``; ``group_digest``; ``starting_version``; ``hops`` from ``current_path_index`` on
    (the hops still to do); ``last_error`` (string or ``{"message": ...}``), else
    ``hold.reason``, ``failed_reason``, ``hold_reason`` or ``reason``; ``finished_at`` (or
    ``completed_at``); ``current_version``; ``updated_at`` (or ``last_updated``); ``download_only`` (or
    ``mode == "download_only"``); ``resting`` (true), else an in-progress ``upgrade_status`` of ``pending``
    or ``next_hop``. A dry-run record (``mode == "dry_run"``) is idle whatever its phase
    (unless held): only its ``current_version`` and ``updated_at`` are read. Unknown fields are ignored;
    unparseable versions and timestamps read as absent.
    """
    category = _first(data, "category", "phase_category")
    phase = str(_first(data, "upgrade_status", "phase", "status") or "")
    if category is None or category not in CATEGORIES:
        category = category_of(phase)
    resting = category == IN_PROGRESS and (data.get("resting") is True or phase.strip().lower() in _RESTING)
    hold = data.get("hold")
    if data.get("held") is True or isinstance(hold, Mapping):
        category = HELD
    elif data.get("cancelled") is True and category != HELD:
        category = CANCELLED
    hold_reason = hold.get("reason") if isinstance(hold, Mapping) else None
    if data.get("mode") == "dry_run" and category != HELD:
        # A rehearsal changed nothing: whatever it found (a failed pre-flight, a cancelled dry-run job), it
        # is no progress toward the desired state, uses no failure budget and blocks nothing. Only the
        # version it saw is kept. An operator's hold stays a hold.
        return DeviceProgress(
            serial=str(data.get("serial", "")),
            current_version=PanOsVersion.try_parse(data.get("current_version")),
            updated_at=parse_time(_first(data, "updated_at", "last_updated")),
        )
    return DeviceProgress(
        serial=str(data.get("serial", "")),
        category=category,
        target=PanOsVersion.try_parse(_first(data, "target_version", "target")),
        desired_revision=str(data.get("desired_revision") or ""),
        group_digest=str(data.get("group_digest") or ""),
        starting_version=PanOsVersion.try_parse(data.get("starting_version")),
        reason=_reason(
            _first(data, "last_error")
            or hold_reason
            or _first(data, "failed_reason", "hold_reason", "reason")
        ),
        finished_at=parse_time(_first(data, "finished_at", "completed_at")),
        current_version=PanOsVersion.try_parse(data.get("current_version")),
        updated_at=parse_time(_first(data, "updated_at", "last_updated")),
        download_only=bool(data.get("download_only", False)) or data.get("mode") == "download_only",
        resting=resting,
        hops=_remaining_hops(data),
    )


def _remaining_hops(data: Mapping[str, Any]) -> tuple[PathHop, ...]:
    """The hops from ``current_path_index`` on, as the status file keeps them; none if unreadable."""
    hops = data.get("hops")
    index = data.get("current_path_index", 0)
    if not isinstance(hops, list) or not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return ()
    try:
        return tuple(PathHop.from_json(h) for h in hops[index:])
    except (KeyError, TypeError, ValueError):
        return ()
