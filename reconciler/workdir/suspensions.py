"""Groups suspended at run time (``panos-upgrade group suspend|resume NAME``): ``status/suspended/<group>.json``.

One file per group (``schemas/group-suspension.schema.json``), written atomically; a resume removes it. One
file per group, not one shared file: two operators suspending two groups at once never lose an update. The
desired state stays the source of truth for targets; a suspension only stops new work (the planner's
``suspended`` gate, ``plan(..., suspended=...)``) and holds the group's working devices at their next safe
point (``reconciler.engine.suspension``). Everything that plans reads them: ``plan``, ``group status``,
``apply`` and the daemon at every pass.

A suspension file that cannot be read still suspends its group (it says so): a damaged file must not let a
rollout go on that an operator stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.core.errors import StoreError, UserError
from reconciler.workdir import store
from reconciler.workdir.layout import WorkPaths, safe_name

SCHEMA = "group-suspension"
ACTOR = "group-suspension"
"""``held_by`` of the holds a suspension puts on working devices (what its resume releases)."""


@dataclass(frozen=True)
class Suspension:
    group: str
    suspended_at: str
    suspended_by: str
    reason: str
    problem: str = ""  # set when the file could not be read (the group counts as suspended)

    @property
    def detail(self) -> str:
        """Why, for people: the planner's ``detail`` and the group's verdict."""
        if self.problem:
            return f"group {self.group!r} suspended (operator); its suspension file is unreadable: {self.problem}"
        text = f"group {self.group!r} suspended (operator) by {self.suspended_by} at {self.suspended_at}"
        return text + (f": {self.reason}" if self.reason else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": 1,
            "group": self.group,
            "suspended_at": self.suspended_at,
            "suspended_by": self.suspended_by,
            "reason": self.reason,
        }


def load_all(paths: WorkPaths) -> dict[str, Suspension]:
    """Every suspended group, by name."""
    out: dict[str, Suspension] = {}
    directory = paths.suspended_dir
    if not directory.is_dir():
        return out
    for file in sorted(directory.glob("*.json")):
        name = file.stem
        try:
            data = store.read_json(file, schema=SCHEMA)
        except (StoreError, ValueError, OSError) as exc:
            out[name] = Suspension(name, "", "", "", problem=str(exc))
            continue
        out[name] = Suspension(name, data["suspended_at"], data["suspended_by"], data["reason"])
    return out


def details(paths: WorkPaths) -> dict[str, str]:
    """``{group: why}``: what the planner takes as ``suspended``."""
    return {name: s.detail for name, s in load_all(paths).items()}


def suspend(paths: WorkPaths, group: str, by: str, reason: str, now: datetime) -> Suspension:
    """Write ``group``'s suspension (``UserError`` if it is suspended already: nothing is changed)."""
    safe_name(group, "group name")
    current = load_all(paths).get(group)
    if current is not None:
        raise UserError(f"group {group!r} is already suspended: {current.detail}")
    suspension = Suspension(group, now.isoformat(timespec="seconds").replace("+00:00", "Z"), by, reason)
    paths.suspended_dir.mkdir(parents=True, exist_ok=True)
    store.atomic_write_json(paths.suspension_file(group), suspension.to_json(), schema=SCHEMA)
    store.audit(paths.audit_file, "group-suspend", actor=by, group=group, reason=reason)
    return suspension


def resume(paths: WorkPaths, group: str, by: str) -> Suspension:
    """Remove ``group``'s suspension (``UserError`` if it is not suspended: nothing is changed)."""
    safe_name(group, "group name")
    current = load_all(paths).get(group)
    if current is None:
        raise UserError(f"group {group!r} is not suspended")
    paths.suspension_file(group).unlink(missing_ok=True)
    store.audit(paths.audit_file, "group-resume", actor=by, group=group)
    return current
