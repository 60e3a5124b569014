"""The device state machine: happy paths per mode, operator requests, illegal transitions, generated docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from machine_world import FAST, FakeFirewall, answer_all, assert_valid, at, record, run_until

from reconciler.machine import (
    TABLE,
    IllegalTransition,
    MachineSettings,
    accepts,
    mermaid,
    step,
    transition_table,
)
from reconciler.machine.__main__ import main
from reconciler.machine.commands import (
    Backup,
    CheckVersion,
    CompareSnapshots,
    ContentDownload,
    ContentInstall,
    Download,
    Install,
    PollJob,
    Preflight,
    Reboot,
    Snapshot,
    SoftwareCheck,
)
from reconciler.machine.observations import (
    Abort,
    BackupTaken,
    Begin,
    CancelRequest,
    CommandFailed,
    ComparisonResult,
    DeviceAnswered,
    HoldRequest,
    JobsListed,
    JobStarted,
    JobStatus,
    Observation,
    PreflightResult,
    RebootIssued,
    ReleaseRequest,
    RetryRequest,
    SnapshotTaken,
    SoftwareList,
    VersionObserved,
)
from reconciler.machine.records import DeviceRecord, Hop, HopOutcome, Mode, Phase, new_record

ROOT = Path(__file__).resolve().parents[2]


def phases_of(steps: list) -> list[Phase]:
    """The distinct phases in the order they were entered."""
    out: list[Phase] = []
    for s in steps:
        if not out or out[-1] is not s.record.phase:
            out.append(s.record.phase)
    return out


def commands_of(steps: list) -> list:
    return [c for s in steps for c in s.commands]


# -- happy paths ------------------------------------------------------------------------------------------------


def test_standalone_single_hop_goes_through_every_phase_in_order() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, _, steps = answer_all(record(path=("11.0.3",)), fw)
    assert phases_of(steps) == [
        Phase.PREFLIGHT,
        Phase.SOFTWARE_CHECK,
        Phase.DOWNLOAD_BASE,
        Phase.DOWNLOAD_TARGET,
        Phase.INSTALL,
        Phase.REBOOT,
        Phase.WAIT_READY,  # the ready answer carries the version: verified in the same step
        Phase.POSTFLIGHT,
        Phase.DONE,
    ]
    assert not any(isinstance(c, CheckVersion) for c in commands_of(steps))
    assert fw.version == "11.0.3"
    assert fw.executed == [
        ("Download", "11.0.0"),
        ("Download", "11.0.3"),
        ("Install", "11.0.3"),
        ("Reboot", ""),
    ]
    assert (rec.current_version, rec.current_path_index, rec.progress) == ("11.0.3", 1, 100)
    assert rec.finished_at is not None and rec.last_error is None and rec.outstanding is None
    assert [(h.version, h.outcome) for h in rec.history] == [("11.0.3", HopOutcome.PASSED)]
    assert rec.history[0].validation_path == "validation/0001/compare-0.json"
    assert rec.history[0].backup_path == "backups/0001/running-0.xml"


def test_preflight_takes_pre_snapshot_and_backup_before_checking_software() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    _, _, steps = answer_all(record(), fw)
    first = [type(c) for c in commands_of(steps)[:4]]
    assert first == [Preflight, Snapshot, Backup, SoftwareCheck]
    preflight = commands_of(steps)[0]
    assert preflight == Preflight(FAST.readiness_checks, FAST.min_disk_gb)


def test_multi_hop_rests_in_next_hop_until_begin() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now, steps = answer_all(record(path=("11.0.3", "11.1.6")), fw, next_hop=False)
    assert rec.phase is Phase.NEXT_HOP and rec.current_path_index == 1
    assert steps[-1].commands == () and steps[-1].requeue_after is None
    assert rec.outstanding is None and rec.due_at is None
    nxt = step(rec, Begin(), at(now), FAST)
    assert nxt.record.phase is Phase.PREFLIGHT and nxt.commands == (Preflight(FAST.readiness_checks, 5.0),)
    done, _, _ = answer_all(nxt.record, fw, now=now)
    assert done.phase is Phase.DONE and fw.version == "11.1.6"
    assert [h.version for h in done.history] == ["11.0.3", "11.1.6"]
    assert done.started_at == rec.started_at


def test_base_image_is_downloaded_before_the_target() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    _, _, steps = answer_all(record(path=("11.1.6",)), fw)
    downloads = [c.version for c in commands_of(steps) if isinstance(c, Download)]
    assert downloads == ["11.0.0", "11.1.0", "11.1.6"]


def test_same_train_hop_needs_no_base_image() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, _, steps = answer_all(record(path=("10.2.10",)), fw)
    assert Phase.DOWNLOAD_BASE not in phases_of(steps)
    assert [c.version for c in commands_of(steps) if isinstance(c, Download)] == ["10.2.10"]
    assert rec.phase is Phase.DONE


def test_images_already_downloaded_are_skipped() -> None:
    fw = FakeFirewall("0001", "10.2.9", downloaded={"11.0.0"})
    rec, _, steps = answer_all(record(path=("11.0.3",)), fw)
    assert [c.version for c in commands_of(steps) if isinstance(c, Download)] == ["11.0.3"]
    assert rec.skipped_versions == ("11.0.0",)
    assert rec.downloaded_versions == ("11.0.3",)
    assert rec.planned[0].already_downloaded == ("11.0.0",)


def test_every_image_already_downloaded_goes_straight_to_install() -> None:
    fw = FakeFirewall("0001", "10.2.9", downloaded={"11.0.0", "11.0.3"})
    rec, _ = run_until(record(), fw, Phase.INSTALL)
    assert rec.outstanding == Install("11.0.3")


def test_device_found_on_an_intermediate_hop_continues_from_there() -> None:
    fw = FakeFirewall("0001", "11.0.3")
    rec, _, _ = answer_all(record(start="10.2.9", path=("11.0.3", "11.1.6")), fw)
    assert rec.phase is Phase.DONE
    assert [h.version for h in rec.history] == ["11.1.6"]
    assert ("Install", "11.0.3") not in fw.executed


def test_already_on_target_is_done_without_touching_the_device() -> None:
    fw = FakeFirewall("0001", "11.0.3")
    rec, _, _ = answer_all(record(start="10.2.9", path=("11.0.3",)), fw)
    assert rec.phase is Phase.DONE and "already running" in rec.message
    assert fw.executed == []


def test_no_path_is_skipped_with_a_reason() -> None:
    rec = new_record(serial="0001", starting_version="9.1.3", target_version="11.1.6", hops=(), now=at(0))
    fw = FakeFirewall("0001", "9.1.3")
    rec, _, _ = answer_all(rec, fw)
    assert rec.phase is Phase.SKIPPED and rec.skip_reason == "no-path"
    assert fw.executed == []


def test_download_only_stages_every_hop_and_never_installs() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, _, steps = answer_all(record(path=("11.0.3", "11.1.6"), mode=Mode.DOWNLOAD_ONLY), fw)
    assert rec.phase is Phase.DOWNLOADED
    assert fw.executed == [("Download", v) for v in ("11.0.0", "11.0.3", "11.1.0", "11.1.6")]
    assert not any(isinstance(c, Snapshot | Backup | Install | Reboot) for c in commands_of(steps))
    assert commands_of(steps)[0] == Preflight((), FAST.min_disk_gb)
    assert fw.version == "10.2.9" and rec.current_path_index == 0


def test_download_only_without_room_for_its_images_fails_insufficient_disk() -> None:
    # Four 600 MB images (2.3 GB); 6.3 GB free with a 5 GB minimum to keep: staging them all does not fit.
    # Reporting "downloaded" with images missing would be a lie: fail, name the numbers, download nothing.
    fw = FakeFirewall("0001", "10.2.9", disk_gb=6.3)
    rec, _, _ = answer_all(record(path=("11.0.3", "11.1.6"), mode=Mode.DOWNLOAD_ONLY), fw)
    assert rec.phase is Phase.FAILED and rec.last_error is not None
    assert ("insufficient-disk", "software_check") == (rec.last_error.reason, rec.last_error.phase)
    assert (
        "6.3 GB free; staging 11.0.0, 11.0.3, 11.1.0, 11.1.6 needs 2.3 GB and 5.0 GB must stay free "
        "(7.3 GB required); no image can be deleted (running, previous and path images are kept)"
    ) == rec.last_error.message
    assert [] == fw.executed
    assert rec.progress != 100


def test_download_only_with_room_stages_what_is_missing() -> None:
    # 11.0.0 is already there: the three others (1.8 GB) fit in 6.9 GB with 5 GB kept free.
    fw = FakeFirewall("0001", "10.2.9", disk_gb=6.9, downloaded={"11.0.0"})
    rec, _, _ = answer_all(record(path=("11.0.3", "11.1.6"), mode=Mode.DOWNLOAD_ONLY), fw)
    assert rec.phase is Phase.DOWNLOADED
    assert [("Download", v) for v in ("11.0.3", "11.1.0", "11.1.6")] == fw.executed
    assert "images staged: 11.0.0, 11.0.3, 11.1.0, 11.1.6" == rec.message


def test_dry_run_checks_and_reports_but_changes_nothing() -> None:
    fw = FakeFirewall("0001", "10.2.9", downloaded={"11.0.0"})
    rec, _, steps = answer_all(record(path=("11.0.3", "11.1.6"), mode=Mode.DRY_RUN), fw)
    assert rec.phase is Phase.DRY_RUN_COMPLETE
    assert [type(c) for c in commands_of(steps)] == [Preflight, Snapshot, SoftwareCheck]
    assert fw.executed == []
    assert [(p.version, p.to_download, p.already_downloaded) for p in rec.planned] == [
        ("11.0.3", ("11.0.3",), ("11.0.0",)),
        ("11.1.6", ("11.1.0", "11.1.6"), ()),
    ]
    assert rec.dry_run and rec.to_json()["dry_run"] is True


def test_content_update_is_its_own_step_when_content_is_too_old() -> None:
    hops = (Hop("11.0.3", ("11.0.0", "11.0.3"), min_content_version="8800-8100"),)
    fw = FakeFirewall("0001", "10.2.9", content="8700-8000")
    rec, _, steps = answer_all(record(hops=hops, path=("11.0.3",)), fw)
    assert rec.phase is Phase.DONE
    cmds = commands_of(steps)
    i_content = next(i for i, c in enumerate(cmds) if isinstance(c, ContentDownload))
    i_install = next(i for i, c in enumerate(cmds) if isinstance(c, ContentInstall))
    i_download = next(i for i, c in enumerate(cmds) if isinstance(c, Download))
    assert i_content < i_install < i_download
    assert Phase.CONTENT_UPDATE in phases_of(steps)
    assert fw.content == "9900-9000"


def test_content_recent_enough_needs_no_update() -> None:
    hops = (Hop("11.0.3", ("11.0.0", "11.0.3"), min_content_version="8600-7900"),)
    fw = FakeFirewall("0001", "10.2.9", content="8700-8000")
    _, _, steps = answer_all(record(hops=hops, path=("11.0.3",)), fw)
    assert Phase.CONTENT_UPDATE not in phases_of(steps)


def test_sync_to_peer_from_begin_is_used_for_downloads() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec = step(record(), Begin(sync_to_peer=True), at(0), FAST).record
    rec, _ = run_until(rec, fw, Download)
    assert rec.outstanding == Download("11.0.0", sync_to_peer=True)


def test_job_polls_go_where_the_progress_rate_puts_the_end() -> None:
    settings = MachineSettings(job_first_poll=30, job_poll_interval=5, job_poll_max_interval=60)
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, PollJob, settings)
    job_id = rec.outstanding.job_id  # type: ignore[union-attr]
    started = now - 30  # the first poll comes job_first_poll after the submission

    def delay(elapsed: float, progress: int) -> float | None:
        return step(
            rec, JobStatus(job_id, False, progress=progress), at(started + elapsed), settings
        ).requeue_after

    assert delay(30, 50) == 30.0  # half-way after 30 s: the end is 30 s away
    assert delay(60, 99) == 5.0  # nearly done: soon, but never faster than job_poll_interval
    assert delay(10, 0) == 10.0  # no progress yet: the time waited doubles
    # 5% after 30 s: the end is 470-570 s away, too wide a span to trust; at most twice the time waited.
    assert delay(30, 5) == 60.0
    assert delay(2000, 10) == settings.job_poll_longest  # never longer than job_poll_longest


@pytest.mark.parametrize("duration", [60, 100, 250, 420, 600, 1000])
def test_a_steady_job_is_seen_done_within_a_few_polls_and_seconds(duration: int) -> None:
    """A job whose percentage grows steadily (PAN-OS shows whole percents) is polled a handful of times
    and seen finished within 3% of its duration, whatever that duration."""
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, PollJob)
    job_id = rec.outstanding.job_id  # type: ignore[union-attr]
    started, t = now - FAST.job_first_poll, now
    polls, last = 0, t
    while isinstance(rec.outstanding, PollJob) and polls < 50:
        polls, last = polls + 1, t
        elapsed = t - started
        done = elapsed >= duration
        obs = JobStatus(job_id, done, succeeded=done, progress=100 if done else int(100 * elapsed / duration))
        result = step(rec, obs, at(t), FAST)
        rec, t = result.record, t + (result.requeue_after or 0)
    assert rec.job is None and polls <= 7
    lag = last - (started + duration)
    assert lag <= max(FAST.job_poll_interval, 0.03 * duration)


# -- requests -----------------------------------------------------------------------------------------------


def test_cancel_before_start_cancels() -> None:
    result = step(record(), CancelRequest("web", "change freeze"), at(1), FAST)
    assert result.record.phase is Phase.CANCELLED and result.commands == ()
    assert result.record.finished_at is not None and "change freeze" in result.record.message


def test_cancel_at_a_safe_point_holds_at_once() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Phase.DOWNLOAD_TARGET)
    result = step(rec, CancelRequest("alice", "admin takeover"), at(now), FAST)
    assert result.record.phase is Phase.HELD and result.commands == ()
    assert result.record.hold is not None
    assert (result.record.hold.held_by, result.record.hold.from_phase) == ("alice", "download_target")
    assert result.record.job is None and result.record.outstanding is None


def test_cancel_during_install_waits_until_the_version_is_verified() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, PollJob)
    rec, now = run_until(rec, fw, Phase.INSTALL, now=now)
    rec, now = run_until(rec, fw, PollJob, now=now)
    assert rec.phase is Phase.INSTALL and rec.job is not None
    polled = rec.outstanding
    result = step(rec, CancelRequest("alice", "stop"), at(now), FAST)
    assert result.record.phase is Phase.INSTALL
    assert result.commands == (polled,) and result.record.pending_request is not None
    rec, _, steps = answer_all(result.record, fw, now=now)
    assert rec.phase is Phase.HELD and rec.hold is not None and rec.hold.from_phase == "postflight"
    assert fw.version == "11.0.3" and ("Reboot", "") in fw.executed
    assert Phase.WAIT_READY in phases_of(steps) and rec.current_version == "11.0.3"
    assert not any(isinstance(c, Snapshot) and c.kind == "post" for c in commands_of(steps))


def test_a_readiness_answer_without_a_version_is_verified_by_its_own_read() -> None:
    fw = FakeFirewall("0001", "10.2.9", probe_reads_version=False)
    rec, _, steps = answer_all(record(path=("11.0.3",)), fw)
    assert rec.phase is Phase.DONE and rec.current_version == "11.0.3"
    assert Phase.VERIFY_VERSION in phases_of(steps)
    assert sum(isinstance(c, CheckVersion) for c in commands_of(steps)) == 1


@pytest.mark.parametrize("phase", [Phase.REBOOT, Phase.WAIT_READY, Phase.VERIFY_VERSION])
def test_hold_is_deferred_in_every_unsafe_phase(phase: Phase) -> None:
    fw = FakeFirewall("0001", "10.2.9", probe_reads_version=False)  # to pass through verify_version
    rec, now = run_until(record(), fw, phase)
    result = step(rec, HoldRequest("bob", "look first"), at(now), FAST)
    assert result.record.phase is phase and result.commands == (rec.outstanding,)
    assert result.record.pending_request is not None and result.record.pending_request.kind == "hold"


def test_cancel_while_waiting_to_retry_a_busy_install_holds() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(), fw, Install)
    busy = step(rec, CommandFailed("Install", True, "busy", "in use"), at(now), FAST).record
    assert busy.phase is Phase.INSTALL and busy.job is None
    held = step(busy, CancelRequest(), at(now + 1), FAST).record
    assert held.phase is Phase.HELD


def test_hold_release_and_begin_starts_over_with_a_fresh_preflight() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now = run_until(record(path=("11.0.3", "11.1.6")), fw, Phase.NEXT_HOP)
    held = step(rec, HoldRequest("ops", "weekend"), at(now), FAST).record
    assert held.phase is Phase.HELD
    with pytest.raises(IllegalTransition):
        step(held, Begin(), at(now), FAST)
    released = step(held, ReleaseRequest("ops"), at(now + 10), FAST).record
    assert released.phase is Phase.PENDING and released.hold is None
    again = step(released, Begin(), at(now + 20), FAST)
    assert again.record.phase is Phase.PREFLIGHT and again.record.current_path_index == 1


def test_retry_from_failed_is_a_new_attempt() -> None:
    fw = FakeFirewall("0001", "10.2.9", disk_gb=1.0)
    failed, now, _ = answer_all(record(), fw)
    assert failed.phase is Phase.FAILED and failed.attempt == 1
    retried = step(failed, RetryRequest("ops"), at(now + 5), FAST).record
    assert (retried.phase, retried.attempt, retried.last_error, retried.finished_at) == (
        Phase.PENDING,
        2,
        None,
        None,
    )
    fw.disk_gb = 40.0
    done, _, _ = answer_all(retried, fw, now=now + 5)
    assert done.phase is Phase.DONE and done.attempt == 2


@pytest.mark.parametrize("mode", list(Mode))
def test_hold_is_accepted_after_the_end(mode: Mode) -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, now, _ = answer_all(record(mode=mode), fw)
    held = step(rec, HoldRequest("ops"), at(now), FAST).record
    assert held.phase is Phase.HELD and held.hold is not None and held.hold.from_phase == rec.phase.value
    assert step(held, ReleaseRequest(), at(now), FAST).record.phase is Phase.PENDING


def test_abort_fails_a_resting_device_with_the_given_reason() -> None:
    result = step(record(), Abort("ha-peer-unhealthy", "peer down"), at(0), FAST)
    assert result.record.phase is Phase.FAILED
    assert result.record.last_error is not None
    assert (result.record.last_error.reason, result.record.last_error.phase) == (
        "ha-peer-unhealthy",
        "pending",
    )


# -- illegal transitions ------------------------------------------------------------------------------------


def samples() -> list[Observation]:
    """One instance of every device observation type."""
    return [
        Begin(),
        CancelRequest(),
        HoldRequest(),
        ReleaseRequest(),
        RetryRequest(),
        Abort("x"),
        PreflightResult("10.2.9", 40.0),
        SnapshotTaken("pre", "p"),
        SnapshotTaken("post", "p"),
        BackupTaken("b"),
        SoftwareList(()),
        JobStarted("1"),
        JobStatus("1", False),
        JobsListed(()),
        RebootIssued(),
        DeviceAnswered(True, "11.0.3", 5),
        VersionObserved("11.0.3", 5),
        ComparisonResult(True, "c"),
        CommandFailed("Preflight", True),
    ]


def records_in_every_phase() -> dict[Phase, DeviceRecord]:
    fw = FakeFirewall("0001", "10.2.9", probe_reads_version=False)  # to pass through verify_version
    hops = (Hop("11.0.3", ("11.0.0", "11.0.3"), "9999-1"),)
    out: dict[Phase, DeviceRecord] = {}
    rec = record(hops=hops, path=("11.0.3",))
    out[Phase.PENDING] = rec
    for phase in list(Phase)[1:]:
        if phase in (Phase.NEXT_HOP,):
            out[phase], _ = run_until(
                record(path=("11.0.3", "11.1.6")), FakeFirewall("0001", "10.2.9"), phase
            )
        elif phase in (Phase.DOWNLOADED, Phase.DRY_RUN_COMPLETE):
            mode = Mode.DOWNLOAD_ONLY if phase is Phase.DOWNLOADED else Mode.DRY_RUN
            out[phase], _, _ = answer_all(record(mode=mode), FakeFirewall("0001", "10.2.9"))
        elif phase is Phase.SKIPPED:
            rec0 = new_record(
                serial="0001", starting_version="9.1.3", target_version="11.0.3", hops=(), now=at(0)
            )
            out[phase], _, _ = answer_all(rec0, FakeFirewall("0001", "9.1.3"))
        elif phase is Phase.FAILED:
            out[phase], _, _ = answer_all(record(), FakeFirewall("0001", "10.2.9", disk_gb=0.5))
        elif phase is Phase.CANCELLED:
            out[phase] = step(record(), CancelRequest(), at(0), FAST).record
        elif phase is Phase.HELD:
            out[phase] = step(record(), HoldRequest(), at(0), FAST).record
        else:
            out[phase], _ = run_until(rec, fw, phase)
            rec = out[phase]
    assert set(out) == set(Phase)
    return out


RECORDS = records_in_every_phase()


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
def test_observations_outside_the_table_raise_and_change_nothing(phase: Phase) -> None:
    rec = RECORDS[phase]
    before = rec.to_json()
    for obs in samples():
        if (phase, type(obs)) in TABLE:
            continue
        with pytest.raises(IllegalTransition):
            step(rec, obs, at(10_000), FAST)
        assert rec.to_json() == before


def test_every_phase_has_a_way_out_except_the_ends() -> None:
    sources = {source for source, _ in TABLE}
    assert sources == set(Phase)  # even terminal phases accept hold (and failed/cancelled a retry)


@pytest.mark.parametrize(
    "phase, obs",
    [
        (Phase.PREFLIGHT, SnapshotTaken("pre", "p")),  # Preflight is outstanding, not a snapshot
        (Phase.PREFLIGHT, CommandFailed("Install", True)),  # failure of a command nobody sent
        (Phase.DOWNLOAD_BASE, JobStatus("999", True, True)),  # a job we do not track
        (Phase.WAIT_READY, VersionObserved("11.0.3")),  # verify was not asked for yet
    ],
)
def test_answers_must_answer_the_outstanding_command(phase: Phase, obs: Observation) -> None:
    rec = RECORDS[phase]
    with pytest.raises(IllegalTransition) as info:
        step(rec, obs, at(10_000), FAST)
    assert rec.serial in str(info.value)


def test_a_post_snapshot_does_not_answer_a_pre_snapshot_request() -> None:
    fw = FakeFirewall("0001", "10.2.9")
    rec, _ = run_until(record(), fw, Snapshot)
    with pytest.raises(IllegalTransition, match="snapshot"):
        step(rec, SnapshotTaken("post", "x"), at(1), FAST)


def test_accepts_lists_exactly_what_step_takes() -> None:
    for rec in RECORDS.values():
        allowed = accepts(rec)
        for obs in samples():
            if type(obs) not in allowed:
                with pytest.raises(IllegalTransition):
                    step(rec, obs, at(10_000), FAST)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        step(record(), Begin(), "2026-03-01T01:00:00", FAST)


def test_now_may_be_an_iso_string() -> None:
    result = step(record(), Begin(), "2026-03-01T02:00:00+01:00", FAST)
    assert result.record.started_at == "2026-03-01T01:00:00.000Z"
    assert_valid(result.record)


# -- generated docs -------------------------------------------------------------------------------------------


def _block(text: str, marker: str) -> str:
    """The text between the markers, without a surrounding code fence if there is one."""
    m = re.search(rf"<!-- BEGIN {marker} -->\n(?:```\w*\n)?(.*?)(?:```\n)?<!-- END {marker} -->", text, re.S)
    assert m, f"{marker} block missing from docs/state-machine.md"
    return m.group(1)


def test_docs_diagram_is_generated_from_the_table() -> None:
    doc = (ROOT / "docs" / "state-machine.md").read_text(encoding="utf-8")
    assert _block(doc, "GENERATED DIAGRAM") == mermaid()


def test_docs_table_is_generated_from_the_table() -> None:
    doc = (ROOT / "docs" / "state-machine.md").read_text(encoding="utf-8")
    assert _block(doc, "GENERATED TABLE") == transition_table()


def test_module_entry_point_prints_the_diagram(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--mermaid"]) == 0
    assert capsys.readouterr().out == mermaid()
    assert main(["--bogus"]) == 2


def test_diagram_names_every_phase() -> None:
    text = mermaid()
    for phase in Phase:
        assert phase.value in text
    assert "install --> reboot" in text and "held --> pending : ReleaseRequest" in text


def test_comparison_command_carries_the_margins() -> None:
    settings = MachineSettings(tcp_session_margin=7.5, route_margin=1.0, arp_margin=2.0)
    fw = FakeFirewall("0001", "10.2.9")
    rec, _ = run_until(record(), fw, CompareSnapshots, settings)
    cmd = rec.outstanding
    assert isinstance(cmd, CompareSnapshots)
    assert (cmd.tcp_session_margin, cmd.route_margin, cmd.arp_margin) == (7.5, 1.0, 2.0)
    assert (cmd.pre_path, cmd.post_path) == ("validation/0001/pre-0.json", "validation/0001/post-0.json")


# -- settings -------------------------------------------------------------------------------------------------


def test_settings_come_from_the_config_keys() -> None:
    from reconciler.workdir.config import Config

    cfg = Config({"firewall.job_stall_timeout": 900, "validation.arp_margin": 2.5})
    settings = MachineSettings.from_config(cfg, report_only=True)
    assert settings.job_stall_timeout == 900.0 and settings.arp_margin == 2.5 and settings.report_only
    assert settings.reboot_timeout == 1800.0 and settings.max_reboot_poll_interval == 300.0
    assert settings.install_retry_delay == 60.0 and settings.min_disk_gb == 5.0
    assert (settings.software_check_timeout, settings.software_info_timeout) == (90.0, 120.0)


def test_scaled_settings_shrink_durations_only() -> None:
    scaled = MachineSettings().scaled(100)
    assert scaled.reboot_timeout == 18.0 and scaled.job_poll_interval == 0.05
    assert scaled.min_disk_gb == 5.0 and scaled.tcp_session_margin == 5.0
    assert scaled.install_max_attempts == 10
