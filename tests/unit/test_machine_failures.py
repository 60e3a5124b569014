"""Every failure reason, the timeouts (with an injected clock), retries, and ambiguous submissions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from machine_world import (
    FAST,
    FakeFirewall,
    answer_all,
    assert_valid,
    at,
    ha_pair,
    reboot_issued,
    record,
    run_until,
)

from reconciler.machine import MachineSettings, Reason, Step, step
from reconciler.machine.commands import (
    Backup,
    CheckVersion,
    CompareSnapshots,
    ContentDownload,
    ContentInstall,
    DeleteImage,
    Download,
    Install,
    ListJobs,
    PollJob,
    PollReady,
    Preflight,
    ReadPairRoles,
    Reboot,
    Snapshot,
    SoftwareCheck,
    SoftwareInfo,
)
from reconciler.machine.observations import (
    CheckOutcome,
    CommandFailed,
    ComparisonResult,
    DeviceAnswered,
    HaStateObserved,
    ImageInfo,
    JobInfo,
    JobsListed,
    JobStarted,
    JobStatus,
    PairRoles,
    PreflightResult,
    SoftwareList,
    VersionObserved,
)
from reconciler.machine.records import DeviceRecord, Hop, HopOutcome, JobKind, Phase


def failed_with(rec: DeviceRecord, reason: str, phase: Phase | None = None) -> None:
    assert rec.phase is Phase.FAILED, (rec.phase, rec.message)
    assert rec.last_error is not None
    assert rec.last_error.reason == reason, rec.last_error
    if phase is not None:
        assert rec.last_error.phase == phase.value
    assert rec.outstanding is None and rec.job is None and rec.finished_at is not None
    assert_valid(rec)


def preflight_record() -> tuple[DeviceRecord, float]:
    return run_until(record(), FakeFirewall("0001", "10.2.9"), Preflight)


def fail_preflight(result: PreflightResult, settings: MachineSettings = FAST) -> DeviceRecord:
    rec, now = preflight_record()
    return step(rec, result, at(now), settings).record


# Without image cleanup, a device below the minimum free space fails at pre-flight (with it, the software
# list decides whether deleting old images makes room: see test_machine_disk).
NO_CLEANUP = MachineSettings(**{**FAST.__dict__, "image_cleanup": False})


# -- pre-flight -------------------------------------------------------------------------------------------------


def test_insufficient_disk_fails_preflight() -> None:
    rec = fail_preflight(PreflightResult("10.2.9", 4.9), NO_CLEANUP)
    failed_with(rec, Reason.INSUFFICIENT_DISK, Phase.PREFLIGHT)
    assert rec.last_error is not None and "4.9 GB free, 5.0 GB required" in rec.last_error.message


def test_failed_readiness_checks_are_named() -> None:
    checks = (CheckOutcome("ntp_sync", False, "not synchronized"), CheckOutcome("jobs", True))
    rec = fail_preflight(PreflightResult("10.2.9", 40.0, checks=checks))
    failed_with(rec, Reason.READINESS_CHECK_FAILED)
    assert rec.last_error is not None and rec.last_error.message == "ntp_sync: not synchronized"


def test_checks_that_settle_after_a_boot_are_rechecked_between_hops_then_fail_after_the_settle_window() -> (
    None
):
    """Found in the demo: an HA member rebooted into its first hop, and the next hop's pre-flight ran moments
    later, before NTP had synchronised again; it failed the member and left the pair on two versions."""
    checks = (CheckOutcome("ntp_sync", False, "No NTP synchronization"), CheckOutcome("jobs", True))
    rec, now = run_until(record(path=("11.0.3", "11.1.2")), FakeFirewall("0001", "10.2.9"), Preflight)
    between_hops = PreflightResult("11.0.3", 40.0, checks=checks)  # runs the first hop's version
    waiting = step(rec, between_hops, at(now), FAST)
    assert Phase.PREFLIGHT is waiting.record.phase and waiting.record.last_error is None
    (command,) = waiting.commands
    assert isinstance(command, Preflight) and command == rec.outstanding  # the same checks again
    assert FAST.postflight_retry_interval == waiting.requeue_after
    assert "settle after its reboot (ntp_sync: No NTP synchronization)" in waiting.record.message
    again = step(waiting.record, between_hops, at(now + FAST.postflight_retry_interval), FAST)
    assert Phase.PREFLIGHT is again.record.phase and again.commands
    late = step(again.record, between_hops, at(now + FAST.postflight_settle), FAST)
    failed_with(late.record, Reason.READINESS_CHECK_FAILED)
    # Before the first hop nothing we did explains it: it fails at once (test above), and so does a check
    # that does not settle after a boot, between hops too.
    other = PreflightResult("11.0.3", 40.0, checks=(CheckOutcome("expired_licenses", False, "expired"),))
    failed_with(step(rec, other, at(now), FAST).record, Reason.READINESS_CHECK_FAILED)


@pytest.mark.parametrize("kind", [JobKind.INSTALL, JobKind.CONTENT_INSTALL])
def test_a_running_install_job_fails_preflight(kind: JobKind) -> None:
    jobs = (JobInfo("17", kind, finished=False, progress=40),)
    failed_with(fail_preflight(PreflightResult("10.2.9", 40.0, jobs=jobs)), Reason.JOB_ALREADY_RUNNING)


def test_a_running_download_makes_preflight_wait_and_look_again() -> None:
    jobs = (JobInfo("17", JobKind.DOWNLOAD, finished=False, progress=40),)
    rec, now = preflight_record()
    result = step(rec, PreflightResult("10.2.9", 40.0, jobs=jobs), at(now), FAST)
    assert result.record.phase is Phase.PREFLIGHT and result.record.job_watermark == 17
    (command,) = result.commands
    assert isinstance(command, Preflight)
    assert FAST.job_poll_max_interval == result.requeue_after
    assert "waiting for running jobs to finish (download 17)" == result.record.message


def test_a_failing_jobs_check_alone_waits_until_the_stall_timeout() -> None:
    checks = (CheckOutcome("jobs", False, "job 3 is not finished"),)
    rec, now = preflight_record()
    waiting = step(rec, PreflightResult("10.2.9", 40.0, checks=checks), at(now), FAST)
    assert Phase.PREFLIGHT is waiting.record.phase and waiting.commands
    late = now + FAST.job_stall_timeout
    failed_with(
        step(rec, PreflightResult("10.2.9", 40.0, checks=checks), at(late), FAST).record,
        Reason.READINESS_CHECK_FAILED,
    )


@pytest.mark.parametrize("version", ["10.1.4", "11.1.6", "garbage"])
def test_a_version_off_the_path_fails(version: str) -> None:
    failed_with(fail_preflight(PreflightResult(version, 40.0)), Reason.UNEXPECTED_VERSION)


# -- software list, content, downloads -----------------------------------------------------------------------


def test_an_image_the_update_server_does_not_offer_fails() -> None:
    rec, now = run_until(record(), FakeFirewall("0001", "10.2.9"), SoftwareCheck)
    result = step(rec, SoftwareList((ImageInfo("11.0.3", False),)), at(now), FAST)
    failed_with(result.record, Reason.IMAGE_NOT_AVAILABLE, Phase.SOFTWARE_CHECK)
    assert result.record.last_error is not None and "11.0.0" in result.record.last_error.message


def test_a_failed_software_check_falls_back_to_the_local_list() -> None:
    fw = FakeFirewall("0001", "10.2.9", downloaded={"11.0.0", "11.0.3"})
    rec, now = run_until(record(), fw, SoftwareCheck)
    result = step(
        rec, CommandFailed("SoftwareCheck", False, "api", "generic communication error"), at(now), FAST
    )
    assert result.commands == (SoftwareInfo(FAST.software_info_timeout),)
    done, _, _ = answer_all(result.record, fw, now=now)
    assert done.phase is Phase.DONE


def test_software_check_and_local_list_both_failing_fails() -> None:
    rec, now = run_until(record(), FakeFirewall("0001", "10.2.9"), SoftwareCheck)
    rec = step(rec, CommandFailed("SoftwareCheck", False, "api"), at(now), FAST).record
    rec = step(rec, CommandFailed("SoftwareInfo", False, "api", "bad"), at(now), FAST).record
    failed_with(rec, Reason.SOFTWARE_CHECK_FAILED)


def test_software_check_timeout_is_passed_to_the_executor() -> None:
    settings = MachineSettings(software_check_timeout=42, software_info_timeout=43)
    rec, _ = run_until(record(), FakeFirewall("0001", "10.2.9"), SoftwareCheck, settings)
    assert rec.outstanding == SoftwareCheck(42)


def test_a_failed_content_job_fails_the_device() -> None:
    hops = (Hop("11.0.3", ("11.0.0", "11.0.3"), "9999-1"),)
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(hops=hops, path=("11.0.3",)), fw, PollJob)
    assert rec.phase is Phase.CONTENT_UPDATE
    job = rec.outstanding.job_id  # type: ignore[union-attr]
    failed_with(step(rec, JobStatus(job, True, False), at(now), FAST).record, Reason.CONTENT_UPDATE_FAILED)


def test_a_failed_download_is_retried_then_fails() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, PollJob)
    delays = []
    for _ in range(FAST.download_max_attempts - 1):
        job = rec.outstanding.job_id  # type: ignore[union-attr]
        result = step(rec, JobStatus(job, True, False, message="checksum"), at(now), FAST)
        assert result.commands == (Download("11.0.0"),)
        delays.append(result.requeue_after)
        rec = step(result.record, fw.run(result.commands[0], now), at(now), FAST).record
    assert delays == [10.0, 20.0]
    job = rec.outstanding.job_id  # type: ignore[union-attr]
    failed_with(step(rec, JobStatus(job, True, False), at(now), FAST).record, Reason.DOWNLOAD_FAILED)


# -- install ------------------------------------------------------------------------------------------------


def install_job(fw: FakeFirewall | None = None) -> tuple[DeviceRecord, float, FakeFirewall]:
    fw = fw or FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    rec = step(rec, fw.run(rec.outstanding, now), at(now), FAST).record  # type: ignore[arg-type]
    assert isinstance(rec.outstanding, PollJob) and rec.job is not None
    return rec, now, fw


def test_a_failed_install_fails_and_never_reboots() -> None:
    rec, now, _ = install_job()
    job = rec.outstanding.job_id  # type: ignore[union-attr]
    result = step(rec, JobStatus(job, True, False, 100, "image corrupt"), at(now + 30), FAST)
    failed_with(result.record, Reason.INSTALL_FAILED, Phase.INSTALL)
    assert result.commands == ()
    assert result.record.last_error is not None and "image corrupt" in result.record.last_error.message


# The details PAN-OS gives an install job it accepted while the software manager was busy (a PA-410
# capture, github.com/o5edaxi/paloversion/issues/2); the job ends FIN / FAIL.
BUSY_JOB = (
    "Failed to install 11.0.3 with the following errors.; SW version is 11.0.3; "
    "The software manager is currently in use. Please try again later.; "
    "Failed to install   version  11.0.3  type  panos"
)


def test_an_install_job_failing_software_manager_busy_is_retried_after_the_delay_then_fails() -> None:
    rec, now, _ = install_job()
    for attempt in range(1, FAST.install_max_attempts):
        job = rec.outstanding.job_id  # type: ignore[union-attr]
        result = step(rec, JobStatus(job, True, False, 0, BUSY_JOB), at(now), FAST)
        assert result.record.phase is Phase.INSTALL, result.record.message
        assert result.commands == (Install("11.0.3"),) and result.requeue_after == FAST.install_retry_delay
        assert result.record.install_attempts == attempt + 1 and result.record.job is None
        assert "software manager in use" in result.record.message
        now += FAST.install_retry_delay
        rec = step(result.record, JobStarted(str(100 + attempt)), at(now), FAST).record
        assert isinstance(rec.outstanding, PollJob)
    job = rec.outstanding.job_id  # type: ignore[union-attr]
    failed_with(
        step(rec, JobStatus(job, True, False, 0, BUSY_JOB), at(now), FAST).record,
        Reason.SOFTWARE_MANAGER_BUSY,
    )


def test_an_install_job_failing_busy_then_succeeding_reboots_once() -> None:
    rec, now, fw = install_job()
    job = rec.outstanding.job_id  # type: ignore[union-attr]
    fw.jobs[job].finished, fw.jobs[job].ok = True, False  # the device's side of the busy failure
    rec = step(rec, JobStatus(job, True, False, 0, BUSY_JOB), at(now), FAST).record
    done, _, _ = answer_all(rec, fw, now=now + FAST.install_retry_delay)
    assert done.phase is Phase.DONE
    assert [e for e in fw.executed if e[0] == "Install"] == [("Install", "11.0.3")] * 2
    assert fw.reboots == 1


def test_an_adopted_install_job_that_failed_busy_is_retried() -> None:
    """After an ambiguous submission the job is found in ``show jobs all``, already failed busy."""
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    lost = step(rec, CommandFailed("Install", True, "timeout", "timed out"), at(now), FAST).record
    assert isinstance(lost.outstanding, ListJobs)
    busy = JobInfo("777", JobKind.INSTALL, True, False, 0, BUSY_JOB)
    result = step(lost, JobsListed((busy,)), at(now + 10), FAST)
    assert result.commands == (Install("11.0.3"),) and result.requeue_after == FAST.install_retry_delay


def test_a_content_download_answered_no_update_available_installs_the_latest_instead() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(hops=_content_hops(), path=("11.0.3",)), fw, ContentDownload)
    result = step(rec, CommandFailed("ContentDownload", False, "api", "No update available"), at(now), FAST)
    assert result.record.phase is Phase.CONTENT_UPDATE
    assert result.commands == (ContentInstall(),)


def test_an_install_refused_by_pan_os_fails() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    failed_with(
        step(rec, CommandFailed("Install", False, "api", "no"), at(now), FAST).record, Reason.INSTALL_FAILED
    )


def test_software_manager_busy_retries_after_the_delay_then_fails() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    busy = CommandFailed("Install", True, "busy", "The software manager is currently in use")
    for attempt in range(1, FAST.install_max_attempts):
        result = step(rec, busy, at(now), FAST)
        assert result.commands == (Install("11.0.3"),) and result.requeue_after == FAST.install_retry_delay
        assert result.record.install_attempts == attempt + 1
        rec = result.record
        now += FAST.install_retry_delay
    failed_with(step(rec, busy, at(now), FAST).record, Reason.SOFTWARE_MANAGER_BUSY)


def test_software_manager_busy_then_accepted_continues() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    rec = step(rec, CommandFailed("Install", True, "busy"), at(now), FAST).record
    done, _, _ = answer_all(rec, fw, now=now + 60)
    assert done.phase is Phase.DONE
    assert [e for e in fw.executed if e[0] == "Install"] == [("Install", "11.0.3")]


def test_a_lost_install_answer_reattaches_instead_of_installing_twice() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    lost = fw.run(rec.outstanding, now, "lost")  # type: ignore[arg-type]
    assert isinstance(lost, CommandFailed) and fw.active(JobKind.INSTALL)
    result = step(rec, lost, at(now), FAST)
    assert result.commands == (ListJobs(JobKind.INSTALL, "11.0.3"),)
    done, _, steps = answer_all(result.record, fw, now=now)
    assert done.phase is Phase.DONE
    assert [e for e in fw.executed if e[0] == "Install"] == [("Install", "11.0.3")]
    assert not any(isinstance(c, Install) for s in steps for c in s.commands)


def test_an_install_that_never_arrived_is_submitted_again() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    result = step(rec, fw.run(rec.outstanding, now, "temp"), at(now), FAST)  # type: ignore[arg-type]
    assert isinstance(result.record.outstanding, ListJobs)
    listed = step(result.record, fw.run(result.record.outstanding, now), at(now + 10), FAST)
    assert listed.commands == (Install("11.0.3"),)


@pytest.mark.parametrize("command", [Install, Download, ContentDownload])
def test_a_garbled_answer_to_a_submission_is_looked_up_not_failed(command: type) -> None:
    """An answer that cannot be parsed is not PAN-OS refusing: the job may be running (issue: an install
    ran orphaned while the device no longer counted as in flight). Look for it; never submit twice."""
    hops = _content_hops() if command is ContentDownload else None
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(hops=hops, path=("11.0.3",)), fw, command)
    fw.run(rec.outstanding, now)  # PAN-OS carried it out...
    garbled = CommandFailed(command.__name__, False, "bad-response", "unexpected response: ParseError")
    result = step(rec, garbled, at(now), FAST)  # ...but its answer could not be read
    assert result.record.phase is not Phase.FAILED
    assert isinstance(result.record.outstanding, ListJobs)
    done, _, _ = answer_all(result.record, fw, now=now)
    assert done.phase is Phase.DONE
    submitted = [e for e in fw.executed if e[0] == command.__name__]
    assert len(submitted) == len(set(submitted)), submitted


def test_a_garbled_answer_to_the_reboot_is_watched_not_failed() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Reboot)
    fw.run(rec.outstanding, now)  # type: ignore[arg-type]
    result = step(rec, CommandFailed("Reboot", False, "bad-response", "ParseError"), at(now), FAST)
    assert result.record.phase is Phase.WAIT_READY
    done, _, _ = answer_all(result.record, fw, now=now)
    assert done.phase is Phase.DONE and fw.reboots == 1


def test_a_garbled_job_poll_is_polled_again_until_the_stall_timeout() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, PollJob)
    start = now
    for _ in range(200):
        if rec.phase is Phase.FAILED:
            break
        assert isinstance(rec.outstanding, PollJob)
        rec = step(rec, CommandFailed("PollJob", False, "bad-response", "ParseError"), at(now), FAST).record
        now += FAST.job_poll_max_interval
    failed_with(rec, Reason.JOB_STALLED)
    assert now - start <= FAST.job_stall_timeout + 2 * FAST.job_poll_max_interval


def test_a_lost_download_answer_reattaches_to_the_running_job() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Download)
    rec = step(rec, fw.run(rec.outstanding, now, "lost"), at(now), FAST).record  # type: ignore[arg-type]
    rec = step(rec, fw.run(rec.outstanding, now), at(now + 10), FAST).record  # type: ignore[arg-type]
    assert rec.outstanding == PollJob("100", JobKind.DOWNLOAD) and rec.job is not None
    assert rec.job.image == "11.0.0"


# -- stalls and timeouts (injected clock) ---------------------------------------------------------------------


def test_a_job_without_progress_for_the_stall_timeout_fails() -> None:
    rec, now, _ = install_job()
    job = rec.outstanding.job_id  # type: ignore[union-attr]
    rec = step(rec, JobStatus(job, False, progress=30), at(now + 10), FAST).record
    stalled_at = now + 10
    rec = step(
        rec, JobStatus(job, False, progress=30), at(stalled_at + FAST.job_stall_timeout - 1), FAST
    ).record
    assert rec.phase is Phase.INSTALL
    result = step(rec, JobStatus(job, False, progress=30), at(stalled_at + FAST.job_stall_timeout), FAST)
    failed_with(result.record, Reason.JOB_STALLED, Phase.INSTALL)
    assert "stuck at 30%" in result.record.message and result.commands == ()


def test_progress_resets_the_stall_timer() -> None:
    rec, now, _ = install_job()
    job = rec.outstanding.job_id  # type: ignore[union-attr]
    t = now
    for progress in (10, 20, 30, 40):
        t += FAST.job_stall_timeout - 1
        rec = step(rec, JobStatus(job, False, progress=progress), at(t), FAST).record
        assert rec.phase is Phase.INSTALL and rec.progress == progress


def test_an_unanswered_poll_past_the_stall_timeout_is_not_a_stall() -> None:
    """Found by the faults suite: one dropped poll after a long expected wait failed a download "made no
    progress" although no answered poll had shown it stuck."""
    rec, now, _ = install_job()
    err = CommandFailed("PollJob", True, "unreachable")
    result = step(rec, err, at(now + FAST.job_stall_timeout + 1), FAST)
    assert result.record.phase is Phase.INSTALL and isinstance(result.record.outstanding, PollJob)
    job = result.record.outstanding.job_id
    answered = step(
        result.record, JobStatus(job, False, progress=30), at(now + FAST.job_stall_timeout + 20), FAST
    )
    assert answered.record.phase is Phase.INSTALL and answered.record.progress == 30


