"""Device status files (``status/devices/<serial>.json``): the engine's records on disk.

Written atomically after every transition, read back (validated by ``schemas/device-status.schema.json``) on
start so that a restarted engine resumes. A torn or invalid file is reported and left in place, never
silently replaced: that device is not touched until an operator looks at it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.errors import StoreError
from reconciler.machine.pair import PairRecord
from reconciler.machine.records import DeviceRecord
from reconciler.workdir import logs, store
from reconciler.workdir.layout import WorkPaths

# The logger keeps the name it had before the package move: operators filter logs on it.
log = logs.get("reconciler.engine.record_store")


@dataclass(frozen=True)
class Loaded:
    records: dict[str, DeviceRecord] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # serial -> why its file could not be used


def load_all(paths: WorkPaths) -> Loaded:
    records: dict[str, DeviceRecord] = {}
    broken: dict[str, str] = {}
    directory = paths.device_status_dir
    if not directory.is_dir():
        return Loaded()
    for name in status_file_names(directory):
        file = directory / name
        found = load_reported(file)
        if isinstance(found, str):
            broken[file.stem] = found
        else:
            records[file.stem] = found
    return Loaded(records, broken)


def status_file_names(directory: Path) -> list[str]:
    """The status files' names as ``glob("*.json")`` finds them (hidden ones too), sorted as text: sorting
    10,000 Path objects cost more than a tenth of a second."""
    return sorted(entry.name for entry in os.scandir(directory) if entry.name.endswith(".json"))


def load_reported(file: Path) -> DeviceRecord | str:
    """The record in ``file``, or why it cannot be used (logged: the device is left alone)."""
    try:
        return load(file)
    except (StoreError, ValueError) as exc:
        log.error("device status %s unusable, device left alone: %s", file, exc, extra={"serial": file.stem})
        return str(exc)


def load(file: Path) -> DeviceRecord:
    data = store.read_json(file, schema="device-status")
    try:
        return DeviceRecord.from_json(data)
    except ValueError as exc:
        raise StoreError(f"{file}: {exc}") from exc


def save(paths: WorkPaths, record: DeviceRecord) -> None:
    """Write the record after a transition. Not validated here (``load`` validates): the codec's output is
    checked against the schema by the records' property tests, and validating every transition of every
    device cost the loop about a millisecond each, a fifth of its time on a large fleet."""
    store.atomic_write_json(paths.device_status_file(record.serial), record.to_json())


WRITER_THREADS = 4


class RecordWriter:
    """Writes device records on threads of its own, so that the engine's loop never waits for a disk.

    ``save(record)`` queues the record and returns at once; of several records of one device queued before
    a thread gets to it, only the newest is written (each is the whole state), and one device is never
    written by two threads at once. Each record is written as ``save`` does (temporary file, fsync,
    rename, directory fsync), ``threads`` at a time: the file system commits concurrent fsyncs together,
    so a burst of transitions (a restarted engine re-observing every working device) is on disk several
    times sooner than one file after the other. ``settle(serial)`` blocks until every record queued for
    the device is on disk, or raises ``StoreError`` if its last write failed: the executor calls it on the
    worker thread before running the device's next command, so a record is persisted before the command it
    asks for runs (a crash before then leaves the previous record, which resume re-observes from, and no
    command of the new one ran). ``flush()`` waits for everything queued; ``close()`` flushes and stops.
    """

    def __init__(self, paths: WorkPaths, threads: int = WRITER_THREADS) -> None:
        self.paths = paths
        self._cond = threading.Condition()
        self._queued: dict[str, DeviceRecord] = {}  # oldest first; a newer record keeps the device's place
        self._writing: set[str] = set()
        self._failed: dict[str, str] = {}
        self._closed = False
        self._size = max(1, threads)
        self._threads: list[threading.Thread] = []

    def save(self, record: DeviceRecord) -> None:
        with self._cond:
            if self._closed:
                raise StoreError(
                    f"{self.paths.device_status_file(record.serial)}: the record writer is closed"
                )
            self._queued[record.serial] = record
            self._failed.pop(record.serial, None)
            if len(self._threads) < min(self._size, len(self._queued) + len(self._writing)):
                thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._cond.notify_all()

    def settle(self, serial: str, timeout: float = 60.0) -> None:
        """Wait until ``serial``'s queued records are written; ``StoreError`` if the last write failed or
        did not end within ``timeout`` seconds."""
        with self._cond:
            done = self._cond.wait_for(
                lambda: serial not in self._queued and serial not in self._writing, timeout=timeout
            )
            if not done:
                raise StoreError(
                    f"{self.paths.device_status_file(serial)}: not written within {timeout:.0f} s"
                )
            why = self._failed.get(serial)
        if why is not None:
            raise StoreError(why)

    def discard(self, serial: str, timeout: float = 60.0) -> None:
        """Drop ``serial``'s queued record, wait for a write already under way, then delete its file: a
        record queued before would otherwise bring the file back after it was removed."""
        with self._cond:
            self._queued.pop(serial, None)
            self._failed.pop(serial, None)
            if not self._cond.wait_for(lambda: serial not in self._writing, timeout=timeout):
                raise StoreError(
                    f"{self.paths.device_status_file(serial)}: still being written after {timeout:.0f} s"
                )
            self.paths.device_status_file(serial).unlink(missing_ok=True)

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until everything queued is written (or ``timeout``); whether it was."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queued and not self._writing, timeout=timeout)

    def close(self, timeout: float = 60.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _next(self) -> tuple[str, DeviceRecord] | None:
        """The oldest queued record of a device no other thread is writing (called holding the lock)."""
        for serial in self._queued:
            if serial not in self._writing:
                self._writing.add(serial)
                return serial, self._queued.pop(serial)
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                item = self._next()
                while item is None:
                    if self._closed and not self._queued:
                        return
                    self._cond.wait()
                    item = self._next()
            serial, record = item
            why = None
            try:
                save(self.paths, record)
            except Exception as exc:  # reported to whoever waits for this device; the others go on
                why = f"{self.paths.device_status_file(serial)}: cannot write: {exc}"
                log.error("device status %s not written: %s", serial, exc, extra={"serial": serial})
            with self._cond:
                self._writing.discard(serial)
                if why is not None and serial not in self._queued:  # a newer record gets its own try
                    self._failed[serial] = why
                self._cond.notify_all()


def load_pairs(paths: WorkPaths) -> dict[str, PairRecord]:
    """HA pair coordination records (``status/pairs/*.json``); unusable ones are reported and skipped."""
    out: dict[str, PairRecord] = {}
    directory = paths.pair_status_dir
    if not directory.is_dir():
        return out
    for file in sorted(directory.glob("*.json")):
        try:
            pair = PairRecord.from_json(store.read_json(file))
        except (StoreError, ValueError, KeyError, TypeError) as exc:
            log.error("pair status %s unusable, pair left alone: %s", file, exc)
            continue
        out[pair.pair_id] = pair
    return out


def save_pair(paths: WorkPaths, pair: PairRecord) -> None:
    store.atomic_write_json(paths.pair_status_file(pair.pair_id), pair.to_json())
