"""The foreground progress view of ``apply`` and ``demo``: a live table on a terminal, one line per phase
change otherwise (so CI logs and pipes stay readable)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from reconciler.engine.session import Session
from reconciler.machine.records import DeviceRecord, Phase


class View(Protocol):
    def tick(self) -> None: ...


class _Lines:
    """Prints ``serial  phase  detail`` whenever a device's phase (or hop) changes (looked at most ten
    times a second: ``tick`` runs after every executor pump, hundreds of times a second on a big fleet)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: dict[str, tuple[DeviceRecord, tuple[str, int]]] = {}
        self.last = 0.0

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and not force:
            return
        self.last = now
        changed = []
        for serial, rec in self.session.executor.records.items():
            seen = self.seen.get(serial)
            if seen is not None and seen[0] is rec:
                continue
            key = (rec.phase.value, rec.current_path_index)
            self.seen[serial] = (rec, key)
            if seen is None or seen[1] != key:
                changed.append((serial, rec))
        for serial, rec in sorted(changed, key=lambda item: item[0]):
            print(f"  {serial:<14} {rec.hostname:<22} {_phase_text(rec)}", flush=True)


class _Live:
    def __init__(self, session: Session, live: Any) -> None:
        self.session = session
        self.live = live
        self.last = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        if now - self.last < 0.25:
            return
        self.last = now
        self.live.update(_table(self.session))


def _phase_text(rec: DeviceRecord) -> str:
    hop = (
        f"hop {min(rec.current_path_index + 1, len(rec.hops))}/{len(rec.hops)} {rec.hop.version}"
        if rec.hop
        else ""
    )
    pct = (
        f" {rec.progress}%"
        if rec.phase in (Phase.DOWNLOAD_BASE, Phase.DOWNLOAD_TARGET, Phase.INSTALL)
        else ""
    )
    err = f" ({rec.last_error.reason})" if rec.phase is Phase.FAILED and rec.last_error else ""
    return f"{rec.phase.value}{pct}{err}  {hop}".rstrip()


def _table(session: Session) -> Any:
    from rich.table import Table

    records = session.executor.records
    table = Table(title="panos-upgrade: devices in flight", expand=False)
    for col in ("serial", "hostname", "group", "phase", "hop", "progress"):
        table.add_column(col)
    active = [
        r for r in records.values() if r.phase not in (Phase.DONE, Phase.DOWNLOADED, Phase.DRY_RUN_COMPLETE)
    ]
    for rec in sorted(active, key=lambda r: (r.group, r.serial))[:40]:
        hop = (
            f"{min(rec.current_path_index + 1, len(rec.hops))}/{len(rec.hops)} {rec.hop.version}"
            if rec.hop
            else "-"
        )
        table.add_row(rec.serial, rec.hostname, rec.group, rec.phase.value, hop, f"{rec.progress}%")
    done = sum(
        1 for r in records.values() if r.phase in (Phase.DONE, Phase.DOWNLOADED, Phase.DRY_RUN_COMPLETE)
    )
    failed = sum(1 for r in records.values() if r.phase is Phase.FAILED)
    table.caption = f"{done} finished, {failed} failed, {len(active) - failed} in progress or waiting"
    return table


@contextmanager
def open_view(session: Session) -> Iterator[View]:
    if sys.stdout.isatty():
        from rich.live import Live

        with Live(_table(session), refresh_per_second=4, transient=False) as live:
            yield _Live(session, live)
    else:
        lines = _Lines(session)
        yield lines
        lines.tick(force=True)


Emit = Callable[[dict[str, Any]], None]


def transition_event(old: DeviceRecord | None, new: DeviceRecord) -> dict[str, Any] | None:
    """``apply --json``'s event for a persisted record: one per phase (or hop) change, None otherwise
    (``schemas/apply-events.schema.json``, event ``transition``)."""
    if old is not None and (old.phase, old.current_path_index) == (new.phase, new.current_path_index):
        return None
    hop = new.hop or (new.hops[-1] if new.hops else None)
    error = new.last_error if new.phase is Phase.FAILED else None
    return {
        "event": "transition",
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "serial": new.serial,
        "hostname": new.hostname,
        "group": new.group,
        "job_id": new.job_id or None,
        "from_phase": old.phase.value if old is not None else None,
        "phase": new.phase.value,
        "hop": hop.version if hop is not None else None,
        "hop_index": new.current_path_index,
        "hops": len(new.hops),
        "current_version": new.current_version or None,
        "target_version": new.target_version,
        "attempt": new.attempt,
        "dry_run": new.dry_run,
        "reason": error.reason if error is not None else None,
        "message": new.message,
    }


@contextmanager
def open_events(session: Session, emit: Emit) -> Iterator[View]:
    """``apply --json``: every phase change of a device as one JSON event (through ``emit``), chained
    after the engine's own transition hook (restored on exit)."""
    executor = session.executor
    chained = executor.on_transition

    def on_transition(old: DeviceRecord | None, new: DeviceRecord) -> None:
        if chained is not None:
            chained(old, new)
        event = transition_event(old, new)
        if event is not None:
            emit(event)

    executor.on_transition = on_transition
    try:
        yield _Quiet()
    finally:
        executor.on_transition = chained


class _Quiet:
    def tick(self) -> None:
        """Events are emitted as records are persisted, not on ticks."""


def summary_table(rows: Sequence[dict[str, object]]) -> str:
    header = ("group", "target", "devices", "converged", "failed", "held", "blocked", "duration_s")
    body = [[str(r.get(h, "") if r.get(h) is not None else "-") for h in header] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(line.rstrip() for line in lines)
