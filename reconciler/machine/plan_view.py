"""What the planner sees of a device record: the one way from a ``DeviceRecord`` to the planner's inputs.

``plan``, ``group status``, ``apply``, the demo and the daemon all read a device through these two
functions, so they give every device the same verdict from the same records:

- ``progress_of(record) -> DeviceProgress``: the category of its phase (idle, in progress, done, failed,
  held, cancelled), what it was working toward, for which desired revision and group meaning, why it
  failed or is held, when it finished, and the hops still to do;
- ``observed_of(record) -> Observed``: the version the engine last saw on the device and the images it
  knows are downloaded there. The engine adds the image list it fetched itself (``available``); the
  inventory's version counts only for a device without a record.

A dry-run record changed nothing: it is no progress toward the desired state (idle, no failure, no budget
used), only the version it saw counts; an operator's hold on it stays a hold. A device whose status file
cannot be used (torn, invalid) has no record: ``unusable(serial, why)`` blocks it as held, so that neither a
pass nor ``plan`` treats it as never upgraded; it is left alone until an operator repairs or removes the
file. Pure: typed fields in, typed values out, no JSON in between.
"""

from __future__ import annotations

from reconciler.core import progress as P
from reconciler.core.observed import Observed, parse_time
from reconciler.core.progress import DeviceProgress
from reconciler.core.upgrade_path import PathHop
from reconciler.core.version import PanOsVersion
from reconciler.machine.records import ACTIVE_PHASES, DeviceRecord, Hop, Mode, Phase
from reconciler.machine.rollback import rollback_holds

# Every phase has a category; the table is checked for completeness by the tests.
CATEGORY_OF_PHASE: dict[Phase, str] = {
    Phase.PENDING: P.IN_PROGRESS,
    Phase.NEXT_HOP: P.IN_PROGRESS,
    **{phase: P.IN_PROGRESS for phase in ACTIVE_PHASES},
    Phase.DONE: P.DONE,
    Phase.DOWNLOADED: P.DONE,
    Phase.DRY_RUN_COMPLETE: P.IDLE,
    Phase.SKIPPED: P.IDLE,
    Phase.FAILED: P.FAILED,
    Phase.HELD: P.HELD,
    Phase.CANCELLED: P.CANCELLED,
}
# In progress, but between steps: nothing is being done to the device right now.
_RESTING = frozenset({Phase.PENDING, Phase.NEXT_HOP})
_WHY_MAX = 200


def progress_of(record: DeviceRecord) -> DeviceProgress:
    """The planner's view of where the engine stands with ``record``'s device."""
    category = P.HELD if record.hold is not None else CATEGORY_OF_PHASE[record.phase]
    current = PanOsVersion.try_parse(record.current_version)
    updated_at = parse_time(record.updated_at)
    if record.mode is Mode.DRY_RUN and category != P.HELD:
        return DeviceProgress(serial=record.serial, current_version=current, updated_at=updated_at)
    return DeviceProgress(
        serial=record.serial,
        category=category,
        target=PanOsVersion.try_parse(record.target_version),
        desired_revision=record.desired_revision or "",
        starting_version=PanOsVersion.try_parse(record.starting_version),
        reason=_reason(record),
        finished_at=parse_time(record.finished_at),
        current_version=current,
        updated_at=updated_at,
        download_only=record.mode is Mode.DOWNLOAD_ONLY,
        resting=record.phase in _RESTING,
        group_digest=record.group_digest or "",
        hops=_remaining_hops(record),
        rolled_back_from=PanOsVersion.try_parse(record.rollback.from_version) if record.rollback else None,
        rollback_holds=_rollback_holds(record),
    )


def observed_of(record: DeviceRecord) -> Observed:
    """What the engine last saw on the device: its version and the images downloaded there."""
    return Observed.of(record.current_version or None, downloaded=record.downloaded_versions)


def unusable(serial: str, why: str) -> DeviceProgress:
    """The planner's view of a device whose status file cannot be used: held, with why (one line, capped)."""
    text = " ".join(why.split())
    text = text if len(text) <= _WHY_MAX else text[: _WHY_MAX - 3] + "..."
    return DeviceProgress(serial=serial, category=P.HELD, reason=f"status file unusable: {text}")


def _reason(record: DeviceRecord) -> str:
    """Why it failed (the error's message, else its reason code), else why it is held."""
    if record.last_error is not None:
        return record.last_error.message or record.last_error.reason
    return record.hold.reason if record.hold is not None else ""


def _rollback_holds(record: DeviceRecord) -> PanOsVersion | None:
    """The target a finished (or failed) rollback holds the device away from, while its hold is in force."""
    if record.rollback is None or not rollback_holds(record):
        return None
    return PanOsVersion.try_parse(record.rollback.undone_target)


def _remaining_hops(record: DeviceRecord) -> tuple[PathHop, ...]:
    """The hops from ``current_path_index`` on, as the record keeps them; none if a version is unreadable
    (the planner then computes the path itself)."""
    try:
        return tuple(_path_hop(h) for h in record.hops[record.current_path_index :])
    except ValueError:
        return ()


def _path_hop(hop: Hop) -> PathHop:
    return PathHop(PanOsVersion.parse(hop.version), tuple(PanOsVersion.parse(i) for i in hop.images))
