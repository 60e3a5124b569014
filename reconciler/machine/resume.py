"""Crash resume: continue a working device from its status file and one fresh look at it (``LiveDevice``).

Rules, in order: nothing is ever submitted twice (a recorded job is re-attached; an unknown submission is
looked up among jobs newer than ``job_watermark``); a device already running the hop's target is
verified; a device unreachable while rebooting is still waited for, against the original deadline; a reboot
is re-issued only when the device's uptime proves it did not restart; pre-flight starts over; read-only
steps are simply repeated.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.version import PanOsVersion
from reconciler.machine.commands import (
    CheckVersion,
    Command,
    DeleteImage,
    Download,
    Install,
    JobKind,
    ListJobs,
    PollJob,
)
from reconciler.machine.downloads import adopt, job_finished, job_kind, software_info
from reconciler.machine.ha_member import start_reboot
from reconciler.machine.moves import Ctx, Reason, Step, fail, move, same, version_of
from reconciler.machine.observations import DeviceAnswered, LiveDevice
from reconciler.machine.preflight import start_hop
from reconciler.machine.reboot import on_device_answered, reboot_wait, reboot_watch
from reconciler.machine.records import (
    ACTIVE_PHASES,
    DISRUPTIVE_PHASES,
    DeviceRecord,
    Instant,
    Phase,
    to_instant,
)
from reconciler.machine.requests import apply_pending_request
from reconciler.machine.settings import DEFAULT_SETTINGS, MachineSettings


def resume(
    record: DeviceRecord, live: LiveDevice, now: Instant, settings: MachineSettings = DEFAULT_SETTINGS
) -> Step:
    """Decide how to continue after a restart. Resting and terminal records come back unchanged with no
    commands (the scheduler or an operator moves them); working ones per the module docstring. A cancel
    or hold that was waiting for a safe point takes effect if the resumed device is at one."""
    ctx = Ctx(record, to_instant(now), settings)
    return apply_pending_request(ctx, _resume(ctx, live))


def _resume(ctx: Ctx, live: LiveDevice) -> Step:
    rec = ctx.record
    if rec.phase not in ACTIVE_PHASES:
        return Step(rec)
    if live.reachable and live.version and PanOsVersion.try_parse(live.version) is not None:
        rec = replace(rec, current_version=str(version_of(live.version)))
    ctx = ctx.at(rec)
    phase = rec.phase
    if phase is Phase.PREFLIGHT:
        return start_hop(ctx)
    if phase in DISRUPTIVE_PHASES:
        return resume_disruptive(ctx, live)
    if phase in (Phase.CONTENT_UPDATE, Phase.DOWNLOAD_BASE, Phase.DOWNLOAD_TARGET):
        return resume_job_phase(ctx, live)
    out = rec.outstanding
    assert out is not None
    if isinstance(out, DeleteImage):
        # The delete may have happened before the restart: look at the device's list, never delete blind.
        return software_info(ctx)
    return move(ctx, phase, out, 0.0 if live.reachable else ctx.settings.command_retry_delay)


def resume_disruptive(ctx: Ctx, live: LiveDevice) -> Step:
    """Install, reboot, wait_ready, verify_version."""
    rec = ctx.record
    hop = rec.hop
    assert hop is not None
    on_target = live.reachable and same(live.version, hop.version)
    floor = rec.job_watermark if rec.job_watermark is not None else -1
    install_running = any(
        j.kind is JobKind.INSTALL and not j.finished and j.number > floor for j in live.jobs
    )
    if on_target and not (rec.phase is Phase.INSTALL and install_running):
        if live.chassis_ready is False:
            return reboot_wait(ctx, down=True)
        return move(ctx, Phase.VERIFY_VERSION, CheckVersion(hop.version), message="verifying version")
    if rec.phase is Phase.INSTALL:
        if not live.reachable:
            out: Command = (
                PollJob(rec.job.id, rec.job.kind) if rec.job else ListJobs(JobKind.INSTALL, hop.version)
            )
            return move(ctx, Phase.INSTALL, out, ctx.settings.command_retry_delay)
        return resume_job(ctx, live, JobKind.INSTALL, hop.version)
    if not live.reachable:
        # In reboot we do not know whether the request went out: "down" is not evidence of a restart.
        return reboot_wait(ctx, down=rec.phase is not Phase.REBOOT)
    if rec.phase is Phase.REBOOT:
        # Was the reboot issued before the restart? Only an uptime shorter than our wait proves it.
        since = ctx.since(rec.phase_started_at)
        if live.uptime_seconds is not None and live.uptime_seconds < since:
            if same(live.version, rec.hop_from_version):
                return fail(
                    ctx, Reason.CAME_BACK_ON_OLD_VERSION, f"device rebooted but still runs {live.version}"
                )
            return fail(
                ctx,
                Reason.UNEXPECTED_VERSION,
                f"device runs {live.version} after reboot, expected {hop.version}",
            )
        # A new wait for the HA steps before the reboot: the engine was away, not the pair.
        return start_reboot(ctx, f"installed {hop.version}; rebooting", phase_started_at=ctx.iso)
    answered = DeviceAnswered(bool(live.chassis_ready), live.version, live.uptime_seconds)
    return on_device_answered(ctx.at(replace(rec, reboot=reboot_watch(ctx))), answered)


def resume_job_phase(ctx: Ctx, live: LiveDevice) -> Step:
    """Content update and downloads: re-attach to the job, or find out whether the submission happened."""
    rec = ctx.record
    out = rec.outstanding
    kind = rec.job.kind if rec.job else job_kind(out)
    version = (
        (rec.job.image or "")
        if rec.job
        else (out.version if isinstance(out, Download | Install | ListJobs) else "")
    )
    if not live.reachable:
        if rec.job:
            command: Command = PollJob(rec.job.id, rec.job.kind)
        elif isinstance(out, ListJobs | PollJob):
            command = out
        else:
            command = ListJobs(kind, version)
        return move(ctx, rec.phase, command, ctx.settings.command_retry_delay, job=rec.job)
    return resume_job(ctx, live, kind, version)


def resume_job(ctx: Ctx, live: LiveDevice, kind: JobKind, version: str) -> Step:
    """A reachable device: settle the recorded job from the live job list, or adopt / resubmit."""
    rec = ctx.record
    if rec.job is not None:
        found = [j for j in live.jobs if j.job_id == rec.job.id]
        if found and found[0].finished:
            return job_finished(ctx, rec.job, found[0].succeeded, found[0].message)
        if found or kind is JobKind.INSTALL:
            # Re-attach; an install job that vanished from the list is polled (and fails if really gone).
            return move(ctx, rec.phase, PollJob(rec.job.id, rec.job.kind), 0.0, job=rec.job)
        return (
            software_info(ctx, job=None) if kind is JobKind.DOWNLOAD else adopt(ctx, live.jobs, kind, version)
        )
    return adopt(ctx, live.jobs, kind, version)
