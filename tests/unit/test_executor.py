"""The executor's contracts, with a plain function as its runner: no sockets, no simulator, no real waiting.

The runner is a function ``(serial, command) -> observation`` answered by the in-memory firewalls of
``machine_world``; the executor's clocks (monotonic and wall) are one fake clock that the test moves to the
next command's due time, so every requeue delay is honoured without sleeping. What is pinned here: the
executor drives the machine and decides nothing (same phases as the machine alone), every change is on
disk before the command it schedules runs, commands wait for their delay, an unclear or refused outcome is
handed to the machine (never guessed), one device's trouble never touches another, cancellation waits for a
safe point, a restart re-observes before acting, and a frozen executor starts nothing new.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from machine_world import FAST, T0, FakeFirewall, answer_all, ha_pair, record

from reconciler.engine.executor import Executor
from reconciler.machine import DISRUPTIVE_PHASES, to_instant
from reconciler.machine.commands import (
    Command,
    Download,
    Install,
    JobKind,
    MakeFunctional,
    ObserveDevice,
    PollJob,
    Preflight,
    ReadHaState,
    Suspend,
)
from reconciler.machine.expect import Window
from reconciler.machine.observations import (
    Begin,
    CancelRequest,
    CommandFailed,
    JobStatus,
    Observation,
    PairBegin,
    ReleaseRequest,
)
from reconciler.machine.pair import PairStage, new_pair
from reconciler.machine.records import DeviceRecord, Phase
from reconciler.workdir import durations_store, record_store
from reconciler.workdir.layout import WorkPaths

TARGET = "11.0.3"


class FakeClock:
    """Monotonic seconds and the matching wall clock, moved only by the test."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.t)


@dataclass
class FunctionRunner:
    """The executor's runner seam (``run(serial, command)``) backed by a plain function."""

    fn: Callable[[str, Command], Observation]

    def run(self, serial: str, command: Command) -> Observation:
        return self.fn(serial, command)


