"""File-system watchers that only *wake* the reconcile loop (level-triggered: they never say what changed).

Watches directories, not files, so editors' atomic saves (write temp + rename), renames and git checkouts
that swap files are all seen. Bursts of events are debounced by the loop (see ``Wakeup.due``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class Wakeup:
    """A reason-less doorbell with debounce: ``ring()`` from anywhere; ``due()`` in the reconcile loop (it
    asks every turn, between executor pumps), or ``wait()`` to block until it rings."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._last = 0.0
        self._lock = threading.Lock()
        self.rings = 0

    def ring(self) -> None:
        with self._lock:
            self._last = time.monotonic()
            self.rings += 1
            self._event.set()

    def due(self, debounce: float = 0.3) -> bool:
        """Without blocking: True (and the bell is reset) once it rang and then stayed quiet for ``debounce``
        seconds; False while it has not rung, or is still ringing (the reconcile loop asks every turn)."""
        with self._lock:
            if not self._event.is_set() or time.monotonic() - self._last < debounce:
                return False
            self._event.clear()
            return True

    def wait(self, timeout: float, debounce: float = 0.3) -> bool:
        """Block until rung or ``timeout``; after a ring, wait until ``debounce`` seconds pass quietly
        (bounded by the timeout). Returns True if rung."""
        deadline = time.monotonic() + max(0.0, timeout)
        if not self._event.wait(max(0.0, deadline - time.monotonic())):
            return False
        while True:
            with self._lock:
                quiet_for = time.monotonic() - self._last
            remaining = deadline - time.monotonic()
            if quiet_for >= debounce or remaining <= 0:
                break
            time.sleep(min(debounce - quiet_for, remaining))
        self._event.clear()
        return True


class _Handler(FileSystemEventHandler):
    def __init__(self, wakeup: Wakeup) -> None:
        self.wakeup = wakeup

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        self.wakeup.ring()


class _FileHandler(FileSystemEventHandler):
    """Rings only for changes of the given files (an atomic write renames a temp file onto one: its
    ``dest_path``), not for anything else in their directories."""

    def __init__(self, wakeup: Wakeup, files: set[str]) -> None:
        self.wakeup = wakeup
        self.files = files

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        touched = {os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")}
        if touched & self.files:
            self.wakeup.ring()


class Watcher:
    """Watches directories recursively and rings ``wakeup`` on any change in them; and single ``files``
    (their directory watched alone, not recursively: e.g. ``inventory.json`` at the top of the work
    directory, whose subdirectories the engine itself writes all the time)."""

    def __init__(self, directories: Iterable[Path], wakeup: Wakeup, files: Iterable[Path] = ()) -> None:
        self.wakeup = wakeup
        self.observer = Observer()
        handler = _Handler(wakeup)
        self.directories = sorted({d.resolve() for d in directories if d.is_dir()})
        for directory in self.directories:
            self.observer.schedule(handler, str(directory), recursive=True)
        watched = {f.parent.resolve() / f.name for f in files if f.parent.is_dir()}
        self.files = sorted(watched)
        for parent in sorted({f.parent for f in watched}):
            names = {str(f) for f in watched if f.parent == parent}
            self.observer.schedule(_FileHandler(wakeup, names), str(parent), recursive=False)

    def start(self) -> None:
        self.observer.daemon = True
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)


def watch_root(path: Path) -> Path:
    """The directory to watch for a desired-state path: the directory itself, or a file's parent."""
    return path if path.is_dir() else path.parent
