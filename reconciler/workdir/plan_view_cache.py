"""The planner's view of each device status file, kept between runs (``status/plan-view-cache.json``).

``plan`` and ``group status`` see every ``status/devices/<serial>.json`` through
``reconciler.machine.plan_view`` (``progress_of``, ``observed_of``). Reading 10,000 files the engine's way
(JSON, schema check, ``DeviceRecord.from_json``) cost about 1.8 s of CPU, half of a ``plan`` of that fleet
(issue 18.5), while most files had not changed since the last ``plan``. ``load(paths)`` gives exactly what
reading every file would give; for a file unchanged since it was last read it takes the view from this
cache instead of reading it.

When an entry is trusted, and when it is not:

- An entry is used only while the file's identity (inode, size, modification and change times in
  nanoseconds, as ``stat`` reports them) is the one recorded. Records are replaced by rename (a new inode
  and change time) and any write in place sets the change time, which no program can set back (only a
  clock stepped back can). A file whose identity differs, or whose entry does not decode, is read the
  normal way, validated as the engine validates it.
- A file changed within ``RACY_MARGIN_NS`` of the start of the reading is not cached: file times are taken
  from a coarse clock, so a file rewritten twice within one tick, its old inode reused, could otherwise
  show a recorded identity again (git's "racily clean" entries).
- An unusable file (torn, invalid) is never cached: it is read, reported and logged each time, as before.
- The cache belongs to the code that made it: a fingerprint of the sources of the core, the machines and
  the work-directory modules, the device-status schema and the Python version (the view depends on them)
  heads the file. The entries carry a checksum. A cache that cannot be read, of another fingerprint, or
  whose checksum is wrong is ignored whole and rebuilt: never fatal, never trusted over the files.
- It is rewritten (atomically) only when it changed; a work directory the reader may not write (another
  user's, read-only) is read without it. Nothing but ``load`` reads it: deleting it costs one slow read.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import reconciler
from reconciler.core.observed import Observed
from reconciler.core.progress import DeviceProgress
from reconciler.core.upgrade_path import PathHop
from reconciler.core.version import PanOsVersion
from reconciler.machine.plan_view import observed_of, progress_of
from reconciler.workdir import logs, record_store, schemas, store
from reconciler.workdir.layout import WorkPaths

log = logs.get("reconciler.workdir.plan_view_cache")

FORMAT = 1
RACY_MARGIN_NS = 2_000_000_000
# The packages whose code turns a status file into its view (records, schema check, plan_view, the values).
_SOURCES = ("core", "machine", "workdir")

Entry = list[Any]  # [st_ino, st_size, st_mtime_ns, st_ctime_ns, progress, observed]


@dataclass(frozen=True)
class Views:
    """The planner's view of every usable status file, in file-name order, and why the others are not."""

    views: tuple[tuple[DeviceProgress, Observed], ...] = ()
    broken: dict[str, str] = field(default_factory=dict)  # file stem -> why (as record_store.load_all)


def load(paths: WorkPaths, *, clock_ns: Callable[[], int] = time.time_ns) -> Views:
    """Every status file's view, from the cache where the file is unchanged (see the module docstring)."""
    directory = paths.device_status_dir
    if not directory.is_dir():
        return Views()
    started = clock_ns()
    cache_file = paths.plan_view_cache_file
    fingerprint = code_fingerprint()
    cached = _read(cache_file, fingerprint)
    entries: dict[str, Entry] = {}
    views: list[tuple[DeviceProgress, Observed]] = []
    broken: dict[str, str] = {}
    added = 0
    base = str(directory)
    decoder = _Decoder()
    for name in record_store.status_file_names(directory):
        try:
            st = os.stat(os.path.join(base, name))  # no Path per file: 10,000 of them cost
        except OSError:
            st = None  # read below as the engine reads it (which reports or raises as it always did)
        identity = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) if st is not None else None
        raw = cached.get(name)
        if raw is not None and identity is not None:
            try:
                if tuple(raw[:4]) == identity:
                    views.append(decoder.decode(raw[4], raw[5]))
                    entries[name] = raw
                    continue
            except (ValueError, TypeError, IndexError, KeyError):  # not what encode wrote: read the file
                pass
        file = directory / name
        found = record_store.load_reported(file)
        if isinstance(found, str):
            broken[file.stem] = found
            continue
        view = (progress_of(found), observed_of(found))
        views.append(view)
        if identity is not None and max(identity[2], identity[3]) < started - RACY_MARGIN_NS:
            entries[name] = [*identity, *encode(*view)]
            added += 1
    if added or len(entries) != len(cached):
        _write(cache_file, fingerprint, entries)
    return Views(tuple(views), broken)


@cache
def code_fingerprint() -> str:
    """What the views depend on besides the files: the sources of the core, the machines and the
    work-directory modules, the device-status schema and the Python version."""
    digest = hashlib.blake2b(sys.version.encode(), digest_size=16)
    package = Path(reconciler.__file__).parent
    for name in _SOURCES:
        for source in sorted((package / name).glob("*.py")):
            digest.update(f"\0{name}/{source.name}\0".encode())
            digest.update(source.read_bytes())
    digest.update(b"\0schema\0")
    digest.update((schemas.schema_dir() / "device-status.schema.json").read_bytes())
    return digest.hexdigest()


