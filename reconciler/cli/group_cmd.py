"""``panos-upgrade group status|suspend|resume`` and ``panos-upgrade device history SERIAL``.

``group status`` plans from the same inputs as ``plan`` (``reconciler.core.group_status``): desired and
observed revision, state (synced / progressing / halted / blocked, with reasons) and counts. ``device history``
prints a device's timeline from the audit log and its status record (``reconciler.workdir.history``).
``group suspend NAME`` / ``group resume NAME`` record a run-time pause of a group in the work directory
(``reconciler.workdir.suspensions``); with a daemon running they wake it and wait for the pass that applies
them (bounded by ``--timeout``, unless ``--no-wait``).
"""

from __future__ import annotations

import difflib
import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from reconciler.cli.context import err, state
from reconciler.cli.device_cmd import device_app
from reconciler.cli.job_cmd import WAIT_SECONDS, NoWait, WaitTimeout, cli_user, now_utc, print_table
from reconciler.core.display import one_line
from reconciler.core.errors import InputFileError, UserError
from reconciler.core.group_status import group_statuses
from reconciler.core.planner import plan as make_plan
from reconciler.jobs import reconcile_request
from reconciler.workdir import plan_inputs, record_store, suspensions
from reconciler.workdir.history import device_timeline
from reconciler.workdir.layout import WorkPaths, safe_name

group_app = typer.Typer(help="Groups of the desired state: where each stands.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(group_app, name="group")


@group_app.command("status")
def group_status_cmd(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(metavar="[GROUP]...", help="Only these groups")] = None,
    file: Annotated[
        str | None,
        typer.Option("-f", "--file", metavar="PATH", help="Desired-state file or directory (as for plan)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the groups as JSON")] = False,
) -> None:
    """Per group: desired and observed revision, synced / progressing / halted / blocked (with reasons),
    device counts."""
    st = state(ctx)
    paths = st.paths()
    desired = plan_inputs.load_desired(paths, st.config(), file)
    inventory = plan_inputs.load_inventory(paths)
    status = plan_inputs.load_status(paths)
    result = make_plan(
        desired,
        inventory,
        status.observed,
        status.progress,
        datetime.now(UTC),
        suspended=suspensions.details(paths),
    )
    groups = group_statuses(result, desired, status.progress)
    if names:
        unknown = sorted(set(names) - {g.name for g in groups})
        if unknown:
            raise UserError(f"no group {', '.join(map(repr, unknown))} in the desired state")
        groups = [g for g in groups if g.name in names]
    if as_json:
        print(json.dumps({"format_version": 1, "groups": [g.to_json() for g in groups]}, indent=2))
        return
    rows = []
    for g in groups:
        c = g.counts
        reasons = ", ".join(f"{r} {n}" if n else r for r, n in sorted(g.reasons.items()))
        observed = g.observed_revision or "-"
        if g.observed_records and g.observed_current < g.observed_records:
            observed += f" ({g.observed_current}/{g.observed_records} current)"
        rows.append(
            [
                g.name,
                g.target,
                _state_text(g.state),
                g.desired_revision,
                observed,
                f"{c['converged']}/{c['devices']}",
                c["in_progress"],
                c["pending"],
                f"{c['failed']}/{g.failure_budget}",
                one_line(reasons) or "-",
            ]
        )
    print_table(
        [
            "GROUP",
            "TARGET",
            "STATE",
            "DESIRED",
            "OBSERVED",
            "SYNCED",
            "ACTIVE",
            "PENDING",
            "FAILED",
            "REASONS",
        ],
        rows,
    )


def _state_text(state_name: str) -> str:
    if state_name == "suspended":
        return "SUSPENDED (operator)"
    return state_name.upper() if state_name in ("halted", "blocked") else state_name


DesiredFile = Annotated[
    str | None,
    typer.Option("-f", "--file", metavar="PATH", help="Desired-state file or directory (as for plan)"),
]


