"""The transition table (every legal (phase, observation) pair in one place) and ``step``.

Each row names the phases its handler may lead to; the diagram in docs/state-machine.md is drawn from
these rows, and a property test checks that no handler ever leaves its row's targets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.machine.commands import PollJob, Snapshot
from reconciler.machine.downloads import (
    on_image_deleted,
    on_job_started,
    on_job_status,
    on_jobs_listed,
    on_software_list,
)
from reconciler.machine.failures import on_command_failed
from reconciler.machine.ha_member import on_pair_roles, on_self_ha_done
from reconciler.machine.moves import Ctx, IllegalTransition, Step
from reconciler.machine.observations import (
    Abort,
    BackupTaken,
    Begin,
    CancelRequest,
    CommandFailed,
    ComparisonResult,
    DeviceAnswered,
    HoldRequest,
    ImageDeleted,
    JobsListed,
    JobStarted,
    JobStatus,
    Observation,
    PairRoles,
    PreflightResult,
    RebootIssued,
    ReleaseRequest,
    RetryRequest,
    SelfHaDone,
    SnapshotTaken,
    SoftwareList,
    VersionObserved,
)
from reconciler.machine.postflight import on_comparison, on_post_snapshot
from reconciler.machine.preflight import on_backup, on_pre_snapshot, on_preflight
from reconciler.machine.reboot import on_device_answered, on_reboot_issued, on_version
from reconciler.machine.records import DeviceRecord, Instant, Phase, to_instant
from reconciler.machine.requests import (
    apply_pending_request,
    on_abort,
    on_begin,
    on_cancel_untouched,
    on_hold_now,
    on_release,
    on_retry,
    on_stop_request,
)
from reconciler.machine.settings import DEFAULT_SETTINGS, MachineSettings

Handler = Callable[[Ctx, Any], Step]


@dataclass(frozen=True)
class Transition:
    """One row: in ``source``, observation type ``event`` is handled by ``handler`` and leads to one of
    ``targets``. ``generic`` rows (errors, stop requests of every working phase) are drawn as notes."""

    source: Phase
    event: type[Observation]
    targets: frozenset[Phase]
    handler: Handler
    generic: bool = False


P = Phase

_WORKING = (
    P.PREFLIGHT,
    P.SOFTWARE_CHECK,
    P.CONTENT_UPDATE,
    P.DOWNLOAD_BASE,
    P.DOWNLOAD_TARGET,
    P.INSTALL,
    P.REBOOT,
    P.WAIT_READY,
    P.VERIFY_VERSION,
    P.POSTFLIGHT,
)
# Where a finished download leads: the next download, the install, or the end of download-only.
_AFTER_DOWNLOAD = (P.DOWNLOAD_BASE, P.DOWNLOAD_TARGET, P.INSTALL, P.DOWNLOADED, P.FAILED)
# Where a content job leads (upgrades only); a cancel deferred during the content install lands in held.
_AFTER_CONTENT = (P.CONTENT_UPDATE, P.DOWNLOAD_BASE, P.DOWNLOAD_TARGET, P.INSTALL, P.FAILED, P.HELD)


def _t(
    source: Phase,
    event: type[Observation],
    targets: tuple[Phase, ...],
    handler: Handler,
    generic: bool = False,
) -> Transition:
    return Transition(source, event, frozenset(targets), handler, generic)


def _build_table() -> dict[tuple[Phase, type[Observation]], Transition]:
    rows = [
        _t(P.PENDING, Begin, (P.PREFLIGHT,), on_begin),
        _t(P.PENDING, CancelRequest, (P.CANCELLED,), on_cancel_untouched),
        _t(P.PENDING, HoldRequest, (P.HELD,), on_hold_now),
        _t(P.PENDING, Abort, (P.FAILED,), on_abort),
        _t(
            P.PREFLIGHT,
            PreflightResult,
            (P.PREFLIGHT, P.SOFTWARE_CHECK, P.DONE, P.DOWNLOADED, P.DRY_RUN_COMPLETE, P.SKIPPED, P.FAILED),
            on_preflight,
        ),
        _t(P.PREFLIGHT, SnapshotTaken, (P.PREFLIGHT, P.SOFTWARE_CHECK), on_pre_snapshot),
        _t(P.PREFLIGHT, BackupTaken, (P.SOFTWARE_CHECK,), on_backup),
        _t(
            P.SOFTWARE_CHECK,
            SoftwareList,
            (
                P.SOFTWARE_CHECK,
                P.CONTENT_UPDATE,
                P.DOWNLOAD_BASE,
                P.DOWNLOAD_TARGET,
                P.INSTALL,
                P.DOWNLOADED,
                P.DRY_RUN_COMPLETE,
                P.FAILED,
            ),
            on_software_list,
        ),
        # Image cleanup: an image deleted to make room; the list is read again and the downloads re-planned.
        _t(P.SOFTWARE_CHECK, ImageDeleted, (P.SOFTWARE_CHECK,), on_image_deleted),
        _t(P.CONTENT_UPDATE, JobStarted, (P.CONTENT_UPDATE,), on_job_started),
        _t(P.CONTENT_UPDATE, JobStatus, _AFTER_CONTENT, on_job_status),
        _t(P.CONTENT_UPDATE, JobsListed, _AFTER_CONTENT, on_jobs_listed),
        _t(P.INSTALL, JobStarted, (P.INSTALL,), on_job_started),
        _t(P.INSTALL, JobStatus, (P.INSTALL, P.REBOOT, P.FAILED), on_job_status),
        _t(P.INSTALL, JobsListed, (P.INSTALL, P.REBOOT, P.FAILED, P.HELD), on_jobs_listed),
        _t(P.REBOOT, RebootIssued, (P.WAIT_READY,), on_reboot_issued),
        # HA members: roles read (and the member suspended) before the reboot, made functional after it.
        _t(P.REBOOT, PairRoles, (P.REBOOT, P.FAILED), on_pair_roles),
        _t(P.REBOOT, SelfHaDone, (P.REBOOT,), on_self_ha_done),
        _t(P.POSTFLIGHT, PairRoles, (P.POSTFLIGHT, P.FAILED, P.HELD), on_pair_roles),
        _t(P.POSTFLIGHT, SelfHaDone, (P.POSTFLIGHT,), on_self_ha_done),
        _t(
            P.WAIT_READY,
            DeviceAnswered,
            # A ready answer carries the version: verified in the same step (post-flight, or failed).
            (P.WAIT_READY, P.VERIFY_VERSION, P.POSTFLIGHT, P.REBOOT, P.FAILED, P.HELD),
            on_device_answered,
        ),
        _t(
            P.VERIFY_VERSION,
            VersionObserved,
            (P.POSTFLIGHT, P.WAIT_READY, P.REBOOT, P.FAILED, P.HELD),
            on_version,
        ),
        _t(P.POSTFLIGHT, SnapshotTaken, (P.POSTFLIGHT, P.NEXT_HOP, P.DONE), on_post_snapshot),
        # A breach while the device settles re-takes the post snapshot.
        _t(P.POSTFLIGHT, ComparisonResult, (P.POSTFLIGHT, P.NEXT_HOP, P.DONE, P.FAILED), on_comparison),
        _t(P.NEXT_HOP, Begin, (P.PREFLIGHT,), on_begin),
        _t(P.NEXT_HOP, CancelRequest, (P.HELD,), on_hold_now),
        _t(P.NEXT_HOP, HoldRequest, (P.HELD,), on_hold_now),
        _t(P.NEXT_HOP, Abort, (P.FAILED,), on_abort),
        _t(P.HELD, ReleaseRequest, (P.PENDING,), on_release),
        _t(P.FAILED, RetryRequest, (P.PENDING,), on_retry),
        _t(P.CANCELLED, RetryRequest, (P.PENDING,), on_retry),
    ]
    for phase in (P.DOWNLOAD_BASE, P.DOWNLOAD_TARGET):
        rows += [
            _t(phase, JobStarted, (phase,), on_job_started),
            _t(phase, JobStatus, _AFTER_DOWNLOAD, on_job_status),
            _t(phase, JobsListed, (phase, P.SOFTWARE_CHECK), on_jobs_listed),
        ]
    for phase in (P.FAILED, P.CANCELLED, P.DONE, P.DOWNLOADED, P.DRY_RUN_COMPLETE, P.SKIPPED):
        rows.append(_t(phase, HoldRequest, (P.HELD,), on_hold_now))
    failure_targets: dict[Phase, tuple[Phase, ...]] = {
        P.SOFTWARE_CHECK: (P.SOFTWARE_CHECK, P.FAILED),
        P.INSTALL: (P.INSTALL, P.FAILED, P.HELD),
        P.REBOOT: (P.REBOOT, P.WAIT_READY, P.FAILED),
        P.WAIT_READY: (P.WAIT_READY, P.FAILED),
        P.VERIFY_VERSION: (P.WAIT_READY, P.FAILED),
    }
    for phase in _WORKING:
        rows += [
            _t(
                phase,
                CommandFailed,
                failure_targets.get(phase, (phase, P.FAILED)),
                on_command_failed,
                generic=True,
            ),
            _t(phase, CancelRequest, (phase, P.HELD), on_stop_request, generic=True),
            _t(phase, HoldRequest, (phase, P.HELD), on_stop_request, generic=True),
        ]
    table: dict[tuple[Phase, type[Observation]], Transition] = {}
    for row in rows:
        key = (row.source, row.event)
        if key in table:
            raise AssertionError(f"duplicate transition {row.source.value} / {row.event.__name__}")
        table[key] = row
    return table


TABLE: Mapping[tuple[Phase, type[Observation]], Transition] = _build_table()


def _check_answer(record: DeviceRecord, obs: Observation) -> None:
    """An answer must answer the outstanding command (a stale or misrouted one is illegal)."""
    out = record.outstanding
    if out is None:
        raise IllegalTransition(record, obs, "no command is outstanding")
    if isinstance(obs, CommandFailed):
        if obs.command != out.name:
            raise IllegalTransition(record, obs, f"failure of {obs.command}, but {out.name} is outstanding")
        return
    if obs.name not in out.ANSWERED_BY:
        raise IllegalTransition(record, obs, f"it does not answer {out.name}")
    if isinstance(obs, JobStatus) and isinstance(out, PollJob) and obs.job_id != out.job_id:
        raise IllegalTransition(record, obs, f"status of job {obs.job_id}, but job {out.job_id} is polled")
    if isinstance(obs, SnapshotTaken) and isinstance(out, Snapshot) and obs.kind != out.kind:
        raise IllegalTransition(record, obs, f"{obs.kind} snapshot, but a {out.kind} snapshot was asked for")


def step(
    record: DeviceRecord, observation: Observation, now: Instant, settings: MachineSettings = DEFAULT_SETTINGS
) -> Step:
    """Apply one observation. Raise ``IllegalTransition`` (record unchanged) if it is not accepted."""
    rule = TABLE.get((record.phase, type(observation)))
    if rule is None:
        raise IllegalTransition(record, observation)
    if not observation.is_request:
        _check_answer(record, observation)
    ctx = Ctx(record, to_instant(now), settings)
    return apply_pending_request(ctx, rule.handler(ctx, observation))


def accepts(record: DeviceRecord) -> frozenset[type[Observation]]:
    """The observation types ``step`` accepts for ``record`` right now."""
    out = record.outstanding
    result = set()
    for (phase, event), _rule in TABLE.items():
        if phase is not record.phase:
            continue
        if event.is_request or (
            out is not None and (event is CommandFailed or event.__name__ in out.ANSWERED_BY)
        ):
            result.add(event)
    return frozenset(result)
