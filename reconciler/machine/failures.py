"""``CommandFailed``: what a failed command means in each situation.

Temporary errors are retried with backoff up to ``command_max_attempts``; permanent ones fail the device
with a reason per command (``unreachable`` when the device did not answer). Special cases: errors while a
device reboots are expected; only answered job polls show a stall (unanswered ones fail the device after
``command_max_attempts`` in a row past the stall timeout); "software manager in
use" retries the install after ``install_retry_delay``; a failed software check falls back to the local
list; a content download PAN-OS answers "No update available" is nothing to do (the newest content is
already on the device: install it). A device-changing command whose answer is unclear (anything but PAN-OS's own error, or a refused
login/TLS) has an unknown outcome and is looked up, never assumed failed: a submission by listing the jobs
(``ListJobs``, re-attached instead of submitted twice), a reboot by watching the device, an HA member's
suspend/functional by reading the roles (``ha_member``). A malformed answer to a read is retried like a
temporary error.
"""

from __future__ import annotations

from reconciler.machine.commands import (
    Command,
    ContentDownload,
    ContentInstall,
    Download,
    Install,
    ListJobs,
    PollJob,
    Reboot,
    SoftwareCheck,
)
from reconciler.machine.downloads import JOB_REASON, job_kind, software_info, stalled, submit_install
from reconciler.machine.ha_member import is_ha_step, on_ha_step_failed
from reconciler.machine.moves import Ctx, Reason, Step, fail, move, retry_delay
from reconciler.machine.observations import BUSY_KIND, CommandFailed, RebootIssued, says_no_update
from reconciler.machine.reboot import on_reboot_issued, reboot_wait
from reconciler.machine.records import Phase

# Why a device fails when this command fails for good.
COMMAND_REASON: dict[str, Reason] = {
    "Preflight": Reason.PREFLIGHT_FAILED,
    "Snapshot": Reason.SNAPSHOT_FAILED,
    "Backup": Reason.BACKUP_FAILED,
    "SoftwareCheck": Reason.SOFTWARE_CHECK_FAILED,
    "SoftwareInfo": Reason.SOFTWARE_CHECK_FAILED,
    "ContentDownload": Reason.CONTENT_UPDATE_FAILED,
    "ContentInstall": Reason.CONTENT_UPDATE_FAILED,
    "Download": Reason.DOWNLOAD_FAILED,
    "DeleteImage": Reason.IMAGE_DELETE_FAILED,
    "Install": Reason.INSTALL_FAILED,
    "Reboot": Reason.REBOOT_FAILED,
    "CompareSnapshots": Reason.VALIDATION_FAILED,
}


def reason_for(command: Command, obs: CommandFailed) -> str:
    """The failure reason for a command that failed for good."""
    if obs.unreachable:
        return Reason.UNREACHABLE
    if isinstance(command, PollJob | ListJobs):
        return JOB_REASON[command.kind]
    return COMMAND_REASON.get(command.name, Reason.PREFLIGHT_FAILED)


# Errors that prove a command was not carried out: PAN-OS answered with an error (``api``), or the request
# never got past authentication or TLS. Anything else (a timeout, a dropped connection, an HTTP 5xx, an
# answer that cannot be parsed) leaves a device-changing command's outcome unknown: look it up, never assume.
REFUSED_KINDS = frozenset({"api", "auth", "tls"})
# A malformed answer is retried like a temporary error before it fails the device.
_GARBLED = "bad-response"


def retryable(obs: CommandFailed) -> bool:
    return obs.temporary or obs.kind == _GARBLED


def on_command_failed(ctx: Ctx, obs: CommandFailed) -> Step:
    """The outstanding command raised; see the module docstring."""
    rec = ctx.record
    s = ctx.settings
    cmd = rec.outstanding
    assert cmd is not None
    text = f"{cmd.name} failed: {obs.message or obs.kind}"
    if is_ha_step(cmd):
        return on_ha_step_failed(ctx, obs)
    if rec.phase in (Phase.WAIT_READY, Phase.VERIFY_VERSION):
        # Refused connections, HTTP errors and 403s are normal while a device boots.
        return reboot_wait(ctx, down=True)
    if isinstance(cmd, Reboot):
        if obs.kind in REFUSED_KINDS:
            return fail(ctx, Reason.REBOOT_FAILED, text)
        # The request may have reached the device (a dropped connection, a garbled answer): watch what
        # happens; a device whose uptime proves it did not restart is asked again (``not_yet_down``).
        return on_reboot_issued(ctx, RebootIssued())
    if isinstance(cmd, PollJob):
        job = rec.job
        assert job is not None
        if not retryable(obs):
            return fail(ctx, reason_for(cmd, obs), text)
        # A poll that got no answer (a 5xx, a dropped connection) says nothing about the job: only answered
        # polls show a stall (a garbled answer counts as answered). Unanswered polls fail the device once
        # they are ``command_max_attempts`` in a row and the job has shown no progress for the stall timeout.
        if ctx.since(job.progress_at) >= s.job_stall_timeout:
            if obs.kind == _GARBLED:
                return stalled(ctx, job, f" ({obs.message or obs.kind})")
            if rec.retries + 1 >= s.command_max_attempts:
                return fail(
                    ctx,
                    reason_for(cmd, obs),
                    f"{text}: {rec.retries + 1} polls of {job.kind.value} job {job.id} in a row got no answer",
                )
        return move(ctx, rec.phase, cmd, retry_delay(s, rec.retries), retries=rec.retries + 1)
    if isinstance(cmd, Install) and obs.kind == BUSY_KIND:
        if rec.install_attempts >= s.install_max_attempts:
            return fail(
                ctx,
                Reason.SOFTWARE_MANAGER_BUSY,
                f"software manager still in use after {rec.install_attempts} attempts",
            )
        return submit_install(
            ctx, s.install_retry_delay, message="software manager in use; install retry scheduled"
        )
    if isinstance(cmd, ContentDownload) and says_no_update(obs.message):
        # PAN-OS has nothing newer than what the device already holds: nothing to download; install it.
        return move(
            ctx,
            Phase.CONTENT_UPDATE,
            ContentInstall(),
            job=None,
            progress=0,
            message="no newer content to download; installing the latest downloaded",
        )
    exhausted = rec.retries + 1 >= s.command_max_attempts
    if isinstance(cmd, SoftwareCheck) and (not retryable(obs) or exhausted):
        return software_info(
            ctx, message=f"software check failed ({obs.message or obs.kind}); using the local list"
        )
    delay = retry_delay(s, rec.retries)
    submission = isinstance(cmd, Install | Download | ContentDownload | ContentInstall)
    if submission and obs.kind not in REFUSED_KINDS and not exhausted:
        # The submission may or may not have reached PAN-OS: look for the job instead of submitting twice
        # (an install running orphaned would still be changing the device). The lookup is bounded: a
        # lookup that keeps failing fails the device like any read.
        version = cmd.version if isinstance(cmd, Install | Download) else ""
        return move(
            ctx,
            rec.phase,
            ListJobs(job_kind(cmd), version),
            delay,
            retries=rec.retries + 1,
            message=f"{text}; outcome unknown, looking for the job",
        )
    if not retryable(obs) or exhausted:
        return fail(ctx, reason_for(cmd, obs), text)
    return move(ctx, rec.phase, cmd, delay, retries=rec.retries + 1)
