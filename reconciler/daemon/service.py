"""The reconciler daemon: the engine's reconcile loop (``reconciler.engine.loop``, the one ``apply`` and the
demo run) for systemd or a terminal, with what only a daemon needs: signals, file watchers, re-discovery,
the systemd watchdog, the lock, and ``status/daemon.json`` / ``status/workers.json``.

File events (desired-state directory, ``queue/pending``, ``commands/incoming``, ``inventory.json``), timers
(resync with jitter, re-discovery) and requeues only *wake* the loop; each pass re-reads everything and
recomputes the plan. Re-discovery runs on a worker thread (``daemon.rediscovery``), never in the loop: devices
in flight keep moving while it asks Panorama and the firewalls, and the loop writes what it found.
An invalid desired state is refused and the last valid one stays in force (status, metrics and logs say
so). SIGTERM/SIGINT: stop starting new work, let running commands finish (bounded), persist, exit 0.
SIGHUP: reload the desired state now. The daemon never dies of bad input: every file it reads is
validated, and a failing pass is logged and retried at the next wake-up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from reconciler import __version__
from reconciler.core.errors import DeviceError, StoreError, UserError
from reconciler.core.plan import CHANGE_ACTIONS
from reconciler.daemon import sdnotify
from reconciler.daemon.rediscovery import BackgroundDiscovery, DiscoverFn, Found, Outcome
from reconciler.device import discovery
from reconciler.engine.loop import PassReport, drive
from reconciler.engine.session import Session, open_session
from reconciler.engine.wakeup import Wakeup, Watcher, watch_root
from reconciler.jobs import queue
from reconciler.machine.records import iso
from reconciler.workdir import inventory_store, logs, store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths
from reconciler.workdir.lock import DaemonLock

# The logger keeps the name it had before the package move: operators filter logs on it.
log = logs.get("reconciler.daemon")

STOP_GRACE = 60.0  # seconds SIGTERM waits for running commands before exiting anyway
DISCOVERY_STOP_GRACE = 10.0  # seconds a stop waits for a cancelled re-discovery before abandoning it
RESYNC_JITTER = 0.1  # the periodic full resyncs of many daemons (and of retries) spread over +-10 %
WAKEUP_DEBOUNCE = 0.3  # a burst of file events (a git checkout, an editor's save) is one pass


@dataclass
class DaemonState:
    started_at: str
    state: str = "starting"
    last_reconcile: dict[str, Any] | None = None
    last_discovery: str | None = None
    errors: list[str] = field(default_factory=list)


class Daemon:
    def __init__(
        self,
        paths: WorkPaths,
        config: Config,
        *,
        desired_path: Path,
        session_factory: Callable[..., Session] = open_session,
        install_signals: bool = True,
        discover: DiscoverFn | None = None,
    ) -> None:
        """``discover`` runs one re-discovery (on the worker thread); by default Panorama's and the
        firewalls' answers as ``device discover`` gets them."""
        self.paths = paths
        self.config = config
        self.desired_path = desired_path
        self.session_factory = session_factory
        self.install_signals = install_signals
        self.stop = threading.Event()
        self.wakeup = Wakeup()
        self.state = DaemonState(started_at=_now_iso())
        self.session: Session | None = None
        self._ready_sent = False
        self._lock: DaemonLock | None = None
        self._next_discovery = 0.0
        self._discovery = BackgroundDiscovery(discover or self._discover)
        self._watchdog: float | None = None
        self._next_ping = 0.0
        self._last_status = 0.0
        self._signalled: int | None = None
        self._hup = False

    # -- signals ----------------------------------------------------------------------------------------------

    # A signal handler runs in the main thread between two bytecodes, possibly while that thread holds a lock
    # (``Wakeup.due`` holds the bell's, a log handler its own): a handler that takes such a lock waits for
    # itself forever. So the handlers only set flags: ``stop`` is an Event the main thread only ever reads
    # (``is_set`` takes no lock) and the loop looks at it every turn (``IDLE_WAIT``); ``_hup`` is read by
    # ``_tick``. Logging happens there, not here.

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self._signalled = signum
        self.stop.set()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._hup = True

    # -- main -------------------------------------------------------------------------------------------------

    def run(self) -> int:
        if os.geteuid() == 0 and not self.config.get("daemon.allow_root"):
            raise UserError(
                "refusing to run the daemon as root: it holds firewall credentials and talks to the network; "
                "run it as a dedicated user (see systemd/panos-upgrade.service) or set daemon.allow_root true"
            )
        with DaemonLock(self.paths.lock_file) as self._lock:
            store.atomic_write_text(self.paths.pid_file, f"{os.getpid()}\n")
            try:
                return self._run_locked()
            finally:
                self.paths.pid_file.unlink(missing_ok=True)

    def _run_locked(self) -> int:
        if self.install_signals:
            signal.signal(signal.SIGTERM, self._on_stop)
            signal.signal(signal.SIGINT, self._on_stop)
            signal.signal(signal.SIGHUP, self._on_hup)
        session = self.session_factory(self.paths, self.config, desired_path=self.desired_path)
        self.session = session
        watcher = Watcher(
            [watch_root(self.desired_path), self.paths.queue("pending"), self.paths.commands("incoming")],
            self.wakeup,
            # A new inventory (re-discovery by the CLI, or by this daemon) is a new input: plan again now.
            files=[self.paths.inventory_file],
        )
        watcher.start()
        try:
            broken = session.reconciler.load_records()
            for serial in broken:
                self.state.errors.append(f"status file of {serial} unusable; device left alone")
            self._tidy_up(session)
            self.state.state = "running"
            self._loop(session)
        finally:
            if self._signalled is not None:
                log.info("signal %d: stopping (no new work; running commands finish)", self._signalled)
            watcher.stop()
            self._discovery.cancel()
            self.state.state = "stopping"
            self._write_status(force=True)
            self._drain(session)
            self._finish_discovery()
            session.close()
            self.state.state = "stopped"
            self._write_status(force=True)
            sdnotify.notify("STOPPING=1")
        return 0

    def _tidy_up(self, session: Session) -> None:
        """Start-up, holding the lock: what a killed process or a careless writer left in the work directory.

        Temporary files of atomic writes interrupted by a SIGKILL (only ours, only in our directories), and
        job files dropped straight into ``queue/active`` (adopted through ``queue/pending``, or rejected)."""
        removed = store.remove_leftover_temp_files(self._work_directories())
        if removed:
            log.info("removed %d temporary file(s) left by an interrupted write: %s", len(removed),
                     ", ".join(str(p.relative_to(self.paths.root)) for p in removed[:20]))  # fmt: skip
        started = {r.job_id for r in session.executor.records.values() if r.job_id}
        for line in queue.adopt_stray_active(self.paths, started):
            log.warning("%s", line)
            store.audit(self.paths.audit_file, "job-found-in-active", detail=line)

    def _work_directories(self) -> list[Path]:
        dirs = self.paths.directories()
        for parent in (self.paths.validation_dir, self.paths.backups_dir):  # one folder per device
            with contextlib.suppress(OSError):
                dirs += [p for p in parent.iterdir() if p.is_dir() and not p.is_symlink()]
        return dirs

    def _loop(self, session: Session) -> None:
        """The engine's one reconcile loop, with the daemon's concerns as hooks: the resync timer (spread by
        jitter), file-event and signal wake-ups (debounced), re-discovery, the systemd watchdog, status files,
        and the lock note refreshed before every pass."""
        discovery_every = float(self.config.get("discovery.interval"))
        self._next_discovery = time.monotonic() + discovery_every if discovery_every > 0 else float("inf")
        self._watchdog = sdnotify.watchdog_interval()
        drive(
            session,
            stop=self.stop,
            until_settled=False,
            resync=float(self.config.get("daemon.resync_interval")),
            jitter=RESYNC_JITTER,
            wakeup=self.wakeup,
            debounce=WAKEUP_DEBOUNCE,
            on_tick=lambda: self._tick(session, discovery_every),
            before_pass=self._before_pass,
            on_pass=lambda report: self._after_pass(session, report),
            survive_errors=True,
        )

    def _tick(self, session: Session, discovery_every: float) -> bool:
        """Every turn of the loop: start a re-discovery when due (on its worker thread); once one ended, its
        result written (then a pass); the watchdog, the status files. The next re-discovery falls due
        ``discovery.interval`` seconds after the last one ended."""
        if time.monotonic() >= self._next_discovery and self._discovery.start():
            self._next_discovery = float("inf")  # until this one ends
        outcome = self._discovery.poll()
        due = outcome is not None
        if self._hup:
            self._hup = False
            log.info("SIGHUP: reloading the desired state")
            due = True  # every pass reloads it
        if outcome is not None:
            self._apply_discovery(outcome)
            self._next_discovery = time.monotonic() + discovery_every if discovery_every > 0 else float("inf")
        if self._watchdog is not None and time.monotonic() >= self._next_ping:
            sdnotify.notify("WATCHDOG=1")
            self._next_ping = time.monotonic() + self._watchdog
        self._write_status()
        return due

    def _before_pass(self) -> None:
        if self._lock is not None:
            self._lock.refresh()  # the lock itself is on the work directory; this only names its holder

    def _after_pass(self, session: Session, report: PassReport) -> None:
        """``last_reconcile`` in ``status/daemon.json``, and systemd's READY and STATUS."""
        result = report.result
        if report.crashed:
            self.state.last_reconcile = {
                "at": _now_iso(),
                "duration_s": 0.0,
                "result": "error",
                "error": report.crashed,
            }
            return
        ok = not result.error
        pending = sum(1 for d in result.plan.devices if d.action in CHANGE_ACTIONS) if result.plan else 0
        self.state.last_reconcile = {
            "at": _now_iso(),
            # When the pass began: a request taken by the intake at the end of this pass is applied by the
            # next one, which ``reconcile now`` and ``group suspend`` wait for (``jobs.reconcile_request``).
            "started_at": _iso_from_epoch(time.time() - report.seconds),
            "duration_s": round(report.seconds, 4),
            "result": "ok" if ok else "error",
            "error": result.error,
            "started": len(result.started),
            "changes_pending": pending,
        }
        if session.reconciler.desired is not None and not self._ready_sent:
            sdnotify.notify("READY=1")
            self._ready_sent = True
        in_flight = len(session.executor.in_flight())
        desired = session.reconciler.desired
        revision = (desired.revision or desired.digest[7:19]) if desired else "-"
        invalid = "; DESIRED STATE INVALID" if session.reconciler.desired_error else ""
        sdnotify.notify(
            f"STATUS=revision {revision}; {in_flight} in flight; {pending} changes pending{invalid}"
        )
        self._write_status(force=True)

    def _discover(self, cancel: threading.Event) -> Found:
        """One re-discovery, on the worker thread: reads the inventory, asks Panorama and the firewalls, and
        writes nothing (the loop's thread does, in ``_apply_discovery``)."""
        cfg = self.config
        old = inventory_store.load(self.paths, required=False)
        panorama, firewalls = discovery.connect(cfg, self.paths, old)
        session = self.session
        found = discovery.run(
            panorama,
            firewalls,
            workers=int(cfg.get("discovery.workers")),
            retry_attempts=int(cfg.get("discovery.retry_attempts")),
            now=_now_iso(),
            previous=old,
            cancel=cancel,
            connections=discovery.by_group(session.reconciler.desired if session else None),
        )
        return Found(old, found)

    def _apply_discovery(self, outcome: Outcome) -> None:
        """On the loop's thread: a re-discovery's result written to ``inventory.json`` (atomically; the file
        watcher then wakes a pass too), or its failure logged with the inventory kept."""
        exc = outcome.error
        if isinstance(exc, discovery.Cancelled):
            log.info("periodic discovery cancelled (daemon stopping); inventory unchanged")
            return
        if isinstance(exc, DeviceError | UserError | StoreError):
            log.warning("periodic discovery failed; keeping the current inventory: %s", exc)
            return
        if exc is not None or outcome.result is None:
            log.error("periodic discovery crashed; keeping the current inventory", exc_info=exc)
            return
        old, found = outcome.result.previous, outcome.result.found
        inv = found.inventory
        if found.auth_failed:
            log.warning(
                "periodic discovery: %d firewalls refused the firewall credentials (%s); their last known "
                "facts are kept, marked stale",
                len(found.auth_failed),
                ", ".join(found.auth_failed[:10]),
            )
        inventory_store.save(self.paths, inv)
        changes = discovery.diff(old, inv)
        self.state.last_discovery = _now_iso()
        if not changes.empty:
            log.info("re-discovery: %s", "; ".join(changes.lines()[:20]))
        log.debug("re-discovery took %.1f s", outcome.seconds)

    def _finish_discovery(self) -> None:
        """At a stop (the discovery already cancelled): wait a bounded time for it; a result it completed
        is written, one still running is abandoned (it writes nothing; its thread dies with the process)."""
        outcome = self._discovery.close(DISCOVERY_STOP_GRACE)
        if outcome is not None:
            self._apply_discovery(outcome)
        elif self._discovery.busy:
            log.warning(
                "periodic discovery still running after %.0f s; abandoned, inventory unchanged",
                DISCOVERY_STOP_GRACE,
            )

    def _drain(self, session: Session) -> None:
        """After a stop: let commands already running finish (their results are persisted), start nothing."""
        ex = session.executor
        ex.freeze()
        deadline = time.monotonic() + STOP_GRACE
        while ex.running_count() and time.monotonic() < deadline:
            ex.pump(max_wait=0.2)

    # -- status files -------------------------------------------------------------------------------------------

    def _write_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_status < 1.0:
            return
        self._last_status = now
        session = self.session
        if session is None:
            return
        rec, ex = session.reconciler, session.executor
        desired = rec.desired
        records = ex.records
        phases = Counter(r.phase.value for r in records.values())
        doc: dict[str, Any] = {
            "format_version": 1,
            "version": __version__,
            "pid": os.getpid(),
            "state": self.state.state,
            "started_at": self.state.started_at,
            "updated_at": _now_iso(),
            "work_dir": str(self.paths.root),
            "desired": {
                "path": str(self.desired_path),
                "valid": not rec.desired_error,
                "in_force": desired is not None,
                "revision": desired.revision if desired else None,
                "digest": desired.digest if desired else None,
                "loaded_at": _iso_from_epoch(rec.desired_loaded_at),
                "error": rec.desired_error,
            },
            "last_reconcile": self.state.last_reconcile,
            "last_discovery": self.state.last_discovery,
            "counts_by_phase": dict(sorted(phases.items())),
            "in_flight": len(ex.in_flight()),
            "stalled": [
                {"serial": r.serial, "phase": r.phase.value, "since": r.updated_at, "seconds": round(idle, 1)}
                for r, idle in sorted(ex.stalled(), key=lambda x: x[0].serial)
            ],
            "workers": {
                "busy": ex.running_count(),
                "max": rec.max_in_flight,
                "threads": ex._pool._max_workers,
            },
            "metrics": session.metrics_url,
        }
        store.atomic_write_json(self.paths.daemon_status_file, doc, schema="daemon-status")
        running = [
            {"serial": s, "command": d.running.name, "group": d.record.group}
            for s, d in sorted(ex.devices.items())
            if d.running is not None
        ]
        store.atomic_write_json(
            self.paths.workers_status_file,
            {"format_version": 1, "updated_at": doc["updated_at"], "busy": len(running), "running": running},
            schema="workers-status",
        )


def _now_iso() -> str:
    return iso(datetime.now(UTC))


def _iso_from_epoch(value: float | None) -> str | None:
    return iso(datetime.fromtimestamp(value, UTC)) if value else None
