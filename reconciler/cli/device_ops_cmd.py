"""``panos-upgrade device hold|release|retry|validate|metrics`` (joins the ``device`` group of device_cmd).

hold/release/retry write a command file (applied at once when no daemon runs, else by the daemon, whose
outcome they wait for: up to ``--timeout`` seconds, unless ``--no-wait``); exit 1 when refused;
validate and metrics ask the firewall now, through the device seam, and change nothing.
Exit codes of ``validate``: 0 ready, 2 not ready, 1 error (unknown serial, no credentials, ...).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from reconciler.cli.context import State, state
from reconciler.cli.device_cmd import device_app
from reconciler.cli.job_cmd import WAIT_SECONDS, NoWait, WaitTimeout, cli_user, print_table, send_command
from reconciler.core.errors import DeviceError, UserError
from reconciler.core.inventory import Device
from reconciler.device import readiness
from reconciler.device.client import FirewallClient, FirewallClientFactory, RetryPolicy
from reconciler.machine import DEFAULT_READINESS_CHECKS
from reconciler.workdir import inventory_store
from reconciler.workdir.layout import safe_name

EXIT_NOT_READY = 2
# Interactive commands: one quick retry, not the engine's patient policy.
INTERACTIVE_RETRY = RetryPolicy(attempts=2, initial_wait=0.5, max_wait=2.0)


def register(app: typer.Typer) -> None:
    """Commands attach to ``device_app`` at import time; the group itself is registered by device_cmd."""


def _known(st: State, serial: str) -> str:
    safe_name(serial, "serial")
    paths = st.paths()
    inv = inventory_store.load(paths, required=False)
    if serial not in inv and not paths.device_status_file(serial).exists():
        raise UserError(f"device {serial} is not in the inventory; run 'panos-upgrade device discover'")
    return serial


@device_app.command("hold")
def hold_cmd(
    ctx: typer.Context,
    serial: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the status and audit log)")] = "",
    no_wait: NoWait = False,
    timeout: WaitTimeout = WAIT_SECONDS,
) -> None:
    """Hold a firewall (admin takeover): no upgrade starts or continues until it is released. A working
    device stops at its next safe point; an idle one is blocked from future upgrades."""
    st = state(ctx)
    data = {"command": "hold", "target": "device", "serial": _known(st, serial), "submitted_by": cli_user()}
    send_command(st, data, reason, wait=not no_wait, timeout=timeout)


@device_app.command("release")
def release_cmd(
    ctx: typer.Context, serial: str, no_wait: NoWait = False, timeout: WaitTimeout = WAIT_SECONDS
) -> None:
    """Release a held firewall: it starts over from a fresh pre-flight when its upgrade resumes."""
    st = state(ctx)
    data = {"command": "release", "serial": _known(st, serial), "submitted_by": cli_user()}
    send_command(st, data, "", wait=not no_wait, timeout=timeout)


@device_app.command("retry")
def retry_cmd(
    ctx: typer.Context, serial: str, no_wait: NoWait = False, timeout: WaitTimeout = WAIT_SECONDS
) -> None:
    """Retry a failed (or cancelled) firewall as a new attempt, at the same desired revision."""
    st = state(ctx)
    data = {"command": "retry", "serial": _known(st, serial), "submitted_by": cli_user()}
    send_command(st, data, "", wait=not no_wait, timeout=timeout)


def _client(st: State, serial: str) -> tuple[Device, FirewallClient]:
    safe_name(serial, "serial")
    inv = inventory_store.load(st.paths())
    dev = inv.get(serial)
    if dev is None:
        raise UserError(f"device {serial} is not in the inventory; run 'panos-upgrade device discover'")
    if not dev.mgmt_ip:
        raise UserError(f"device {serial} has no management address in the inventory")
    cfg = st.config()
    panoramas = [(p.mgmt_ip, p.serial) for p in inv.panoramas]
    clients = FirewallClientFactory(
        cfg, retry=INTERACTIVE_RETRY, work=st.paths(), panoramas=lambda: panoramas
    ).require_credentials()
    try:
        client = clients(dev.mgmt_ip, serial)
    except DeviceError as exc:
        raise UserError(str(exc)) from exc
    return dev, client


@device_app.command("validate")
def validate_cmd(
    ctx: typer.Context,
    serial: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Check readiness now: reachable, version, HA health, disk, no running job, readiness checks.
    Exit 0 ready, 2 not ready, 1 error."""
    st = state(ctx)
    dev, client = _client(st, serial)
    result = readiness.validate(
        client,
        dev,
        min_disk_gb=float(st.config().get("validation.min_disk_gb")),
        readiness_checks=DEFAULT_READINESS_CHECKS,
    )
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(f"{result.serial} ({result.hostname or '-'}) version {result.version or 'unknown'}")
        print_table(
            ("CHECK", "RESULT", "DETAIL"),
            [(c.name, "pass" if c.passed else "FAIL", c.detail) for c in result.checks],
        )
        print("READY" if result.ready else f"NOT READY ({len(result.failed)} check(s) failed)")
    if not result.ready:
        raise typer.Exit(EXIT_NOT_READY)


@device_app.command("metrics")
def metrics_cmd(
    ctx: typer.Context,
    serial: str,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (with the route and ARP entries)")
    ] = False,
) -> None:
    """Show TCP sessions, routes, ARP entries and free disk now (what pre/post-flight validation compares)."""
    st = state(ctx)
    _dev, client = _client(st, serial)
    taken = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    try:
        result = readiness.metrics(client, serial, taken)
    except DeviceError as exc:
        raise UserError(f"cannot read metrics: {exc}") from exc
    data = result.to_json()
    if as_json:
        print(json.dumps(data, indent=2))
        return
    disk = f"{data['disk_free_gb']:.1f} GB" if data["disk_free_gb"] is not None else "unknown"
    rows = [
        ("version", data["version"] or "unknown"),
        ("tcp_sessions", _n(data["tcp_sessions"])),
        ("active_sessions", _n(data["active_sessions"])),
        ("routes", _n(data["route_count"])),
        ("arp_entries", _n(data["arp_count"])),
        ("disk_free", disk),
        ("taken_at", taken),
    ]
    print(f"{serial}")
    print_table(("METRIC", "VALUE"), rows)
    for problem in data["errors"]:
        print(f"  ! {problem}")


def _n(value: int | None) -> str:
    return "unknown" if value is None else str(value)
