"""The reconcile loop: one loop for ``apply``, the demo and the daemon.

Each turn pumps the executor (starting due commands and applying finished ones, blocking at most
``IDLE_WAIT`` seconds), then decides whether a pass is due. A pass runs when:

- a device's change asked for one (``Reconciler.dirty``), once the loop has spent ``PASS_SPACING`` times the
  last pass's duration pumping the executor: changes arriving meanwhile share one pass, and planning a
  large fleet can never starve the devices in flight (a 100 ms pass leaves 300 ms to the executor; small
  fleets plan in a few milliseconds, so they hardly wait at all);
- the ``wakeup`` doorbell rang (file watchers, signals, ``reconcile now``) and then stayed quiet for
  ``debounce`` seconds (a burst of file events is one pass);
- the caller's ``on_tick`` asked for one (the daemon, after a re-discovery);
- ``resync`` seconds passed since the last pass (spread by ``jitter``, a fraction: many daemons' resyncs
  do not line up).

Every pass is followed by the imperative interface (jobs, operator requests) and counted and timed in the
metrics. ``apply`` and the demo stop when nothing is in motion (``until_settled``) or at a ``deadline``;
the daemon runs until ``stop`` is set and adds its own concerns through the hooks: ``before_pass`` (its
lock note), ``on_pass`` (``status/daemon.json``, systemd status) and ``on_tick`` (re-discovery, the
watchdog), and survives a pass that raises (``survive_errors``: logged, counted, retried at the next pass).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.engine.reconcile import PassResult, settled
from reconciler.engine.session import Session
from reconciler.engine.wakeup import Wakeup
from reconciler.workdir import logs

log = logs.get(__name__)

PASS_SPACING = 3.0
IDLE_WAIT = 0.2  # seconds a turn waits for the executor when nothing else is due


@dataclass(frozen=True)
class PassReport:
    """One pass as the loop ran it: its result, how long it took (with the job and request intake after it),
    and, when it raised (``survive_errors``), the exception's text (``result.plan`` is then None)."""

    result: PassResult
    seconds: float
    crashed: str = ""


def drive(
    session: Session,
    *,
    stop: threading.Event,
    until_settled: bool,
    resync: float = 5.0,
    jitter: float = 0.0,
    wakeup: Wakeup | None = None,
    debounce: float = 0.0,
    deadline: float | None = None,
    on_tick: Callable[[], bool | None] | None = None,
    before_pass: Callable[[], None] | None = None,
    on_pass: Callable[[PassReport], None] | None = None,
    survive_errors: bool = False,
) -> PassResult:
    """Run passes and pump the executor until settled (``until_settled``), the ``deadline`` (monotonic
    seconds) or ``stop``. Returns the last pass's result."""
    rec, ex = session.reconciler, session.executor

    def one_pass() -> PassReport:
        if before_pass is not None:
            before_pass()
        report = _timed_pass(session, survive_errors)
        if on_pass is not None:
            on_pass(report)
        return report

    report = one_pass()
    last = time.monotonic()
    spacing = PASS_SPACING * report.seconds
    next_resync = last + _spread(resync, jitter)
    while not stop.is_set():
        if until_settled and not rec.dirty.is_set() and settled(rec, report.result):
            break
        if deadline is not None and time.monotonic() > deadline:
            log.warning("stopping at the deadline with work still in motion")
            break
        wait = IDLE_WAIT
        if rec.dirty.is_set():
            wait = min(wait, max(0.0, last + spacing - time.monotonic()))
        ex.pump(max_wait=wait)
        asked = bool(on_tick()) if on_tick is not None else False
        rung = wakeup.due(debounce) if wakeup is not None else False
        now = time.monotonic()
        if asked or rung or (rec.dirty.is_set() and now - last >= spacing) or now >= next_resync:
            report = one_pass()
            last = time.monotonic()
            spacing = PASS_SPACING * report.seconds
            next_resync = last + _spread(resync, jitter)
    return report.result


def _timed_pass(session: Session, survive_errors: bool) -> PassReport:
    """One pass and the imperative interface after it, counted and timed in the session's metrics."""
    started = time.monotonic()
    try:
        result = session.reconciler.pass_()
        session.after_pass()
    except Exception as exc:  # the daemon never dies of one bad pass: logged, counted, retried at the next
        if not survive_errors:
            raise
        log.exception("reconcile pass failed")
        session.metrics.reconciles.labels("error").inc()
        return PassReport(PassResult(None, error=str(exc)), time.monotonic() - started, crashed=str(exc))
    seconds = time.monotonic() - started
    session.metrics.observe_reconcile(seconds, ok=not result.error, when=time.time())
    return PassReport(result, seconds)


def _spread(seconds: float, jitter: float) -> float:
    return seconds * random.uniform(1.0 - jitter, 1.0 + jitter) if jitter else seconds
