"""Polling by expectation: a reboot in the window learned from the fleet's finished reboots, jobs in the window
learned per kind from the fleet's finished jobs, an HA member settling after its reboot (injected clock)."""

from __future__ import annotations

import random
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from machine_world import FAST, FakeFirewall, at, ha_pair, reboot_issued, record, run_until

from reconciler.machine import step
from reconciler.machine.commands import FunctionalSelf, Install, JobKind, PollReady, ReadPairRoles
from reconciler.machine.downloads import first_job_poll, job_poll_delay
from reconciler.machine.expect import (
    KEEP,
    MAX_MODELS,
    MODEL_REBOOT,
    REBOOT,
    Expected,
    Window,
    add,
    expected,
    from_json,
    job_sample,
    known,
    samples_from,
    to_json,
    window,
)
from reconciler.machine.moves import Ctx
from reconciler.machine.observations import (
    CommandFailed,
    DeviceAnswered,
    HaStateObserved,
    PairRoles,
)
from reconciler.machine.reboot import reboot_poll_delay
from reconciler.machine.records import JobRef, Phase, iso, to_instant
from reconciler.workdir import durations_store
from reconciler.workdir.layout import WorkPaths

DOWN = CommandFailed("PollReady", True, "unreachable", "connection refused")


def test_a_window_needs_a_few_samples_and_spans_them_with_a_margin() -> None:
    assert window([400.0, 500.0]) is None
    w = window([400.0, 450.0, 500.0])
    assert w == Window(400.0 * 0.95, 500.0 * 1.05)
    many = window(float(x) for x in range(300, 701))
    assert many is not None and 300 < many.low < 330 and 670 < many.high < 720
    assert expected({REBOOT: (1.0, 2.0)}) == Expected(None)


def test_samples_are_bounded_and_survive_a_round_trip_through_json() -> None:
    samples: tuple[float, ...] = ()
    for i in range(KEEP + 10):
        samples = add(samples, 100.0 + i)
    assert len(samples) == KEEP and samples[0] == 110.0
    assert from_json(to_json({REBOOT: samples})) == {REBOOT: samples}
    # What is not a positive number is dropped; a foreign document is nothing learned.
    assert from_json({"reboot": [1, "x", -3, True, 2.5]}) == {REBOOT: (1.0, 2.5)}
    assert from_json(["reboot"]) == {}


def test_the_store_keeps_samples_and_a_torn_file_means_nothing_learned(tmp_path: Path) -> None:
    paths = WorkPaths(tmp_path)
    paths.status_dir.mkdir(parents=True)
    assert durations_store.load(paths) == {}
    durations_store.save(paths, {REBOOT: (400.0, 420.5)})
    assert durations_store.load(paths) == {REBOOT: (400.0, 420.5)}
    (paths.status_dir / durations_store.FILE_NAME).write_text('{"reboot": [4')
    assert durations_store.load(paths) == {}


def test_the_first_answer_after_the_boot_records_how_long_the_reboot_took() -> None:
    rec, now = run_until(record(), FakeFirewall("0001", "10.2.9"), PollReady)
    issued = reboot_issued(rec)
    # Booted 40 s before this answer: the reboot took (now - issued) - 40 s, whatever the polling lag.
    result = step(rec, DeviceAnswered(True, "11.0.3", 40), at(now), FAST)
    # Its version is the check too: on to post-flight, the watch kept for the sample.
    assert result.record.phase is Phase.POSTFLIGHT
    assert result.record.reboot is not None
    assert result.record.reboot.booted_after == now - issued - 40
    assert samples_from(rec, result.record) == [(REBOOT, now - issued - 40)]
    # Once only; and in device seconds (a time-scaled simulator: 0.02 of our seconds per device second).
    assert samples_from(result.record, result.record) == []
    assert samples_from(rec, result.record, 0.5) == [(REBOOT, (now - issued - 40) / 0.5)]


def test_without_samples_the_prior_window_applies_then_the_learned_one() -> None:
    s = replace(FAST, max_reboot_poll_interval=600.0)
    assert reboot_poll_delay(s, 0.0) == s.reboot_expected_low
    assert reboot_poll_delay(s, s.reboot_expected_low) == s.reboot_poll_dense
    assert reboot_poll_delay(s, 0.0, answering=True) == s.reboot_poll_ready
    learned = replace(s, expected=Expected(Window(500.0, 600.0)))
    assert reboot_poll_delay(learned, 0.0) == 500.0
    assert reboot_poll_delay(learned, 550.0) == learned.reboot_poll_dense
    assert reboot_poll_delay(learned, 700.0) == 100.0  # past the window: backing off
    assert reboot_poll_delay(learned, 5000.0) == learned.max_reboot_poll_interval
    # A learned window is in device seconds: a simulator at time scale 0.02.
    scaled = replace(learned.scaled(50.0), device_second=0.02)
    assert reboot_poll_delay(scaled, 0.0) == 10.0


