"""Device status files (``status/devices/<serial>.json``): the engine's records on disk.

Written atomically after every transition, read back (validated by ``schemas/device-status.schema.json``) on
start so that a restarted engine resumes. A torn or invalid file is reported and left in place, never
silently replaced: that device is not touched until an operator looks at it.
"""

from __future__ import annotations

import os
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
    # The names as ``glob("*.json")`` finds them (hidden ones too), sorted as text: sorting 10,000 Path
    # objects cost more than a tenth of a second.
    for name in sorted(entry.name for entry in os.scandir(directory) if entry.name.endswith(".json")):
        file = directory / name
        try:
            records[file.stem] = load(file)
        except (StoreError, ValueError) as exc:
            broken[file.stem] = str(exc)
            log.error(
                "device status %s unusable, device left alone: %s", file, exc, extra={"serial": file.stem}
            )
    return Loaded(records, broken)


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
