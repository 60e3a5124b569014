"""Files dropped by others (job files, command files): read defensively, validate, accept or reject.

Nothing in a dropped file is trusted. A file is rejected, with no other effect, when it is a symlink or not a
regular file, is owned by another user (other than root), is larger than ``MAX_BYTES``, is not UTF-8 JSON,
or does not match its schema. A rejected file is moved to the ``rejected`` folder next to where it was
dropped, with ``<name>.reason`` explaining why, so nothing is lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.workdir import schemas, store

MAX_BYTES = 64 * 1024


class Rejected(Exception):
    """A dropped file that must not be acted on; the message says why."""


@dataclass(frozen=True)
class Dropped:
    path: Path
    data: dict[str, Any]


def pending_files(directory: Path) -> list[Path]:
    """Candidate files in a drop folder, oldest first; temp files (dot-prefixed) and reasons are skipped."""
    if not directory.is_dir():
        return []
    # Anything but a hidden temp file is taken in, so a wrongly named file is rejected with a reason instead
    # of lingering unseen.
    names = [p for p in directory.iterdir() if not p.name.startswith(".") and not p.name.endswith(".reason")]
    return sorted(names, key=lambda p: (_mtime(p), p.name))


def _mtime(p: Path) -> float:
    try:
        return p.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def read(path: Path, schema: str, *, allowed_uids: tuple[int, ...] | None = None) -> Dropped:
    """Read and validate one dropped file, or raise ``Rejected``."""
    if path.suffix != ".json":
        raise Rejected(f"{path.name}: not a .json file")
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise Rejected(f"{path.name}: vanished before it could be read") from None
    if stat.S_ISLNK(st.st_mode):
        raise Rejected(f"{path.name}: is a symbolic link (refused)")
    if not stat.S_ISREG(st.st_mode):
        raise Rejected(f"{path.name}: not a regular file")
    uids = allowed_uids if allowed_uids is not None else (os.getuid(), 0)
    if st.st_uid not in uids:
        raise Rejected(f"{path.name}: owned by uid {st.st_uid}, not by this service")
    if st.st_size > MAX_BYTES:
        raise Rejected(f"{path.name}: {st.st_size} bytes, larger than the {MAX_BYTES}-byte limit")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise Rejected(f"{path.name}: cannot open: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise Rejected(f"{path.name}: larger than the {MAX_BYTES}-byte limit")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise Rejected(f"{path.name}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise Rejected(f"{path.name}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        # A few kilobytes of '[' exhaust the decoder's stack; left unhandled, the file would stay in the
        # drop folder and stall every later file there.
        raise Rejected(f"{path.name}: invalid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise Rejected(f"{path.name}: top level must be a JSON object")
    problems = schemas.errors(schema, data)
    if problems:
        raise Rejected(f"{path.name}: " + "; ".join(problems[:10]))
    return Dropped(path, data)


def reject(path: Path, rejected_dir: Path, reason: str) -> Path:
    """Move ``path`` (the link itself, never its target) into ``rejected_dir`` and write ``.reason``."""
    rejected_dir.mkdir(parents=True, exist_ok=True)
    dest = _free_name(rejected_dir, path.name)
    with contextlib.suppress(FileNotFoundError):
        os.rename(path, dest)
    store.atomic_write_text(dest.with_name(dest.name + ".reason"), reason.rstrip() + "\n")
    return dest


def move(path: Path, directory: Path, name: str | None = None) -> Path:
    """Move a file into ``directory`` (same file system), never overwriting another file."""
    directory.mkdir(parents=True, exist_ok=True)
    dest = _free_name(directory, name or path.name)
    os.rename(path, dest)
    return dest


def _free_name(directory: Path, name: str) -> Path:
    dest = directory / name
    n = 1
    while dest.exists() or dest.is_symlink():
        stem, dot, suffix = name.partition(".")
        dest = directory / f"{stem}.{n}{dot}{suffix}"
        n += 1
    return dest
