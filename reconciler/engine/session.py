"""Assembling an engine for a work directory, shared by ``apply``, the daemon and the demo (the loop that
drives it is ``loop.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.engine import metrics as metrics_mod
from reconciler.engine.clients import ClientPool, GroupConnections
from reconciler.engine.executor import Executor
from reconciler.engine.imperative import Imperative
from reconciler.engine.metrics import Metrics
from reconciler.engine.reconcile import Reconciler, utc_now
from reconciler.engine.runner import Runner
from reconciler.engine.webhooks import Notifier
from reconciler.machine.records import iso
from reconciler.workdir import logs
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

log = logs.get(__name__)


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
    # A dry run starts nothing, so it tells no one: a "device failed" from a rehearsed pre-flight would be
    # an untrue message in the team's channel.
    notifier = Notifier.from_setting(
        "" if dry_run else config.get("notifications.webhook_url"), config.get("notifications.timeout")
    )
    holder: dict[str, Reconciler] = {}
    pool = ClientPool(
        config,
        lambda: holder["r"].inventory,
        on_call=metrics.api_call,
        work=paths,
        connection_for=GroupConnections(lambda: holder["r"].desired, lambda: holder["r"].inventory),
    )
    runner = Runner(paths, pool.get, lambda: iso(utc_now()), lock_for=pool.lock)
    workers = int(config.get("workers.max"))
    executor = Executor(
        paths,
        runner,
        threads=threads or min(64, max(4, workers)),
        clock=utc_now,
        reached=runner.reached.get,
    )
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
