"""The original tool's bulk commands: ``upgrade``, ``upgrade-ha-pairs``, ``download``, ``download-ha-pairs``
(one job per device or per pair from a CSV, all or none), ``download-status`` and ``verify-download``.

``--dry-run`` queues dry-run jobs (the same plan and checks against each device, nothing changed on it);
``--preview`` checks the CSV and shows what would be queued without writing anything.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.context import state
from reconciler.cli.job_cmd import cli_user, note_daemon, now_utc, parse_target, print_table
from reconciler.core.errors import InputFileError
from reconciler.core.inventory import Device, Inventory
from reconciler.device.client import FirewallClient, FirewallClientFactory, RetryPolicy
from reconciler.jobs import bulk_csv, download_report, queue
from reconciler.workdir import inventory_store, record_store, store
from reconciler.workdir.layout import WorkPaths

_CSV_HELP = "CSV with a 'serial' column (other columns ignored; 'device export' output works)"
_PAIRS_HELP = "CSV with 'serial_1' and 'serial_2' columns, either member in either column"
_DryRun = Annotated[bool, typer.Option("--dry-run", help="Queue dry-run jobs: same checks, nothing changed")]
_Preview = Annotated[bool, typer.Option("--preview", help="Check the CSV and show the jobs; write nothing")]
_Target = Annotated[
    str | None, typer.Option("--target-version", metavar="VERSION", help="Default: end of each upgrade path")
]


def register(app: typer.Typer) -> None:
    app.command("upgrade")(upgrade_cmd)
    app.command("upgrade-ha-pairs")(upgrade_ha_pairs_cmd)
    app.command("download")(download_cmd)
    app.command("download-ha-pairs")(download_ha_pairs_cmd)
    app.command("download-status")(download_status_cmd)
    app.command("verify-download")(verify_download_cmd)


def upgrade_cmd(
    ctx: typer.Context,
    csv_file: Annotated[Path, typer.Argument(metavar="CSV", help=_CSV_HELP)],
    dry_run: _DryRun = False,
    preview: _Preview = False,
    target_version: _Target = None,
) -> None:
    """Queue one upgrade job per standalone firewall listed in CSV (all or none)."""
    _bulk(
        ctx,
        csv_file,
        pairs=False,
        download_only=False,
        dry_run=dry_run,
        preview=preview,
        target=target_version,
    )


def upgrade_ha_pairs_cmd(
    ctx: typer.Context,
    csv_file: Annotated[Path, typer.Argument(metavar="CSV", help=_PAIRS_HELP)],
    dry_run: _DryRun = False,
    preview: _Preview = False,
    target_version: _Target = None,
) -> None:
    """Queue one upgrade job per HA pair listed in CSV (passive member first, found at run time)."""
    _bulk(
        ctx,
        csv_file,
        pairs=True,
        download_only=False,
        dry_run=dry_run,
        preview=preview,
        target=target_version,
    )


def download_cmd(
    ctx: typer.Context,
    csv_file: Annotated[Path, typer.Argument(metavar="CSV", help=_CSV_HELP)],
    dry_run: _DryRun = False,
    preview: _Preview = False,
    target_version: _Target = None,
) -> None:
    """Queue one download-only job (pre-stage images, no install) per standalone firewall in CSV."""
    _bulk(
        ctx,
        csv_file,
        pairs=False,
        download_only=True,
        dry_run=dry_run,
        preview=preview,
        target=target_version,
    )


def download_ha_pairs_cmd(
    ctx: typer.Context,
    csv_file: Annotated[Path, typer.Argument(metavar="CSV", help=_PAIRS_HELP)],
    dry_run: _DryRun = False,
    preview: _Preview = False,
    target_version: _Target = None,
) -> None:
    """Queue one download-only job per HA pair in CSV (images staged on both members)."""
    _bulk(
        ctx, csv_file, pairs=True, download_only=True, dry_run=dry_run, preview=preview, target=target_version
    )


def build_specs(
    csv_file: Path,
    inv: Inventory,
    *,
    pairs: bool,
    download_only: bool,
    dry_run: bool,
    target: str | None,
    now: datetime,
    submitted_by: str,
) -> list[queue.JobSpec]:
    """One job per CSV row (ids ``<batch>-001``, ``-002``, ... sharing one generated batch id)."""
    verb = "download" if download_only else "upgrade"
    if pairs:
        rows: Sequence[tuple[str, ...]] = [
            (r.serial_1, r.serial_2)
            for r in bulk_csv.read_ha_pairs(csv_file, inv, standalone_hint=f"panos-upgrade {verb}")
        ]
    else:
        rows = [
            (r.serial,)
            for r in bulk_csv.read_standalone(csv_file, inv, pair_hint=f"panos-upgrade {verb}-ha-pairs")
        ]
    batch = queue.new_job_id(now)
    created = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    return [
        queue.JobSpec(
            job_id=f"{batch}-{i:03d}",
            type=queue.HA_PAIR if pairs else queue.STANDALONE,
            devices=row,
            dry_run=dry_run,
            download_only=download_only,
            target_version=target,
            created_at=created,
            submitted_by=submitted_by,
            reason=f"from {csv_file.name}",
        )
        for i, row in enumerate(rows, start=1)
    ]


def _bulk(
    ctx: typer.Context,
    csv_file: Path,
    *,
    pairs: bool,
    download_only: bool,
    dry_run: bool,
    preview: bool,
    target: str | None,
) -> None:
    paths = state(ctx).paths()
    inv = inventory_store.load(paths)
    specs = build_specs(
        csv_file,
        inv,
        pairs=pairs,
        download_only=download_only,
        dry_run=dry_run,
        target=parse_target(target),
        now=now_utc(),
        submitted_by=cli_user(),
    )
    kind = specs[0].kind_text if specs else "upgrade"
    unit = "HA pair" if pairs else "device"
    if preview:
        _check_only(paths, specs, inv)
        print(f"[preview] would queue {len(specs)} {kind} job(s), one per {unit} (nothing written):")
    else:
        queue.submit(paths, specs, inv)
        print(f"Queued {len(specs)} {kind} job(s) from {csv_file}, one per {unit}:")
    for spec in specs:
        described = []
        for serial in spec.devices:
            dev = inv.get(serial)
            described.append(f"{serial} ({dev.hostname or '-'}, {dev.sw_version or '?'})" if dev else serial)
        print(f"  {spec.job_id}  {' + '.join(described)} -> {spec.target_version or 'end of path'}")
    if not preview:
        print("Monitor with: panos-upgrade job list --status active")
        note_daemon(paths)


def _check_only(paths: WorkPaths, specs: Sequence[queue.JobSpec], inv: Inventory) -> None:
    """The checks ``submit`` makes, without writing (conflicts with open jobs included)."""
    open_jobs = queue.open_jobs_by_device(paths)
    problems = [f"job {s.job_id}: {c}" for s in specs if (c := queue.conflict(s, open_jobs))]
    problems += [f"job {s.job_id}: {p}" for s in specs for p in queue.spec_problems(s, inv)]
    if problems:
        raise InputFileError(f"{len(problems)} problem(s); nothing would be queued", problems)


# -- download-status / verify-download --------------------------------------------------------------------


def download_status_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Download-only devices and jobs, and which images each has staged (from the status files)."""
    paths = state(ctx).paths()
    inv = inventory_store.load(paths, required=False)
    records = record_store.load_all(paths).records.values()
    devices = download_report.staged_devices(records, queue.queued(paths, queue.OPEN_STATES), inv)
    counts = download_report.bucket_counts(devices)
    if as_json:
        print(json.dumps({"summary": counts, "devices": [d.to_json() for d in devices]}, indent=2))
        return
    print(
        f"Download status: {counts['total']} device(s): {counts['downloaded']} downloaded, "
        f"{counts['downloading']} downloading, {counts['waiting']} waiting, {counts['failed']} failed, "
        f"{counts['stopped']} held/cancelled/skipped"
    )
    if not devices:
        print("No download-only work (queue one with 'panos-upgrade download CSV').")
        return
    rows = [
        (
            d.serial,
            d.hostname or "-",
            d.upgrade_status,
            f"{d.progress}%",
            " ".join(d.staged) or "-",
            " ".join(d.remaining) or "-",
            d.target_version or "-",
            d.job_id or "-",
        )
        for d in devices
    ]
    print_table(("SERIAL", "HOSTNAME", "STATUS", "PROGRESS", "STAGED", "REMAINING", "TARGET", "JOB"), rows)


