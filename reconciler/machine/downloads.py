"""Software list, content update, downloads and install: everything that is a PAN-OS job.

Jobs are tracked in ``record.job`` and polled adaptively; a job whose progress does not move for
``job_stall_timeout`` fails the device. Submissions (download, install, content) whose outcome is unknown
are resolved by listing the device's jobs (``adopt``): jobs newer than ``record.job_watermark`` are ours.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.core.version import PanOsVersion
from reconciler.machine.commands import (
    Command,
    ContentDownload,
    ContentInstall,
    DeleteImage,
    Download,
    Install,
    JobKind,
    ListJobs,
    PollJob,
    SoftwareCheck,
    SoftwareInfo,
)
from reconciler.machine.disk import DiskNeed, choose_deletions, cleanup_candidates, disk_need, image_sizes
from reconciler.machine.ha_member import start_reboot
from reconciler.machine.moves import (
    Ctx,
    Reason,
    Step,
    content_below,
    fail,
    finish,
    move,
    retry_delay,
    version_of,
)
from reconciler.machine.observations import (
    ImageDeleted,
    ImageInfo,
    JobInfo,
    JobsListed,
    JobStarted,
    JobStatus,
    SoftwareList,
    says_software_manager_busy,
)
from reconciler.machine.records import JobRef, Mode, Phase, PlannedHop
from reconciler.machine.settings import MachineSettings


def software_check(ctx: Ctx, **changes: Any) -> Step:
    """Ask the update server what is available (``request system software check``)."""
    fields: dict[str, Any] = {"message": "checking available software", **changes}
    return move(ctx, Phase.SOFTWARE_CHECK, SoftwareCheck(ctx.settings.software_check_timeout), **fields)


def software_info(ctx: Ctx, **changes: Any) -> Step:
    """Read the device's own list: after a failed check (air-gapped devices) or to re-derive downloads."""
    fields: dict[str, Any] = {"message": "reading the device's software list", **changes}
    return move(ctx, Phase.SOFTWARE_CHECK, SoftwareInfo(ctx.settings.software_info_timeout), **fields)


def plan_downloads(ctx: Ctx, obs: SoftwareList) -> tuple[tuple[PlannedHop, ...], list[str]]:
    """(planned hops, missing images). Upgrade: the current hop; otherwise every hop left."""
    rec = ctx.record
    listed: dict[PanOsVersion, ImageInfo] = {}
    for entry in obs.images:
        parsed = PanOsVersion.try_parse(entry.version)
        if parsed is not None:
            listed[parsed] = entry
    hops = (
        rec.hops[rec.current_path_index :]
        if rec.mode is not Mode.UPGRADE
        else rec.hops[rec.current_path_index :][:1]
    )
    seen: set[str] = set()
    planned, missing = [], []
    content = rec.content_version
    for hop in hops:
        to_download, already = [], []
        for image in hop.images:
            if image in seen:
                continue
            seen.add(image)
            info = listed.get(version_of(image))
            if info is None:
                missing.append(image)
            elif info.downloaded or image in rec.downloaded_versions:
                already.append(image)
            else:
                to_download.append(image)
        needs_content = rec.mode is not Mode.DOWNLOAD_ONLY and content_below(content, hop.min_content_version)
        planned.append(PlannedHop(hop.version, tuple(to_download), tuple(already), needs_content))
    return tuple(planned), missing


def space_check(ctx: Ctx, planned: tuple[PlannedHop, ...], obs: SoftwareList) -> DiskNeed | None:
    """The free-space check of the planned downloads (``disk``); None when pre-flight measured nothing."""
    rec = ctx.record
    if rec.disk_free_gb is None:
        return None
    images = [v for p in planned for v in p.to_download if v not in rec.downloaded_versions]
    strict = rec.mode is Mode.DOWNLOAD_ONLY
    return disk_need(
        rec.disk_free_gb, images, image_sizes(obs.images), ctx.settings.min_disk_gb, strict=strict
    )


