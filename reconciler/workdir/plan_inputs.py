"""Reading the planner's inputs from a work directory (the shell around the pure planner).

``plan``, ``apply`` and the daemon all plan from the same sources:

- the desired state: ``-f PATH``, else the config key ``desired.path`` (relative paths are relative to the
  work directory), else ``<work_dir>/desired``. There is deliberately no fallback to the repository's
  ``desired/`` (the embedded demo's): a real fleet must never be planned against demo targets by accident;
  ``panos-upgrade demo`` points at that directory explicitly;
- ``config/upgrade_paths.json`` (optional, the original tool's table);
- ``inventory.json``;
- ``status/devices/<serial>.json`` (optional): the engine's records, read and validated as the engine reads
  them (``record_store``), and seen through ``reconciler.machine.plan_view`` as the engine sees them, so
  ``plan`` and ``group status`` give every device the verdict the engine gives it. A file the engine cannot
  use (torn, invalid) is reported, never fatal, and its device is blocked as held, as the engine leaves it
  alone. What a file unchanged since the last reading gave is kept in ``status/plan-view-cache.json``
  (``plan_view_cache``): the same snapshot without reading 10,000 files again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.desired import DesiredState
from reconciler.core.inventory import Inventory
from reconciler.core.observed import Observed
from reconciler.core.progress import DeviceProgress
from reconciler.machine.plan_view import observed_of, progress_of, unusable
from reconciler.workdir import desired_load, inventory_store, plan_view_cache, record_store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths


def desired_path(paths: WorkPaths, config: Config, override: str | Path | None = None) -> Path:
    """Where the desired state is read from (see the module docstring for the order)."""
    if override:
        return Path(override).expanduser()
    configured = str(config.get("desired.path") or "")
    if configured:
        p = Path(configured).expanduser()
        return p if p.is_absolute() else paths.root / p
    return paths.root / "desired"


def load_desired(
    paths: WorkPaths, config: Config, override: str | Path | None = None, *, revision: str | None = None
) -> DesiredState:
    """The validated desired state with the work directory's ``upgrade_paths.json`` (``InputFileError``).
    ``revision`` None: the git commit of the checkout holding it, as the daemon and ``apply`` record it."""
    where = desired_path(paths, config, override)
    if revision is None:
        revision = desired_load.git_revision(where)
    return desired_load.load(where, upgrade_paths=paths.upgrade_paths_file, revision=revision)


@dataclass(frozen=True)
class StatusSnapshot:
    """The engine's per-device records as the planner sees them, plus files that could not be read."""

    progress: Mapping[str, DeviceProgress] = field(default_factory=dict)
    observed: Mapping[str, Observed] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()


def load_status(paths: WorkPaths, *, cached: bool = True) -> StatusSnapshot:
    """Read ``status/devices/*.json``; a missing directory is an empty snapshot. ``cached``: the view of a
    file unchanged since the last reading comes from ``plan_view_cache`` (the same snapshot, sooner)."""
    if cached:
        loaded = plan_view_cache.load(paths)
        views, broken = loaded.views, loaded.broken
    else:
        records = record_store.load_all(paths)
        views = tuple((progress_of(r), observed_of(r)) for r in records.records.values())
        broken = records.broken
    return StatusSnapshot(
        progress={s: unusable(s, why) for s, why in broken.items()} | {p.serial: p for p, _ in views},
        observed={p.serial: o for p, o in views},  # progress_of keeps the record's serial
        skipped=tuple(f"{paths.device_status_file(s)}: {why}" for s, why in sorted(broken.items())),
    )


def load_inventory(paths: WorkPaths) -> Inventory:
    return inventory_store.load(paths, required=True)
