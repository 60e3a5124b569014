"""Crash resume: continue from the status file and one fresh look at the device, never repeating a change."""

from __future__ import annotations

import pytest
from machine_world import FAST, FakeFirewall, answer_all, assert_valid, at, reboot_issued, record, run_until

from reconciler.machine import Reason, resume, step
from reconciler.machine.commands import (
    CheckVersion,
    CompareSnapshots,
    ContentInstall,
    Download,
    Install,
    ListJobs,
    PollJob,
    PollReady,
    Preflight,
    Reboot,
    Snapshot,
    SoftwareCheck,
    SoftwareInfo,
)
from reconciler.machine.observations import CancelRequest, HoldRequest, JobInfo, LiveDevice
from reconciler.machine.records import DeviceRecord, Hop, JobKind, Mode, Phase


def restarted(rec: DeviceRecord) -> DeviceRecord:
    """What a restarted daemon reads back from the status file."""
    return DeviceRecord.from_json(rec.to_json())


def continue_after_crash(rec: DeviceRecord, fw: FakeFirewall, now: float) -> tuple[DeviceRecord, float]:
    """Resume from the file against the live device, then run to the end without faults."""
    result = resume(restarted(rec), fw.live(now), at(now), FAST)
    assert_valid(result.record)
    done, now, _ = answer_all(result.record, fw, now=now + (result.requeue_after or 0))
    return done, now


@pytest.mark.parametrize("phase", [Phase.PENDING, Phase.NEXT_HOP, Phase.HELD, Phase.DONE, Phase.FAILED])
def test_resting_and_finished_records_are_left_alone(phase: Phase) -> None:
    fw = FakeFirewall("0001", "10.2.9")
    if phase is Phase.HELD:
        rec = step(record(), HoldRequest(), at(0), FAST).record
    elif phase is Phase.FAILED:
        rec, _, _ = answer_all(record(), FakeFirewall("0001", "10.2.9", disk_gb=0))
    elif phase is Phase.DONE:
        rec, _, _ = answer_all(record(), fw)
    else:
        rec, _ = run_until(record(path=("11.0.3", "11.1.6")), fw, phase)
    result = resume(rec, fw.live(0), at(99), FAST)
    assert result.record is rec and result.commands == () and result.requeue_after is None


def test_preflight_starts_over() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Snapshot)
    result = resume(restarted(rec), fw.live(now), at(now), FAST)
    assert result.record.phase is Phase.PREFLIGHT and isinstance(result.commands[0], Preflight)
    assert result.record.pre_snapshot is None


def test_software_check_is_simply_repeated() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, SoftwareCheck)
    result = resume(restarted(rec), fw.live(now), at(now), FAST)
    assert result.commands == (SoftwareCheck(FAST.software_check_timeout),) and result.requeue_after == 0.0


@pytest.mark.parametrize("finished_while_down", [False, True])
def test_mid_download_reattaches_to_the_job(finished_while_down: bool) -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, PollJob)
    rec = step(rec, fw.run(rec.outstanding, now), at(now), FAST).record  # type: ignore[arg-type]
    if finished_while_down:
        fw.run(PollJob("100", JobKind.DOWNLOAD), now + 10)
    result = resume(restarted(rec), fw.live(now + 50), at(now + 50), FAST)
    if finished_while_down:
        assert result.commands == (Download("11.0.3"),)
        assert result.record.downloaded_versions == ("11.0.0",)
    else:
        assert result.commands == (PollJob("100", JobKind.DOWNLOAD),)
    done, _ = continue_after_crash(rec, fw, now + 50)
    assert done.phase is Phase.DONE
    assert [e for e in fw.executed if e == ("Download", "11.0.0")] == [("Download", "11.0.0")]


def test_download_submitted_but_not_recorded_is_adopted() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Download)
    fw.run(rec.outstanding, now)  # type: ignore[arg-type]  # executed; the daemon died before recording
    result = resume(restarted(rec), fw.live(now + 5), at(now + 5), FAST)
    assert result.commands == (PollJob("100", JobKind.DOWNLOAD),)
    assert result.record.job is not None and result.record.job.image == "11.0.0"


def test_download_never_submitted_rereads_the_software_list() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Download)
    result = resume(restarted(rec), fw.live(now), at(now), FAST)
    assert result.record.phase is Phase.SOFTWARE_CHECK and result.commands == (
        SoftwareInfo(FAST.software_info_timeout),
    )