def on_software_list(ctx: Ctx, obs: SoftwareList) -> Step:
    """Plan the hop's downloads from what the device has; images already downloaded are skipped. The
    downloads must fit (``disk``): download-only fails ``insufficient-disk`` rather than report images as
    staged that are not. Dry-run ends here with its report; an upgrade updates content first when the hop
    needs it."""
    rec = ctx.record
    planned, missing = plan_downloads(ctx, obs)
    if missing:
        return fail(
            ctx, Reason.IMAGE_NOT_AVAILABLE, "not offered by the update server: " + ", ".join(missing)
        )
    already = [v for p in planned for v in p.already_downloaded if v not in rec.downloaded_versions]
    skipped = tuple(dict.fromkeys((*rec.skipped_versions, *already)))
    rec = replace(rec, planned=planned, skipped_versions=skipped)
    ctx = ctx.at(rec)
    need = space_check(ctx, planned, obs)
    doomed: tuple[str, ...] = ()
    if need is not None:
        doomed = deletions(ctx, need, obs)
        if not doomed and not need.enough:
            return fail(ctx, Reason.INSUFFICIENT_DISK, need.describe() + cleanup_note(ctx, need, obs))
    if rec.mode is Mode.DRY_RUN:
        summary = "; ".join(
            f"{p.version}: download {', '.join(p.to_download) or 'nothing'}"
            + (", content update first" if p.content_update else "")
            for p in planned
        )
        if doomed:
            summary += f"; delete {', '.join(doomed)} first to make room"
        return finish(ctx, Phase.DRY_RUN_COMPLETE, f"dry run: would upgrade via {summary}", progress=100)
    if doomed:
        assert need is not None
        return move(
            ctx,
            Phase.SOFTWARE_CHECK,
            DeleteImage(doomed[0]),
            message=f"deleting image {doomed[0]} (no longer needed) to make room: {need.describe()}",
        )
    if rec.mode is Mode.UPGRADE and planned[0].content_update and not rec.content_updated:
        return move(
            ctx, Phase.CONTENT_UPDATE, ContentDownload(), job=None, progress=0, message="downloading content"
        )
    return next_download(ctx)


def deletions(ctx: Ctx, need: DiskNeed, obs: SoftwareList) -> tuple[str, ...]:
    """Image cleanup: the images to delete before downloading (none when cleanup is off or not needed)."""
    if not ctx.settings.image_cleanup:
        return ()
    return choose_deletions(need, cleanup_candidates_of(ctx, obs))


def cleanup_candidates_of(ctx: Ctx, obs: SoftwareList) -> list[ImageInfo]:
    """The device's images that may be deleted: never the running one, an image of the remaining path,
    one deleted before, or (``keep_previous_image``) the release kept for a rollback."""
    rec = ctx.record
    running = version_of(rec.current_version or rec.hop_from_version)
    keep = {version_of(v) for hop in rec.hops[rec.current_path_index :] for v in (*hop.images, hop.version)}
    ran_before = version_of(rec.hop_from_version) if rec.current_path_index > 0 else None
    return cleanup_candidates(
        obs.images,
        running,
        keep,
        keep_previous=ctx.settings.keep_previous_image,
        ran_before=ran_before,
        already_deleted={version_of(v) for v in rec.deleted_versions},
    )


def cleanup_note(ctx: Ctx, need: DiskNeed, obs: SoftwareList) -> str:
    """Why image cleanup did not help, for the ``insufficient-disk`` message."""
    if not ctx.settings.image_cleanup:
        return "; image cleanup is off"
    candidates = cleanup_candidates_of(ctx, obs)
    if not candidates:
        return "; no image can be deleted (running, previous and path images are kept)"
    gb = sum(max(c.size_mb, 0) for c in candidates) / 1024.0
    return f"; deleting every image no longer needed would free only {gb:.1f} GB"


def on_image_deleted(ctx: Ctx, obs: ImageDeleted) -> Step:
    """An image is gone: note it and the new free space, then re-read the list and plan again."""
    rec = ctx.record
    deleted = tuple(dict.fromkeys((*rec.deleted_versions, obs.version)))
    return software_info(
        ctx,
        deleted_versions=deleted,
        disk_free_gb=obs.disk_free_gb,
        message=f"deleted image {obs.version}; {obs.disk_free_gb:.1f} GB free",
    )


