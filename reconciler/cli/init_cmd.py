"""``panos-upgrade init``: create the work-directory layout and remember it in the user config file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.context import state
from reconciler.core.errors import WorkDirError
from reconciler.workdir import location, store
from reconciler.workdir.layout import WorkPaths


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(
    ctx: typer.Context,
    work_dir: Annotated[str | None, typer.Option("--work-dir", help="Directory to initialise")] = None,
    no_user_config: Annotated[
        bool, typer.Option("--no-user-config", help="Do not write ~/.panos-upgrade.config.json")
    ] = False,
) -> None:
    """Create the work directory layout (idempotent; never removes data) and write the user config file."""
    st = state(ctx)
    if work_dir:
        st.work_dir_flag = work_dir
        st.reset()
    res = st.resolve()
    paths = WorkPaths(res.path)
    created = initialise(paths)
    st.paths()
    if not no_user_config:
        ucfg = location.user_config_path()
        store.atomic_write_json(
            ucfg,
            {
                "work_dir": str(res.path),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "created_by": "panos-upgrade init",
            },
        )
    store.audit(paths.audit_file, "init", work_dir=str(res.path), created=[str(p) for p in created])
    print(f"Initialised {res.path} (from {res.source}); created {len(created)} directories")


def initialise(paths: WorkPaths) -> list[Path]:
    """Create every missing directory of the layout; return the ones created. Existing files are untouched."""
    created = []
    for directory in paths.directories():
        if directory.exists() and not directory.is_dir():
            raise WorkDirError(f"{directory} exists and is not a directory")
        if not directory.exists():
            try:
                directory.mkdir(mode=0o750)
            except OSError as exc:
                raise WorkDirError(f"cannot create {directory}: {exc.strerror}") from exc
            created.append(directory)
    if not paths.config_file.exists():
        store.atomic_write_text(paths.config_file, json.dumps({}, indent=2) + "\n", mode=0o600)
    return created
