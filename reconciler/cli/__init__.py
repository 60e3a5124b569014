"""The ``panos-upgrade`` command line: parse, call the core, render. Thin by design.

Each command module exposes ``register(app)``; ``_MODULES`` lists them in help order. Importing this package
registers none of them: ``app`` (on first use) registers them all, ``main`` only the module of a command that
one module defines alone (``_ALONE``: ``plan`` and ``validate``), so that ``plan`` for a large fleet does not
import the engine, the device seam and the simulator first (about 0.15 s of its 1.5 s, issue 18.5).
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from reconciler import __version__
from reconciler.cli.context import State, err
from reconciler.core.errors import InputFileError, PanosUpgradeError, UserError
from reconciler.sim.errors import SimUserError
from reconciler.workdir import logs


class _Group(TyperGroup):
    """Turn our user-facing errors into one stderr line and exit code 1 (tracebacks only with --debug)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (PanosUpgradeError, SimUserError) as exc:
            _report(exc)
            raise typer.Exit(1) from None


_app = typer.Typer(
    name="panos-upgrade",
    cls=_Group,
    help="Declarative, GitOps-driven upgrades for fleets of PAN-OS firewalls.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

_MODULES = [
    "reconciler.cli.demo_cmd",
    "reconciler.cli.init_cmd",
    "reconciler.cli.config_cmd",
    "reconciler.cli.device_cmd",
    "reconciler.cli.device_ops_cmd",
    "reconciler.cli.job_cmd",
    "reconciler.cli.bulk_cmd",
    "reconciler.cli.plan_cmd",
    "reconciler.cli.apply_cmd",
    "reconciler.cli.daemon_cmd",
    "reconciler.cli.group_cmd",
    "reconciler.cli.rollback_cmd",
    "reconciler.cli.reconcile_cmd",
    "reconciler.cli.report_cmd",
    "reconciler.sim.cli",
]

_state = State()


def _version(value: bool) -> None:
    if value:
        print(f"panos-upgrade {__version__}")
        raise typer.Exit(0)


@_app.callback()
def _root(
    ctx: typer.Context,
    work_dir: Annotated[
        str | None,
        typer.Option("--work-dir", help="Work directory (else $PANOS_UPGRADE_HOME, user config, default)"),
    ] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", help="Log level for the log files")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show INFO messages on stderr")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show DEBUG messages and tracebacks")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit")
    ] = False,
) -> None:
    if log_level is not None and log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise UserError(f"--log-level: {log_level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    _state.work_dir_flag = work_dir
    _state.log_level = log_level.upper() if log_level else None
    _state.verbose = verbose
    _state.debug = debug
    _state.reset()
    ctx.obj = _state
    logs.setup(None, console_level="DEBUG" if debug else ("INFO" if verbose else "WARNING"))


# Commands defined by one module alone, every one of their options included (a unit test checks each
# against the fully registered command line).
_ALONE = {"plan": "reconciler.cli.plan_cmd", "validate": "reconciler.cli.plan_cmd"}
_ROOT_OPTIONS_WITH_VALUE = ("--work-dir", "--log-level")
_registered: list[str] = []


def _register(modules: list[str]) -> None:
    """Register ``modules`` on the root; from scratch, in help order, when they are more than it has."""
    if _registered == modules or (len(modules) == 1 and modules[0] in _registered):
        return
    if _registered:
        _app.registered_commands.clear()
        _app.registered_groups.clear()
        _registered.clear()
    for name in modules:
        importlib.import_module(name).register(_app)
        _registered.append(name)


def __getattr__(name: str) -> typer.Typer:
    """``app``: the command line with every command (what tests and ``typer`` tools use)."""
    if name == "app":
        _register(_MODULES)
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command_of(args: list[str]) -> str | None:
    """The command a command line names (after the root's options), or None."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _ROOT_OPTIONS_WITH_VALUE:
            i += 2
        elif arg.startswith("-") and arg != "--":
            i += 1
        else:
            return None if arg == "--" else arg
    return None


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    module = _ALONE.get(_command_of(sys.argv[1:] if argv is None else argv) or "")
    _register([module] if module is not None else _MODULES)
    try:
        _app(args=argv)
    except KeyboardInterrupt:
        err("interrupted")
        sys.exit(130)


def _report(exc: PanosUpgradeError | SimUserError) -> None:
    if _state.debug:
        traceback.print_exception(exc)
    logging.getLogger("reconciler.cli").debug("command failed", exc_info=exc)
    err(f"error: {logs.scrub(str(exc))}")
    if isinstance(exc, InputFileError) and len(exc.errors) > 1:
        for line in exc.errors:
            err(f"  {logs.scrub(line)}")
