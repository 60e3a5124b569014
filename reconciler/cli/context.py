"""What every command shares: global options, the resolved work directory, the loaded config, output helpers.

Commands get it with ``state(ctx)``; nothing here exits the process (the entry point does that).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import typer

from reconciler.core.errors import WorkDirError
from reconciler.workdir import location, logs
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths


@dataclass
class State:
    work_dir_flag: str | None = None
    log_level: str | None = None
    verbose: bool = False
    debug: bool = False
    component: str = "cli"
    _paths: WorkPaths | None = field(default=None, repr=False)
    _config: Config | None = field(default=None, repr=False)

    def resolve(self) -> location.Resolution:
        return location.resolve(self.work_dir_flag)

    def paths(self, *, must_exist: bool = True, log_files: bool = True) -> WorkPaths:
        """Resolve the work directory, set up logging in it, and log which source won. ``log_files``
        False: log to stderr only (a read-only command such as ``apply --dry-run`` writes nothing there)."""
        if self._paths is not None:
            return self._paths
        res = self.resolve()
        paths = WorkPaths(res.path)
        if must_exist and not res.path.is_dir():
            raise WorkDirError(
                f"work directory {res.path} (from {res.source}) does not exist; "
                f"run 'panos-upgrade init --work-dir {res.path}'"
            )
        self._paths = paths
        cfg = self.config() if res.path.is_dir() else Config({}, paths.config_file)
        level = self.log_level or cfg.get("logging.level")
        logs.setup(
            paths if res.path.is_dir() and log_files else None,
            level=level,
            console_level=self._console_level(),
            component=self.component,
            max_size_mb=cfg.get("logging.max_size_mb"),
            retention_days=cfg.get("logging.retention_days"),
        )
        for secret in cfg.secrets():
            logs.register_secret(secret)
        logs.get("cli").info("Work directory: %s (from %s)", res.path, res.source)
        return paths

    def config(self) -> Config:
        if self._config is None:
            paths = self._paths or WorkPaths(self.resolve().path)
            self._config = Config.load(paths.config_file)
        return self._config

    def _console_level(self) -> str:
        if self.debug:
            return "DEBUG"
        if self.verbose:
            return "INFO"
        return "WARNING"

    def reset(self) -> None:
        self._paths = None
        self._config = None


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    if not isinstance(obj, State):
        obj = State()
        ctx.find_root().obj = obj
    return obj


def err(message: str) -> None:
    """Print one line to stderr."""
    print(message, file=sys.stderr)