@dataclass
class Rig:
    paths: WorkPaths
    clock: FakeClock
    fws: dict[str, FakeFirewall]
    ex: Executor = field(init=False)
    calls: list[tuple[str, Command, float]] = field(default_factory=list)
    transitions: list[tuple[DeviceRecord | None, DeviceRecord]] = field(default_factory=list)
    # Problems seen inside the runner (an assertion raised there would become the device's failure).
    problems: list[str] = field(default_factory=list)
    answer: Callable[[str, Command], Observation | None] | None = None

    def __post_init__(self) -> None:
        self.ex = self.start()

    def start(self, threads: int = 4) -> Executor:
        """A new executor on the same work directory and firewalls (a restarted engine)."""
        return Executor(
            self.paths,
            FunctionRunner(self.run),
            threads=threads,
            clock=self.clock.now,
            monotonic=self.clock.monotonic,
            on_transition=lambda old, new: self.transitions.append((old, new)),
        )

    def run(self, serial: str, command: Command) -> Observation:
        now = self.clock.t
        self.calls.append((serial, command, now))
        if not isinstance(command, ObserveDevice | ReadHaState | Suspend | MakeFunctional):
            self.check_persisted(serial, command, now)  # (a restart's look and pair commands are not in it)
        if self.answer is not None:
            special = self.answer(serial, command)
            if special is not None:
                return special
        fw = self.fws[serial]
        if isinstance(command, ObserveDevice):
            return fw.live(now)
        if isinstance(command, ReadHaState | Suspend | MakeFunctional):
            return fw.run_ha(command, now)
        return fw.run(command, now)

    def check_persisted(self, serial: str, command: Command, now: float) -> None:
        """Before a device command runs, its status file already names it, and it is due."""
        on_disk = record_store.load(self.paths.device_status_file(serial))
        if on_disk.outstanding != command:
            self.problems.append(f"{command.name} ran while the file says {on_disk.outstanding}")
        due = on_disk.due_at
        if due is not None and to_instant(due) > self.clock.now():
            self.problems.append(f"{command.name} ran at {now:.0f} s, before it was due ({due})")
        if command.changes_device:
            last = [e for e in audit(self.paths) if e.get("serial") == serial][-1]
            if last["action"] != command.name:
                self.problems.append(f"{command.name} ran before it was audited (last: {last['action']})")

    def running(self) -> bool:
        # The executor's own bookkeeping: is a runner call out (a device's or a pair's)?
        return any(d.running is not None for d in self.ex.devices.values()) or any(
            p.running is not None for p in self.ex.pairs.values()
        )

    def settle(
        self,
        *,
        on_pump: Callable[[], None] | None = None,
        until: Callable[[], bool] | None = None,
        next_hop: bool = True,
        max_wait: float = 2.0,
        max_pumps: int = 5000,
    ) -> None:
        """Pump until nothing is running or scheduled (feeding ``Begin`` at next_hop, as the reconciler
        would), or until ``until()``. Time jumps to the next due command whenever nothing is running; a
        runner call that does not come back within a few real seconds fails the test."""
        waited = 0.0
        for _ in range(max_pumps):
            if on_pump is not None:
                on_pump()
            if until is not None and until():
                return
            if not self.ex.busy():
                resting = [
                    s
                    for s, r in self.ex.records.items()
                    if r.phase is Phase.NEXT_HOP and s not in self.ex.pair_of
                ]
                if not (next_hop and resting):
                    return
                for serial in resting:
                    self.ex.request(serial, Begin())
                continue
            nxt = self.ex.next_due_in()
            if nxt is not None and nxt > 0 and not self.running():
                self.clock.t += nxt
            if self.ex.pump(max_wait=max_wait) == 0 and self.running():
                waited += max_wait
                assert waited < 10.0, "a runner call never came back"
            else:
                waited = 0.0
        raise AssertionError(f"the executor did not settle in {max_pumps} pumps")

    def file(self, serial: str) -> DeviceRecord:
        """The device's status file, once every record persisted so far is written (the writer's thread)."""
        assert self.ex.flush()
        return record_store.load(self.paths.device_status_file(serial))

    def phases(self, serial: str) -> list[Phase]:
        out: list[Phase] = []
        for _, new in self.transitions:
            if new.serial == serial and (not out or out[-1] is not new.phase):
                out.append(new.phase)
        return out


def audit(paths: WorkPaths) -> list[dict[str, object]]:
    file = paths.audit_file
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    fws = {s: FakeFirewall(s, "10.2.9") for s in ("0001", "0002")}
    r = Rig(WorkPaths(tmp_path / "work"), FakeClock(), fws)
    yield r
    r.ex.close()


def start(rig: Rig, *serials: str, path: tuple[str, ...] = (TARGET,)) -> None:
    for serial in serials:
        rig.ex.put(record(path=path, serial=serial), FAST)
        assert rig.ex.request(serial, Begin())


# -- driving the machine ----------------------------------------------------------------------------------


def test_the_executor_takes_the_machines_path_and_persists_each_change_before_its_command(rig: Rig) -> None:
    start(rig, "0001", path=("11.0.3", "11.1.6"))
    rig.settle()
    assert [] == rig.problems
    done = rig.ex.record("0001")
    assert done is not None and Phase.DONE is done.phase
    assert "11.1.6" == rig.fws["0001"].version
    assert done == rig.file("0001")
    # It decides nothing: the same phases, in the same order, as the machine driven alone.
    _, _, steps = answer_all(record(path=("11.0.3", "11.1.6")), FakeFirewall("0001", "10.2.9"))
    alone: list[Phase] = [Phase.PENDING]
    for s in steps:
        if alone[-1] is not s.record.phase:
            alone.append(s.record.phase)
    assert alone == rig.phases("0001")
    # Every device-changing command ran once per need, each after its audit entry (checked in the runner).
    assert [("Install", "11.0.3"), ("Install", "11.1.6")] == [
        e for e in rig.fws["0001"].executed if e[0] == "Install"
    ]
    timeline = [e["to_phase"] for e in audit(rig.paths) if e["action"] == "phase"]
    assert [p.value for p in rig.phases("0001")] == timeline