def test_mid_install_reattaches_and_never_installs_twice() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, PollJob)
    rec, now = run_until(rec, fw, Phase.INSTALL, now=now)
    rec, now = run_until(rec, fw, PollJob, now=now)
    result = resume(restarted(rec), fw.live(now), at(now), FAST)
    assert result.commands == (PollJob(rec.job.id, JobKind.INSTALL),)  # type: ignore[union-attr]
    done, _ = continue_after_crash(rec, fw, now)
    assert done.phase is Phase.DONE
    assert [e for e in fw.executed if e[0] == "Install"] == [("Install", "11.0.3")]


def test_install_submitted_but_not_recorded_is_adopted() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    fw.run(rec.outstanding, now)  # type: ignore[arg-type]
    result = resume(restarted(rec), fw.live(now + 5), at(now + 5), FAST)
    assert isinstance(result.commands[0], PollJob) and result.record.job is not None
    done, _ = continue_after_crash(rec, fw, now + 5)
    assert done.phase is Phase.DONE
    assert [e for e in fw.executed if e[0] == "Install"] == [("Install", "11.0.3")]


def test_install_finished_while_down_goes_on_to_reboot() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    fw.run(rec.outstanding, now)  # type: ignore[arg-type]
    job = next(iter(j for j in fw.jobs.values() if j.kind is JobKind.INSTALL))
    fw.run(PollJob(job.id, JobKind.INSTALL), now)
    fw.run(PollJob(job.id, JobKind.INSTALL), now)
    result = resume(restarted(rec), fw.live(now + 60), at(now + 60), FAST)
    assert result.record.phase is Phase.REBOOT and result.commands == (Reboot(),)


def test_install_that_failed_while_down_fails_without_reboot() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    fw.run(rec.outstanding, now, "jobfail")  # type: ignore[arg-type]
    job = next(iter(j for j in fw.jobs.values() if j.kind is JobKind.INSTALL))
    fw.run(PollJob(job.id, JobKind.INSTALL), now)
    fw.run(PollJob(job.id, JobKind.INSTALL), now)
    result = resume(restarted(rec), fw.live(now + 60), at(now + 60), FAST)
    assert result.record.phase is Phase.FAILED and result.commands == ()
    assert result.record.last_error is not None and result.record.last_error.reason == Reason.INSTALL_FAILED


def test_install_that_failed_software_manager_busy_while_down_is_retried() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    rec = step(rec, fw.run(rec.outstanding, now), at(now), FAST).record  # type: ignore[arg-type]
    assert rec.job is not None
    busy = "Failed to install 11.0.3 with the following errors.; The software manager is currently in use."
    live = LiveDevice(
        True, "10.2.9", True, 10**6, (JobInfo(rec.job.id, JobKind.INSTALL, True, False, 0, busy),)
    )
    result = resume(restarted(rec), live, at(now + 60), FAST)
    assert result.record.phase is Phase.INSTALL, result.record.message
    assert result.commands == (Install("11.0.3"),) and result.requeue_after == FAST.install_retry_delay


def test_install_never_submitted_is_submitted() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    result = resume(restarted(rec), fw.live(now), at(now), FAST)
    assert result.commands == (Install("11.0.3"),)


def test_an_old_install_job_below_the_watermark_is_not_adopted() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    old = JobInfo("3", JobKind.INSTALL, finished=True, succeeded=True, progress=100)
    live = LiveDevice(True, "10.2.9", True, 10**6, (old,))
    assert resume(restarted(rec), live, at(now), FAST).commands == (Install("11.0.3"),)


def test_unreachable_during_install_polls_the_job_later() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    rec = step(rec, fw.run(rec.outstanding, now), at(now), FAST).record  # type: ignore[arg-type]
    result = resume(restarted(rec), LiveDevice(False), at(now), FAST)
    assert result.commands == (PollJob(rec.job.id, JobKind.INSTALL),)  # type: ignore[union-attr]
    assert result.requeue_after == FAST.command_retry_delay


def test_unreachable_with_an_unknown_install_submission_lists_jobs_later() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    result = resume(restarted(rec), LiveDevice(False), at(now), FAST)
    assert result.commands == (ListJobs(JobKind.INSTALL, "11.0.3"),)


def test_mid_reboot_unreachable_keeps_waiting_against_the_original_deadline() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, PollReady)
    issued = reboot_issued(rec)
    result = resume(restarted(rec), LiveDevice(False), at(now + 60), FAST)
    assert result.record.phase is Phase.WAIT_READY and result.commands == (PollReady("11.0.3"),)
    late = resume(restarted(rec), LiveDevice(False), at(issued + FAST.reboot_timeout), FAST)
    assert late.record.phase is Phase.FAILED
    assert late.record.last_error is not None and late.record.last_error.reason == Reason.REBOOT_TIMEOUT


