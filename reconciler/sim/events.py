"""The simulator's event log (``DIR/events.jsonl``) and its API call counters.

One JSON object per line, one line per state change::

    {"seq": 12, "sim_time": 431.27, "wall_time": 1732694400.123, "serial": "010100000003",
     "event": "download_end", "version": "10.2.9", "result": "OK", "job": 4}

``sim_time`` is the exact simulated second the change happened (for scheduled changes, the due time),
``wall_time`` the real epoch time it was written. Tests use the log as an oracle ("both HA members were
never down at once"); docs/simulator.md lists every event kind and its fields.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import IO, Any

from reconciler.sim.clock import Clock


class EventLog:
    """Append-only, line-buffered JSON lines; also readable back as dicts."""

    def __init__(self, path: Path | None, clock: Clock) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self._fh: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("a", encoding="utf-8", buffering=1)
        self._memory: list[dict[str, Any]] | None = None if path is not None else []

    def emit(self, event: str, serial: str = "", *, sim_time: float | None = None, **fields: Any) -> None:
        t = self._clock.now() if sim_time is None else sim_time
        with self._lock:
            self._seq += 1
            record: dict[str, Any] = {
                "seq": self._seq,
                "sim_time": round(t, 3),
                "wall_time": round(self._clock.wall(), 3),
                "serial": serial,
                "event": event,
            }
            record.update(fields)
            if self._fh is not None:
                self._fh.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
            elif self._memory is not None:
                self._memory.append(record)

    def read(self) -> list[dict[str, Any]]:
        """Every event written so far, in order."""
        with self._lock:
            if self._memory is not None:
                return [dict(r) for r in self._memory]
            if self._fh is not None:
                self._fh.flush()
        if self.path is None or not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


class ApiCounters:
    """API calls per device per command (``keygen``, ``op:show system info``, ``config:get``, ...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = defaultdict(Counter)

    def count(self, serial: str, command: str) -> None:
        with self._lock:
            self._counts[serial][command] += 1

    def of(self, serial: str) -> dict[str, int]:
        with self._lock:
            return dict(self._counts.get(serial, {}))

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {serial: dict(c) for serial, c in self._counts.items()}

    def total(self, serial: str | None = None) -> int:
        with self._lock:
            if serial is not None:
                return sum(self._counts.get(serial, Counter()).values())
            return sum(sum(c.values()) for c in self._counts.values())