def test_a_command_waits_for_its_requeue_delay(rig: Rig) -> None:
    start(rig, "0001")
    rig.settle()
    polls = [t for _, c, t in rig.calls if isinstance(c, PollJob)]
    assert len(polls) >= 2
    # Job polls are spaced by at least the machine's poll interval, on the executor's clock.
    assert all(b - a >= FAST.job_poll_interval for a, b in itertools.pairwise(polls))
    assert [] == rig.problems


# -- unknown and refused outcomes -------------------------------------------------------------------------


def test_a_runner_that_raises_fails_only_its_own_device(rig: Rig) -> None:
    def answer(serial: str, command: Command) -> Observation | None:
        if serial == "0001" and isinstance(command, Preflight):
            raise RuntimeError("a bug in the runner")
        return None

    rig.answer = answer
    start(rig, "0001", "0002")
    rig.settle()
    failed, done = rig.file("0001"), rig.file("0002")
    assert Phase.FAILED is failed.phase and failed.last_error is not None
    assert "RuntimeError: a bug in the runner" in (failed.last_error.message or "")
    assert Phase.DONE is done.phase and TARGET == rig.fws["0002"].version
    assert "10.2.9" == rig.fws["0001"].version and [] == rig.fws["0001"].executed


def test_an_install_whose_answer_is_lost_in_the_runner_is_looked_up_not_repeated(rig: Rig) -> None:
    lost = {"done": False}

    def answer(serial: str, command: Command) -> Observation | None:
        if isinstance(command, Install) and not lost["done"]:
            lost["done"] = True
            rig.fws[serial].run(command, rig.clock.t)  # it reached the device...
            raise ConnectionResetError("...but its answer never came back")
        return None

    rig.answer = answer
    start(rig, "0001")
    rig.settle()
    assert lost["done"] and [] == rig.problems
    assert Phase.DONE is rig.file("0001").phase and TARGET == rig.fws["0001"].version
    assert [("Install", TARGET)] == [e for e in rig.fws["0001"].executed if e[0] == "Install"]
    submissions = [c.name for _, c, _ in rig.calls if c.name in ("Install", "ListJobs")]
    assert ["Install", "ListJobs"] == submissions[:2]


def test_an_answer_the_machine_refuses_is_a_bad_answer_and_asked_again(rig: Rig) -> None:
    garbled = {"done": False}

    def answer(serial: str, command: Command) -> Observation | None:
        if isinstance(command, PollJob) and not garbled["done"]:
            garbled["done"] = True
            return JobStatus("999999", True, True, 100)  # the status of some other job
        return None

    rig.answer = answer
    start(rig, "0001")
    rig.settle()
    polls = [c for _, c, _ in rig.calls if isinstance(c, PollJob)]
    assert garbled["done"] and polls[0] == polls[1], "the same job is polled again"
    assert Phase.DONE is rig.file("0001").phase and TARGET == rig.fws["0001"].version


def test_a_failure_report_for_another_command_leaves_the_device_as_it_was(rig: Rig) -> None:
    rig.answer = lambda serial, command: (
        CommandFailed("Reboot", True, "timeout", "misrouted") if isinstance(command, Preflight) else None
    )
    start(rig, "0001")
    before = rig.file("0001")
    rig.settle()
    assert before == rig.file("0001") == rig.ex.record("0001")
    assert "Reboot" in rig.ex.devices["0001"].stuck
    assert not rig.ex.busy() and ["Preflight"] == [c.name for _, c, _ in rig.calls]


# -- requests ---------------------------------------------------------------------------------------------


def test_a_device_never_started_is_cancelled_without_a_command(rig: Rig) -> None:
    rig.ex.put(record(serial="0001"), FAST)
    assert rig.ex.request("0001", CancelRequest(by="test", reason="not today"))
    rig.settle()
    assert Phase.CANCELLED is rig.file("0001").phase and [] == rig.calls