def next_download(ctx: Ctx, *, after_download: bool = False, **changes: Any) -> Step:
    """Download the next planned image; then install (upgrade) or finish (download-only). ``after_download``:
    a download has just finished, so the install waits ``install_after_download`` for the software manager
    to load the image (an install submitted meanwhile fails "software manager is currently in use")."""
    rec = ctx.record
    done = set(rec.downloaded_versions)
    for planned in rec.planned:
        for image in planned.to_download:
            if image not in done:
                phase = Phase.DOWNLOAD_TARGET if image == planned.version else Phase.DOWNLOAD_BASE
                return move(
                    ctx,
                    phase,
                    Download(image, rec.sync_to_peer),
                    job=None,
                    download_attempts=0,
                    progress=0,
                    message=f"downloading {image}",
                    **changes,
                )
    if rec.mode is Mode.DOWNLOAD_ONLY:
        staged = (
            ", ".join(v for p in rec.planned for v in (*p.already_downloaded, *p.to_download)) or "nothing"
        )
        return finish(ctx, Phase.DOWNLOADED, f"images staged: {staged}", progress=100, **changes)
    if after_download:
        hop = rec.hop
        assert hop is not None
        changes.setdefault(
            "message", f"installing {hop.version} once the software manager has loaded the image"
        )
        return submit_install(ctx, ctx.settings.install_after_download, **changes)
    return submit_install(ctx, **changes)


def submit_install(ctx: Ctx, delay: float = 0.0, **changes: Any) -> Step:
    """Ask for the hop's install (counted in ``install_attempts``, which bounds busy retries)."""
    rec = ctx.record
    hop = rec.hop
    assert hop is not None
    fields: dict[str, Any] = {"message": f"installing {hop.version}", **changes}
    return move(
        ctx,
        Phase.INSTALL,
        Install(hop.version),
        delay,
        job=None,
        install_attempts=rec.install_attempts + 1,
        progress=0,
        **fields,
    )


def job_kind(command: Command | None) -> JobKind:
    """The kind of job a submission (or a job poll / lookup) is about."""
    kinds: dict[type[Command], JobKind] = {
        ContentDownload: JobKind.CONTENT_DOWNLOAD,
        ContentInstall: JobKind.CONTENT_INSTALL,
        Download: JobKind.DOWNLOAD,
        Install: JobKind.INSTALL,
    }
    if isinstance(command, ListJobs | PollJob):
        return command.kind
    if command is None:
        raise ValueError("no submission outstanding")
    return kinds[type(command)]


def on_job_started(ctx: Ctx, obs: JobStarted) -> Step:
    """PAN-OS accepted the submission: track the job and poll it."""
    rec = ctx.record
    out = rec.outstanding
    image = out.version if isinstance(out, Download | Install) else None
    kind = job_kind(out)
    job = JobRef(obs.job_id, kind, image, ctx.iso, 0, ctx.iso)
    return move(
        ctx, rec.phase, PollJob(obs.job_id, kind), first_job_poll(ctx.settings, kind), job=job, progress=0
    )


def learned_start(s: MachineSettings, kind: JobKind) -> float | None:
    """When this fleet's jobs of ``kind`` start to end (``machine.expect``, our seconds); None: not learned."""
    w = s.expected.job(kind)
    return None if w is None else w.low * s.device_second


def first_job_poll(s: MachineSettings, kind: JobKind) -> float:
    """The first poll of a job just submitted: at the start of the window this fleet's finished jobs of the
    kind taught (they rarely end sooner; the progress read there predicts the end), else after
    ``job_first_poll``. An install is still read after ``job_first_poll`` at the latest: one PAN-OS accepts
    but cannot run (software manager in use) fails within seconds, and its retry should not wait for the
    window of installs that run."""
    start = learned_start(s, kind)
    if start is None:
        return s.job_first_poll
    if kind is JobKind.INSTALL:
        return min(s.job_first_poll, max(start, s.job_poll_interval))
    return max(start, s.job_poll_interval)


