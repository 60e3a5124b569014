"""Reboot, wait until ready, verify the version.

A reboot is only known to have happened when the device was seen down or reports an uptime shorter than
the time since the reboot was issued; until then an answer on the old version means "not down yet", not
"came back on the old version". The whole wait is bounded by ``reboot_timeout``; refused connections, HTTP
errors and 403s are expected meanwhile.

Polls follow the expectation (``reboot_poll_delay``): nothing before the expected window opens (learned from
this fleet's finished reboots, ``machine.expect``, else the settings' prior), one poll at its start, then one
every ``reboot_poll_dense`` inside it, so a device is seen back within about that interval for a few polls;
past the window the polls back off up to ``max_reboot_poll_interval``. A device that answers but whose
chassis is not ready yet is asked again after ``reboot_poll_ready``. The first answer after the boot gives the
uptime, so ``RebootWatch.booted_after`` (the time the reboot took, without the polling lag) is recorded for
the fleet's next expectation.

A ready answer carries ``show system info`` (version and uptime): that is the version check, so the hop goes
on to post-flight (or fails) in the same step; ``verify_version`` with its own ``CheckVersion`` read is only
taken when the answer came without a version.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.machine.commands import CheckVersion, PollReady, Snapshot
from reconciler.machine.expect import Window
from reconciler.machine.ha_member import guarded, restore_ha, start_reboot
from reconciler.machine.moves import Ctx, Reason, Step, fail, move, same, version_of
from reconciler.machine.observations import DeviceAnswered, RebootIssued, VersionObserved
from reconciler.machine.records import Phase, RebootWatch
from reconciler.machine.settings import MachineSettings


def reboot_watch(ctx: Ctx) -> RebootWatch:
    """The record's reboot watch; without one (resumed records) the reboot counts from the phase start."""
    rec = ctx.record
    if rec.reboot is not None:
        return rec.reboot
    return RebootWatch(rec.phase_started_at or ctx.iso, False, 0, ctx.settings.reboot_poll_initial, 1)


def expected_window(s: MachineSettings) -> Window:
    """When a reboot should end, in our seconds: learned (device seconds, scaled) for the device's model,
    else for the fleet, else the prior."""
    learned = s.expected.reboot_of(s.model) or s.expected.reboot
    if learned is None:
        low, high = s.reboot_expected_low, s.reboot_expected_high
    else:
        low, high = learned.low * s.device_second, learned.high * s.device_second
    return Window(low, max(high, low + s.reboot_poll_dense))


def reboot_poll_delay(s: MachineSettings, elapsed: float, *, answering: bool = False) -> float:
    """Seconds until the next poll of a device rebooting for ``elapsed`` seconds: at the expected window's
    start, densely inside it, backing off after it (``answering``: up, chassis not ready yet)."""
    if answering:
        return s.reboot_poll_ready
    w = expected_window(s)
    if elapsed < w.low:
        return max(min(w.low - elapsed, s.max_reboot_poll_interval), s.reboot_poll_ready)
    if elapsed < w.high:
        return s.reboot_poll_dense
    return min(max(s.reboot_poll_dense, elapsed - w.high), s.max_reboot_poll_interval)


def reboot_wait(ctx: Ctx, *, down: bool, answering: bool = False) -> Step:
    """Keep polling a rebooting device by expectation, up to the reboot deadline."""
    s = ctx.settings
    watch = reboot_watch(ctx)
    elapsed = ctx.since(watch.issued_at)
    remaining = s.reboot_timeout - elapsed
    if remaining <= 0:
        return fail(
            ctx,
            Reason.REBOOT_TIMEOUT,
            f"device not back on the new version within {s.reboot_timeout / 60:g} min",
        )
    delay = min(reboot_poll_delay(s, elapsed, answering=answering), remaining)
    watch = replace(watch, seen_down=watch.seen_down or down, polls=watch.polls + 1, next_delay=delay)
    hop = ctx.record.hop
    assert hop is not None
    text = "waiting for the device to come back" if watch.seen_down else "waiting for the device to go down"
    return move(ctx, Phase.WAIT_READY, PollReady(hop.version), delay, reboot=watch, message=text)


