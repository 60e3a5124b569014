"""The one reconcile loop (``reconciler.engine.loop.drive``) of apply, the demo and the daemon: what makes it
pass, the intake and the metrics after each pass, and the daemon's hooks. The reconciler and the executor
are stand-ins that count (no simulator, no files); the executor's pump never blocks, so the loop turns as
fast as it can and each test stops it after a bounded number of turns."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from reconciler.engine.loop import PassReport, drive
from reconciler.engine.metrics import Metrics
from reconciler.engine.reconcile import PassResult
from reconciler.engine.wakeup import Wakeup

NEVER = 1e9  # a resync that never falls due in a test


@dataclass
class Executor:
    pumps: int = 0

    def pump(self, max_wait: float) -> int:
        self.pumps += 1
        return 0

    def busy(self) -> bool:
        return False


@dataclass
class Reconciler:
    executor: Executor
    fail_on: set[int] = field(default_factory=set)  # passes that raise
    error_on: set[int] = field(default_factory=set)  # passes that find no usable input
    passes: int = 0
    dirty: threading.Event = field(default_factory=threading.Event)
    probing: bool = False
    dry_run: bool = False

    def pass_(self) -> PassResult:
        self.passes += 1
        self.dirty.clear()
        if self.passes in self.fail_on:
            raise RuntimeError(f"pass {self.passes} broke")
        return PassResult(None, error="no inventory" if self.passes in self.error_on else "")


@dataclass
class Session:
    reconciler: Reconciler
    executor: Executor
    metrics: Metrics = field(default_factory=Metrics)
    intakes: int = 0

    def after_pass(self) -> None:
        self.intakes += 1


def session(**kw: Any) -> Session:
    executor = Executor()
    return Session(Reconciler(executor, **kw), executor)


def turns(
    n: int,
    stop: threading.Event,
    each: Callable[[int], bool | None] = lambda turn: None,
    until: Callable[[], bool] = lambda: False,
) -> Callable[[], Any]:
    """An ``on_tick`` that runs ``each(turn)`` and stops the loop after ``n`` turns, or once ``until()``."""
    count = [0]

    def tick() -> bool | None:
        count[0] += 1
        if count[0] >= n or until():
            stop.set()
        return each(count[0])

    return tick


def counter(m: Metrics, result: str) -> float:
    value = m.registry.get_sample_value("panos_upgrade_reconcile_total", {"result": result})
    return value or 0.0


def test_one_pass_then_only_what_asks_for_one() -> None:
    s, stop = session(), threading.Event()
    drive(s, stop=stop, until_settled=False, resync=NEVER, on_tick=turns(50, stop))
    assert (1, 1) == (s.reconciler.passes, s.intakes), "nothing rang, nothing changed, no resync: one pass"
    assert 50 == s.executor.pumps


def test_a_ring_a_caller_and_a_device_change_each_ask_for_a_pass() -> None:
    s, stop, bell = session(), threading.Event(), Wakeup()
    asked: list[int] = []

    def each(turn: int) -> bool | None:
        if turn == 5:
            bell.ring()
        if turn == 10:
            asked.append(s.reconciler.passes)
            return True
        if turn == 15:
            asked.append(s.reconciler.passes)
            s.reconciler.dirty.set()  # a pass follows once the loop spent 3x the last pass on the executor
        return None

    drive(
        s,
        stop=stop,
        until_settled=False,
        resync=NEVER,
        wakeup=bell,
        on_tick=turns(1_000_000, stop, each, until=lambda: s.reconciler.passes == 4),
    )
    assert [2, 3] == asked, "the ring made pass 2, the caller pass 3"
    assert 4 == s.reconciler.passes == s.intakes, "and the device's change pass 4"
    assert s.executor.pumps < 1_000_000


def test_every_pass_is_counted_and_timed_and_reported_to_the_hook() -> None:
    s, stop = session(error_on={2}), threading.Event()
    reports: list[PassReport] = []
    drive(
        s,
        stop=stop,
        until_settled=False,
        resync=0.0,
        on_tick=turns(3, stop),
        on_pass=reports.append,
    )
    assert 4 == len(reports), "a resync of 0 s: a pass after every turn"
    assert ["", "no inventory", "", ""] == [r.result.error for r in reports]
    assert (3.0, 1.0) == (counter(s.metrics, "ok"), counter(s.metrics, "error"))
    duration = s.metrics.registry.get_sample_value("panos_upgrade_reconcile_duration_seconds_count")
    assert 4.0 == duration


def test_a_pass_that_raises_stops_apply_but_not_the_daemon() -> None:
    s, stop = session(fail_on={1}), threading.Event()
    with pytest.raises(RuntimeError, match="pass 1 broke"):
        drive(s, stop=stop, until_settled=True, resync=NEVER)
    s, stop = session(fail_on={1}), threading.Event()
    reports: list[PassReport] = []
    before: list[int] = []
    drive(
        s,
        stop=stop,
        until_settled=False,
        resync=0.0,
        on_tick=turns(1, stop),
        before_pass=lambda: before.append(s.reconciler.passes),
        on_pass=reports.append,
        survive_errors=True,
    )
    assert ["pass 1 broke", ""] == [r.crashed for r in reports]
    assert reports[0].result.plan is None and "pass 1 broke" == reports[0].result.error
    assert [0, 1] == before, "the hook runs before every pass"
    assert (1.0, 1.0) == (counter(s.metrics, "error"), counter(s.metrics, "ok"))
    assert 1 == s.intakes, "no intake after a pass that raised"


def test_apply_stops_once_nothing_is_in_motion() -> None:
    s = session()
    result = drive(s, stop=threading.Event(), until_settled=True, resync=NEVER)
    assert (1, 0, "") == (s.reconciler.passes, s.executor.pumps, result.error)


def test_apply_stops_at_its_deadline() -> None:
    s = session(probing=True)  # an image list is still being fetched: never settled
    drive(s, stop=threading.Event(), until_settled=True, resync=NEVER, deadline=0.0)
    assert 1 == s.reconciler.passes


def test_the_bell_is_due_once_it_rang_and_went_quiet() -> None:
    bell = Wakeup()
    assert not bell.due(0.0), "not rung"
    bell.ring()
    assert not bell.due(60.0), "still within the debounce: a burst of events is one pass"
    assert bell.due(0.0)
    assert not bell.due(0.0), "reset once due"