def test_unanswered_polls_fail_the_device_after_a_run_of_them_past_the_stall_timeout() -> None:
    rec, now, _ = install_job()
    err = CommandFailed("PollJob", True, "unreachable")
    t = now + FAST.job_stall_timeout
    for _ in range(FAST.command_max_attempts - 1):
        rec = step(rec, err, at(t), FAST).record
        assert rec.phase is Phase.INSTALL
        t += 10
    failed_with(step(rec, err, at(t), FAST).record, Reason.UNREACHABLE)


def reboot_wait() -> tuple[DeviceRecord, float]:
    rec, now = run_until(record(), FakeFirewall("0001", "10.2.9"), PollReady)
    return rec, now


def test_reboot_polls_follow_the_expected_window_then_back_off_up_to_the_cap_then_time_out() -> None:
    rec, now = reboot_wait()
    issued = reboot_issued(rec)
    # Nothing learned yet: the prior window; the first poll at its start (capped at the longest interval).
    assert now - issued == min(FAST.reboot_expected_low, FAST.max_reboot_poll_interval)
    down = CommandFailed("PollReady", True, "unreachable", "connection refused")
    polls = []
    t = now
    while True:
        result = step(rec, down, at(t), FAST)
        rec = result.record
        if rec.phase is Phase.FAILED:
            break
        polls.append((t - issued, result.requeue_after))
        t += result.requeue_after or 0
        assert len(polls) < 100
    inside = [d for e, d in polls if FAST.reboot_expected_low <= e < FAST.reboot_expected_high]
    assert inside and set(inside) == {FAST.reboot_poll_dense}
    after = [d for e, d in polls if e >= FAST.reboot_expected_high][:-1]  # the last one: to the deadline
    assert after == sorted(after) and max(after) == FAST.max_reboot_poll_interval
    failed_with(rec, Reason.REBOOT_TIMEOUT, Phase.WAIT_READY)
    assert t - issued == pytest.approx(FAST.reboot_timeout)


