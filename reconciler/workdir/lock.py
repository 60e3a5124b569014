"""One daemon per work directory: an exclusive ``flock`` on the work directory itself.

``DaemonLock(path)`` takes ``path`` as ``<work dir>/run/daemon.lock``. The lock is held on ``<work dir>``,
opened ``O_RDONLY | O_DIRECTORY``: a directory cannot be unlinked from under its holder while it holds
the daemon's files, so deleting ``run/daemon.lock`` (or all of ``run/``) no longer lets a second daemon
start. The kernel releases the lock when the holder dies, so a crashed daemon never leaves a stale lock.

``run/daemon.lock`` is only a note of who holds the lock (pid, host, start time) so that a refusal can name
the holder. When that note is gone, the holder's pid is read from ``/proc/locks`` (Linux); the daemon also
writes the note again on its next pass (``DaemonLock.refresh``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.core.errors import UserError


class AlreadyRunning(UserError):
    """Another process holds the work directory's daemon lock."""


def _locked_dir(path: Path) -> Path:
    """The directory the lock is taken on: the work directory that holds ``run/daemon.lock``."""
    return path.parent.parent


@dataclass
class DaemonLock:
    path: Path
    _fd: int | None = None
    _note: str = field(default="", repr=False)

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = _open_dir(_locked_dir(self.path))
        except OSError as exc:
            raise UserError(
                f"cannot lock the work directory {_locked_dir(self.path)}: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(
                f"another daemon or apply already runs on the work directory {_locked_dir(self.path)} "
                f"({_describe(holder(self.path))}); stop it first ('panos-upgrade daemon stop')"
            ) from None
        self._fd = fd
        self._note = json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "started_at": datetime.now(UTC).isoformat()}
        )
        self._write_note()

    def refresh(self) -> None:
        """Write the holder's note again if someone removed or changed it (cheap: one read)."""
        if self._fd is None:
            return
        try:
            current = self.path.read_text(encoding="utf-8")
        except OSError:
            current = ""
        if current != self._note:
            self._write_note()

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                if self.path.read_text(encoding="utf-8") == self._note:
                    self.path.unlink()
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _write_note(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(self._note, encoding="utf-8")
        os.replace(tmp, self.path)

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def holder(path: Path) -> dict[str, Any] | None:
    """Who holds the lock right now (at least its pid when it can be told), or None if nobody does."""
    directory = _locked_dir(path)
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:  # no work directory (or not a directory): nobody can hold its lock
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            data = _read_note(path)
            if "pid" not in data:
                pid = _pid_from_proc_locks(os.fstat(fd))
                if pid is not None:
                    data = {"pid": pid}
            return data
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _open_dir(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _read_note(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pid_from_proc_locks(st: os.stat_result) -> int | None:
    """The pid holding a ``flock`` on the file ``st`` describes, from ``/proc/locks`` (Linux only).

    Lines read ``1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`` (device as hex major:minor, then inode);
    waiting requests are marked ``->`` and skipped."""
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted and fields[4].isdigit():
            return int(fields[4])
    return None


def _describe(data: dict[str, Any] | None) -> str:
    if not data or "pid" not in data:
        return "holder unknown"
    text = f"pid {data['pid']}"
    if "host" in data:
        text += f" on {data['host']}"
    if "started_at" in data:
        text += f" since {data['started_at']}"
    return text