def on_reboot_issued(ctx: Ctx, obs: RebootIssued) -> Step:
    """The restart was requested: start watching (the deadline counts from now)."""
    s = ctx.settings
    issues = ctx.record.reboot.issues + 1 if ctx.record.reboot else 1
    watch = RebootWatch(ctx.iso, False, 0, min(s.reboot_poll_initial, s.max_reboot_poll_interval), issues)
    return reboot_wait(ctx.at(replace(ctx.record, reboot=watch)), down=False)


def rebooted(ctx: Ctx, uptime: int | None) -> bool:
    """Has the device restarted since the reboot was issued? Its uptime says so when it reports one: a
    failed poll is no proof (an HTTP 500 or a dropped connection also happen to a device that never went
    down, e.g. when the restart request itself was lost). Without an uptime, having seen it down is."""
    watch = reboot_watch(ctx)
    if uptime is not None:
        return uptime * ctx.settings.device_second < ctx.since(watch.issued_at)
    return watch.seen_down


def on_device_answered(ctx: Ctx, obs: DeviceAnswered) -> Step:
    """A probe answered: not ready yet (keep waiting), or ready after a restart (verify the version)."""
    rec = ctx.record
    hop = rec.hop
    assert hop is not None
    if not obs.chassis_ready:
        return reboot_wait(ctx, down=True, answering=True)
    if rebooted(ctx, obs.uptime_seconds) or same(obs.version, hop.version):
        watch = with_boot_time(ctx, obs.uptime_seconds)
        if obs.version is not None:
            # The probe read ``show system info`` just now: its version is the check (no second read).
            ctx = ctx.at(replace(rec, reboot=watch))
            return on_version(ctx, VersionObserved(obs.version, obs.uptime_seconds), keep_watch=True)
        return move(
            ctx, Phase.VERIFY_VERSION, CheckVersion(hop.version), reboot=watch, message="verifying version"
        )
    return not_yet_down(ctx, obs.uptime_seconds)


def with_boot_time(ctx: Ctx, uptime: int | None) -> RebootWatch:
    """The watch, with how long the reboot took when the uptime proves the restart (``booted_after``)."""
    watch = reboot_watch(ctx)
    if uptime is None or watch.booted_after is not None or not rebooted(ctx, uptime):
        return watch
    took = ctx.since(watch.issued_at) - uptime * ctx.settings.device_second
    return replace(watch, booted_after=round(max(took, 0.0), 3))


def not_yet_down(ctx: Ctx, uptime: int | None) -> Step:
    """The device still answers on the old version and was never seen down: the reboot may not have
    happened. With a known uptime that proves it, re-issue the reboot after a grace period."""
    watch = reboot_watch(ctx)
    s = ctx.settings
    if uptime is not None and ctx.since(watch.issued_at) >= s.reboot_start_grace:
        if watch.issues >= s.command_max_attempts:
            return fail(
                ctx, Reason.REBOOT_FAILED, f"device did not restart after {watch.issues} reboot requests"
            )
        return start_reboot(ctx, "device did not restart; rebooting again", reboot=watch)
    return reboot_wait(ctx, down=False)


def on_version(ctx: Ctx, obs: VersionObserved, *, keep_watch: bool = False) -> Step:
    """The hop took effect (post-flight next), or the device restarted on another version (failed).

    ``keep_watch``: the version came with the readiness probe's answer (``on_device_answered``), in the same
    transition that measured the boot time: the watch stays on the record so the engine learns that sample
    (the next pre-flight or the end of the run clears it)."""
    rec = ctx.record
    hop = rec.hop
    assert hop is not None
    if same(obs.version, hop.version):
        watch = rec.reboot if keep_watch else None
        if guarded(ctx):
            return restore_ha(ctx, current_version=str(version_of(obs.version)), reboot=watch)
        return move(
            ctx,
            Phase.POSTFLIGHT,
            Snapshot("post", rec.current_path_index, hop.version),
            current_version=str(version_of(obs.version)),
            reboot=watch,
            message="post-flight snapshot",
        )
    rec = replace(rec, current_version=obs.version)
    ctx = ctx.at(rec)
    if rec.reboot is None or rebooted(ctx, obs.uptime_seconds):
        if same(obs.version, rec.hop_from_version):
            return fail(
                ctx,
                Reason.CAME_BACK_ON_OLD_VERSION,
                f"device rebooted but still runs {obs.version}, not {hop.version}",
            )
        return fail(
            ctx, Reason.UNEXPECTED_VERSION, f"device runs {obs.version} after reboot, expected {hop.version}"
        )
    return not_yet_down(ctx, obs.uptime_seconds)