def test_reboots_inside_the_learned_window_are_seen_within_the_dense_interval_in_a_few_polls() -> None:
    """Reboots drawn from 340-650 s (the simulator's spread across models), once 30 of them taught the window:
    each is seen within ``reboot_poll_dense`` of its end; the median poll count stays small."""
    rng = random.Random(5)
    learned = expected({REBOOT: tuple(rng.uniform(340, 650) for _ in range(30))})
    s = replace(FAST, expected=learned, max_reboot_poll_interval=300.0, reboot_timeout=1800.0)
    lags, polls = [], []
    for _ in range(200):
        took = rng.uniform(340, 650)
        rec, t = run_until(record(), FakeFirewall("0001", "10.2.9"), PollReady, s)
        issued, n, last = reboot_issued(rec), 0, t
        while isinstance(rec.outstanding, PollReady) and n < 100:
            n, last = n + 1, t
            up = t - issued >= took
            obs = DeviceAnswered(True, "11.0.3", int(t - issued - took)) if up else DOWN
            result = step(rec, obs, at(t), s)
            rec, t = result.record, t + (result.requeue_after or 0)
        assert rec.phase is Phase.POSTFLIGHT and rec.reboot is not None
        assert rec.reboot.booted_after is not None and abs(rec.reboot.booted_after - took) <= 1.0
        lags.append(last - issued - took)
        polls.append(n)
    assert max(lags) <= s.reboot_poll_dense + 1e-6
    assert statistics.median(lags) <= s.reboot_poll_dense / 2 + 2
    assert statistics.median(polls) <= 8


def test_a_member_whose_ha_is_still_starting_after_its_reboot_is_read_at_a_steady_pace_then_less() -> None:
    a, _ = ha_pair()
    rec, now = run_until(record(serial="A", ha_peer="B"), a, ReadPairRoles)
    rec, now = run_until(rec, a, Phase.POSTFLIGHT)
    assert isinstance(rec.outstanding, ReadPairRoles)
    start, delays = now, []
    while now - start < FAST.ha_settle_expected + 3 * FAST.ha_poll_max_interval:
        starting = HaStateObserved("A", True, "initial", False, False, False, None)
        result = step(rec, PairRoles(starting, None), at(now), FAST)
        rec, now = result.record, now + (result.requeue_after or 0)
        delays.append((now - start, result.requeue_after))
    steady = [d for t, d in delays if t <= FAST.ha_settle_expected]
    assert steady and set(steady) == {FAST.ha_settle_poll}
    assert delays[-1][1] == FAST.ha_poll_max_interval  # past the expected settle: backing off
    # Settled: suspended (as it was before its reboot) -> made functional at once.
    suspended = HaStateObserved("A", True, "suspended", True, True, True, None)
    result = step(rec, PairRoles(suspended, None), at(now), FAST)
    assert isinstance(result.record.outstanding, FunctionalSelf) and result.requeue_after == 0


# -- jobs ---------------------------------------------------------------------------------------------------


def job(kind: JobKind, started: float, progress: int = 0, read: float | None = None) -> JobRef:
    """A tracked job submitted at ``started`` whose last reading was ``progress`` percent at ``read``."""
    return JobRef("7", kind, "11.0.3", iso(at(started)), progress, iso(at(started if read is None else read)))


def test_a_finished_job_is_learned_from_its_last_reading_not_from_the_late_poll() -> None:
    # 40% after 100 s: the job ended by 250 s, whatever the poll that saw it finished at 400 s says.
    assert job_sample(job(JobKind.DOWNLOAD, 0, 40, 100), at(400)) == ("download", 250.0)
    # A poll sooner than that bound is the better figure; no reading yet: the poll's time.
    assert job_sample(job(JobKind.INSTALL, 10, 40, 110), at(200)) == ("install", 190.0)
    assert job_sample(job(JobKind.INSTALL, 10), at(70)) == ("install", 60.0)
    # In device seconds (a simulator at 0.02 of our seconds per device second); other jobs are not ours.
    assert job_sample(job(JobKind.DOWNLOAD, 0), at(6), 0.02) == ("download", 300.0)
    assert job_sample(job(JobKind.OTHER, 0), at(60)) is None
    # Per kind, like reboots: a window once a few finished, kept through the file.
    learned = expected({"download": (200.0, 300.0, 400.0), "install": (1.0, 2.0)})
    assert learned.job(JobKind.DOWNLOAD) == Window(190.0, 420.0) and learned.job(JobKind.INSTALL) is None
    assert from_json(to_json({"download": (200.0, 300.0)})) == {"download": (200.0, 300.0)}