@pytest.mark.parametrize(
    "error",
    [
        CommandFailed("PollReady", True, "unreachable", "connection refused"),
        CommandFailed("PollReady", True, "http-5xx", "HTTP 503"),
        CommandFailed("PollReady", False, "auth", "Invalid credentials."),
    ],
)
def test_errors_while_rebooting_are_tolerated(error: CommandFailed) -> None:
    rec, now = reboot_wait()
    result = step(rec, error, at(now), FAST)
    assert result.record.phase is Phase.WAIT_READY and result.commands == (PollReady("11.0.3"),)
    assert result.record.reboot is not None and result.record.reboot.seen_down


def test_a_device_not_yet_down_is_not_mistaken_for_a_failed_upgrade() -> None:
    rec, now = reboot_wait()
    # Right after the reboot request the device still answers on the old version, with a long uptime.
    result = step(rec, DeviceAnswered(True, "10.2.9", 86400), at(now), FAST)
    assert result.record.phase is Phase.WAIT_READY


def test_a_device_that_never_restarted_is_rebooted_again_after_the_grace_period() -> None:
    rec, _ = reboot_wait()
    issued = reboot_issued(rec)
    result = step(rec, DeviceAnswered(True, "10.2.9", 86400), at(issued + FAST.reboot_start_grace), FAST)
    assert result.record.phase is Phase.REBOOT and result.commands == (Reboot(),)