def test_a_request_the_machine_refuses_changes_nothing(rig: Rig) -> None:
    rig.ex.put(record(serial="0001"), FAST)
    assert rig.ex.flush()  # records are written off the loop thread
    before = rig.paths.device_status_file("0001").read_bytes()
    seen = len(rig.transitions)
    assert not rig.ex.request("0001", ReleaseRequest(by="test"))  # nothing is held
    assert not rig.ex.request("9999", CancelRequest(by="test"))  # not under management
    assert rig.ex.flush()
    assert before == rig.paths.device_status_file("0001").read_bytes() and seen == len(rig.transitions)


def test_a_forgotten_device_leaves_no_trace_in_the_executor_or_on_disk(rig: Rig) -> None:
    """A lifted hold-only record is forgotten: the executor's views of unfinished devices no longer name
    it (they once raised KeyError and stopped the daemon), and its status file stays deleted."""
    rig.ex.put(record(serial="0001"), FAST)
    rig.ex.forget("0001")
    assert rig.ex.flush()
    assert [] == rig.ex.in_flight() and [] == rig.ex.unfinished() and 0 == rig.ex.slots_in_use()
    assert rig.ex.record("0001") is None and not rig.paths.device_status_file("0001").exists()


def test_a_cancel_while_a_command_runs_waits_for_its_answer_then_holds_the_device(rig: Rig) -> None:
    entered, release = threading.Event(), threading.Event()

    def answer(serial: str, command: Command) -> Observation | None:
        if isinstance(command, Download):
            entered.set()
            assert release.wait(10)
        return None

    rig.answer = answer
    start(rig, "0001")
    rig.settle(until=entered.is_set, max_wait=0.05)
    assert rig.ex.request("0001", CancelRequest(by="test", reason="admin takeover"))
    # Queued, not applied: the record still shows the running download.
    running = rig.ex.record("0001")
    assert (
        running is not None and isinstance(running.outstanding, Download) and running.pending_request is None
    )
    release.set()
    rig.settle()
    held = rig.file("0001")
    assert Phase.HELD is held.phase and held.hold is not None and "admin takeover" == held.hold.reason
    assert not [e for e in rig.fws["0001"].executed if e[0] == "Install"]
    assert "10.2.9" == rig.fws["0001"].version


def test_a_cancel_after_the_install_holds_only_once_the_new_version_is_verified(rig: Rig) -> None:
    asked: list[bool] = []

    def cancel_once_installing() -> None:
        rec = rig.ex.record("0001")
        if not asked and rec is not None and rec.phase is Phase.INSTALL and rec.job is not None:
            asked.append(rig.ex.request("0001", CancelRequest(by="test", reason="change freeze")))

    start(rig, "0001")
    rig.settle(on_pump=cancel_once_installing)
    assert [True] == asked
    after = rig.phases("0001")[rig.phases("0001").index(Phase.INSTALL) :]
    # The ready answer carried the new version: verified in that step, then held (never before).
    assert [Phase.INSTALL, Phase.REBOOT, Phase.WAIT_READY, Phase.HELD] == after
    held = rig.ex.record("0001")
    assert held is not None and held.current_version == TARGET
    assert TARGET == rig.fws["0001"].version and 1 == rig.fws["0001"].reboots
    assert [] == rig.problems
    # Released, it starts over from a fresh pre-flight and finds the work done.
    assert rig.ex.request("0001", ReleaseRequest(by="test"))
    assert rig.ex.request("0001", Begin())
    rig.settle()
    assert Phase.DONE is rig.file("0001").phase and 1 == rig.fws["0001"].reboots


