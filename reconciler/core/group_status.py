"""Per-group status, Flux/Argo style: what is desired, what the engine works from, and where the group stands.
Pure: computed from a ``Plan`` (the same planner ``plan``, ``apply`` and the daemon use), the desired state
and the engine's device progress.

- ``desired_revision``: the git revision of the desired state in force (its digest outside git);
  ``desired_digest``: what the group means now (``DesiredState.group_digest``).
- ``observed_revision``: the revision the engine's records of this group's devices were made under, the
  newest that matches the group's current meaning (else the newest of any); ``observed_current``: how many
  of the group's records were made under its current meaning, of ``observed_records``.
- ``state``: ``synced`` (every device converged), ``halted`` (the failure budget is used up: no new
  starts), ``progressing`` (devices in progress, or ready to start, or waiting only for the rollout's pace:
  waves, soak, ``maxParallel``), ``blocked`` (devices want a change and none may start), with ``reasons``
  (block reasons and how many devices each holds back, or ``no-devices`` for a group that selects none);
  ``suspended`` (an operator suspended it at run time: ``group suspend``; ``suspended`` says who and why),
  whatever else holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.desired import DesiredState
from reconciler.core.plan import CHANGE_ACTIONS, CONVERGED, NONE, SOAK, WAVE_PENDING, Plan
from reconciler.core.progress import DeviceProgress

SYNCED = "synced"
PROGRESSING = "progressing"
HALTED = "halted"
BLOCKED_STATE = "blocked"
SUSPENDED_STATE = "suspended"
STATES = (SYNCED, PROGRESSING, HALTED, BLOCKED_STATE, SUSPENDED_STATE)

_PACE = frozenset({WAVE_PENDING, SOAK})


@dataclass(frozen=True)
class GroupStatus:
    name: str
    target: str
    state: str
    desired_revision: str
    desired_digest: str
    observed_revision: str | None
    observed_current: int
    observed_records: int
    reasons: Mapping[str, int] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    failure_budget: int = 1
    window: str = ""
    suspended: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "state": self.state,
            "desired_revision": self.desired_revision,
            "desired_digest": self.desired_digest,
            "observed_revision": self.observed_revision,
            "observed_current": self.observed_current,
            "observed_records": self.observed_records,
            "reasons": dict(self.reasons),
            "counts": dict(self.counts),
            "failure_budget": self.failure_budget,
            "window": self.window,
            "suspended": self.suspended or None,
        }


def group_statuses(
    plan: Plan, desired: DesiredState, progress: Mapping[str, DeviceProgress]
) -> list[GroupStatus]:
    """One ``GroupStatus`` per group of ``desired``, in desired-state order (Panorama's first when declared)."""
    out = []
    revision = desired.revision or desired.digest[:19]
    for group in desired.planned_groups:
        summary = plan.group(group.name)
        devices = [d for d in plan.devices if d.group == group.name]
        digest = desired.group_digest(group)
        records = [progress[d.serial] for d in devices if d.serial in progress]
        records = [r for r in records if r.desired_revision or r.group_digest]
        current = [r for r in records if r.group_digest == digest]
        newest = sorted(current or records, key=lambda r: (r.updated_at is not None, r.updated_at))
        observed = newest[-1].desired_revision[:19] if newest else None
        counts = {
            "devices": len(devices),
            "converged": sum(1 for d in devices if d.action == NONE and d.reason == CONVERGED),
            "in_progress": sum(1 for d in devices if d.in_progress),
            "pending": sum(1 for d in devices if d.action in CHANGE_ACTIONS and not d.in_progress),
            "blocked": sum(1 for d in devices if d.reason and d.action != NONE and not d.in_progress),
            "failed": summary.failures if summary is not None else 0,
        }
        reasons: dict[str, int] = {}
        for d in devices:
            if d.action != NONE and d.reason and not d.in_progress:
                reasons[d.reason] = reasons.get(d.reason, 0) + 1
        moving = any(
            d.in_progress or (d.action in CHANGE_ACTIONS and not d.reason) or d.reason in _PACE
            for d in devices
        )
        if summary is not None and summary.suspended:
            state = SUSPENDED_STATE
        elif not devices:
            state, reasons = BLOCKED_STATE, {"no-devices": 0}
        elif summary is not None and summary.halted:
            state = HALTED
        elif all(d.action == NONE for d in devices):
            state = SYNCED
        elif moving:
            state = PROGRESSING
        else:
            state = BLOCKED_STATE
        out.append(
            GroupStatus(
                name=group.name,
                target=str(group.target),
                state=state,
                desired_revision=revision,
                desired_digest=digest,
                observed_revision=observed,
                observed_current=len(current),
                observed_records=len(records),
                reasons=reasons,
                counts=counts,
                failure_budget=summary.failure_budget if summary is not None else 0,
                window=summary.window_detail if summary is not None else "",
                suspended=summary.suspended if summary is not None else "",
            )
        )
    return out
