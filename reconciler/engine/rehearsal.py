"""A read-only dry run (``apply --dry-run``): the same engine, planner and pre-flight checks, and nothing
written to the work directory, so it may run next to the daemon.

The engine writes as it goes (status files before every command, the audit log, snapshots, backups); a
rehearsal gives it a private scratch work directory instead (a temporary directory outside the work
directory, removed afterwards) holding copies of the inputs it reads there: ``inventory.json``,
``config/upgrade_paths.json`` and the group suspensions (``status/suspended/``). The settings are the
caller's loaded ``Config`` (no secret is copied). The work directory's device records are *adopted* (``Executor.adopt``): the plan sees every device as the
daemon left it, and no record is resumed, persisted or driven; a device the daemon is working on is not
rehearsed (the planner says it is in progress). No lock is taken, no metrics are served, and no job or
operator command is read (they live in the work directory's ``queue/`` and ``commands/``, which the
scratch directory does not have).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.engine.session import Session, open_session
from reconciler.workdir import record_store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

SCRATCH_PREFIX = "panos-upgrade-dry-run-"


@contextmanager
def read_only_session(paths: WorkPaths, config: Config, *, desired_path: Path) -> Iterator[Session]:
    """A dry-run session over a scratch copy of ``paths``' inputs (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as tmp:
        scratch = WorkPaths(Path(tmp))
        for directory in scratch.directories():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for source, dest in (
            (paths.inventory_file, scratch.inventory_file),
            (paths.upgrade_paths_file, scratch.upgrade_paths_file),
        ):
            if source.is_file():
                shutil.copyfile(source, dest)
        if paths.suspended_dir.is_dir():  # a suspended group is not rehearsed either
            shutil.copytree(paths.suspended_dir, scratch.suspended_dir, symlinks=True)
        session = open_session(scratch, config, desired_path=desired_path, dry_run=True, serve_metrics=False)
        try:
            yield session
        finally:
            session.close()


def adopt_records(session: Session, source: WorkPaths) -> list[str]:
    """Adopt every device record of the work directory ``source`` into ``session`` (read only; see the
    module docstring). Returns the serials whose status file is unusable (those devices are left alone).

    The daemon's devices in flight stay in flight in this session's view for as long as it runs: they do
    not take the rehearsal's ``workers.max`` slots (the rehearsal gets that many on top of them)."""
    rec = session.reconciler
    if rec.desired is None:
        rec.reload_desired()  # each record gets its group's settings
    loaded = record_store.load_all(source)
    for record in loaded.records.values():
        session.executor.adopt(record, rec.settings_of(record))
    rec.max_in_flight += len(session.executor.in_flight())
    return sorted(loaded.broken)
