"""Pre-flight: facts and checks, then the pre snapshot and the config backup (the hop's safe start)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.core.version import PanOsVersion
from reconciler.machine.commands import Backup, JobKind, Preflight, Snapshot
from reconciler.machine.downloads import software_check
from reconciler.machine.moves import Ctx, Reason, Step, fail, finish, move, version_of
from reconciler.machine.observations import BackupTaken, PreflightResult, SnapshotTaken
from reconciler.machine.records import DeviceRecord, Mode, Phase

# Readiness checks that a device fails for a while after any boot, whatever its health: NTP takes several
# polls to synchronise again, the management plane reconnects to Panorama, the planes' clocks and HA
# re-sync, IPsec tunnels and sessions re-establish, and CPU runs high while the device finishes starting.
# Between two hops (the device rebooted into a version this record installed moments ago) a failure of
# these alone is re-checked every ``postflight_retry_interval`` for up to ``postflight_settle`` seconds, as
# the post-flight snapshot is, before it counts; before the first hop it fails at once (nothing we did
# explains it).
SETTLE_AFTER_BOOT = frozenset(
    {
        "ntp_sync",
        "panorama",
        "planes_clock_sync",
        "ha",
        "ip_sec_tunnel_status",
        "session_exist",
        "mp_cpu_utilization",
        "dp_cpu_utilization",
    }
)


def start_hop(ctx: Ctx, **changes: Any) -> Step:
    """Begin the hop at ``current_path_index`` with a fresh pre-flight; per-hop state is reset."""
    rec = ctx.record
    checks = () if rec.mode is Mode.DOWNLOAD_ONLY else ctx.settings.readiness_checks
    return move(
        ctx,
        Phase.PREFLIGHT,
        Preflight(tuple(checks), ctx.settings.min_disk_gb),
        hop_started_at=ctx.iso,
        pre_snapshot=None,
        post_snapshot=None,
        backup=None,
        content_updated=False,
        install_attempts=0,
        download_attempts=0,
        job=None,
        reboot=None,
        planned=(),
        progress=0,
        message="pre-flight checks",
        **changes,
    )


def path_position(rec: DeviceRecord, version: PanOsVersion) -> int | None:
    """Index of the next hop for a device running ``version`` on this record's path (None if off-path)."""
    if version == version_of(rec.starting_version):
        return 0
    for i, hop in enumerate(rec.hops):
        if version == version_of(hop.version):
            return i + 1
    return None


def already_there(ctx: Ctx, version: str) -> Step:
    """The device already runs the target: nothing to do, whatever the mode."""
    rec = ctx.record
    phase = {
        Mode.UPGRADE: Phase.DONE,
        Mode.DOWNLOAD_ONLY: Phase.DOWNLOADED,
        Mode.DRY_RUN: Phase.DRY_RUN_COMPLETE,
    }
    return finish(
        ctx,
        phase[rec.mode],
        f"already running the target {version}",
        current_path_index=len(rec.hops),
        progress=100,
    )


