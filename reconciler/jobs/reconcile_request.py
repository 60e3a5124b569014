"""``panos-upgrade reconcile now``: ask the running daemon for a reconcile pass, without a signal.

The request is a command file (``{"command": "reconcile"}``, ``schemas/command-file.schema.json``) in
``commands/incoming``: the daemon watches that folder, so the file wakes its loop; the daemon reads it after
its next pass and writes its outcome (no devices) with the moment it took it (``applied_at``), and asks its
loop for another pass. The pass the caller waits for is the first one that *began* after that moment
(``status/daemon.json``, ``last_reconcile.started_at``): the pass whose intake took the request had planned
before it (a suspension written just before, say, was not yet seen), so it does not count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.core.errors import StoreError
from reconciler.jobs import operator_requests
from reconciler.workdir import lock, store
from reconciler.workdir.layout import WorkPaths


def running_daemon(paths: WorkPaths) -> Mapping[str, Any] | None:
    """The lock holder's note (pid, host) when a daemon runs in ``paths``; None when nothing holds the lock,
    or when a foreground ``apply`` holds it (it writes no pid file: it is not the daemon)."""
    holder = lock.holder(paths.lock_file)
    if holder is None or not paths.pid_file.exists():
        return None
    return holder


def foreground_apply(paths: WorkPaths) -> Mapping[str, Any] | None:
    """The lock holder's note when a foreground ``apply`` (not the daemon) holds the work directory."""
    holder = lock.holder(paths.lock_file)
    if holder is None or paths.pid_file.exists():
        return None
    return holder


def request_pass(paths: WorkPaths, by: str, now: datetime, reason: str = "") -> Path:
    """Drop a reconcile request into ``commands/incoming`` (atomically, schema-checked); returns its path."""
    data: dict[str, Any] = {
        "command": operator_requests.RECONCILE,
        "submitted_by": by,
        "timestamp": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    if reason:
        data["reason"] = reason
    return operator_requests.write_command(paths, data, now)


@dataclass(frozen=True)
class PassWait:
    """What became of a reconcile request: ``rejected`` (the reason), or ``taken_at`` (when the daemon took
    it) and ``last_reconcile`` (the first pass it finished after that moment), each None if not seen in
    time."""

    taken_at: str | None = None
    last_reconcile: Mapping[str, Any] | None = None
    rejected: str | None = None


def last_reconcile(paths: WorkPaths) -> Mapping[str, Any] | None:
    """``last_reconcile`` of ``status/daemon.json`` (None if no status yet or unreadable)."""
    try:
        doc = store.read_json(paths.daemon_status_file, schema="daemon-status")
    except (FileNotFoundError, StoreError):
        return None
    value = doc.get("last_reconcile")
    return value if isinstance(value, dict) else None


def wait_for_pass(
    paths: WorkPaths,
    name: str,
    timeout: float,
    *,
    poll: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PassWait:
    """Wait (up to ``timeout`` seconds in all) for the daemon to take the request ``name`` and then for a
    pass that began after it took it (timestamps are ISO 8601 UTC with milliseconds, so they compare
    as text)."""
    deadline = clock() + timeout
    taken = operator_requests.wait_reported(paths, name, timeout, poll=poll, clock=clock, sleep=sleep)
    if taken is None:
        return PassWait()
    if taken.rejected is not None:
        return PassWait(rejected=taken.rejected)
    applied_at = _applied_at(paths, name)
    while True:
        seen = last_reconcile(paths)
        if seen is not None and applied_at is not None and str(seen.get("started_at") or "") > applied_at:
            return PassWait(applied_at, seen)
        if clock() >= deadline:
            return PassWait(applied_at)
        sleep(poll)


def _applied_at(paths: WorkPaths, name: str) -> str | None:
    outcome = paths.commands("processed") / (Path(name).stem + ".outcome.json")
    try:
        data = store.read_json(outcome, schema=operator_requests.OUTCOME_SCHEMA)
    except (FileNotFoundError, StoreError):
        return None
    return str(data["applied_at"])
