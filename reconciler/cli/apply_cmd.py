"""``panos-upgrade apply``: plan, confirm, and converge in the foreground with a live view.

Exit codes: 0 converged, 1 error (bad input, stale plan, refused), 2 finished with devices failed or blocked.

``--json`` prints JSON events on stdout, one per line (``schemas/apply-events.schema.json``): ``plan`` (what will
be done), one ``transition`` per phase change of a device, then ``summary`` (result, groups, devices not
converged, exit code), for CI pipelines. Errors stay one line on stderr.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli import plan_render, progress_view
from reconciler.cli.context import err, state
from reconciler.core.errors import StoreError, UserError
from reconciler.core.plan import NONE, Plan, staleness
from reconciler.engine import rehearsal
from reconciler.engine.loop import drive
from reconciler.engine.reconcile import group_lines
from reconciler.engine.session import Session, open_session
from reconciler.machine.records import TERMINAL_PHASES, Phase
from reconciler.workdir import plan_inputs, store
from reconciler.workdir.layout import WorkPaths
from reconciler.workdir.lock import DaemonLock

EXIT_INCOMPLETE = 2


def register(app: typer.Typer) -> None:
    app.command("apply")(apply_cmd)


def apply_cmd(
    ctx: typer.Context,
    planfile: Annotated[
        Path | None,
        typer.Argument(metavar="[PLANFILE]", help="A plan saved by 'plan --out' (refused when stale)"),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "-f",
            "--file",
            metavar="PATH",
            help="Desired-state file or directory (for a PLANFILE: the one it was made from)",
        ),
    ] = None,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask for confirmation")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Same plan and checks, no change on any device")
    ] = False,
    target: Annotated[
        list[str] | None, typer.Option("--target", metavar="SERIAL|GROUP", help="Only these (repeatable)")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", metavar="SECONDS", help="Stop waiting after this long")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="JSON events on stdout, one per line: plan, each transition, summary (needs --auto-approve)",
        ),
    ] = False,
) -> None:
    """Plan, show the plan, ask, then converge the fleet in the foreground."""
    if as_json and not auto_approve:
        raise UserError("--json needs --auto-approve (no question can be asked on a JSON stream)")
    st = state(ctx)
    # A dry run is read-only: no log file, no lock (the daemon may run), nothing written to the work
    # directory (reconciler.engine.rehearsal).
    paths = st.paths(log_files=not dry_run)
    cfg = st.config()
    saved = _load_plan(planfile) if planfile is not None else None
    desired_path = plan_inputs.desired_path(paths, cfg, file)
    events = _Events() if as_json else None
    hint = (
        None
        if file is not None
        else f"this apply read the desired state from {desired_path} (desired.path); to apply a plan "
        "made from another file or directory, pass -f DIR (the one given to 'plan')"
    )
    if dry_run:
        with rehearsal.read_only_session(paths, cfg, desired_path=desired_path) as session:
            _run(session, saved, target, auto_approve, dry_run, timeout, events, hint, records_from=paths)
        return
    with DaemonLock(paths.lock_file):
        session = open_session(paths, cfg, desired_path=desired_path, dry_run=dry_run)
        try:
            _run(session, saved, target, auto_approve, dry_run, timeout, events, hint)
        finally:
            session.close()


def _load_plan(path: Path) -> Plan:
    try:
        return Plan.from_json(store.read_json(path, schema="plan"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such plan file") from None
    except (StoreError, KeyError, ValueError) as exc:
        raise UserError(f"{path}: not a usable plan: {exc}") from None


def _run(
    session: Session,
    saved: Plan | None,
    target: list[str] | None,
    auto_approve: bool,
    dry_run: bool,
    timeout: float | None,
    events: _Events | None = None,
    desired_hint: str | None = None,
    records_from: WorkPaths | None = None,
) -> None:
    """``records_from``: a read-only dry run adopts that work directory's records (the session's own
    directory is a scratch copy) instead of resuming them."""
    rec = session.reconciler
    broken = rehearsal.adopt_records(session, records_from) if records_from else rec.load_records()
    for serial in broken:
        err(f"warning: status file of {serial} is unusable; that device is left alone")
    if not rec.reload_desired():
        raise UserError(f"desired state invalid: {rec.desired_error}")
    first = _preview(session)
    if saved is not None:
        assert rec.desired is not None
        reasons = staleness(
            saved, rec.desired.digest, rec.inventory.digest(), {d.serial: d.current for d in first.devices}
        )
        if reasons and desired_hint and saved.desired_digest != rec.desired.digest:
            raise UserError(
                "the saved plan does not match the desired state:\n  " + "\n  ".join([*reasons, desired_hint])
            )
        if reasons:
            raise UserError("the saved plan is stale, make a new one:\n  " + "\n  ".join(reasons))
        rec.only = {d.serial for d in saved.devices if d.changes}
        shown = saved
    else:
        shown = first
        if target:
            try:
                shown = first.restricted_to(target)
            except ValueError as exc:
                raise UserError(str(exc)) from None
            rec.only = {d.serial for d in shown.devices}
    if events is not None:
        events.emit({"event": "plan", "dry_run": dry_run, "counts": shown.counts(), "plan": shown.to_json()})
    else:
        print(plan_render.to_table(shown), end="")
    if not shown.changes and not any(d.in_progress for d in shown.devices):
        if events is not None:
            events.summary("nothing-to-do", 0, 0.0, dry_run, [], [])
            return
        print("Nothing to do: the fleet matches the desired state.")
        return
    if events is not None:
        _run_json(session, events, shown, dry_run, timeout)
        return
    if dry_run:
        print("Dry run: pre-flight checks and downloads planning only; no device will be changed.")
    if not auto_approve:
        if not sys.stdin.isatty():
            raise UserError("refusing to apply without confirmation: use --auto-approve in scripts")
        if not typer.confirm("Apply this plan?", default=False):
            raise UserError("cancelled: nothing was changed")
    stop = threading.Event()
    started = time.monotonic()
    deadline = started + timeout if timeout else None
    with progress_view.open_view(session) as view:
        result = drive(
            session, stop=stop, until_settled=True, resync=2.0, on_tick=view.tick, deadline=deadline
        )
    plan = result.plan or rec.last_plan
    assert plan is not None
    if dry_run:
        # The plan as shown: a dry run changed nothing, so it is still the plan (its counts are plan's).
        plan = shown
    rows = group_lines(rec, plan, session.executor.records)
    print(f"\nFinished in {time.monotonic() - started:.1f} s")
    if dry_run:
        _dry_run_summary(session, plan)
    print(progress_view.summary_table(rows))
    failed = sum(int(r["failed"]) for r in rows)  # type: ignore[call-overload]
    incomplete = any(int(r["converged"]) < int(r["devices"]) for r in rows)  # type: ignore[call-overload]
    if dry_run:
        print("Dry run: nothing was written to the work directory.")
    else:
        print(
            f"Status files: {session.paths.device_status_dir}  Logs: {session.paths.logs_dir}  Audit: {session.paths.audit_file}"
        )
    if failed:
        print(
            "Failed devices keep their state; see 'panos-upgrade device status SERIAL', then 'device retry SERIAL'."
        )
    if not dry_run:
        _write_summary(session, rows)
    if (failed or incomplete) and not dry_run:
        timed_out = deadline is not None and time.monotonic() > deadline
        for line in why_incomplete(session, plan, timed_out):
            print(line)
        raise typer.Exit(EXIT_INCOMPLETE)


class _Events:
    """``apply --json``: JSON events on stdout, one per line, flushed at once (a pipeline reads them live)."""

    def emit(self, event: dict[str, object]) -> None:
        print(json.dumps({"format_version": EVENTS_FORMAT, **event}, separators=(",", ":")), flush=True)

    def summary(
        self,
        result: str,
        exit_code: int,
        elapsed: float,
        dry_run: bool,
        groups: list[dict[str, object]],
        waiting: list[tuple[str, str]],
    ) -> None:
        self.emit(
            {
                "event": "summary",
                "result": result,
                "exit_code": exit_code,
                "elapsed_s": round(elapsed, 3),
                "dry_run": dry_run,
                "groups": groups,
                "not_converged": [{"serial": s, "why": why} for s, why in waiting],
            }
        )


EVENTS_FORMAT = 1
"""``format_version`` of every ``apply --json`` event."""


def _run_json(session: Session, events: _Events, shown: Plan, dry_run: bool, timeout: float | None) -> None:
    """Converge with JSON events instead of the live view; the same exit codes as the text mode."""
    rec = session.reconciler
    started = time.monotonic()
    deadline = started + timeout if timeout else None
    with progress_view.open_events(session, events.emit) as view:
        result = drive(
            session,
            stop=threading.Event(),
            until_settled=True,
            resync=2.0,
            on_tick=view.tick,
            deadline=deadline,
        )
    plan = shown if dry_run else (result.plan or rec.last_plan)
    assert plan is not None
    rows = group_lines(rec, plan, session.executor.records)
    if not dry_run:
        _write_summary(session, rows)
    failed = sum(int(r["failed"]) for r in rows)  # type: ignore[call-overload]
    incomplete = any(int(r["converged"]) < int(r["devices"]) for r in rows)  # type: ignore[call-overload]
    elapsed = time.monotonic() - started
    if dry_run:
        events.summary("dry-run", 0, elapsed, True, rows, [])
        return
    if not (failed or incomplete):
        events.summary("converged", 0, elapsed, False, rows, [])
        return
    timed_out = deadline is not None and time.monotonic() > deadline
    outcome = "failed" if failed else ("timeout" if timed_out else "incomplete")
    events.summary(outcome, EXIT_INCOMPLETE, elapsed, False, rows, not_converged(session, plan))
    raise typer.Exit(EXIT_INCOMPLETE)


def why_incomplete(session: Session, plan: Plan, timed_out: bool) -> list[str]:
    """Why ``apply`` exits 2: one line per device not converged, with the plan's reason and detail (held,
    waiting for a held HA peer, failed, outside the window...) or the phase it was still in."""
    waiting = not_converged(session, plan)
    head = "stopped waiting at --timeout" if timed_out else "nothing more can start now"
    return [f"Not converged ({head}): {len(waiting)} device(s):"] + [f"  {s}: {why}" for s, why in waiting]


def not_converged(session: Session, plan: Plan) -> list[tuple[str, str]]:
    """(serial, why) for every device of the plan not converged."""
    rec = session.reconciler
    records = session.executor.records
    waiting = [d for d in plan.devices if d.action != NONE and (rec.only is None or d.serial in rec.only)]
    lines = []
    for d in waiting:
        record = records.get(d.serial)
        if d.reason:
            why = f"{d.reason}: {d.detail}" if d.detail else d.reason
        elif record is not None and record.phase not in TERMINAL_PHASES:
            why = f"still working ({record.phase.value})"
        elif d.queued:
            why = "queued behind the group's maxParallel"
        else:
            why = f"{d.action} not finished"
        lines.append((d.serial, why))
    return lines


def _dry_run_summary(session: Session, plan: Plan) -> None:
    """What the rehearsal found, under the plan's own counts (no device was changed)."""
    records = session.executor.records
    previewed = sorted(s for s in session.reconciler.rehearsed if s in records)
    failed = [records[s] for s in previewed if records[s].phase is Phase.FAILED]
    passed = [s for s in previewed if records[s].phase is Phase.DRY_RUN_COMPLETE]
    print(f"Dry run, no device changed. Plan: {plan_render.summary_line(plan)}")
    print(
        f"dry run: {len(previewed)} device(s) previewed: {len(passed)} would pass pre-flight, "
        f"{len(failed)} would fail"
    )
    for rec in failed:
        error = rec.last_error
        print(f"  {rec.serial}: {error.reason}: {error.message}" if error else f"  {rec.serial}: failed")
    unfinished = [s for s in previewed if s not in passed and records[s].phase is not Phase.FAILED]
    for serial in unfinished:
        print(f"  {serial}: not finished ({records[serial].phase.value})")


def _preview(session: Session) -> Plan:
    rec = session.reconciler
    result = rec.preview()
    if result.plan is None:
        raise UserError(result.error or "nothing to plan")
    return result.plan


def _write_summary(session: Session, rows: list[dict[str, object]]) -> None:
    path = session.paths.status_dir / "last-apply.json"
    store.atomic_write_text(path, json.dumps({"groups": rows}, indent=2) + "\n")
