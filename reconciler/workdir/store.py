"""Atomic JSON files and the append-only audit log.

Writers never leave a torn file: data goes to a temporary file in the same directory, is fsynced, and is
renamed over the target (rename is atomic on POSIX within one file system); the directory is fsynced so the
rename survives a crash. Files are 0640 unless told otherwise: the owner and its group (the web
application's) read them, nobody else (status files carry device names, addresses and errors). Readers
validate against a schema when one is named; a torn or invalid file is reported as ``StoreError`` naming
the file, and is never silently replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.core.errors import StoreError
from reconciler.workdir import schemas

_audit_lock = threading.Lock()


def atomic_write_text(path: Path, text: str, *, mode: int = 0o640) -> None:
    """Replace ``path`` with ``text`` atomically, with permissions ``mode``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, data: Any, *, mode: int = 0o640, schema: str | None = None) -> None:
    """Validate ``data`` against ``schema`` (if given), then write it atomically as indented JSON."""
    if schema is not None:
        problems = schemas.errors(schema, data)
        if problems:
            raise StoreError(f"refusing to write {path}: does not match {schema} schema: {problems[0]}")
    atomic_write_text(Path(path), json.dumps(data, indent=2, sort_keys=False) + "\n", mode=mode)


# The temporary files this module (``.<name>.<8 random>.tmp``, mkstemp's) and the queue's staging
# (``.<job>.json.staged``) leave behind when a process is killed between writing and renaming.
_LEFTOVER = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$|^\..+\.json\.staged$")


def remove_leftover_temp_files(directories: Iterable[Path], *, older_than: float = 60.0) -> list[Path]:
    """Remove our own temporary files (``_LEFTOVER``, regular files only) from ``directories`` (not their
    subdirectories) when last written more than ``older_than`` seconds ago: a write still in progress by
    another command is never touched. Returns what was removed."""
    removed = []
    cutoff = time.time() - older_than
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if not _LEFTOVER.match(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except FileNotFoundError:
                continue
    return removed


def read_json(path: Path, *, schema: str | None = None) -> Any:
    """Read a JSON file; raise ``StoreError`` naming the file if it is unreadable, torn or invalid."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: cannot read: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except RecursionError:
        raise StoreError(f"{path}: invalid JSON: nested too deeply") from None
    if schema is not None:
        problems = schemas.errors(schema, data)
        if problems:
            raise StoreError(f"{path}: does not match {schema} schema: {'; '.join(problems[:5])}")
    return data


def append_jsonl(path: Path, record: Mapping[str, Any]) -> None:
    """Append one JSON line with a single ``write`` on an ``O_APPEND`` descriptor, then fsync."""
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _audit_lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def audit(path: Path, action: str, *, actor: str = "panos-upgrade", **fields: Any) -> None:
    """Record one action taken (or refused) on a device or on the system in ``audit/audit.jsonl``."""
    record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "action": action, "actor": actor}
    record.update(fields)
    append_jsonl(path, record)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
