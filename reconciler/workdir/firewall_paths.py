"""``status/firewall-paths.json``: the firewalls ``firewall.connection auto`` reaches through Panorama.

A firewall whose management address did not answer is reached through Panorama from then on, by this
process and the next ones (discovery, ``apply``, the daemon): the file keeps, per serial, since when and
when its management address was last tried. Only that fallback is kept; a firewall not in the file is tried
at its management address first. Written atomically on each change, read when a process first needs it. A
missing, torn or foreign file only means nothing is remembered: each firewall is tried directly again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core.errors import StoreError
from reconciler.workdir import logs, store
from reconciler.workdir.layout import WorkPaths

log = logs.get(__name__)

FILE_NAME = "firewall-paths.json"
FORMAT_VERSION = 1
MAX_ENTRIES = 100_000  # a fleet's worth; a larger file is not ours


@dataclass(frozen=True)
class Fallback:
    """A firewall reached through Panorama: since when (epoch seconds), and when its management address was
    last tried (epoch seconds)."""

    since: float
    checked_at: float

    def to_json(self) -> dict[str, Any]:
        return {"path": "panorama", "since": round(self.since, 3), "checked_at": round(self.checked_at, 3)}


def file_of(paths: WorkPaths) -> Path:
    return paths.status_dir / FILE_NAME


def load(file: Path) -> dict[str, Fallback]:
    """The remembered fallbacks; empty (with a warning) for a file that cannot be used."""
    try:
        doc = store.read_json(file)
    except FileNotFoundError:
        return {}
    except (StoreError, OSError, ValueError) as exc:
        log.warning("%s unusable, every firewall is tried at its management address again: %s", file, exc)
        return {}
    try:
        return _parse(doc)
    except (TypeError, ValueError) as exc:
        log.warning("%s unusable, every firewall is tried at its management address again: %s", file, exc)
        return {}


def _parse(doc: Any) -> dict[str, Fallback]:
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"format_version: expected {FORMAT_VERSION}")
    firewalls = doc.get("firewalls")
    if not isinstance(firewalls, dict) or len(firewalls) > MAX_ENTRIES:
        raise ValueError("firewalls: expected an object of at most 100000 serials")
    out: dict[str, Fallback] = {}
    for serial, entry in firewalls.items():
        if not isinstance(entry, dict) or entry.get("path") != "panorama":
            raise ValueError(f"firewalls.{serial}: expected path 'panorama'")
        since, checked = entry.get("since"), entry.get("checked_at")
        if not isinstance(since, int | float) or not isinstance(checked, int | float):
            raise ValueError(f"firewalls.{serial}: since and checked_at must be numbers")
        out[str(serial)] = Fallback(float(since), float(checked))
    return out


def save(file: Path, fallbacks: Mapping[str, Fallback]) -> None:
    doc = {
        "format_version": FORMAT_VERSION,
        "firewalls": {serial: fallbacks[serial].to_json() for serial in sorted(fallbacks)},
    }
    store.atomic_write_json(file, doc)
