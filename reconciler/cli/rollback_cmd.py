"""``panos-upgrade device rollback SERIAL`` and ``panos-upgrade group rollback NAME``.

Each rollback is a command file (``command: rollback``), like ``device hold``. With a daemon (or ``apply``)
running, the daemon starts it; the command waits up to ``--timeout`` seconds for the daemon's outcome
(started, or refused with the reason) unless ``--no-wait``. With none, it runs here and now
(``reconciler.engine.rollback.run_now``) until the devices rest, at most ``--run-timeout`` seconds.

Exit codes: 0 every rollback asked for was started (daemon) or finished with the device back on its previous
version (here); 1 a rollback was refused (no previous version recorded, mid-upgrade, downgrade not allowed,
an HA peer that cannot go back with it), failed, did not finish in time, or the command file was rejected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from reconciler.cli.context import State, err, state
from reconciler.cli.device_cmd import device_app
from reconciler.cli.group_cmd import DesiredFile, group_app
from reconciler.cli.job_cmd import WAIT_SECONDS, NoWait, WaitTimeout, cli_user, now_utc
from reconciler.core.errors import UserError
from reconciler.engine.rollback import run_now
from reconciler.jobs import operator_requests
from reconciler.machine.records import Phase
from reconciler.machine.rollback import group_candidates
from reconciler.workdir import inventory_store, plan_inputs, record_store
from reconciler.workdir.layout import safe_name

RUN_SECONDS = 4 * 3600.0
"""How long a rollback run here (no daemon) may take before the command stops waiting for it."""

Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the status file and the audit log)")]
RunTimeout = Annotated[
    float,
    typer.Option(
        "--run-timeout",
        metavar="SECONDS",
        min=1.0,
        help="With no daemon running: stop waiting after this many seconds (the rollback is resumed by "
        "the next daemon or apply)",
    ),
]


def register(app: typer.Typer) -> None:
    """Commands attach to ``device_app`` and ``group_app`` at import time."""


@device_app.command("rollback")
def device_rollback_cmd(
    ctx: typer.Context,
    serial: str,
    file: DesiredFile = None,
    reason: Reason = "",
    no_wait: NoWait = False,
    timeout: WaitTimeout = WAIT_SECONDS,
    run_timeout: RunTimeout = RUN_SECONDS,
) -> None:
    """Return a firewall (an HA member: its pair, passive member first) to the version it ran before its
    last hop, with the same pre- and post-flight checks as an upgrade. Afterwards the desired state holds
    it until 'device release' or a new group target."""
    st = state(ctx)
    safe_name(serial, "serial")
    paths = st.paths()
    if (
        serial not in inventory_store.load(paths, required=False)
        and not paths.device_status_file(serial).exists()
    ):
        raise UserError(f"device {serial} is not in the inventory; run 'panos-upgrade device discover'")
    _send(st, [serial], file, reason, wait=not no_wait, timeout=timeout, run_timeout=run_timeout)


@group_app.command("rollback")
def group_rollback_cmd(
    ctx: typer.Context,
    name: str,
    file: DesiredFile = None,
    reason: Reason = "",
    no_wait: NoWait = False,
    timeout: WaitTimeout = WAIT_SECONDS,
    run_timeout: RunTimeout = RUN_SECONDS,
) -> None:
    """Roll back every device of a group that finished its upgrade in the group's current desired state
    (same target and settings), each HA pair as one unit."""
    st = state(ctx)
    paths = st.paths()
    desired = plan_inputs.load_desired(paths, st.config(), file)
    group = next((g for g in desired.groups if g.name == name), None)
    if group is None:
        raise UserError(f"no group {name!r} in the desired state")
    records = record_store.load_all(paths).records.values()
    serials = group_candidates(records, name, desired.group_digest(group))
    if not serials:
        raise UserError(
            f"group {name!r}: no device finished its upgrade to {group.target} in the current desired state; "
            "nothing to roll back"
        )
    print(f"group {name}: rolling back {len(serials)} unit(s): {', '.join(serials)}")
    _send(st, serials, file, reason, wait=not no_wait, timeout=timeout, run_timeout=run_timeout)


def _send(
    st: State,
    serials: list[str],
    file: str | None,
    reason: str,
    *,
    wait: bool,
    timeout: float,
    run_timeout: float,
) -> None:
    paths = st.paths()
    now = now_utc()
    names = []
    for serial in serials:
        data: dict[str, Any] = {"command": "rollback", "serial": serial, "submitted_by": cli_user()}
        if reason:
            data["reason"] = reason
        data["timestamp"] = now.isoformat(timespec="seconds").replace("+00:00", "Z")
        names.append(operator_requests.write_command(paths, data, now).name)
    # The desired state gives the rolled-back devices their group's settings (readiness checks, margins).
    desired_path = plan_inputs.desired_path(paths, st.config(), file)
    ran = run_now(paths, st.config(), desired_path=desired_path, timeout=run_timeout)
    if ran.holder is not None:
        _with_daemon(st, names, ran.holder, wait, timeout)
        return
    ok = True
    for name in names:
        outcome = ran.for_file(name)
        if outcome is None:
            reason_file = paths.commands("rejected") / f"{name}.reason"
            text = (
                reason_file.read_text(encoding="utf-8").strip() if reason_file.exists() else "unknown reason"
            )
            err(f"command rejected: {text}")
            ok = False
            continue
        for dev in outcome.devices:
            if dev.result != operator_requests.APPLIED:
                print(f"{dev.serial}: {dev.result}: {dev.message}")
                ok = False
                continue
            record = ran.records.get(dev.serial)
            if record is None:
                print(f"{dev.serial}: outcome unknown: no record after the rollback")
                ok = False
            elif record.phase is Phase.DONE and record.rollback is not None:
                print(
                    f"{dev.serial}: rolled back from {record.rollback.from_version} to {record.current_version}; "
                    "held until 'panos-upgrade device release' or the group's target changes"
                )
            else:
                why = f": {record.last_error.message}" if record.last_error else f": {record.message}"
                state_text = "still in motion" if ran.timed_out else "not rolled back"
                print(f"{dev.serial}: {state_text} (upgrade_status {record.phase.value}){why}")
                ok = False
    others = len(ran.outcomes) - len(names)
    if others > 0:
        print(f"(also applied {others} other waiting command file(s); see commands/processed/)")
    if ran.timed_out:
        err(f"stopped waiting after {run_timeout:g} s; the next daemon or apply resumes the rollback")
    if not ok:
        raise typer.Exit(1)


def _with_daemon(st: State, names: list[str], holder: Any, wait: bool, timeout: float) -> None:
    paths = st.paths()
    who = f"the running daemon (pid {holder.get('pid', '?')} on {holder.get('host', '?')})"
    if not wait:
        for name in names:
            print(
                f"Queued {name}; {who} starts it (outcome: commands/processed/{Path(name).stem}.outcome.json)."
            )
        return
    print(f"Queued {len(names)} rollback(s); waiting up to {timeout:g} s for {who} to start them...")
    ok = True
    for name in names:
        result = operator_requests.wait_reported(paths, name, timeout)
        if result is None:
            err(f"{who} has not taken {name} within {timeout:g} s; it stays queued")
            ok = False
            continue
        if result.rejected is not None:
            err(f"command rejected: {result.rejected}")
            ok = False
            continue
        for line in result.lines():
            print(line)
        ok = ok and result.changed
    if ok:
        print("The daemon runs the rollback; follow it with 'panos-upgrade device status SERIAL'.")
    else:
        raise typer.Exit(1)