def test_mid_reboot_device_back_on_target_is_verified() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, PollReady)
    fw.down_polls = 0
    result = resume(restarted(rec), fw.live(now + 300), at(now + 300), FAST)
    assert result.record.phase is Phase.VERIFY_VERSION and result.commands == (CheckVersion("11.0.3"),)
    done, _ = continue_after_crash(rec, fw, now + 300)
    assert done.phase is Phase.DONE and fw.reboots == 1


def test_device_already_on_target_while_recorded_in_install_is_verified() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    live = LiveDevice(True, "11.0.3", True, 100, ())
    result = resume(restarted(rec), live, at(now), FAST)
    assert result.record.phase is Phase.VERIFY_VERSION and result.record.current_version == "11.0.3"


def test_device_on_target_but_not_ready_waits() -> None:
    fw = FakeFirewall("0001", "10.2.9", probe_reads_version=False)  # to stop in verify_version
    rec, now = run_until(record(), fw, CheckVersion)
    result = resume(restarted(rec), LiveDevice(True, "11.0.3", False, 30, ()), at(now), FAST)
    assert result.record.phase is Phase.WAIT_READY and result.commands == (PollReady("11.0.3"),)


def test_crash_before_the_reboot_request_reboots() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Reboot)
    result = resume(restarted(rec), fw.live(now + 30), at(now + 30), FAST)
    assert result.commands == (Reboot(),)
    done, _ = continue_after_crash(rec, fw, now + 30)
    assert done.phase is Phase.DONE and fw.reboots == 1


def test_crash_after_a_reboot_that_came_back_on_the_old_version_fails() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Reboot)
    fw.run(Reboot(), now, "oldversion")
    fw.down_polls = 0
    result = resume(restarted(rec), fw.live(now + 400), at(now + 400), FAST)
    assert result.record.phase is Phase.FAILED
    assert result.record.last_error is not None
    assert result.record.last_error.reason == Reason.CAME_BACK_ON_OLD_VERSION


def test_crash_in_reboot_while_unreachable_does_not_assume_a_restart() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Reboot)
    result = resume(restarted(rec), LiveDevice(False), at(now), FAST)
    assert result.record.phase is Phase.WAIT_READY
    assert result.record.reboot is not None and not result.record.reboot.seen_down


def test_postflight_repeats_the_read_only_step() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, CompareSnapshots)
    result = resume(restarted(rec), fw.live(now), at(now), FAST)
    assert result.commands == (rec.outstanding,)


def test_unreachable_in_a_read_only_step_retries_later() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, SoftwareCheck)
    result = resume(restarted(rec), LiveDevice(False), at(now), FAST)
    assert result.commands == (rec.outstanding,) and result.requeue_after == FAST.command_retry_delay


def test_download_only_resumes_too() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(mode=Mode.DOWNLOAD_ONLY, path=("11.0.3", "11.1.6")), fw, Download)
    rec, now = run_until(rec, fw, PollJob, now=now)
    done, _ = continue_after_crash(rec, fw, now)
    assert done.phase is Phase.DOWNLOADED
    assert sorted(fw.downloaded) == ["11.0.0", "11.0.3", "11.1.0", "11.1.6"]


def test_a_cancel_waiting_for_a_safe_point_applies_when_resume_reaches_one() -> None:
    hops = (Hop("11.0.3", ("11.0.0", "11.0.3"), "9999-1"),)
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(hops=hops, path=("11.0.3",)), fw, ContentInstall)
    rec = step(rec, fw.run(rec.outstanding, now), at(now), FAST).record  # type: ignore[arg-type]
    rec = step(rec, CancelRequest("ops", "stop"), at(now), FAST).record
    assert rec.phase is Phase.CONTENT_UPDATE and rec.pending_request is not None
    job = rec.job.id  # type: ignore[union-attr]
    fw.run(PollJob(job, JobKind.CONTENT_INSTALL), now)
    fw.run(PollJob(job, JobKind.CONTENT_INSTALL), now)  # the content install finished while we were down
    result = resume(restarted(rec), fw.live(now + 30), at(now + 30), FAST)
    assert result.record.phase is Phase.HELD and result.commands == ()
    assert fw.content == "9900-9000"
