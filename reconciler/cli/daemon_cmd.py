"""``panos-upgrade daemon run|start|stop|status``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Annotated

import typer

from reconciler.cli.context import state
from reconciler.core.display import one_line
from reconciler.core.errors import StoreError, UserError
from reconciler.daemon.service import Daemon
from reconciler.workdir import lock, plan_inputs, store, suspensions

daemon_app = typer.Typer(help="Run the reconciler daemon (GitOps loop) and control it.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(daemon_app, name="daemon")


WorkersOpt = Annotated[
    int | None, typer.Option("--workers", min=1, max=500, help="Devices in flight (workers.max)")
]
DesiredOpt = Annotated[
    str | None, typer.Option("-f", "--file", metavar="PATH", help="Desired-state file or directory")
]


@daemon_app.command("run")
def run_cmd(ctx: typer.Context, workers: WorkersOpt = None, file: DesiredOpt = None) -> None:
    """Run in the foreground (what systemd starts): watch, reconcile, until SIGTERM."""
    st = state(ctx)
    st.component = "daemon"
    paths = st.paths()
    cfg = st.config()
    if workers is not None:
        cfg.set("workers.max", str(workers))
    desired = plan_inputs.desired_path(paths, cfg, file)
    raise typer.Exit(Daemon(paths, cfg, desired_path=desired).run())


@daemon_app.command("start")
def start_cmd(ctx: typer.Context, workers: WorkersOpt = None, file: DesiredOpt = None) -> None:
    """Start the daemon in the background (its output goes to logs/text/daemon-console.log)."""
    paths = state(ctx).paths()
    holder = lock.holder(paths.lock_file)
    if holder is not None:
        raise UserError(f"the daemon already runs (pid {holder.get('pid')}); 'panos-upgrade daemon status'")
    cmd = [sys.executable, "-m", "reconciler", "--work-dir", str(paths.root), "daemon", "run"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if file is not None:
        cmd += ["--file", file]
    console = paths.text_logs_dir / "daemon-console.log"
    with open(console, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"the daemon exited at once (code {proc.returncode}); see {console}")
        if lock.holder(paths.lock_file):
            print(f"daemon started (pid {proc.pid}); logs in {paths.text_logs_dir}")
            return
        time.sleep(0.1)
    raise UserError(f"the daemon did not take its lock within 20 s; see {console}")


@daemon_app.command("stop")
def stop_cmd(
    ctx: typer.Context,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for a graceful stop")] = 90.0,
) -> None:
    """Stop the daemon gracefully (SIGTERM: no new work; running commands finish; state persisted)."""
    paths = state(ctx).paths()
    holder = lock.holder(paths.lock_file)
    if holder is None:
        print("the daemon is not running")
        return
    pid = int(holder.get("pid", 0))
    if pid <= 0:
        raise UserError(f"cannot tell the daemon's pid from {paths.lock_file}")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print("the daemon is not running")
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock.holder(paths.lock_file) is None:
            print(f"daemon (pid {pid}) stopped")
            return
        time.sleep(0.2)
    raise UserError(f"the daemon (pid {pid}) did not stop within {timeout:g} s")


EXIT_NOT_RUNNING = 3
"""``daemon status`` when no daemon runs (systemctl's "program is not running")."""


@daemon_app.command("status")
def status_cmd(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False
) -> None:
    """Show the daemon's status (status/daemon.json) and whether it runs. Exit 0 when it runs, 3 when it
    does not (as 'systemctl status')."""
    running = _show_status(ctx, as_json)
    if not running:
        raise typer.Exit(EXIT_NOT_RUNNING)


def _show_status(ctx: typer.Context, as_json: bool) -> bool:
    """Print the status; whether a daemon runs."""
    paths = state(ctx).paths()
    holder = lock.holder(paths.lock_file)
    try:
        doc = store.read_json(paths.daemon_status_file, schema="daemon-status")
    except FileNotFoundError:
        doc = None
    except StoreError as exc:
        raise UserError(str(exc)) from exc
    running = holder is not None
    suspended = suspensions.load_all(paths)
    if as_json:
        groups = [{**s.to_json(), "detail": s.detail} for _, s in sorted(suspended.items())]
        print(
            json.dumps(
                {"running": running, "holder": holder, "status": doc, "suspended_groups": groups}, indent=2
            )
        )
        return running
    if doc is None:
        print("running" if running else "not running (no status yet)")
        _print_suspended(suspended)
        return running
    desired = doc["desired"]
    print(f"daemon:     {'running' if running else 'not running'} (pid {doc['pid']}, state {doc['state']})")
    print(f"started:    {doc['started_at']}   updated: {doc['updated_at']}")
    print(
        f"desired:    {desired['path']}  revision {desired.get('revision') or '-'}  "
        f"{'valid' if desired['valid'] else 'INVALID: ' + desired.get('error', '')}"
    )
    last = doc.get("last_reconcile") or {}
    print(
        f"reconcile:  {last.get('at', '-')}  {last.get('result', '-')}  {last.get('changes_pending', '-')} changes pending"
    )
    print(f"in flight:  {doc['in_flight']} (max {doc['workers']['max']})")
    for item in doc.get("stalled", []):
        print(
            f"STALLED:    {item['serial']} in {item['phase']}: no progress for {item['seconds']:.0f} s "
            f"(since {item['since']})"
        )
    phases = ", ".join(f"{k} {v}" for k, v in doc["counts_by_phase"].items()) or "none"
    print(f"devices:    {phases}")
    _print_suspended(suspended)
    return running


def _print_suspended(suspended: Mapping[str, suspensions.Suspension]) -> None:
    for _, s in sorted(suspended.items()):
        print(f"SUSPENDED:  {one_line(s.detail)}")
