"""``panos-upgrade validate`` and ``panos-upgrade plan``: check the desired state, preview what would change.

Exit codes follow Terraform: ``validate`` 0 valid / 1 invalid; ``plan`` 0 success (or, with
``--detailed-exitcode``, 0 no changes / 2 changes pending) and 1 on any error. The clock is read here and
only here (``now`` is handed to the pure planner).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli import plan_render
from reconciler.cli.context import err, state
from reconciler.core.desired import DesiredState
from reconciler.core.errors import InputFileError, UserError
from reconciler.core.inventory import Inventory
from reconciler.core.panorama import target_warnings as panorama_target_warnings
from reconciler.core.planner import plan as make_plan
from reconciler.core.selectors import assign, selector_warnings
from reconciler.workdir import desired_load, plan_inputs, store, suspensions

EXIT_CHANGES = 2


def register(app: typer.Typer) -> None:
    app.command("validate")(validate_cmd)
    app.command("plan")(plan_cmd)


def validate_cmd(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Desired-state file or directory (default: desired.path, else <work_dir>/desired)"
        ),
    ] = None,
    upgrade_paths: Annotated[
        Path | None,
        typer.Option("--upgrade-paths", metavar="FILE", help="Also check this upgrade_paths.json"),
    ] = None,
    inventory: Annotated[
        Path | None,
        typer.Option("--inventory", metavar="FILE", help="Also check selections against this inventory.json"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Check desired-state YAML: exit 0 if valid, else 1 with every error as file:line: path: message."""
    if path is None:
        st = state(ctx)
        paths = st.paths()
        path = plan_inputs.desired_path(paths, st.config())
        if upgrade_paths is None and paths.upgrade_paths_file.exists():
            upgrade_paths = paths.upgrade_paths_file
    errors: list[str] = []
    warnings: list[str] = []
    desired = None
    try:
        desired = desired_load.load(path, upgrade_paths=upgrade_paths)
    except InputFileError as exc:
        errors = list(exc.errors)
    if desired is not None and inventory is not None:
        inv = _read_inventory(inventory)
        errors = _inventory_problems(desired, inv, inventory)
        warnings = selection_warnings(desired, inv) + panorama_target_warnings(
            [(g.name, g.target) for g in desired.groups],
            (inv.panorama_version, inv.panorama_peer_version),
            desired.panorama.target if desired.panorama is not None else None,
        )
    if not as_json:
        for line in warnings:
            err(f"warning: {line}")
    if as_json:
        body: dict[str, object] = {"valid": False}
        if desired is not None and not errors:
            body = dict(desired_load.summary_json(desired))
        body["errors"] = errors
        if inventory is not None:
            body["warnings"] = warnings
        print(json.dumps(body, indent=2))
    elif errors:
        for line in errors:
            err(line)
        err(f"{path}: {len(errors)} error(s)")
    elif desired is not None:
        print(f"{path}: valid ({len(desired.groups)} groups, {desired.digest})")
    if errors:
        raise typer.Exit(1)


def _read_inventory(inventory_file: Path) -> Inventory:
    try:
        data = store.read_json(inventory_file, schema="inventory")
    except FileNotFoundError:
        raise UserError(f"{inventory_file}: no such file") from None
    return Inventory.from_json(data)


def selection_warnings(desired: DesiredState, inventory: Inventory) -> list[str]:
    """Select values that match nothing in the inventory (a typo'd device group, say), with the nearest
    existing names; shown by ``validate --inventory`` and ``plan``."""
    return selector_warnings([(g.name, g.selection) for g in desired.groups], inventory)


def _inventory_problems(desired: DesiredState, inv: Inventory, inventory_file: Path) -> list[str]:
    """Selections that overlap or split HA pairs on this inventory."""
    assignment = assign([(g.name, g.selection) for g in desired.groups], inv)
    out = []
    for serial, names in sorted(assignment.conflicts.items()):
        out.append(f"{inventory_file}: {serial}: selected by groups {', '.join(map(repr, names))}")
    for first, second in inv.pairs():
        a, b = assignment.group_of.get(first.serial), assignment.group_of.get(second.serial)
        if a != b and first.serial not in assignment.conflicts and second.serial not in assignment.conflicts:
            out.append(
                f"{inventory_file}: HA pair {first.serial}+{second.serial}: members are in "
                f"{a or 'no group'!r} and {b or 'no group'!r}; both must be in one group"
            )
    return out


def plan_cmd(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Option(
            "-f",
            "--file",
            metavar="PATH",
            help="Desired-state file or directory (default: desired.path or <work_dir>/desired)",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON (format_version 1)")
    ] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the plan as Markdown (for a PR comment)")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="Save the plan (JSON) for 'apply FILE', which refuses it once stale"
        ),
    ] = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode", help="Exit 0 if no changes, 2 if changes are pending, 1 on error"
        ),
    ] = False,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            metavar="SERIAL|GROUP",
            help="Only this serial or group (repeatable); the plan is marked partial",
        ),
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option(
            "--revision", metavar="TEXT", help="Desired-state revision to record (e.g. the git commit)"
        ),
    ] = None,
) -> None:
    """Show what would change: per device the action, hops, wave, order, or why it is blocked."""
    if as_json and markdown:
        raise UserError("--json and --markdown exclude each other")
    with desired_load.no_cyclic_gc():
        _plan(ctx, file, as_json, markdown, out, detailed_exitcode, target, revision)


def _plan(
    ctx: typer.Context,
    file: str | None,
    as_json: bool,
    markdown: bool,
    out: Path | None,
    detailed_exitcode: bool,
    target: list[str] | None,
    revision: str | None,
) -> None:
    st = state(ctx)
    paths = st.paths()
    cfg = st.config()
    desired = plan_inputs.load_desired(paths, cfg, file, revision=revision)
    inventory = plan_inputs.load_inventory(paths)
    status = plan_inputs.load_status(paths)
    for line in selection_warnings(desired, inventory):
        err(f"warning: {line}")
    result = make_plan(
        desired,
        inventory,
        status.observed,
        status.progress,
        datetime.now(UTC),
        suspended=suspensions.details(paths),
    )
    if target:
        try:
            result = result.restricted_to(target)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        err(
            f"warning: partial plan (--target {', '.join(target)}): waves, budgets and HA peers outside it are not shown"
        )
    if out is not None:
        store.atomic_write_json(out, result.to_json(), schema="plan")
    if as_json:
        print(plan_render.to_json_text(result), end="")
    elif markdown:
        print(plan_render.to_markdown(result), end="")
    else:
        print(plan_render.to_table(result), end="")
        if out is not None:
            print(f"Plan saved to {out}; apply it with 'panos-upgrade apply {out}'.")
    if detailed_exitcode and result.changes:
        raise typer.Exit(EXIT_CHANGES)