def test_reboot_back_on_the_old_version_fails() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Reboot)
    rec = step(rec, fw.run(Reboot(), now, "oldversion"), at(now), FAST).record
    rec, _, _ = answer_all(rec, fw, now=now)
    # The readiness answer carried the version: failed right there, without a second read.
    failed_with(rec, Reason.CAME_BACK_ON_OLD_VERSION, Phase.WAIT_READY)
    assert rec.current_version == "10.2.9"


def test_reboot_back_on_the_old_version_fails_when_verified_by_its_own_read() -> None:
    fw = FakeFirewall("0001", "10.2.9", probe_reads_version=False)
    rec, now = run_until(record(), fw, Reboot)
    rec = step(rec, fw.run(Reboot(), now, "oldversion"), at(now), FAST).record
    rec, _, _ = answer_all(rec, fw, now=now)
    failed_with(rec, Reason.CAME_BACK_ON_OLD_VERSION, Phase.VERIFY_VERSION)
    assert rec.current_version == "10.2.9"


def test_reboot_onto_a_third_version_fails() -> None:
    fw = FakeFirewall("0001", "10.2.9", probe_reads_version=False)
    rec, now = run_until(record(), fw, CheckVersion)
    failed_with(step(rec, VersionObserved("10.2.10", 60), at(now), FAST).record, Reason.UNEXPECTED_VERSION)


