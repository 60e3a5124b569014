"""Every path of the work directory, in one place (DESIGN.md section 6).

Nothing else in the package joins path fragments under the work directory; it asks a ``WorkPaths``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import overload

from reconciler.core.errors import UserError

QUEUE_STATES = ("pending", "active", "completed", "failed", "cancelled", "rejected")
COMMAND_STATES = ("incoming", "processed", "rejected")

# Serials and job ids become file names: allow only a conservative alphabet, never a path separator.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def safe_name(value: str, what: str = "name") -> str:
    """Return ``value`` if it is safe to use as a file name, else raise ``UserError``."""
    # fullmatch: with match(), '$' also matches before a trailing newline ("web-1\n" would pass).
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value) or ".." in value:
        raise UserError(
            f"invalid {what} {value!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


class _Under:
    """A path of the layout: another path of it (``parent``, an attribute name) joined with ``name``."""

    def __init__(self, parent: str, name: str) -> None:
        self.parent = parent
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Under: ...

    @overload
    def __get__(self, obj: WorkPaths, owner: type | None = None) -> Path: ...

    def __get__(self, obj: WorkPaths | None, owner: type | None = None) -> Path | _Under:
        if obj is None:
            return self
        parent: Path = getattr(obj, self.parent)
        return parent / self.name


@dataclass(frozen=True)
class WorkPaths:
    """The layout of one work directory."""

    root: Path

    # config
    config_dir = _Under("root", "config")
    config_file = _Under("config_dir", "config.json")
    upgrade_paths_file = _Under("config_dir", "upgrade_paths.json")
    inventory_file = _Under("root", "inventory.json")

    # queues
    queue_dir = _Under("root", "queue")

    def queue(self, state: str) -> Path:
        if state not in QUEUE_STATES:
            raise ValueError(f"unknown queue state {state!r}")
        return self.queue_dir / state

    commands_dir = _Under("root", "commands")

    def commands(self, state: str) -> Path:
        if state not in COMMAND_STATES:
            raise ValueError(f"unknown command state {state!r}")
        return self.commands_dir / state

    # status
    status_dir = _Under("root", "status")
    daemon_status_file = _Under("status_dir", "daemon.json")
    workers_status_file = _Under("status_dir", "workers.json")
    job_status_dir = _Under("status_dir", "jobs")

    def job_status_file(self, job_id: str) -> Path:
        return self.job_status_dir / f"{safe_name(job_id, 'job id')}.json"

    device_status_dir = _Under("status_dir", "devices")

    def device_status_file(self, serial: str) -> Path:
        return self.device_status_dir / f"{safe_name(serial, 'serial')}.json"

    # What ``plan`` and ``group status`` made of each device status file, kept for the next run
    # (``plan_view_cache``): never read by anything else, rebuilt when missing or unusable.
    plan_view_cache_file = _Under("status_dir", "plan-view-cache.json")

    pair_status_dir = _Under("status_dir", "pairs")

    def pair_status_file(self, pair_id: str) -> Path:
        """``S1+S2`` is stored as ``S1__S2.json`` ('+' is not in the safe file-name alphabet)."""
        return self.pair_status_dir / f"{safe_name(pair_id.replace('+', '__'), 'pair id')}.json"

    # ``status/suspended/``: one file per group an operator suspended (``group suspend``); created on demand.
    suspended_dir = _Under("status_dir", "suspended")

    def suspension_file(self, group: str) -> Path:
        return self.suspended_dir / f"{safe_name(group, 'group name')}.json"

    # evidence
    validation_dir = _Under("root", "validation")

    def validation_for(self, serial: str) -> Path:
        return self.validation_dir / safe_name(serial, "serial")

    backups_dir = _Under("root", "backups")

    def backups_for(self, serial: str) -> Path:
        return self.backups_dir / safe_name(serial, "serial")

    # logs and audit
    logs_dir = _Under("root", "logs")
    json_logs_dir = _Under("logs_dir", "json")
    text_logs_dir = _Under("logs_dir", "text")
    audit_dir = _Under("root", "audit")
    audit_file = _Under("audit_dir", "audit.jsonl")

    # daemon
    run_dir = _Under("root", "run")
    lock_file = _Under("run_dir", "daemon.lock")
    pid_file = _Under("run_dir", "daemon.pid")

    def directories(self) -> list[Path]:
        """Every directory of the layout, parents first (what ``init`` creates)."""
        dirs = [
            self.root,
            self.config_dir,
            self.queue_dir,
            *(self.queue(s) for s in QUEUE_STATES),
            self.commands_dir,
            *(self.commands(s) for s in COMMAND_STATES),
            self.status_dir,
            self.job_status_dir,
            self.device_status_dir,
            self.pair_status_dir,
            self.validation_dir,
            self.backups_dir,
            self.logs_dir,
            self.json_logs_dir,
            self.text_logs_dir,
            self.audit_dir,
            self.run_dir,
        ]
        return dirs

    def missing(self) -> list[Path]:
        return [d for d in self.directories() if not d.is_dir()]
