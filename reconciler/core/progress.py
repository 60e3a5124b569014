"""``DeviceProgress``: the planner's view of the engine's per-device record. Pure data.

The engine keeps a richer record (``status/devices/<serial>.json``, ``reconciler.machine.records``); the
planner needs only what decides a plan: which category of phase the device is in, what it was working
toward, at which desired revision, why it failed, and when it finished. ``reconciler.machine.plan_view``
is the one way from a record to this view, so the two can evolve separately.
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
    - ``rolled_back_from``: set for an operator's rollback (``device rollback``): the version it returns
      the device from (``target`` is the version it returns to). ``rollback_holds``: once the rollback is
      done (or failed), the target of the upgrade it undid while its hold is in force: the planner leaves
      the device alone while its group's target is still that version (None: no hold, or released).
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
    rolled_back_from: PanOsVersion | None = None
    rollback_holds: PanOsVersion | None = None

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
            "rolled_back_from": str(self.rolled_back_from) if self.rolled_back_from else None,
            "rollback_holds": str(self.rollback_holds) if self.rollback_holds else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceProgress:
        """The inverse of ``to_json``."""
        return cls(
            serial=str(data["serial"]),
            category=str(data["category"]),
            target=PanOsVersion.try_parse(data.get("target")),
            desired_revision=str(data.get("desired_revision") or ""),
            starting_version=PanOsVersion.try_parse(data.get("starting_version")),
            reason=str(data.get("reason") or ""),
            finished_at=parse_time(data.get("finished_at")),
            current_version=PanOsVersion.try_parse(data.get("current_version")),
            updated_at=parse_time(data.get("updated_at")),
            download_only=bool(data.get("download_only", False)),
            resting=bool(data.get("resting", False)),
            group_digest=str(data.get("group_digest") or ""),
            hops=tuple(PathHop.from_json(h) for h in data.get("hops", [])),
            rolled_back_from=PanOsVersion.try_parse(data.get("rolled_back_from")),
            rollback_holds=PanOsVersion.try_parse(data.get("rollback_holds")),
        )