def test_a_readiness_answer_on_a_third_version_after_the_restart_fails_at_once() -> None:
    rec, now = reboot_wait()
    rec = step(rec, CommandFailed("PollReady", True, "unreachable"), at(now), FAST).record
    result = step(rec, DeviceAnswered(True, "10.2.10", 5), at(now + 400), FAST)
    failed_with(result.record, Reason.UNEXPECTED_VERSION, Phase.WAIT_READY)
    assert result.commands == ()


def test_a_readiness_answer_on_the_hop_version_goes_to_postflight_with_the_boot_time_kept() -> None:
    rec, now = reboot_wait()
    issued = reboot_issued(rec)
    result = step(rec, DeviceAnswered(True, "11.0.3", 40), at(now + 400), FAST)
    assert result.record.phase is Phase.POSTFLIGHT and result.record.current_version == "11.0.3"
    assert isinstance(result.record.outstanding, Snapshot) and result.record.outstanding.kind == "post"
    # The same transition measured the boot: the watch stays so the engine learns the sample.
    assert result.record.reboot is not None
    assert result.record.reboot.booted_after == now + 400 - issued - 40


def test_a_reboot_request_refused_fails() -> None:
    rec, now = run_until(record(), FakeFirewall("0001", "10.2.9"), Reboot)
    failed_with(
        step(rec, CommandFailed("Reboot", False, "api", "denied"), at(now), FAST).record, Reason.REBOOT_FAILED
    )


