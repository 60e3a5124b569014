"""A rollback run in the foreground (``device rollback``, ``group rollback``) when no daemon runs.

A rollback changes a device's software, so it needs the engine: with a daemon (or ``apply``) running, the
command file waits in ``commands/incoming`` for it (``operator_requests.apply_now`` leaves rollbacks there).
With none, ``run_now`` takes the work directory's lock (so no daemon starts half-way), applies the waiting
command files (the others as ``apply_now`` would, on the status files), starts each rollback exactly as the
daemon does (``Imperative.command``: ``reconciler.machine.rollback`` decides, the state machine and the HA
pair coordinator run it), and pumps the executor until the devices it started rest. Only those devices are
in this engine: nothing else is resumed, planned or started.

The wait is bounded by ``timeout``; every wait of the machine is bounded by its own settings as well (job
stall, reboot, HA rejoin). A rollback still running at the timeout (or at Ctrl-C) is left as its status file
says: the next daemon or ``apply`` resumes it from there, as after any stop.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.engine.reconcile import utc_now
from reconciler.engine.session import open_session
from reconciler.jobs import operator_requests
from reconciler.machine import MachineSettings
from reconciler.machine.records import DeviceRecord
from reconciler.workdir import lock, logs
from reconciler.workdir.config import Config
from reconciler.workdir.inventory_store import load as load_inventory
from reconciler.workdir.layout import WorkPaths

log = logs.get(__name__)

PUMP_WAIT = 0.2


@dataclass(frozen=True)
class Ran:
    """What ``run_now`` did: the outcome of every command file it applied (``holder``: the lock's holder
    when a daemon or ``apply`` runs, and nothing was done here), the records of the devices it rolled back
    as they ended, and whether it stopped at the timeout with work still in motion."""

    outcomes: tuple[operator_requests.Outcome, ...] = ()
    records: Mapping[str, DeviceRecord] = field(default_factory=dict)
    timed_out: bool = False
    holder: Mapping[str, Any] | None = None

    def for_file(self, name: str) -> operator_requests.Outcome | None:
        return next((o for o in self.outcomes if o.request.file.name == name), None)


def run_now(paths: WorkPaths, config: Config, *, desired_path: Path, timeout: float) -> Ran:
    """Apply the waiting command files and run their rollbacks to the end, unless a daemon runs."""
    work_lock = lock.DaemonLock(paths.lock_file)
    try:
        work_lock.acquire()
    except lock.AlreadyRunning:
        return Ran(holder=lock.holder(paths.lock_file) or {})
    try:
        return _run(paths, config, desired_path, timeout)
    finally:
        work_lock.release()


def _run(paths: WorkPaths, config: Config, desired_path: Path, timeout: float) -> Ran:
    inventory = load_inventory(paths, required=False)
    now = utc_now()
    requests = operator_requests.read_incoming(paths, inventory=inventory, now=now)
    rollbacks = [r for r in requests if r.command == operator_requests.ROLLBACK]
    others = [r for r in requests if r.command != operator_requests.ROLLBACK]
    settings = MachineSettings.from_config(config)
    outcomes = list(operator_requests.apply_offline(paths, others, now, settings, inventory=inventory))
    if not rollbacks:
        return Ran(tuple(outcomes))
    session = open_session(paths, config, desired_path=desired_path, serve_metrics=False)
    try:
        rec = session.reconciler
        rec.reload_desired()  # the devices' group settings: readiness checks, margins, disk
        rec.inventory = inventory
        imperative = session.imperative
        assert imperative is not None
        imperative.applied_by = "cli"
        started: set[str] = set()
        for request in rollbacks:
            outcome = imperative.command(request, inventory, now)
            outcomes.append(outcome)
            started.update(d.serial for d in outcome.devices if d.result == operator_requests.APPLIED)
        deadline = time.monotonic() + timeout
        ex = session.executor
        while ex.busy() and time.monotonic() < deadline:
            ex.pump(max_wait=PUMP_WAIT)
        timed_out = ex.busy()
        if timed_out:
            log.warning("rollback still in motion after %g s; the next daemon or apply resumes it", timeout)
        records = {s: r for s in sorted(started) if (r := ex.record(s)) is not None}
        return Ran(tuple(outcomes), records, timed_out)
    finally:
        session.close()
