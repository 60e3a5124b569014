"""One daemon per work directory: an exclusive ``flock`` on ``run/daemon.lock``.

The lock file also records who holds it (pid, host, start time) so a second start can say so. The kernel
releases the lock when the holder dies, so a crashed daemon never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from reconciler.errors import UserError


class AlreadyRunning(UserError):
    """Another process holds the work directory's daemon lock."""


@dataclass
class DaemonLock:
    path: Path
    _fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the daemon's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = _describe(fh.read())
            fh.close()
            raise AlreadyRunning(
                f"another daemon already runs on this work directory ({holder}); lock {self.path}"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started_at": datetime.now(UTC).isoformat(),
                }
            )
        )
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def holder(path: Path) -> dict[str, Any] | None:
    """Who holds the lock right now, or None if nobody does."""
    if not path.exists():
        return None
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                data = json.loads(fh.read() or "{}")
            except json.JSONDecodeError:
                data = {}
            return data if isinstance(data, dict) else {}
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return None


def _describe(text: str) -> str:
    try:
        data = json.loads(text)
        return f"pid {data['pid']} on {data['host']} since {data['started_at']}"
    except (json.JSONDecodeError, KeyError, TypeError):
        return "holder unknown"
