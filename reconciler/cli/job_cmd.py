"""``panos-upgrade job ...``: submit, list, show (alias ``status``), cancel — the original tool's job queue.

Submitting writes a job file into ``queue/pending`` and nothing else; the daemon (or ``apply``) runs it.
Cancelling writes a command file into ``commands/incoming``; it is applied at once when no daemon runs,
else the daemon applies it (``send_command`` is shared with ``device hold|release|retry``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from reconciler.cli.context import State, err, state
from reconciler.core.errors import StoreError, UserError
from reconciler.core.inventory import Inventory
from reconciler.core.version import PanOsVersion
from reconciler.jobs import job_status, operator_requests, queue
from reconciler.machine import MachineSettings
from reconciler.machine.records import DeviceRecord
from reconciler.workdir import inventory_store, lock, record_store
from reconciler.workdir.layout import QUEUE_STATES, WorkPaths

job_app = typer.Typer(
    help="Submit, list, show and cancel upgrade jobs (the job queue).", no_args_is_help=True
)


WAIT_SECONDS = 30.0
"""How long a command waits, by default, for a running daemon to apply it."""

NoWait = Annotated[
    bool,
    typer.Option(
        "--no-wait",
        help="When a daemon runs: queue the command and return at once (exit 0), without waiting for its outcome",
    ),
]
WaitTimeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.0,
        max=3600.0,
        metavar="SECONDS",
        help="When a daemon runs: how long to wait for it to apply the command (exit 1 if it has not)",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(job_app, name="job")


def cli_user() -> str:
    """Who is running the CLI, for ``submitted_by`` and the audit log."""
    return f"{os.environ.get('USER') or os.environ.get('LOGNAME') or 'unknown'} (cli)"


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_target(value: str | None, option: str = "--target-version") -> str | None:
    if value is None:
        return None
    try:
        return str(PanOsVersion.parse(value))
    except ValueError as exc:
        raise UserError(f"{option}: {exc}") from None


# -- submit ----------------------------------------------------------------------------------------------


@job_app.command("submit")
def submit_cmd(
    ctx: typer.Context,
    device: Annotated[
        str | None, typer.Option("--device", metavar="SERIAL", help="One standalone firewall")
    ] = None,
    ha_pair: Annotated[
        tuple[str, str] | None,
        typer.Option("--ha-pair", metavar="SERIAL1 SERIAL2", help="Both members of an HA pair, in any order"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Same plan and checks, change nothing")] = False,
    download_only: Annotated[
        bool, typer.Option("--download-only", help="Pre-stage the images only (no install, no reboot)")
    ] = False,
    target_version: Annotated[
        str | None,
        typer.Option("--target-version", metavar="VERSION", help="Default: end of the upgrade path"),
    ] = None,
    job_id: Annotated[
        str | None, typer.Option("--job-id", metavar="ID", help="Default: a generated id")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Free text kept with the job")] = "",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the queued job as JSON (its job_id, file, devices, mode)")
    ] = False,
) -> None:
    """Queue one upgrade (or download-only / dry-run) job for a firewall or an HA pair."""
    if (device is None) == (ha_pair is None):
        raise UserError("give exactly one of --device SERIAL or --ha-pair SERIAL1 SERIAL2")
    st = state(ctx)
    paths = st.paths()
    inv = inventory_store.load(paths)
    now = now_utc()
    spec = queue.JobSpec(
        job_id=queue.check_job_id(job_id) if job_id is not None else queue.new_job_id(now),
        type=queue.STANDALONE if device is not None else queue.HA_PAIR,
        devices=(device,) if device is not None else tuple(ha_pair or ()),
        dry_run=dry_run,
        download_only=download_only,
        target_version=parse_target(target_version),
        created_at=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        submitted_by=cli_user(),
        reason=reason,
    )
    written = queue.submit(paths, [spec], inv)
    if as_json:
        doc = {
            "job_id": spec.job_id,
            "type": spec.type,
            "devices": list(spec.devices),
            "mode": spec.kind_text,
            "dry_run": spec.dry_run,
            "download_only": spec.download_only,
            "target_version": spec.target_version,
            "file": str(written[0]) if written else None,
            "daemon_running": lock.holder(paths.lock_file) is not None,
        }
        print(json.dumps(doc, indent=2))
        return
    kind = "HA pair" if spec.type == queue.HA_PAIR else "device"
    print(f"Queued {spec.kind_text} job {spec.job_id} for {kind} {' + '.join(spec.devices)}")
    print(f"  target: {spec.target_version or 'end of the upgrade path'}")
    print(f"Monitor with: panos-upgrade job show {spec.job_id}")
    note_daemon(paths)


def note_daemon(paths: WorkPaths) -> None:
    """Remind that queued jobs need a daemon (or apply) to run."""
    if lock.holder(paths.lock_file) is None:
        print(
            "Note: no daemon is running; queued jobs wait in queue/pending until 'panos-upgrade daemon start'."
        )


# -- list / show -------------------------------------------------------------------------------------------


def _records(paths: WorkPaths) -> dict[str, DeviceRecord]:
    return record_store.load_all(paths).records


def current_status(
    job: queue.QueuedJob, paths: WorkPaths, records: Mapping[str, DeviceRecord], inv: Inventory
) -> job_status.JobStatus | None:
    """The engine's status file when it agrees with the queue folder, else one built from the records."""
    if job.spec is None:
        return None
    try:
        saved = job_status.read(paths, job.job_id)
    except (StoreError, ValueError, KeyError):
        saved = None
    if saved is not None and saved.state == job.state:
        return saved
    return job_status.build(
        job.spec,
        job.state,
        {s: records.get(s) for s in job.spec.devices},
        now_utc(),
        inventory=inv,
        started_at=saved.started_at if saved else None,
        reason=job.reason or (saved.reason if saved else None),
    )