def test_a_frozen_executor_finishes_the_running_command_and_starts_no_other(rig: Rig) -> None:
    entered, release = threading.Event(), threading.Event()

    def answer(serial: str, command: Command) -> Observation | None:
        if isinstance(command, Preflight):
            entered.set()
            assert release.wait(10)
        return None

    rig.answer = answer
    start(rig, "0001")
    rig.ex.pump(max_wait=0.0)  # starts the pre-flight
    assert entered.wait(10)
    rig.ex.freeze()
    release.set()
    assert 1 == rig.ex.pump(max_wait=5.0)
    persisted = rig.file("0001")
    assert Phase.PREFLIGHT is not persisted.phase or not isinstance(persisted.outstanding, Preflight)
    assert persisted == rig.ex.record("0001")
    for _ in range(5):
        rig.clock.t += 3600
        rig.ex.pump(max_wait=0.0)
    assert ["Preflight"] == [c.name for _, c, _ in rig.calls]
    assert rig.ex.busy(), "the next command stays scheduled for a new executor"


# -- restart ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("look", ["answered", "lost"])
def test_a_restarted_executor_observes_a_working_device_first_and_never_installs_twice(
    rig: Rig, look: str
) -> None:
    start(rig, "0001")
    rig.settle(
        until=lambda: (
            (r := rig.ex.record("0001")) is not None and r.job is not None and r.phase is Phase.INSTALL
        )
    )
    rig.ex.close()  # the engine stops with the install job running; its record is on disk
    calls = len(rig.calls)
    rig.ex = rig.start()
    if look == "lost":
        rig.answer = lambda serial, command: (
            CommandFailed("ObserveDevice", True, "timeout", "read timed out")
            if isinstance(command, ObserveDevice)
            else None
        )
    rig.ex.put(rig.file("0001"), FAST, resume=True)
    rig.settle()
    after = [c for _, c, _ in rig.calls[calls:]]
    assert isinstance(after[0], ObserveDevice)
    # An unanswered look counts as unreachable: the recorded job is polled again, never resubmitted.
    assert isinstance(after[1], PollJob)
    assert [] == rig.problems
    assert Phase.DONE is rig.file("0001").phase and TARGET == rig.fws["0001"].version
    assert [("Install", TARGET)] == [e for e in rig.fws["0001"].executed if e[0] == "Install"]


# -- HA pairs ---------------------------------------------------------------------------------------------


def test_an_ha_pair_is_upgraded_one_member_at_a_time_through_the_executor(rig: Rig) -> None:
    a, b = ha_pair()
    rig.fws = {"A": a, "B": b}
    ra, rb = record(serial="A", ha_peer="B"), record(serial="B", ha_peer="A")
    rig.ex.put(ra, FAST)
    rig.ex.put(rb, FAST)
    pair = new_pair(ra, rb, T0)
    rig.ex.put_pair(pair, FAST)
    assert rig.ex.pair_request(pair.pair_id, PairBegin())
    both_disruptive: list[str] = []

    def watch() -> None:
        phases = [r.phase for r in rig.ex.records.values()]
        if all(p in DISRUPTIVE_PHASES for p in phases):
            both_disruptive.append(str(phases))

    rig.settle(on_pump=watch)
    assert [] == both_disruptive and [] == rig.problems
    assert {Phase.DONE} == {rig.file(s).phase for s in ("A", "B")}
    assert {TARGET} == {a.version, b.version}
    assert [] == a.active_reboots + b.active_reboots
    done = rig.ex.pair(pair.pair_id)
    assert done is not None and PairStage.DONE is done.stage
    assert done == record_store.load_pairs(rig.paths)[pair.pair_id]


def test_jobs_seen_finished_are_learned_per_kind_and_kept_for_the_next_executor(rig: Rig) -> None:
    start(rig, "0001", "0002")
    rig.settle()
    assert [] == rig.problems
    # The fake's jobs read 50% at the first poll (after job_first_poll, nothing learned yet) and finish at
    # the next: each took no more than twice the first reading's time, whatever the finishing poll's time.
    learned = durations_store.load(rig.paths)
    assert learned["install"] == (2 * FAST.job_first_poll,) * 2
    assert len(learned["download"]) == 4 and set(learned["download"]) == {2 * FAST.job_first_poll}
    # Enough downloads finished: a restarted executor polls the next download at the learned window's start.
    rig.ex.close()
    rig.ex = rig.start()
    assert rig.ex._expected.job(JobKind.DOWNLOAD) == Window(57.0, 63.0)
