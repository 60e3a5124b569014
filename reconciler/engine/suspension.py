"""What a group suspension does to devices already working (``group suspend|resume NAME``), level-triggered.

The planner stops new work in a suspended group (``plan(..., suspended=...)``). For the devices of the group
already working toward the desired state, each pass makes the records agree with the suspensions, reusing
the operator hold: a device of a suspended group that is working (or an HA member waiting for its turn in a
pair that has started) gets a hold (``held_by`` ``suspensions.ACTOR``): it stops at its next safe point
(never between an install and the new version answering) and is held, exactly as ``device hold`` would do; a device held by a suspension whose group is no
longer suspended is released (back to ``pending``, then a fresh pre-flight toward the desired target). An
operator's own holds are never released here, and job records (the imperative interface) and rollbacks
(``device rollback``) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.engine.executor import Executor
from reconciler.machine.observations import HoldRequest, ReleaseRequest
from reconciler.machine.records import DeviceRecord, Phase
from reconciler.workdir import logs
from reconciler.workdir.suspensions import ACTOR

log = logs.get(__name__)


def enforce(executor: Executor, suspended: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Hold the working devices of suspended groups, release the devices held by a suspension that ended.
    ``suspended``: ``{group: why}``. Returns (serials asked to hold, serials released)."""
    held, released = [], []
    # Working devices, and HA members waiting for their turn in a pair that has started (held at once, so
    # the pair coordinator starts no member of a suspended group); a device never started waits for the
    # planner, which starts nothing in a suspended group.
    # Job records and operator rollbacks are an operator's own work, not the desired state's: left alone.
    working = {r.serial for r in executor.in_flight() if not r.job_id and r.rollback is None}
    # Only unfinished records can be working or held by a suspension (a pass over 10,000 devices must not
    # look at every record).
    for record in sorted(executor.unfinished(), key=lambda r: r.serial):
        serial = record.serial
        why = suspended.get(record.group) if record.group else None
        if why is not None:
            if serial not in working or record.pending_request is not None or _asked(executor, serial):
                continue
            if executor.request(serial, HoldRequest(by=ACTOR, reason=why)):
                held.append(serial)
        elif _held_by_suspension(record) and executor.request(serial, ReleaseRequest(by=ACTOR)):
            released.append(serial)
    if held:
        log.info("group suspension: %d working device(s) stop at their next safe point: %s", len(held),
                 ", ".join(held[:20]))  # fmt: skip
    if released:
        log.info("group resumed: %d device(s) released: %s", len(released), ", ".join(released[:20]))
    return held, released


def _held_by_suspension(record: DeviceRecord) -> bool:
    return (
        record.phase is Phase.HELD
        and record.hold is not None
        and record.hold.held_by == ACTOR
        and not record.job_id
    )


def _asked(executor: Executor, serial: str) -> bool:
    """A hold is already queued behind the device's running command (asked at an earlier pass)."""
    dev = executor.devices.get(serial)
    return dev is not None and any(isinstance(r, HoldRequest) for r in dev.requests)