def job_json(job: queue.QueuedJob, status: job_status.JobStatus | None) -> dict[str, Any]:
    if status is None:
        return {"job_id": job.job_id, "state": job.state, "file": job.path.name, "reason": job.reason}
    data = status.to_json()
    data["file"] = job.path.name
    if job.reason:
        data["reason"] = job.reason
    return data


def _progress_text(status: job_status.JobStatus | None) -> str:
    if status is None:
        return "-"
    s = status.summary
    parts = [f"{s['completed']}/{s['total']} done"]
    parts += [
        f"{s[k]} {k.replace('_', ' ')}"
        for k in ("in_progress", "failed", "held", "cancelled", "skipped")
        if s[k]
    ]
    return ", ".join(parts)


@job_app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option("--status", metavar="STATE", help=f"Only jobs in this state: {', '.join(QUEUE_STATES)}"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (job status objects)")] = False,
) -> None:
    """List jobs from every queue folder (the folder is the state), with their devices' progress."""
    if status is not None and status not in QUEUE_STATES:
        raise UserError(f"--status: {status!r} is not one of {', '.join(QUEUE_STATES)}")
    paths = state(ctx).paths()
    inv = inventory_store.load(paths, required=False)
    records = _records(paths)
    found = queue.queued(paths, [status] if status else QUEUE_STATES)
    rows = [(job, current_status(job, paths, records, inv)) for job in found]
    if as_json:
        print(json.dumps([job_json(j, s) for j, s in rows], indent=2))
        return
    if not rows:
        print(f"No {status + ' ' if status else ''}jobs.")
        return
    header = ("JOB_ID", "STATE", "TYPE", "MODE", "DEVICES", "PROGRESS", "CREATED")
    table = []
    for job, st in rows:
        spec = job.spec
        table.append(
            (
                job.job_id,
                job.state,
                spec.type if spec else "?",
                spec.kind_text if spec else "?",
                " ".join(spec.devices) if spec else "?",
                _progress_text(st),
                (spec.created_at if spec else "") or "-",
            )
        )
    print_table(header, table)
    rejected = [job for job, _ in rows if job.state == "rejected"]
    for job in rejected:
        print(f"  rejected {job.job_id}: {job.reason or 'no reason recorded'}")
    print(f"{len(rows)} job(s)")


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=False)).rstrip())


def _show(ctx: typer.Context, job_id: str, as_json: bool) -> None:
    paths = state(ctx).paths()
    job = queue.find(paths, job_id)
    if job is None:
        raise UserError(f"no job {job_id!r} in any queue folder ('panos-upgrade job list' shows them)")
    inv = inventory_store.load(paths, required=False)
    status = current_status(job, paths, _records(paths), inv)
    if as_json:
        print(json.dumps(job_json(job, status), indent=2))
        return
    print(f"job_id         {job.job_id}")
    print(f"state          {job.state}")
    print(f"file           {job.path}")
    if job.reason:
        print(f"reason         {job.reason}")
    if status is None:
        return
    spec = job.spec
    assert spec is not None
    print(f"type           {spec.type}{f' ({spec.ha_pair_name})' if spec.ha_pair_name else ''}")
    print(f"mode           {spec.kind_text}")
    print(f"target         {spec.target_version or 'end of the upgrade path'}")
    for name in ("created_at", "started_at", "finished_at"):
        print(f"{name:<14} {getattr(status, name) or '-'}")
    if spec.submitted_by:
        print(f"submitted_by   {spec.submitted_by}")
    print(f"progress       {_progress_text(status)}")
    header = ("SERIAL", "HOSTNAME", "STATUS", "PROGRESS", "VERSION", "TARGET", "MESSAGE")
    rows = [
        (
            d.serial,
            d.hostname or "-",
            d.upgrade_status,
            f"{d.progress}%",
            d.current_version or "-",
            d.target_version or "-",
            (d.last_error.message if d.last_error else d.upgrade_message) or "-",
        )
        for d in status.device_status
    ]
    print()
    print_table(header, rows)