def test_a_dropped_connection_on_reboot_is_watched_not_retried() -> None:
    rec, now = run_until(record(), FakeFirewall("0001", "10.2.9"), Reboot)
    result = step(rec, CommandFailed("Reboot", True, "unreachable", "EOF"), at(now), FAST)
    assert result.record.phase is Phase.WAIT_READY and result.commands == (PollReady("11.0.3"),)


# -- post-flight ----------------------------------------------------------------------------------------------


def postflight_compare(settings: MachineSettings = FAST) -> tuple[DeviceRecord, float]:
    return run_until(record(), FakeFirewall("0001", "10.2.9"), CompareSnapshots, settings)


def test_postflight_breach_inside_the_settle_window_retakes_the_snapshot() -> None:
    rec, now = postflight_compare()
    result = step(rec, ComparisonResult(False, "cmp.json", ("arp: 30 -> 0",)), at(now), FAST)
    assert Phase.POSTFLIGHT is result.record.phase
    (command,) = result.commands
    assert isinstance(command, Snapshot) and "post" == command.kind
    assert FAST.postflight_retry_interval == result.requeue_after
    assert result.record.last_error is None


def test_postflight_breach_fails_and_is_recorded() -> None:
    rec, now = postflight_compare()
    late = now + FAST.postflight_settle
    result = step(rec, ComparisonResult(False, "cmp.json", ("routes: 120 -> 80 (-33%)",)), at(late), FAST)
    failed_with(result.record, Reason.POSTFLIGHT_BREACH, Phase.POSTFLIGHT)
    assert [h.outcome for h in result.record.history] == [HopOutcome.BREACH]
    assert result.record.last_error is not None and "routes" in result.record.last_error.message


def test_postflight_breach_in_report_only_mode_is_recorded_but_passes() -> None:
    settings = MachineSettings(report_only=True)
    rec, now = postflight_compare(settings)
    result = step(
        rec, ComparisonResult(False, "cmp.json", ("arp",)), at(now + settings.postflight_settle), settings
    )
    assert result.record.phase is Phase.DONE
    assert [h.outcome for h in result.record.history] == [HopOutcome.BREACH_REPORT_ONLY]