def job_poll_delay(ctx: Ctx, job: JobRef) -> float:
    """Poll by progress rate: at the end the progress read just now predicts.

    PAN-OS shows whole percents, so ``p`` percent after ``elapsed`` seconds puts the end between
    ``elapsed * 100 / (p + 1)`` and ``elapsed * 100 / p``. When that span is narrow the next poll goes to its
    late end (the job is then done: one more poll); when wide, to its early end (a reading near the end
    narrows it). Without progress yet, the time waited doubles. Never sooner than ``job_poll_interval``;
    never later than twice the time already waited (a job whose pace changes, e.g. a download restarting
    its percentage while loading into the software manager) nor ``job_poll_longest``. Never before the
    start of the kind's learned window either, unless the progress read puts the end sooner (a job adopted
    part-way): an install read early (``first_job_poll``) is read again there."""
    s = ctx.settings
    elapsed = max(ctx.since(job.started_at), 0.0)
    p = job.progress
    if 0 < p < 100:
        early = elapsed * (100 / (p + 1) - 1)
        late = elapsed * (100 / p - 1)
        want = late if late - early <= max(s.job_poll_interval, 0.1 * late) else early
    else:
        want = elapsed
    cap = min(s.job_poll_longest, max(2 * elapsed, s.job_poll_max_interval))
    delay = min(max(want, s.job_poll_interval), cap)
    start = learned_start(s, job.kind)
    if start is not None and 0 < p < 100:
        start = min(start, elapsed + elapsed * (100 / (p + 1) - 1))  # the reading's own earliest end
    if start is not None and elapsed + delay < start:
        return min(start - elapsed, s.job_poll_longest)
    return delay


def stalled(ctx: Ctx, job: JobRef, detail: str) -> Step:
    """Fail a job whose progress has not moved for ``job_stall_timeout``."""
    minutes = ctx.settings.job_stall_timeout / 60
    return fail(
        ctx, Reason.JOB_STALLED, f"{job.kind.value} job {job.id} made no progress for {minutes:g} min{detail}"
    )


def on_job_status(ctx: Ctx, obs: JobStatus) -> Step:
    """A poll result: any change of the progress value counts as progress (downloads restart their
    percentage while loading into the software manager)."""
    rec = ctx.record
    job = rec.job
    assert job is not None
    if not obs.finished:
        if obs.progress is not None and min(obs.progress, 100) != job.progress:
            job = replace(job, progress=max(0, min(obs.progress, 100)), progress_at=ctx.iso)
        elif ctx.since(job.progress_at) >= ctx.settings.job_stall_timeout:
            return stalled(ctx, job, f" (stuck at {job.progress}%)")
        return move(
            ctx,
            rec.phase,
            PollJob(job.id, job.kind),
            job_poll_delay(ctx, job),
            job=job,
            progress=job.progress,
        )
    return job_finished(ctx, job, obs.succeeded, obs.message)


# Why a device fails when a job of this kind fails.
JOB_REASON = {
    JobKind.DOWNLOAD: Reason.DOWNLOAD_FAILED,
    JobKind.INSTALL: Reason.INSTALL_FAILED,
    JobKind.CONTENT_DOWNLOAD: Reason.CONTENT_UPDATE_FAILED,
    JobKind.CONTENT_INSTALL: Reason.CONTENT_UPDATE_FAILED,
    JobKind.OTHER: Reason.PREFLIGHT_FAILED,
}


