"""Work-directory resolution: flag, environment, user config file, default (the original tool's order)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import WorkDirError

ENV_VAR = "PANOS_UPGRADE_HOME"
DEFAULT_WORK_DIR = Path("/opt/panos-upgrade")
USER_CONFIG_NAME = ".panos-upgrade.config.json"


@dataclass(frozen=True)
class Resolution:
    """Which directory won and why (``source`` is shown to the user in logs)."""

    path: Path
    source: str


def user_config_path(home: Path | None = None) -> Path:
    return (home or Path.home()) / USER_CONFIG_NAME


def resolve(
    flag: str | Path | None, env: dict[str, str] | None = None, home: Path | None = None
) -> Resolution:
    """Return the work directory by the documented priority.

    1. ``--work-dir`` flag, 2. ``$PANOS_UPGRADE_HOME``, 3. ``~/.panos-upgrade.config.json``, 4. default.
    """
    environ = os.environ if env is None else env
    if flag is not None and not str(flag).strip():
        # An unset shell variable ("--work-dir $WD") must not silently pick another work directory.
        raise WorkDirError("--work-dir: empty; give a directory, or leave the option off")
    if flag:
        return Resolution(_absolute(flag), "--work-dir flag")
    if environ.get(ENV_VAR):
        return Resolution(_absolute(environ[ENV_VAR]), f"environment variable {ENV_VAR}")
    ucfg = user_config_path(home)
    if ucfg.exists():
        try:
            data = json.loads(ucfg.read_text(encoding="utf-8"))
            value = data["work_dir"]
            if not isinstance(value, str) or not value:
                raise ValueError("work_dir must be a non-empty string")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WorkDirError(f"{ucfg}: cannot read work_dir: {exc}") from exc
        return Resolution(_absolute(value), f"~/{USER_CONFIG_NAME}")
    return Resolution(DEFAULT_WORK_DIR, "default")


def _absolute(value: str | Path) -> Path:
    return Path(value).expanduser().absolute()
