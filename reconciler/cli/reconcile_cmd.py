"""``panos-upgrade reconcile now``: wake the running daemon for a reconcile pass (no SIGHUP needed).

Exit codes: 0 the pass ran (or, with ``--no-wait``, the request is queued); 1 the pass failed, the request
was rejected or not taken in time; 3 no daemon runs (nothing is written then).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.context import err, state
from reconciler.cli.daemon_cmd import EXIT_NOT_RUNNING
from reconciler.cli.job_cmd import WAIT_SECONDS, NoWait, WaitTimeout, cli_user, now_utc
from reconciler.core.display import one_line
from reconciler.core.errors import UserError
from reconciler.jobs import reconcile_request

reconcile_app = typer.Typer(help="Ask the running daemon for a reconcile pass.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(reconcile_app, name="reconcile")


@reconcile_app.command("now")
def now_cmd(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log)")] = "",
    no_wait: NoWait = False,
    timeout: WaitTimeout = WAIT_SECONDS,
) -> None:
    """Wake the running daemon: it re-reads the desired state, the inventory and every status file and
    plans again now, instead of at its next resync. Waits for that pass (up to --timeout). Exit 3 when no
    daemon runs."""
    paths = state(ctx).paths()
    holder = reconcile_request.running_daemon(paths)
    applying = reconcile_request.foreground_apply(paths) if holder is None else None
    if applying is not None:
        err(
            f"error: no daemon runs in {paths.root}; a foreground 'apply' (pid {applying.get('pid', '?')}) holds it "
            "and plans again every few seconds by itself"
        )
        raise typer.Exit(EXIT_NOT_RUNNING)
    if holder is None:
        err(
            f"error: no daemon runs in {paths.root}: nothing to wake "
            "(start it with 'panos-upgrade daemon start', or converge in the foreground with 'panos-upgrade apply')"
        )
        raise typer.Exit(EXIT_NOT_RUNNING)
    who = f"the daemon (pid {holder.get('pid', '?')})"
    path = reconcile_request.request_pass(paths, cli_user(), now_utc(), reason)
    outcome = f"commands/processed/{Path(path.name).stem}.outcome.json"
    if no_wait:
        print(f"Queued {path.name}; {who} runs a pass when it reads it (its outcome: {outcome}).")
        return
    print(f"Asked {who} for a reconcile pass; waiting up to {timeout:g} s...")
    seen = reconcile_request.wait_for_pass(paths, path.name, timeout)
    if seen.rejected is not None:
        raise UserError(f"request rejected: {seen.rejected}")
    if seen.taken_at is None:
        raise UserError(
            f"{who} has not taken {path.name} within {timeout:g} s (is its desired state valid? see "
            f"'panos-upgrade daemon status'); it stays queued (its outcome will be {outcome})"
        )
    last = seen.last_reconcile
    if last is None:
        raise UserError(
            f"{who} took the request at {seen.taken_at} but finished no pass within {timeout:g} s "
            "(a long pass, or a busy daemon: see 'panos-upgrade daemon status')"
        )
    print(
        f"Reconcile pass finished at {last.get('at')}: {last.get('result')}, "
        f"{last.get('started', 0)} device(s) started, {last.get('changes_pending', 0)} change(s) pending "
        f"(took {last.get('duration_s', 0)} s)"
    )
    if last.get("result") != "ok":
        err(f"the pass failed: {one_line(str(last.get('error') or 'no reason recorded'))}")
        raise typer.Exit(1)
