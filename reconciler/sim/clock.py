"""Simulated time.

The simulator runs on *sim seconds*: every duration in a fleet file (download 100-420 s, reboot 340-540 s,
...) is in sim seconds. ``time_scale`` is the number of *real* seconds one sim second takes, so
``time_scale=0.01`` plays a 300 s download in 3 real seconds and ``time_scale=1`` runs in real time.

Wall-clock values a device *displays* (``show clock``, job timestamps) are real UTC time: clients compare
them with their own clock and with each other (panos-upgrade-assurance's MP/DP clock check), so they must
not race ahead. Durations a device *reports* (uptime, job progress) are in sim seconds.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the device model needs from time."""

    time_scale: float

    def now(self) -> float:
        """Sim seconds since the simulation started."""
        ...

    def wall(self) -> float:
        """Real UTC epoch seconds, for timestamps a device displays."""
        ...


class ScaledClock:
    """Sim time derived from the real monotonic clock: ``(monotonic - start) / time_scale``."""

    def __init__(self, time_scale: float) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self.time_scale = float(time_scale)
        self._start = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._start) / self.time_scale

    def wall(self) -> float:
        return time.time()

    def real_delay(self, sim_seconds: float) -> float:
        """Real seconds until ``sim_seconds`` from now."""
        return max(0.0, sim_seconds) * self.time_scale


class ManualClock:
    """A clock that only moves when told to; for unit tests of the device model (no real waiting)."""

    def __init__(self, start_wall: float = 1_700_000_000.0) -> None:
        self.time_scale = 1.0
        self._now = 0.0
        self._start_wall = start_wall

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._start_wall + self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._now += seconds
