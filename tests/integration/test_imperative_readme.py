"""Every imperative command line of the original tool's README parses with this CLI (same names, options)."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import typer

from reconciler.cli import app

ORIGINAL_README_COMMANDS = [
    "upgrade serials.csv",
    "upgrade devices.csv",
    "upgrade serials.csv --dry-run",
    "upgrade-ha-pairs ha_pairs.csv",
    "job submit --device 001234567890",
    "job submit --ha-pair 001234567890 001234567891",
    "job submit --device 001234567890 --dry-run",
    "job submit --device 001234567890 --download-only",
    "job submit --device 001234567890 --download-only --dry-run",
    "job list",
    "job list --status active",
    "job list --status failed",
    "job status web-job-123",
    "job cancel job-001",
    "download serials.csv",
    "download-ha-pairs ha_pairs.csv",
    "download-status",
    "verify-download",
    "verify-download --output my_report.csv",
    "verify-download --workers 10",
    "device validate 001234567890",
    "device metrics 001234567890",
    "device status 001234567890",
    "device discover --workers 20",
    "device export --output-dir /tmp",
]


def _parse(line: str) -> list[str]:
    """Resolve the subcommand chain and parse its options without running anything; return the chain."""
    command: Any = typer.main.get_command(app)
    args = shlex.split(line)
    ctx = command.make_context("panos-upgrade", args)
    # The vendored click keeps the subcommand words in _protected_args (no public accessor).
    args = [*ctx._protected_args, *ctx.args]
    chain = []
    while hasattr(command, "resolve_command"):
        name, sub, args = command.resolve_command(ctx, args)
        chain.append(name)
        ctx = sub.make_context(name, list(args), parent=ctx)
        command, args = sub, [*getattr(ctx, "_protected_args", []), *ctx.args]
    assert [] == args, f"unparsed arguments {args} in {line!r}"
    return chain


@pytest.mark.parametrize("line", ORIGINAL_README_COMMANDS)
def test_original_command_line_parses(line: str) -> None:
    words = shlex.split(line)
    chain = _parse(line)
    assert words[: len(chain)] == chain


def test_unknown_options_and_commands_are_refused() -> None:
    with pytest.raises(Exception, match="No such option: --force"):
        _parse("job submit --device 1 --force")
    with pytest.raises(Exception, match="No such command"):
        _parse("job frobnicate")