def test_a_comparison_that_cannot_run_fails_validation() -> None:
    rec, now = postflight_compare()
    failed_with(
        step(rec, CommandFailed("CompareSnapshots", False, "io"), at(now), FAST).record,
        Reason.VALIDATION_FAILED,
    )


# -- command errors -------------------------------------------------------------------------------------------


def test_temporary_errors_retry_with_backoff_then_fail_unreachable() -> None:
    rec, now = preflight_record()
    err = CommandFailed("Preflight", True, "unreachable", "connection refused")
    delays = []
    for _ in range(FAST.command_max_attempts - 1):
        result = step(rec, err, at(now), FAST)
        assert result.commands == (rec.outstanding,)
        delays.append(result.requeue_after)
        rec = result.record
    assert delays == [10.0, 20.0, 40.0]
    failed_with(step(rec, err, at(now), FAST).record, Reason.UNREACHABLE)


def test_a_success_resets_the_retry_count() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = preflight_record()
    rec = step(rec, CommandFailed("Preflight", True, "timeout"), at(now), FAST).record
    assert rec.retries == 1
    rec = step(rec, fw.run(rec.outstanding, now), at(now), FAST).record  # type: ignore[arg-type]
    assert rec.retries == 0


@pytest.mark.parametrize(
    "command, reason",
    [
        (Preflight, Reason.PREFLIGHT_FAILED),
        (Snapshot, Reason.SNAPSHOT_FAILED),
        (Backup, Reason.BACKUP_FAILED),
        (ContentDownload, Reason.CONTENT_UPDATE_FAILED),
        (Download, Reason.DOWNLOAD_FAILED),
    ],
)
def test_permanent_errors_fail_with_the_command_reason(command: type, reason: Reason) -> None:
    hops = (Hop("11.0.3", ("11.0.0", "11.0.3"), "9999-1"),)
    rec, now = run_until(record(hops=hops, path=("11.0.3",)), FakeFirewall("0001", "10.2.9"), command)
    failed_with(step(rec, CommandFailed(command.__name__, False, "api", "no"), at(now), FAST).record, reason)


# -- every reason is reachable ---------------------------------------------------------------------------------

Scenario = Callable[[], DeviceRecord]


def _scenario_stall() -> DeviceRecord:
    rec, now, _ = install_job()
    job = rec.outstanding.job_id  # type: ignore[union-attr]
    return step(rec, JobStatus(job, False, progress=0), at(now + FAST.job_stall_timeout), FAST).record


def _scenario_reboot_timeout() -> DeviceRecord:
    rec, now = reboot_wait()
    return step(
        rec, CommandFailed("PollReady", True, "unreachable"), at(now + FAST.reboot_timeout), FAST
    ).record


def _scenario_old_version() -> DeviceRecord:
    rec, now = run_until(record(), FakeFirewall("0001", "10.2.9", probe_reads_version=False), CheckVersion)
    return step(rec, VersionObserved("10.2.9", 30), at(now), FAST).record


def _scenario_reboot_failed() -> DeviceRecord:
    rec, now = reboot_wait()
    issued = reboot_issued(rec)
    for _ in range(FAST.command_max_attempts):
        if rec.phase is Phase.REBOOT:
            rec = step(rec, CommandFailed("Reboot", True, "unreachable"), at(now), FAST).record
        now = max(now, issued) + FAST.reboot_start_grace
        issued = now
        rec = step(rec, DeviceAnswered(True, "10.2.9", 10**6), at(now), FAST).record
    return rec


def _busy_forever() -> DeviceRecord:
    rec, now = run_until(record(), FakeFirewall("0001", "10.2.9"), Install)
    while rec.phase is Phase.INSTALL:
        rec = step(rec, CommandFailed("Install", True, "busy"), at(now), FAST).record
    return rec


def _permanent(command: type, reason_hops: tuple[Hop, ...] | None = None) -> Scenario:
    def run() -> DeviceRecord:
        rec, now = run_until(
            record(hops=reason_hops, path=("11.0.3",)), FakeFirewall("0001", "10.2.9"), command
        )
        return step(rec, CommandFailed(command.__name__, False, "api"), at(now), FAST).record

    return run


def _ha_view(serial: str, state: str, synced: bool = True) -> HaStateObserved:
    return HaStateObserved(serial, True, state, synced, synced, synced, None)