def test_the_first_job_poll_goes_to_the_learned_window_and_an_install_is_still_read_early() -> None:
    assert first_job_poll(FAST, JobKind.DOWNLOAD) == FAST.job_first_poll  # nothing learned yet
    s = replace(
        FAST, expected=Expected(jobs=(("download", Window(110.0, 440.0)), ("install", Window(230.0, 900.0))))
    )
    assert first_job_poll(s, JobKind.DOWNLOAD) == 110.0
    assert first_job_poll(s, JobKind.CONTENT_DOWNLOAD) == FAST.job_first_poll
    # An install PAN-OS cannot run fails within seconds: read early, then not again before the window.
    assert first_job_poll(s, JobKind.INSTALL) == FAST.job_first_poll
    rec = replace(record(), phase=Phase.INSTALL)
    ctx = Ctx(rec, at(30), s)
    assert job_poll_delay(ctx, job(JobKind.INSTALL, 0, 7, 30)) == 200.0
    # A job adopted part-way (its reading says it ends soon) is polled by its progress, not the window.
    assert job_poll_delay(ctx, job(JobKind.INSTALL, 0, 90, 30)) == s.job_poll_interval
    # Windows are device seconds: at time scale 0.02 the first poll is 0.02 of them.
    scaled = replace(s.scaled(50.0), device_second=0.02)
    assert first_job_poll(scaled, JobKind.DOWNLOAD) == pytest.approx(2.2)


def test_downloads_inside_the_learned_window_take_few_polls_and_are_seen_soon_after_they_end() -> None:
    """Downloads drawn from 100-420 s (the simulator's spread), polled from submission to finish by the
    machine's own delays once 30 of them taught the window: a median of 2 polls (4 before: first after 30 s,
    then by progress), each seen within a few percent of its length after it ended."""
    rng = random.Random(9)
    learned = expected({"download": tuple(rng.uniform(100, 420) for _ in range(30))})
    s = replace(FAST, expected=learned, job_stall_timeout=1800.0)
    polls, late = [], []
    for _ in range(300):
        took = rng.uniform(100, 420)
        ref, t, n = job(JobKind.DOWNLOAD, 0), first_job_poll(s, JobKind.DOWNLOAD), 1
        while t < took and n < 50:
            progress = int(100 * t / took)
            ref = replace(ref, progress=progress, progress_at=iso(at(t)))
            t, n = t + job_poll_delay(Ctx(record(), at(t), s), ref), n + 1
        polls.append(n)
        late.append((t - took) / took)
        sample = job_sample(ref, at(t))
        assert sample is not None and took <= sample[1] <= t + 1e-6
    assert statistics.median(polls) <= 2 and max(polls) <= 4
    assert max(late) <= 0.06


def test_an_install_right_after_a_download_waits_for_the_software_manager_to_load_the_image() -> None:
    rec, _ = run_until(record(), FakeFirewall("0001", "10.2.9"), Install)
    assert rec.updated_at is not None and rec.due_at is not None
    waited = (to_instant(rec.due_at) - to_instant(rec.updated_at)).total_seconds()
    assert waited == FAST.install_after_download
    assert "software manager" in rec.message


def test_reboots_are_learned_per_model_too_and_a_models_window_wins_once_it_has_enough() -> None:
    rec, now = run_until(record(), FakeFirewall("0001", "10.2.9"), PollReady)
    result = step(rec, DeviceAnswered(True, "11.0.3", 40), at(now), FAST)
    took = now - reboot_issued(rec) - 40
    assert samples_from(rec, result.record, model="PA-3220") == [(REBOOT, took), ("reboot@PA-3220", took)]
    fleet = (340.0, 500.0, 700.0)
    learned = expected({REBOOT: fleet, "reboot@PA-3220": (400.0, 420.0, 440.0), "reboot@PA-440": (500.0,)})
    assert learned.reboot_of("PA-3220") == Window(380.0, 462.0)
    assert learned.reboot_of("PA-440") is None and learned.reboot_of("") is None  # too few, or no model
    s = replace(FAST, expected=learned, max_reboot_poll_interval=600.0)
    assert reboot_poll_delay(replace(s, model="PA-3220"), 0.0) == 380.0
    assert reboot_poll_delay(replace(s, model="PA-440"), 0.0) == 323.0  # the fleet's window
    # Through the file: model keys are kept, names that are not printable or too long are not.
    body = to_json({REBOOT: fleet, "reboot@PA-3220": (400.0,)})
    assert from_json({**body, "reboot@bad\n": [1.0], "reboot@" + "x" * 65: [1.0]}) == {
        REBOOT: fleet,
        "reboot@PA-3220": (400.0,),
    }
    # A bounded number of models: past MAX_MODELS a new model's reboots count for the fleet only.
    many = {f"{MODEL_REBOOT}M{i}": (1.0,) for i in range(MAX_MODELS)}
    assert known(many, REBOOT) and known(many, "reboot@M1") and not known(many, "reboot@new")