@group_app.command("suspend")
def group_suspend_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="GROUP", help="A group of the desired state")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown with the group everywhere)")] = "",
    file: DesiredFile = None,
    no_wait: NoWait = False,
    timeout: WaitTimeout = WAIT_SECONDS,
) -> None:
    """Suspend a group at run time: no new device work starts in it, and its working devices stop at their
    next safe point and are held (as 'device hold'), until 'group resume'. The desired state is unchanged."""
    st = state(ctx)
    paths = st.paths()
    try:
        known = [g.name for g in plan_inputs.load_desired(paths, st.config(), file).planned_groups]
    except InputFileError as exc:
        # An emergency stop must not wait for a fixed YAML (the daemon keeps the last valid one in force):
        # check the name against the groups the engine has records of instead.
        known = sorted({r.group for r in record_store.load_all(paths).records.values() if r.group})
        err(f"warning: the desired state does not load ({exc}); checking {name!r} against the groups of the "
            "device records")  # fmt: skip
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = (
            f"did you mean {', '.join(map(repr, close))}?"
            if close
            else f"its groups: {', '.join(known) or 'none'}"
        )
        raise UserError(f"no group {name!r} in the desired state; {hint}")
    suspensions.suspend(paths, name, cli_user(), reason, now_utc())
    print(
        f"Group {name!r} suspended: no new device work starts in it; its working devices stop at their next "
        f"safe point and are held until 'panos-upgrade group resume {name}'."
    )
    _tell_daemon(paths, no_wait, timeout)


@group_app.command("resume")
def group_resume_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="GROUP", help="A suspended group")],
    no_wait: NoWait = False,
    timeout: WaitTimeout = WAIT_SECONDS,
) -> None:
    """Resume a suspended group: the devices its suspension held are released (they start over from a fresh
    pre-flight) and new work starts again as the desired state says."""
    paths = state(ctx).paths()
    current = suspensions.load_all(paths)
    if name not in current:
        listed = ", ".join(map(repr, sorted(current))) or "none"
        raise UserError(f"group {name!r} is not suspended (suspended groups: {listed})")
    suspensions.resume(paths, name, cli_user())
    print(f"Group {name!r} resumed: devices its suspension held are released; new work starts as planned.")
    _tell_daemon(paths, no_wait, timeout)


def _tell_daemon(paths: WorkPaths, no_wait: bool, timeout: float) -> None:
    """Wake a running daemon for the pass that applies the change, and wait for it (bounded)."""
    holder = reconcile_request.running_daemon(paths)
    applying = reconcile_request.foreground_apply(paths) if holder is None else None
    if applying is not None:
        print(f"The running 'apply' (pid {applying.get('pid', '?')}) applies it at its next pass.")
        return
    if holder is None:
        print("No daemon runs: the next 'apply' or daemon start applies it ('plan' shows it now).")
        return
    who = f"the daemon (pid {holder.get('pid', '?')})"
    path = reconcile_request.request_pass(paths, cli_user(), now_utc())
    if no_wait:
        print(f"Asked {who} for a pass ({path.name}); not waiting.")
        return
    seen = reconcile_request.wait_for_pass(paths, path.name, timeout)
    if seen.last_reconcile is None:
        raise UserError(
            f"the change is recorded, but {who} has not run a pass within {timeout:g} s to apply it "
            "(see 'panos-upgrade daemon status')"
        )
    print(f"{who[0].upper()}{who[1:]} applied it in its pass at {seen.last_reconcile.get('at')}.")


@device_app.command("history")
def device_history_cmd(
    ctx: typer.Context,
    serial: Annotated[str, typer.Argument(help="Firewall serial")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the timeline as JSON")] = False,
) -> None:
    """A device's timeline: every phase change with time, hop, job id and failure reason, the commands sent
    to it and operator requests, from the audit log and its status record."""
    safe_name(serial, "serial")
    paths = state(ctx).paths()
    events, record = device_timeline(paths, serial)
    if not events and record is None:
        raise UserError(f"no history for device {serial}: no audit entries and no status file")
    if as_json:
        current = None
        if record is not None:
            current = {
                k: record.get(k)
                for k in ("upgrade_status", "current_version", "target_version", "attempt", "group", "job_id")
            }
            current["last_error"] = record.get("last_error")
        print(json.dumps({"serial": serial, "current": current, "events": events}, indent=2))
        return
    rows = []
    for e in events:
        what = e["phase"] if e["kind"] == "phase" else e["kind"]
        if e["kind"] == "phase" and e["from_phase"]:
            what = f"{e['from_phase']} -> {e['phase']}"
        detail = e["detail"]
        if e["reason"]:
            detail = f"{e['reason']}: {detail}" if detail else e["reason"]
        if e["kind"] == "operator" and e["actor"]:
            detail += f" by {e['actor']}"
        rows.append([e["ts"] or "-", what, e["hop"] or "-", e["job_id"] or "-", one_line(detail) or "-"])
    print_table(["TIME", "EVENT", "HOP", "JOB", "DETAIL"], rows)
    if record is not None:
        print(
            f"now: {record.get('upgrade_status')} on {record.get('current_version')} "
            f"(target {record.get('target_version')}, attempt {record.get('attempt')})"
        )
