"""The daemon's periodic re-discovery, off the reconcile loop's thread.

Discovery asks Panorama and every firewall, which takes seconds on a small fleet and minutes on a large one;
run inside the loop it would hold every device in flight (HA reads, job polls) while their deadlines keep
counting. So one background thread runs it, never two at once, and the loop only starts it (``start``) and
collects what it found (``poll``) on its own thread, where the daemon writes the inventory. Nothing the
thread does is written anywhere: a discovery abandoned at shutdown (``close``) leaves the work directory as
it was. The thread's run is bounded by discovery's own timeouts (each API call has a deadline, retries are
bounded), not by the loop's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.core.inventory import Inventory
from reconciler.device.discovery import Discovery


@dataclass(frozen=True)
class Found:
    """What a discovery found, with the inventory it started from (its ``previous``: stale facts and the
    change log are relative to it)."""

    previous: Inventory
    found: Discovery


@dataclass(frozen=True)
class Outcome:
    """One finished run: what it found, or the exception it raised; and how long it took."""

    result: Found | None
    error: BaseException | None
    seconds: float


DiscoverFn = Callable[[threading.Event], Found]
"""Runs one discovery on the worker thread; gives up (``discovery.Cancelled``) once the event is set."""


class BackgroundDiscovery:
    """One discovery at a time on a worker thread; ``start``, ``poll`` and ``close`` belong to the loop's
    thread. An outcome waits for ``poll`` before another run can start."""

    def __init__(self, discover: DiscoverFn) -> None:
        self._discover = discover
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._outcome: Outcome | None = None
        self.runs = 0

    @property
    def busy(self) -> bool:
        """A run is going on, or its outcome was not collected yet."""
        return self._thread is not None

    def start(self) -> bool:
        """Start a run unless one is going on (or uncollected): False then."""
        if self._thread is not None:
            return False
        self._cancel = threading.Event()
        self._outcome = None
        self.runs += 1
        # A daemon thread: a discovery still asking firewalls never keeps the process from exiting.
        self._thread = threading.Thread(target=self._run, name="rediscovery", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        started = time.monotonic()
        try:
            result = self._discover(self._cancel)
        except Exception as exc:  # handed to the loop's thread, which logs it as the daemon always did
            self._outcome = Outcome(None, exc, time.monotonic() - started)
        else:
            self._outcome = Outcome(result, None, time.monotonic() - started)

    def poll(self) -> Outcome | None:
        """The finished run's outcome, once (None while it runs, or when none ran)."""
        thread = self._thread
        if thread is None or thread.is_alive():
            return None
        thread.join()
        self._thread = None
        outcome, self._outcome = self._outcome, None
        return outcome

    def cancel(self) -> None:
        """Ask a running discovery to give up (it drops the probes not yet started)."""
        self._cancel.set()

    def close(self, timeout: float) -> Outcome | None:
        """At shutdown: cancel, wait at most ``timeout`` seconds, and return the outcome if the run ended
        (None if none ran, or it is still running: abandoned, its result never collected)."""
        self.cancel()
        thread = self._thread
        if thread is not None:
            thread.join(max(0.0, timeout))
        return self.poll()
