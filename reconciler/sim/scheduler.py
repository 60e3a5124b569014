"""One timeline for the whole fleet: a heap of (due sim time, callback).

Devices never own timers. A state change that must happen later (a download finishing, a rebooting
firewall starting its web server) is scheduled here; whoever drives the simulation calls ``run_due(now)``
(the event-loop ticker, every request, or a unit test after ``ManualClock.advance``). Callbacks receive
their exact due time so that the event log records when a change happened in sim time, independent of
when the ticker noticed it, which keeps the log deterministic under a seed.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

Callback = Callable[[float], None]


class Scheduler:
    """Not thread-safe on its own: the simulator calls it with its world lock held."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callback]] = []
        self._seq = itertools.count()

    def at(self, when: float, fn: Callback) -> None:
        """Run ``fn(when)`` once sim time reaches ``when``."""
        heapq.heappush(self._heap, (float(when), next(self._seq), fn))

    def run_due(self, now: float, *, limit: int = 100_000) -> int:
        """Run every callback due at or before ``now`` in due order (ties: scheduling order).

        Callbacks may schedule more work; anything that becomes due by ``now`` runs in the same call.
        ``limit`` bounds one call so that a callback rescheduling itself at ``now`` cannot spin forever.
        """
        ran = 0
        while self._heap and self._heap[0][0] <= now and ran < limit:
            when, _, fn = heapq.heappop(self._heap)
            fn(when)
            ran += 1
        return ran

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)
