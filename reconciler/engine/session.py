"""Assembling an engine for a work directory (shared by ``apply``, the daemon and the demo) and the loop
that drives it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.engine import metrics as metrics_mod
from reconciler.engine.clients import ClientPool
from reconciler.engine.executor import Executor
from reconciler.engine.imperative import Imperative
from reconciler.engine.metrics import Metrics
from reconciler.engine.reconcile import PassResult, Reconciler, settled, utc_now
from reconciler.engine.runner import Runner
from reconciler.engine.wakeup import Wakeup
from reconciler.engine.webhooks import Notifier
from reconciler.machine.records import iso
from reconciler.workdir import logs
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

log = logs.get(__name__)

# A pass asked for by a device's change (``dirty``) waits until the loop has spent this many times the last
# pass's duration pumping the executor: changes arriving meanwhile share one pass, and planning a large
# fleet can never starve the devices in flight (a 100 ms pass leaves 300 ms to the executor). Small fleets
# plan in a few milliseconds, so they hardly wait at all.
PASS_SPACING = 3.0


@dataclass
class Session:
    paths: WorkPaths
    config: Config
    reconciler: Reconciler
    executor: Executor
    metrics: Metrics
    notifier: Notifier
    metrics_server: Any = None
    imperative: Imperative | None = None

    @property
    def metrics_url(self) -> str | None:
        """``http://host:port/metrics`` with the port really bound (``metrics.listen`` may say ``:0``)."""
        if self.metrics_server is None:
            return None
        listen = str(self.config.get("metrics.listen"))
        return f"http://{metrics_mod.bound_address(self.metrics_server, listen)}/metrics"

    def after_pass(self) -> None:
        """The imperative interface (jobs, operator commands, job status) after each pass."""
        if self.imperative is None or self.reconciler.desired is None:
            return
        try:
            self.imperative.tick()
        except Exception:  # one bad file or job must never stop the loop; it is logged with its cause
            log.exception("processing jobs and commands failed; retried at the next pass")

    def close(self) -> None:
        self.executor.close(wait=True)
        self.reconciler.close()
        self.notifier.close(timeout=5)
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()


def open_session(
    paths: WorkPaths,
    config: Config,
    *,
    desired_path: Path,
    dry_run: bool = False,
    only: Iterable[str] | None = None,
    serve_metrics: bool = True,
    metrics: Metrics | None = None,
    threads: int | None = None,
) -> Session:
    metrics = metrics or Metrics()
    server = None
    if serve_metrics and config.get("metrics.enabled") and config.get("metrics.listen"):
        try:
            server, _ = metrics_mod.serve(metrics, config.get("metrics.listen"))
            log.info(
                "metrics on http://%s/metrics",
                metrics_mod.bound_address(server, config.get("metrics.listen")),
            )
        except OSError as exc:
            log.warning("metrics not served on %s: %s", config.get("metrics.listen"), exc)
    notifier = Notifier.from_setting(
        config.get("notifications.webhook_url"), config.get("notifications.timeout")
    )
    holder: dict[str, Reconciler] = {}
    pool = ClientPool(config, lambda: holder["r"].inventory, on_call=metrics.api_call)
    runner = Runner(paths, pool.get, lambda: iso(utc_now()), lock_for=pool.lock)
    workers = int(config.get("workers.max"))
    executor = Executor(paths, runner, threads=threads or min(64, max(4, workers)), clock=utc_now)
    reconciler = Reconciler(
        paths,
        config,
        executor,
        client_for=pool.get,
        metrics=metrics,
        notifier=notifier,
        desired_path=desired_path,
        dry_run=dry_run,
        only=only,
        time_scale=float(config.get("engine.time_scale")),
    )
    holder["r"] = reconciler
    executor.on_transition = reconciler.on_transition
    return Session(paths, config, reconciler, executor, metrics, notifier, server, Imperative(reconciler))


def timed_pass(session: Session) -> PassResult:
    """One reconcile pass, counted and timed in the session's metrics (``apply`` has reconcile health too)."""
    started = time.monotonic()
    result = session.reconciler.pass_()
    session.metrics.observe_reconcile(time.monotonic() - started, ok=not result.error, when=time.time())
    return result


def drive(
    session: Session,
    *,
    stop: threading.Event,
    until_settled: bool,
    resync: float = 5.0,
    wakeup: Wakeup | None = None,
    on_pass: Callable[[PassResult], None] | None = None,
    on_tick: Callable[[], None] | None = None,
    deadline: float | None = None,
) -> PassResult:
    """Run passes and pump the executor until settled (``apply``) or until ``stop`` is set (the daemon)."""
    rec, ex = session.reconciler, session.executor
    began = time.monotonic()
    result = timed_pass(session)
    session.after_pass()
    if on_pass:
        on_pass(result)
    last = time.monotonic()
    spacing = PASS_SPACING * (last - began)
    while not stop.is_set():
        if until_settled and not rec.dirty.is_set() and settled(rec, result):
            break
        if deadline is not None and time.monotonic() > deadline:
            log.warning("stopping at the deadline with work still in motion")
            break
        wait = 0.2
        if rec.dirty.is_set():
            wait = min(wait, max(0.0, last + spacing - time.monotonic()))
        ex.pump(max_wait=wait)
        if on_tick:
            on_tick()
        rung = wakeup.wait(0, debounce=0) if wakeup is not None else False
        now = time.monotonic()
        if (rec.dirty.is_set() and now - last >= spacing) or rung or now - last >= resync:
            result = timed_pass(session)
            session.after_pass()
            last = time.monotonic()
            spacing = PASS_SPACING * (last - now)
            if on_pass:
                on_pass(result)
    return result