@job_app.command("show")
def show_cmd(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the job status JSON")] = False,
) -> None:
    """Show one job: its state, mode, timestamps and each device's progress (or why it was rejected)."""
    _show(ctx, job_id, as_json)


@job_app.command("status")
def status_cmd(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the job status JSON")] = False,
) -> None:
    """Same as 'job show' (the original tool's name)."""
    _show(ctx, job_id, as_json)


# -- cancel (and the shared command path) ------------------------------------------------------------------


@job_app.command("cancel")
def cancel_cmd(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the status and audit log)")] = "",
    no_wait: NoWait = False,
    timeout: WaitTimeout = WAIT_SECONDS,
) -> None:
    """Cancel a job: devices not started never start; working ones are held at their next safe point.
    Exit 1 when refused (e.g. the job already finished) or nothing changed."""
    st = state(ctx)
    paths = st.paths()
    job = queue.find(paths, job_id)
    if job is None:
        raise UserError(f"no job {job_id!r} in any queue folder ('panos-upgrade job list' shows them)")
    if job.state == "rejected":
        raise UserError(f"job {job_id} was rejected; there is nothing to cancel ({job.reason})")
    data = {"command": "cancel_upgrade", "target": "job", "job_id": job.job_id, "submitted_by": cli_user()}
    send_command(st, data, reason, wait=not no_wait, timeout=timeout)


def send_command(
    st: State, data: dict[str, Any], reason: str, *, wait: bool = True, timeout: float = WAIT_SECONDS
) -> None:
    """Write the command file, apply it now if nothing else holds the lock, print what happened. When a
    daemon (or ``apply``) holds the lock, wait up to ``timeout`` seconds for it to apply the command
    (unless ``wait`` is False) and report its outcome the same way.

    Exits 1 when the command changed nothing (refused, or nothing to act on), was rejected, or the daemon
    did not apply it in time.
    """
    paths = st.paths()
    now = now_utc()
    if reason:
        data["reason"] = reason
    data["timestamp"] = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    path = operator_requests.write_command(paths, data, now)
    settings = MachineSettings.from_config(st.config())
    applied = operator_requests.apply_now(paths, now, settings)
    if applied.holder is not None:
        _await_daemon(paths, path.name, applied.holder, wait, timeout)
        return
    outcome = applied.for_file(path.name)
    if outcome is None:
        reason_file = paths.commands("rejected") / f"{path.name}.reason"
        text = reason_file.read_text(encoding="utf-8").strip() if reason_file.exists() else "unknown reason"
        raise UserError(f"command rejected: {text}")
    for line in operator_requests.summary_lines([outcome]):
        print(line)
    others = len(applied.outcomes) - 1
    if others:
        print(f"(also applied {others} other waiting command file(s); see commands/processed/)")
    if not (outcome.changed or outcome.job_state == "cancelled"):
        err("nothing changed")
        raise typer.Exit(1)


def _await_daemon(paths: WorkPaths, name: str, holder: Mapping[str, Any], wait: bool, timeout: float) -> None:
    who = f"the running daemon (pid {holder.get('pid', '?')} on {holder.get('host', '?')})"
    if not wait:
        print(
            f"Queued {name}; {who} applies it (its outcome: commands/processed/{Path(name).stem}.outcome.json)."
        )
        return
    print(f"Queued {name}; waiting up to {timeout:g} s for {who} to apply it...")
    result = operator_requests.wait_reported(paths, name, timeout)
    if result is None:
        raise UserError(
            f"{who} has not applied {name} within {timeout:g} s; it stays queued (its outcome will be "
            f"commands/processed/{Path(name).stem}.outcome.json)"
        )
    if result.rejected is not None:
        raise UserError(f"command rejected: {result.rejected}")
    for line in result.lines():
        print(line)
    if not result.changed:
        err("nothing changed")
        raise typer.Exit(1)
