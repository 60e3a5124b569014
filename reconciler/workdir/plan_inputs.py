"""Reading the planner's inputs from a work directory (the shell around the pure planner).

``plan``, ``apply`` and the daemon all plan from the same sources:

- the desired state: ``-f PATH``, else the config key ``desired.path`` (relative paths are relative to the
  work directory), else ``<work_dir>/desired``. There is deliberately no fallback to the repository's
  ``desired/`` (the embedded demo's): a real fleet must never be planned against demo targets by accident;
  ``panos-upgrade demo`` points at that directory explicitly;
- ``config/upgrade_paths.json`` (optional, the original tool's table);
- ``inventory.json``;
- ``status/devices/<serial>.json`` (optional): each is adapted by ``progress_from_status``; when such a
  record holds an ``"observed"`` object (``Observed.to_json`` form) it is used as the device's observation;
  otherwise its ``downloaded_versions`` (the engine's status file) tell which images are already there.
  Unreadable or torn records are skipped and reported, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.desired import DesiredState
from reconciler.core.errors import StoreError
from reconciler.core.inventory import Inventory
from reconciler.core.observed import Observed
from reconciler.core.progress import DeviceProgress, progress_from_status
from reconciler.workdir import desired_load, inventory_store, store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

log = logging.getLogger("reconciler.plan_inputs")


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


def load_status(paths: WorkPaths) -> StatusSnapshot:
    """Read ``status/devices/*.json``; a missing directory is an empty snapshot."""
    directory = paths.device_status_dir
    if not directory.is_dir():
        return StatusSnapshot()
    progress: dict[str, DeviceProgress] = {}
    observed: dict[str, Observed] = {}
    skipped: list[str] = []
    for file in sorted(directory.glob("*.json")):
        try:
            data = store.read_json(file)
        except (StoreError, FileNotFoundError) as exc:
            skipped.append(f"{file}: {exc}")
            continue
        if not isinstance(data, dict):
            skipped.append(f"{file}: not a JSON object")
            continue
        data.setdefault("serial", file.stem)
        record = progress_from_status(data)
        progress[record.serial] = record
        if isinstance(data.get("observed"), dict):
            observed[record.serial] = Observed.from_json(data["observed"])
        elif isinstance(data.get("downloaded_versions"), list):
            observed[record.serial] = Observed.of(None, downloaded=data["downloaded_versions"])
    for line in skipped:
        log.warning("skipping device status %s", line)
    return StatusSnapshot(progress, observed, tuple(skipped))


def load_inventory(paths: WorkPaths) -> Inventory:
    return inventory_store.load(paths, required=True)