def job_finished(ctx: Ctx, job: JobRef, succeeded: bool, message: str = "") -> Step:
    """A tracked job ended. Failed downloads are retried (bounded); an install PAN-OS accepted but could
    not run because the software manager was in use (another software job, or an image still loading
    right after its download) is submitted again after ``install_retry_delay``, at most
    ``install_max_attempts`` installs in all; any other failed job fails the device, and a failed install
    never leads to a reboot. Success moves to the next step."""
    rec = ctx.record
    number = int(job.id) if job.id.isdigit() else -1
    watermark = max(number, rec.job_watermark if rec.job_watermark is not None else -1)
    ctx = ctx.at(replace(rec, job=None, job_watermark=watermark, progress=100 if succeeded else job.progress))
    detail = f": {message}" if message else ""
    if not succeeded and job.kind is JobKind.INSTALL and says_software_manager_busy(message):
        return install_busy(ctx, job)
    if not succeeded:
        if (
            job.kind is JobKind.DOWNLOAD
            and job.image
            and rec.download_attempts + 1 < ctx.settings.download_max_attempts
        ):
            return move(
                ctx,
                rec.phase,
                Download(job.image, rec.sync_to_peer),
                retry_delay(ctx.settings, rec.download_attempts),
                download_attempts=rec.download_attempts + 1,
                message=f"download of {job.image} failed; retrying{detail}",
            )
        return fail(ctx, JOB_REASON[job.kind], f"{job.kind.value} job {job.id} failed{detail}")
    if job.kind is JobKind.CONTENT_DOWNLOAD:
        return move(ctx, Phase.CONTENT_UPDATE, ContentInstall(), progress=0, message="installing content")
    if job.kind is JobKind.CONTENT_INSTALL:
        return next_download(ctx, content_updated=True)
    if job.kind is JobKind.DOWNLOAD:
        got = tuple(dict.fromkeys((*rec.downloaded_versions, *([job.image] if job.image else []))))
        return next_download(ctx.at(replace(ctx.record, downloaded_versions=got)), after_download=True)
    hop = rec.hop
    assert hop is not None
    return start_reboot(ctx, f"installed {hop.version}; rebooting")


def install_busy(ctx: Ctx, job: JobRef) -> Step:
    """An install job failed "software manager is currently in use": retry later, bounded."""
    s = ctx.settings
    attempts = ctx.record.install_attempts
    if attempts >= s.install_max_attempts:
        return fail(
            ctx,
            Reason.SOFTWARE_MANAGER_BUSY,
            f"software manager still in use after {attempts} install attempts (last: job {job.id})",
        )
    return submit_install(
        ctx,
        s.install_retry_delay,
        message=f"install job {job.id} failed: software manager in use; install retry scheduled",
    )


def adopt(ctx: Ctx, jobs: tuple[JobInfo, ...], kind: JobKind, version: str) -> Step:
    """After an ambiguous submission (or a restart): re-attach to our job if PAN-OS has one, never submit
    twice. Jobs newer than ``job_watermark`` of the right kind are ours."""
    rec = ctx.record
    floor = rec.job_watermark if rec.job_watermark is not None else -1
    ours = sorted((j for j in jobs if j.kind is kind and j.number > floor), key=lambda j: j.number)
    active = [j for j in ours if not j.finished]
    image = version or None
    if active:
        j = active[-1]
        job = JobRef(j.job_id, kind, image, ctx.iso, j.progress or 0, ctx.iso)
        return move(
            ctx,
            rec.phase,
            PollJob(j.job_id, kind),
            ctx.settings.job_poll_interval,
            job=job,
            progress=job.progress,
        )
    if kind is JobKind.DOWNLOAD:
        # A finished download cannot be matched to its image reliably: ask the device what it has.
        return software_info(ctx, job=None)
    if ours and kind is not JobKind.CONTENT_DOWNLOAD:
        j = ours[-1]
        return job_finished(
            ctx, JobRef(j.job_id, kind, image, ctx.iso, j.progress or 0, ctx.iso), j.succeeded, j.message
        )
    if kind is JobKind.INSTALL:
        if rec.install_attempts >= ctx.settings.install_max_attempts:
            return fail(
                ctx, Reason.INSTALL_FAILED, f"install not accepted after {rec.install_attempts} attempts"
            )
        return submit_install(ctx)
    command: Command = ContentDownload() if kind is JobKind.CONTENT_DOWNLOAD else ContentInstall()
    return move(ctx, Phase.CONTENT_UPDATE, command, job=None)


def on_jobs_listed(ctx: Ctx, obs: JobsListed) -> Step:
    """The answer to ``ListJobs`` (an ambiguous submission): re-attach or resubmit."""
    out = ctx.record.outstanding
    assert isinstance(out, ListJobs)
    return adopt(ctx, obs.jobs, out.kind, out.version)