def on_preflight(ctx: Ctx, obs: PreflightResult) -> Step:
    """Decide from the facts. The path index follows the live version (the original tool's recovery rule:
    the path comes from ``starting_version``, the position from where the device actually is). Dry-run
    fails for the same reasons a real run would; that is its point."""
    rec = ctx.record
    version = PanOsVersion.try_parse(obs.version)
    if version is None:
        return fail(ctx, Reason.UNEXPECTED_VERSION, f"device reports an unparseable version {obs.version!r}")
    watermark = max(
        [j.number for j in obs.jobs] + [rec.job_watermark if rec.job_watermark is not None else -1]
    )
    rec = replace(
        rec,
        current_version=str(version),
        disk_free_gb=obs.disk_free_gb,
        content_version=obs.content_version,
        job_watermark=watermark,
    )
    ctx = ctx.at(rec)
    if version == version_of(rec.target_version):
        return already_there(ctx, str(version))
    if not rec.hops:
        return finish(
            ctx,
            Phase.SKIPPED,
            f"no upgrade path from {version} to {rec.target_version}",
            skip_reason="no-path",
        )
    position = path_position(rec, version)
    if position is None or position >= len(rec.hops):
        path = " -> ".join((rec.starting_version, *rec.upgrade_path))
        return fail(ctx, Reason.UNEXPECTED_VERSION, f"device runs {version}, which is not on the path {path}")
    running = [j for j in obs.jobs if not j.finished and j.kind in (JobKind.INSTALL, JobKind.CONTENT_INSTALL)]
    if running:
        ids = ", ".join(f"{j.kind.value} {j.job_id}" for j in running)
        return fail(ctx, Reason.JOB_ALREADY_RUNNING, f"a job is already running on the device ({ids})")
    # Another job still running (a download left by a cancelled run, a commit, ...) is a reason to wait,
    # not to fail: look again until the job stall timeout says it will not finish.
    busy = [j for j in obs.jobs if not j.finished]
    failed = [c for c in obs.checks if not c.passed]
    if busy or (failed and all(c.name == "jobs" for c in failed)):
        ids = ", ".join(f"{j.kind.value} {j.job_id}" for j in busy) or "see the jobs check"
        again = _look_again(
            ctx,
            ctx.settings.job_stall_timeout,
            ctx.settings.job_poll_max_interval,
            f"waiting for running jobs to finish ({ids})",
        )
        if again is not None:
            return again
    if obs.disk_free_gb < ctx.settings.min_disk_gb and not ctx.settings.image_cleanup:
        # With image cleanup on, the software list decides: old images may make the room (``disk``).
        return fail(
            ctx,
            Reason.INSUFFICIENT_DISK,
            f"{obs.disk_free_gb:.1f} GB free, {ctx.settings.min_disk_gb:.1f} GB required",
        )
    if failed:
        text = "; ".join(f"{c.name}: {c.message}" if c.message else c.name for c in failed)
        # The device runs a version this record installed: it rebooted moments ago (between two hops).
        if position > 0 and all(c.name in SETTLE_AFTER_BOOT for c in failed):
            again = _look_again(
                ctx,
                ctx.settings.postflight_settle,
                ctx.settings.postflight_retry_interval,
                f"waiting for the device to settle after its reboot ({text})",
            )
            if again is not None:
                return again
        return fail(ctx, Reason.READINESS_CHECK_FAILED, text)
    rec = replace(rec, current_path_index=position)
    ctx = ctx.at(rec)
    if rec.mode is Mode.DOWNLOAD_ONLY:
        return software_check(ctx)
    hop = rec.hops[position]
    return move(ctx, Phase.PREFLIGHT, Snapshot("pre", position, hop.version), message="pre-flight snapshot")


def _look_again(ctx: Ctx, within: float, every: float, message: str) -> Step | None:
    """The same pre-flight again in ``every`` seconds while the phase is younger than ``within`` seconds
    (None once it is not: what was waited for counts now)."""
    rec = ctx.record
    if not isinstance(rec.outstanding, Preflight) or ctx.since(rec.phase_started_at) >= within:
        return None
    return move(ctx, Phase.PREFLIGHT, rec.outstanding, every, message=message)


def on_pre_snapshot(ctx: Ctx, obs: SnapshotTaken) -> Step:
    """Pre snapshot saved; the backup comes next (a dry run changes nothing, so it needs none)."""
    rec = replace(ctx.record, pre_snapshot=obs.path)
    ctx = ctx.at(rec)
    if rec.mode is Mode.DRY_RUN:
        return software_check(ctx)
    hop = rec.hop
    assert hop is not None
    return move(ctx, Phase.PREFLIGHT, Backup(rec.current_path_index, hop.version), message="config backup")


def on_backup(ctx: Ctx, obs: BackupTaken) -> Step:
    return software_check(ctx.at(replace(ctx.record, backup=obs.path)))