def _ha_wait(phase: Phase, local: str, peer: HaStateObserved | None, limit: float) -> DeviceRecord:
    """An HA member (A, peer B) reading roles in ``phase`` until the step's deadline passes."""
    a, _b = ha_pair()
    rec, now = run_until(record(serial="A", ha_peer="B"), a, ReadPairRoles)
    if phase is Phase.POSTFLIGHT:
        rec, now = run_until(rec, a, Phase.POSTFLIGHT)
    assert rec.phase is phase and isinstance(rec.outstanding, ReadPairRoles)
    start = now
    while rec.phase is phase and now - start <= limit + FAST.ha_poll_max_interval:
        rec = step(rec, PairRoles(_ha_view("A", local, False), peer), at(now), FAST).record
        now += FAST.ha_poll_max_interval
    return rec


def _content_hops() -> tuple[Hop, ...]:
    return (Hop("11.0.3", ("11.0.0", "11.0.3"), "9999-1"),)


SCENARIOS: dict[Reason, Scenario] = {
    Reason.INSUFFICIENT_DISK: lambda: fail_preflight(PreflightResult("10.2.9", 1.0), NO_CLEANUP),
    Reason.IMAGE_DELETE_FAILED: lambda: _delete_refused(),
    Reason.READINESS_CHECK_FAILED: lambda: fail_preflight(
        PreflightResult("10.2.9", 40.0, checks=(CheckOutcome("ha", False),))
    ),
    Reason.JOB_ALREADY_RUNNING: lambda: fail_preflight(
        PreflightResult("10.2.9", 40.0, jobs=(JobInfo("1", JobKind.INSTALL, False),))
    ),
    Reason.UNEXPECTED_VERSION: lambda: fail_preflight(PreflightResult("9.1.0", 40.0)),
    Reason.IMAGE_NOT_AVAILABLE: lambda: answer_all(
        record(), FakeFirewall("0001", "10.2.9", available=("11.0.3",))
    )[0],
    Reason.PREFLIGHT_FAILED: _permanent(Preflight),
    Reason.SNAPSHOT_FAILED: _permanent(Snapshot),
    Reason.BACKUP_FAILED: _permanent(Backup),
    Reason.SOFTWARE_CHECK_FAILED: lambda: _software_check_failed(),
    Reason.CONTENT_UPDATE_FAILED: _permanent(ContentDownload, _content_hops()),
    Reason.DOWNLOAD_FAILED: _permanent(Download),
    Reason.INSTALL_FAILED: _permanent(Install),
    Reason.SOFTWARE_MANAGER_BUSY: _busy_forever,
    Reason.JOB_STALLED: _scenario_stall,
    Reason.REBOOT_FAILED: _scenario_reboot_failed,
    Reason.REBOOT_TIMEOUT: _scenario_reboot_timeout,
    Reason.CAME_BACK_ON_OLD_VERSION: _scenario_old_version,
    Reason.VALIDATION_FAILED: _permanent(CompareSnapshots),
    Reason.POSTFLIGHT_BREACH: lambda: (
        step(postflight_compare()[0], ComparisonResult(False, "c"), at(10_000), FAST).record
    ),
    Reason.UNREACHABLE: lambda: _unreachable(),
    # Before the reboot: the peer does not answer, so the active member may not restart.
    Reason.HA_PEER_UNHEALTHY: lambda: _ha_wait(Phase.REBOOT, "active", None, FAST.ha_health_timeout),
    # After the reboot: the member stays "initial" and never gets back in sync.
    Reason.HA_REJOIN_TIMEOUT: lambda: _ha_wait(
        Phase.POSTFLIGHT, "initial", _ha_view("B", "active"), FAST.ha_rejoin_timeout
    ),
}


def _delete_refused() -> DeviceRecord:
    fw = FakeFirewall("0001", "10.2.9", downloaded={"10.2.9", "9.1.0", "9.0.0"}, disk_gb=5.5)
    fw.available = ("9.0.0", "9.1.0", *fw.available)
    rec, now = run_until(record(), fw, DeleteImage)
    return step(rec, CommandFailed("DeleteImage", False, "api", "refused"), at(now), FAST).record


def _software_check_failed() -> DeviceRecord:
    rec, now = run_until(record(), FakeFirewall("0001", "10.2.9"), SoftwareCheck)
    rec = step(rec, CommandFailed("SoftwareCheck", False, "api"), at(now), FAST).record
    return step(rec, CommandFailed("SoftwareInfo", False, "api"), at(now), FAST).record


def _unreachable() -> DeviceRecord:
    rec, now = preflight_record()
    while rec.phase is Phase.PREFLIGHT:
        rec = step(rec, CommandFailed("Preflight", True, "unreachable"), at(now), FAST).record
    return rec


def test_every_reason_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason), ids=lambda r: r.value)
def test_every_reason_is_reached(reason: Reason) -> None:
    failed_with(SCENARIOS[reason](), reason)


def test_failure_steps_emit_no_commands() -> None:
    rec, now = preflight_record()
    result: Step = step(rec, PreflightResult("10.2.9", 0.1), at(now), NO_CLEANUP)
    assert (result.commands, result.requeue_after) == ((), None)