def verify_download_cmd(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", metavar="FILE", help="Report file (default: download_verification_<time>.csv)"
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=500, help="Parallel firewalls")
    ] = None,
    versions: Annotated[
        list[str] | None,
        typer.Option("--version", metavar="VERSION", help="Report yes/no for this image (repeatable)"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON on stdout (the CSV is written too)")
    ] = False,
) -> None:
    """Ask every firewall of the inventory which images it has downloaded; write a CSV report."""
    st = state(ctx)
    paths = st.paths()
    cfg = st.config()
    inv = inventory_store.load(paths)
    wanted = [parse_target(v, "--version") or "" for v in versions or []]
    panoramas = [(p.mgmt_ip, p.serial) for p in inv.panoramas]
    clients = FirewallClientFactory(
        cfg,
        retry=RetryPolicy(attempts=2, initial_wait=0.5, max_wait=2.0),
        work=paths,
        panoramas=lambda: panoramas,
    ).require_credentials()

    def client_for(dev: Device) -> FirewallClient:
        return clients(dev.mgmt_ip, dev.serial)

    now = datetime.now(UTC)
    target = output or Path(f"download_verification_{now.strftime('%Y%m%d-%H%M%S')}.csv")
    reports = download_report.verify(
        list(inv),
        client_for,
        workers=workers or int(cfg.get("workers.max")),
        timeout=float(cfg.get("firewall.software_info_timeout")),
        progress=_progress_printer(),
    )
    store.atomic_write_text(target, download_report.report_csv(reports, wanted))
    ok = [r for r in reports if r.status == download_report.OK]
    if as_json:
        print(json.dumps(_report_json(reports, wanted, target), indent=2))
        return
    print(
        f"Checked {len(reports)} firewall(s): {len(ok)} answered, {len(reports) - len(ok)} could not be asked"
    )
    for version in wanted:
        have = sum(1 for r in ok if version in r.downloaded)
        print(f"  {version}: downloaded on {have} of {len(ok)}")
    for r in reports:
        if r.status != download_report.OK:
            print(f"  ! {r.serial} {r.hostname or '-'}: {r.status}: {r.error}")
    print(f"Report: {target}")


def _report_json(
    reports: Sequence[download_report.ImageReport], wanted: Sequence[str], target: Path
) -> dict[str, object]:
    ok = [r for r in reports if r.status == download_report.OK]
    return {
        "report": str(target),
        "checked": len(reports),
        "answered": len(ok),
        "versions": {v: sum(1 for r in ok if v in r.downloaded) for v in wanted},
        "devices": [
            {
                "serial": r.serial,
                "hostname": r.hostname,
                "mgmt_ip": r.mgmt_ip,
                "current_version": r.current_version,
                "status": r.status,
                "error": r.error,
                "downloaded": list(r.downloaded),
                "has": {v: r.has(v) for v in wanted},
            }
            for r in reports
        ],
    }


def _progress_printer() -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None

    def tick(done: int, total: int) -> None:
        print(f"\r  {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

    return tick