def _read(cache_file: Path, fingerprint: str) -> dict[str, Entry]:
    """The cache's entries, or none if it is missing, torn, of other code, or fails its checksum."""
    try:
        data = cache_file.read_bytes()
        head, _, body = data.partition(b"\n")
        header = json.loads(head)
        if (
            not isinstance(header, dict)
            or header.get("format") != FORMAT
            or header.get("fingerprint") != fingerprint
            or header.get("checksum") != _checksum(body)
        ):
            return {}
        entries = json.loads(body)
    except (OSError, ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return {}
    return entries if isinstance(entries, dict) else {}


def _write(cache_file: Path, fingerprint: str, entries: dict[str, Entry]) -> None:
    body = json.dumps(entries, separators=(",", ":"))  # ASCII: non-ASCII text is escaped
    header = json.dumps({"format": FORMAT, "fingerprint": fingerprint, "checksum": _checksum(body.encode())})
    try:
        store.atomic_write_text(cache_file, f"{header}\n{body}\n")
    except OSError as exc:  # a work directory this user may only read: planning goes on without a cache
        log.debug("plan view cache %s not written: %s", cache_file, exc)


def _checksum(body: bytes) -> str:
    return hashlib.blake2b(body.rstrip(b"\n"), digest_size=16).hexdigest()


# -- the codec: DeviceProgress and Observed as JSON lists, strict on the way back -------------------------------
# Lists of versions and hops are single strings ("11.0.0,11.0.6"; "11.0.6=11.0.0,11.0.6;11.1.6-h1=..."):
# versions hold none of ",;=", and a decoder makes each distinct one once (most devices share them).


def encode(progress: DeviceProgress, observed: Observed) -> tuple[list[Any], list[Any]]:
    p = progress
    o = observed
    return (
        [
            p.serial,
            p.category,
            _version_text(p.target),
            p.desired_revision,
            _version_text(p.starting_version),
            p.reason,
            _time_text(p.finished_at),
            _version_text(p.current_version),
            _time_text(p.updated_at),
            p.download_only,
            p.resting,
            p.group_digest,
            ";".join(f"{h.version}={_versions_text(h.images)}" for h in p.hops),
            _version_text(p.rolled_back_from),
            _version_text(p.rollback_holds),
        ],
        [
            _version_text(o.version),
            None if o.available is None else _versions_text(o.available),
            None if o.downloaded is None else _versions_text(o.downloaded),
            o.reachable,
            o.ha_state,
            o.ha_synced,
            _time_text(o.observed_at),
        ],
    )


def decode(progress: Any, observed: Any) -> tuple[DeviceProgress, Observed]:
    """The inverse of ``encode``; ``ValueError``/``TypeError``/``IndexError`` for anything it did not write."""
    return _Decoder().decode(progress, observed)


class _Decoder:
    """``decode`` with the values it made kept by their text (values are immutable: shared safely)."""

    def __init__(self) -> None:
        self._versions: dict[str, PanOsVersion] = {}
        self._lists: dict[str, tuple[PanOsVersion, ...]] = {}
        self._hops: dict[str, tuple[PathHop, ...]] = {}
        self._times: dict[str, datetime] = {}

    def decode(self, progress: Any, observed: Any) -> tuple[DeviceProgress, Observed]:
        (serial, category, target, revision, starting, reason, finished, current, updated, download_only,
         resting, digest, hops, rolled_back_from, holds) = progress  # fmt: skip
        version, available, downloaded, reachable, ha_state, ha_synced, observed_at = observed
        return (
            DeviceProgress(
                serial=_text(serial),
                category=_text(category),
                target=self.version(target),
                desired_revision=_text(revision),
                starting_version=self.version(starting),
                reason=_text(reason),
                finished_at=self.time(finished),
                current_version=self.version(current),
                updated_at=self.time(updated),
                download_only=_flag(download_only),
                resting=_flag(resting),
                group_digest=_text(digest),
                hops=self.hops(hops),
                rolled_back_from=self.version(rolled_back_from),
                rollback_holds=self.version(holds),
            ),
            Observed(
                version=self.version(version),
                available=None if available is None else self.versions(available),
                downloaded=None if downloaded is None else self.versions(downloaded),
                reachable=_flag(reachable),
                ha_state=None if ha_state is None else _text(ha_state),
                ha_synced=None if ha_synced is None else _flag(ha_synced),
                observed_at=self.time(observed_at),
            ),
        )

    def version(self, text: Any) -> PanOsVersion | None:
        if text is None:
            return None
        found = self._versions.get(text)
        if found is None:
            found = self._versions[text] = PanOsVersion.parse(_text(text))
        return found

    def versions(self, text: Any) -> tuple[PanOsVersion, ...]:
        found = self._lists.get(text)
        if found is None:
            text = _text(text)
            found = tuple(PanOsVersion.parse(v) for v in text.split(",")) if text else ()
            self._lists[text] = found
        return found

    def hops(self, text: Any) -> tuple[PathHop, ...]:
        found = self._hops.get(text)
        if found is None:
            text = _text(text)
            found = ()
            for hop in text.split(";") if text else ():
                version, equals, images = hop.partition("=")
                if not equals:
                    raise ValueError(f"not a hop: {hop!r}")
                found += (PathHop(PanOsVersion.parse(version), self.versions(images)),)
            self._hops[text] = found
        return found

    def time(self, text: Any) -> datetime | None:
        if text is None:
            return None
        found = self._times.get(text)
        if found is None:
            found = datetime.fromisoformat(_text(text))
            if found.tzinfo is None:  # encode writes aware times only
                raise ValueError("a time without its offset")
            self._times[text] = found
        return found


def _version_text(value: PanOsVersion | None) -> str | None:
    return None if value is None else str(value)


def _versions_text(values: tuple[PanOsVersion, ...]) -> str:
    return ",".join(map(str, values))


def _time_text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _text(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _flag(value: Any) -> bool:
    if type(value) is not bool:
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value
