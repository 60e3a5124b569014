"""What a rollout did, per device, from the work directory (``panos-upgrade report``).

Read only: the device status files (``status/devices``), the audit log (phase changes with their times, hence
the time spent in each phase of each hop) and the snapshot comparisons (``validation/<serial>/*-compare.json``:
pre/post counts and the margin each was held to). Every text comes from files others may have written
(hostnames from Panorama, failure messages from devices): renderers must escape it; secrets the process knows
are scrubbed here.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.core.errors import StoreError
from reconciler.workdir import logs, store
from reconciler.workdir.layout import WorkPaths

MAX_AUDIT_BYTES = 256 * 1024 * 1024  # a report reads the audit log once; a larger one is read up to this


@dataclass(frozen=True)
class CheckRow:
    """One pre/post comparison: counts before and after, the drop seen and the drop allowed (percent)."""

    name: str
    before: int | None
    after: int | None
    allowed_drop_pct: float | None
    passed: bool
    detail: str

    @property
    def drop_pct(self) -> float | None:
        if self.before is None or self.after is None or self.before <= 0:
            return None
        return round(100.0 * (self.before - self.after) / self.before, 1)


@dataclass(frozen=True)
class HopRow:
    """One hop of a device: its version, when it ran, how it ended, time per phase, its comparison."""

    index: int
    version: str
    started_at: str | None
    finished_at: str | None
    outcome: str
    phase_seconds: Mapping[str, float] = field(default_factory=dict)
    checks: tuple[CheckRow, ...] = ()

    @property
    def seconds(self) -> float | None:
        return seconds_between(self.started_at, self.finished_at)


@dataclass(frozen=True)
class DeviceRow:
    serial: str
    hostname: str
    group: str
    job_id: str
    mode: str
    status: str
    starting_version: str
    current_version: str
    target_version: str
    attempt: int
    started_at: str | None
    finished_at: str | None
    hops: tuple[HopRow, ...]
    failure_reason: str = ""
    failure_phase: str = ""
    failure_message: str = ""
    revision: str = ""

    @property
    def seconds(self) -> float | None:
        return seconds_between(self.started_at, self.finished_at)


@dataclass(frozen=True)
class Rollout:
    devices: tuple[DeviceRow, ...]
    unreadable: tuple[str, ...] = ()  # status files that could not be used

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(d.status for d in self.devices).items()))

    @property
    def failed(self) -> list[DeviceRow]:
        return [d for d in self.devices if d.status == "failed"]

    @property
    def revisions(self) -> list[str]:
        return sorted({d.revision for d in self.devices if d.revision})


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return round((_time(end) - _time(start)).total_seconds(), 1)
    except ValueError:
        return None


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def collect(paths: WorkPaths, groups: Iterable[str] = ()) -> Rollout:
    """The rollout as the work directory records it: every device with a status file (of ``groups`` only,
    when given), sorted by group, then hostname and serial."""
    wanted = set(groups)
    records: dict[str, dict[str, Any]] = {}
    unreadable = []
    directory = paths.device_status_dir
    for file in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            data = store.read_json(file, schema="device-status")
        except (StoreError, ValueError) as exc:
            unreadable.append(f"{file.name}: {logs.scrub(str(exc))}")
            continue
        if wanted and str(data.get("group") or "") not in wanted:
            continue
        records[str(data["serial"])] = data
    phases = _phase_seconds(paths, set(records))
    rows = [_device(paths, data, phases.get(serial, {})) for serial, data in records.items()]
    rows.sort(key=lambda d: (d.group, d.hostname, d.serial))
    return Rollout(tuple(rows), tuple(unreadable))


def _device(paths: WorkPaths, data: Mapping[str, Any], phases: Mapping[tuple[str, str], float]) -> DeviceRow:
    serial = str(data["serial"])
    compares = _comparisons(paths, serial)
    hops = []
    history = data.get("history") or []
    for i, done in enumerate(history):
        version = str(done.get("version"))
        hops.append(
            HopRow(
                index=i + 1,
                version=version,
                started_at=done.get("started_at"),
                finished_at=done.get("finished_at"),
                outcome=str(done.get("outcome")),
                phase_seconds=_of_hop(phases, version),
                checks=_checks_of(compares, i, version),
            )
        )
    path = [h.get("version") for h in data.get("hops") or []]
    index = int(data.get("current_path_index") or 0)
    status = str(data.get("upgrade_status"))
    if index < len(path) and status not in ("done", "downloaded", "skipped", "dry_run_complete"):
        version = str(path[index])
        ended = status in ("failed", "held", "cancelled")
        hops.append(
            HopRow(
                index=len(hops) + 1,
                version=version,
                started_at=data.get("hop_started_at"),
                finished_at=data.get("updated_at") if ended else None,
                outcome=status,
                phase_seconds=_of_hop(phases, version),
                checks=_checks_of(compares, index, version),
            )
        )
    error = data.get("last_error") or {}

    def text(key: str) -> str:
        return logs.scrub(str(data.get(key) or ""))

    return DeviceRow(
        serial=serial,
        hostname=text("hostname"),
        group=text("group"),
        job_id=text("job_id"),
        mode=text("mode"),
        status=status,
        starting_version=text("starting_version"),
        current_version=text("current_version"),
        target_version=text("target_version"),
        attempt=int(data.get("attempt") or 1),
        started_at=data.get("started_at"),
        finished_at=data.get("finished_at"),
        hops=tuple(hops),
        failure_reason=logs.scrub(str(error.get("reason") or "")) if status == "failed" else "",
        failure_phase=logs.scrub(str(error.get("phase") or "")) if status == "failed" else "",
        failure_message=logs.scrub(str(error.get("message") or "")) if status == "failed" else "",
        revision=text("desired_revision"),
    )


def _of_hop(phases: Mapping[tuple[str, str], float], version: str) -> dict[str, float]:
    return {phase: round(s, 1) for (hop, phase), s in phases.items() if hop == version}


def _phase_seconds(paths: WorkPaths, serials: set[str]) -> dict[str, dict[tuple[str, str], float]]:
    """Seconds each device spent in each (hop, phase), from consecutive ``phase`` entries of the audit log
    (its latest attempt only: an entry with a lower attempt number than one seen before starts nothing)."""
    entries: dict[str, list[tuple[str, int, str, str]]] = {}
    try:
        with paths.audit_file.open("r", encoding="utf-8", errors="replace") as fh:
            text = fh.read(MAX_AUDIT_BYTES)
    except FileNotFoundError:
        return {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("action") != "phase" or entry.get("dry_run"):
            continue
        serial = entry.get("serial")
        if serial not in serials:
            continue
        raw = entry.get("attempt")
        attempt = raw if isinstance(raw, int) else 1
        entries.setdefault(str(serial), []).append(
            (
                str(entry.get("ts") or ""),
                attempt,
                str(entry.get("hop") or ""),
                str(entry.get("to_phase") or ""),
            )
        )
    out: dict[str, dict[tuple[str, str], float]] = {}
    for serial, rows in entries.items():
        latest = max(a for _, a, _, _ in rows)
        rows = [r for r in rows if r[1] == latest]
        spent: dict[tuple[str, str], float] = {}
        for (ts, _, hop, phase), (next_ts, _, _, _) in itertools.pairwise(rows):
            seconds = seconds_between(ts, next_ts)
            if seconds is not None and phase:
                spent[(hop, phase)] = spent.get((hop, phase), 0.0) + seconds
        out[serial] = spent
    return out


def _comparisons(paths: WorkPaths, serial: str) -> dict[tuple[int, str], tuple[CheckRow, ...]]:
    """The comparison files of a device, by (hop index, version): ``hop<N>-<version>-compare.json``, only
    from the device's own validation folder (a path recorded elsewhere is never followed)."""
    out: dict[tuple[int, str], tuple[CheckRow, ...]] = {}
    folder = paths.validation_for(serial)
    if not folder.is_dir():
        return out
    for file in sorted(folder.glob("hop*-compare.json")):
        key = _hop_key(file)
        if key is None or file.is_symlink():
            continue
        try:
            doc = store.read_json(file)
        except (StoreError, ValueError):
            continue
        rows = []
        for check in doc.get("checks") or []:
            if not isinstance(check, dict):
                continue
            rows.append(
                CheckRow(
                    name=str(check.get("name") or ""),
                    before=_int_or_none(check.get("before")),
                    after=_int_or_none(check.get("after")),
                    allowed_drop_pct=_float_or_none(check.get("allowed_drop_pct")),
                    passed=bool(check.get("passed")),
                    detail=logs.scrub(str(check.get("detail") or "")),
                )
            )
        out[key] = tuple(rows)
    return out


def _checks_of(
    compares: Mapping[tuple[int, str], tuple[CheckRow, ...]], index: int, version: str
) -> tuple[CheckRow, ...]:
    """The comparison of hop ``index`` to ``version``, else the latest one made for that version."""
    if (index, version) in compares:
        return compares[(index, version)]
    found = [rows for (_, v), rows in sorted(compares.items()) if v == version]
    return found[-1] if found else ()


def _hop_key(file: Path) -> tuple[int, str] | None:
    stem = file.name[: -len("-compare.json")]
    head, sep, version = stem.partition("-")
    if not sep or not head.startswith("hop") or not head[3:].isdigit():
        return None
    return int(head[3:]), version


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
