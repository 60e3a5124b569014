"""``status/durations.json``: how long this fleet's reboots and jobs took (``reconciler.machine.expect``).

The engine appends a sample whenever a device answers after a reboot (its uptime says when it booted) or a
poll finds one of our jobs finished and succeeded (per job kind), and rewrites the file atomically; a
restarted engine starts from what it had learned. A missing, torn or foreign file only means nothing is
known yet: the machine's priors apply, and the file is rewritten at the next sample. Samples are device seconds, so the file is the same whatever ``engine.time_scale`` is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.core.errors import StoreError
from reconciler.machine import expect
from reconciler.workdir import logs, store
from reconciler.workdir.layout import WorkPaths

log = logs.get(__name__)

FILE_NAME = "durations.json"


def load(paths: WorkPaths) -> dict[str, tuple[float, ...]]:
    path = paths.status_dir / FILE_NAME
    try:
        return expect.from_json(store.read_json(path))
    except FileNotFoundError:
        return {}
    except (StoreError, OSError, ValueError) as exc:
        log.warning("%s unusable, learning reboot and job times again: %s", path, exc)
        return {}


def save(paths: WorkPaths, samples: Mapping[str, Sequence[float]]) -> None:
    store.atomic_write_json(paths.status_dir / FILE_NAME, expect.to_json(samples))
