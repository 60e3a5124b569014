"""``panos-upgrade report``: a rollout report to attach to a change ticket (Markdown or HTML).

Built from the work directory only (``reconciler.workdir.rollout``); changes nothing and asks no device.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli import report_render
from reconciler.cli.context import err, state
from reconciler.core.errors import UserError
from reconciler.workdir import store
from reconciler.workdir.rollout import collect


class Format(StrEnum):
    MARKDOWN = "markdown"
    HTML = "html"


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)


def report_cmd(
    ctx: typer.Context,
    fmt: Annotated[
        Format, typer.Option("--format", help="markdown (default) or html (one self-contained page)")
    ] = Format.MARKDOWN,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write to FILE (default: stdout)")
    ] = None,
    groups: Annotated[
        list[str] | None, typer.Option("--group", metavar="NAME", help="Only this group (repeatable)")
    ] = None,
) -> None:
    """A report of the rollout so far, per device: versions, status, the pre/post snapshot comparison of
    each hop with its margins, time per hop and per phase, failures with their reasons."""
    paths = state(ctx).paths()
    rollout = collect(paths, groups or ())
    if groups and not rollout.devices:
        raise UserError(f"no device status for group(s) {', '.join(map(repr, groups))}")
    now = datetime.now(UTC)
    render = report_render.to_html if fmt is Format.HTML else report_render.to_markdown
    text = render(rollout, now)
    if output is None:
        print(text, end="")
        return
    try:
        store.atomic_write_text(output, text, mode=0o644)
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from None
    err(f"report written to {output} ({len(rollout.devices)} devices, {fmt.value})")
