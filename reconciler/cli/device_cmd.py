"""``panos-upgrade device ...``: discover, list, status, export (more device commands join this group)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from reconciler.cli.context import state
from reconciler.core.desired import DesiredState
from reconciler.core.display import one_line
from reconciler.core.errors import DeviceError, InputFileError, UserError
from reconciler.core.inventory import DEVICE_TYPES, Inventory
from reconciler.device import discovery
from reconciler.jobs import export
from reconciler.workdir import inventory_store, plan_inputs, store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

device_app = typer.Typer(help="Discover, list, export and inspect firewalls.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(device_app, name="device")


@device_app.command("discover")
def discover_cmd(
    ctx: typer.Context,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, max=500, help="Parallel firewall probes (default: discovery.workers)"
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (counts, errors, stale devices, changes)")
    ] = False,
) -> None:
    """Query Panorama for firewalls, confirm HA state on each firewall, and write inventory.json."""
    st = state(ctx)
    paths = st.paths()
    cfg = st.config()
    old = inventory_store.load(paths, required=False)
    try:
        panorama, factory = discovery.connect(cfg, paths, old)
    except DeviceError as exc:
        raise UserError(str(exc)) from exc
    now = datetime.now(UTC).isoformat(timespec="seconds")
    n_workers = workers or cfg.get("discovery.workers")
    with _progress() as tick:
        try:
            found = discovery.run(
                panorama,
                factory,
                workers=n_workers,
                retry_attempts=cfg.get("discovery.retry_attempts"),
                now=now,
                progress=tick,
                previous=old,
                connections=discovery.by_group(_desired(paths, cfg)),
            )
        except DeviceError as exc:
            raise UserError(f"discovery failed, inventory unchanged: {exc}") from exc
    inv = found.inventory
    inventory_store.save(paths, inv)
    changes = discovery.diff(old, inv)
    store.audit(
        paths.audit_file,
        "discover",
        devices=len(inv),
        added=changes.added,
        removed=changes.removed,
        changed=sorted(changes.changed),
        stale=found.stale,
        auth_failed=found.auth_failed,
    )
    if as_json:
        print(json.dumps(_summary_json(found, changes, paths.inventory_file), indent=2))
    else:
        _summary(inv, changes)
    _refuse_on_auth_failures(found, factory.connection)


def _desired(paths: WorkPaths, cfg: Config) -> DesiredState | None:
    """The desired state (``desired.path``) whose groups' ``connection`` the probes follow; None (the
    setting applies to every firewall) when there is none or it is invalid (said on stderr)."""
    where = plan_inputs.desired_path(paths, cfg)
    if not where.exists() or (where.is_dir() and not any(where.glob("*.yaml"))):
        return None
    try:
        return plan_inputs.load_desired(paths, cfg, revision="")
    except InputFileError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(
            f"note: desired state at {where} not usable ({first}); every firewall is probed as "
            "firewall.connection says",
            file=sys.stderr,
        )
        return None


def _summary_json(found: discovery.Discovery, changes: discovery.InventoryDiff, file: Path) -> dict[str, Any]:
    inv = found.inventory
    return {
        "inventory": str(file),
        "discovered_at": inv.discovered_at,
        "devices": len(inv),
        "by_type": {t: sum(1 for d in inv if d.device_type == t) for t in DEVICE_TYPES},
        "pairs": len(inv.pairs()),
        "errors": {d.serial: d.error for d in inv if d.error},
        "stale": found.stale,
        "auth_failed": found.auth_failed,
        "changes": {"added": changes.added, "removed": changes.removed, "changed": changes.changed},
    }


def _refuse_on_auth_failures(found: discovery.Discovery, connection: str = "direct") -> None:
    """Firewalls that refused the configured credentials make discovery fail (exit 1): their facts are only
    the last known ones, and a wrong ``firewall.password`` must not pass for a clean run."""
    refused = found.auth_failed
    if not refused:
        return
    # Through Panorama (firewall.connection panorama) every probe logs in with Panorama's credentials.
    who, keys = ("firewall", "firewall.username and firewall.password")
    if connection == "panorama":
        who, keys = ("Panorama", "panorama.username and panorama.password")
    listed = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
    stale = set(found.stale)
    kept = sum(1 for s in refused if s in stale)
    if kept == len(refused):
        fate = "their last known facts are kept, marked stale"
    elif kept:
        fate = f"{kept} keep their last known facts, marked stale, the others are recorded as unknown"
    else:
        fate = "they are recorded as unknown"
    raise UserError(
        f"discovery incomplete: {len(refused)} of {len(found.inventory)} firewalls refused the "
        f"{who} credentials ({listed}); {fate}. Check {keys} ('panos-upgrade config show')"
    )


class _progress:
    """A rich progress bar on a terminal; silence otherwise. Yields the ``(done, total)`` callback."""

    def __enter__(self) -> Callable[[int, int], None]:
        self._bar = None
        if sys.stderr.isatty():
            from rich.progress import Progress

            self._bar = Progress(transient=True)
            self._bar.start()
            self._task = self._bar.add_task("Probing firewalls", total=None)

        def tick(done: int, total: int) -> None:
            if self._bar is not None:
                self._bar.update(self._task, completed=done, total=total)

        return tick

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _summary(inv: Inventory, changes: discovery.InventoryDiff) -> None:
    by_type = {t: sum(1 for d in inv if d.device_type == t) for t in DEVICE_TYPES}
    stale = sum(1 for d in inv if d.stale)
    print(
        f"Discovered {len(inv)} firewalls: {by_type['standalone']} standalone, "
        f"{by_type['ha_pair']} in HA pairs ({len(inv.pairs())} pairs), {by_type['unknown']} unknown"
        + (f"; {stale} not answering, kept with their last known facts (stale)" if stale else "")
    )
    for dev in inv:
        if dev.error:
            mark = " (stale: last known facts kept)" if dev.stale else ""
            print(f"  ! {dev.serial} {one_line(dev.hostname)}: {one_line(dev.error)}{mark}")
    if changes.empty:
        print("No changes since the last discovery.")
    else:
        print(
            f"Changes: {len(changes.added)} added, {len(changes.removed)} removed, {len(changes.changed)} changed"
        )
        for line in changes.lines():
            print(f"  {line}")


@device_app.command("list")
def list_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    group: Annotated[str | None, typer.Option("--group", help="Only this device group")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="standalone | ha_pair | unknown")] = None,
) -> None:
    """List discovered firewalls."""
    if type_ is not None and type_ not in DEVICE_TYPES:
        raise UserError(f"--type: {type_!r} is not one of {', '.join(DEVICE_TYPES)}")
    inv = inventory_store.load(state(ctx).paths())
    devices = [
        d
        for d in inv
        if (group is None or d.device_group == group) and (type_ is None or d.device_type == type_)
    ]
    if as_json:
        print(json.dumps([d.to_json() for d in devices], indent=2))
        return
    header = ("SERIAL", "HOSTNAME", "MGMT_IP", "MODEL", "VERSION", "GROUP", "TYPE", "HA", "PEER")
    rows = [
        (
            d.serial,
            d.hostname,
            d.mgmt_ip,
            d.model,
            d.sw_version,
            d.device_group,
            d.device_type,
            d.ha_state,
            d.peer_serial,
        )
        for d in devices
    ]
    _table(header, rows)
    print(f"{len(devices)} devices")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    rows = [[one_line(str(v)) for v in row] for row in rows]  # device-supplied text: one line per device
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip())


@device_app.command("status")
def status_cmd(
    ctx: typer.Context,
    serial: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show one firewall: its inventory record and, if any, its upgrade status file."""
    paths = state(ctx).paths()
    inv = inventory_store.load(paths)
    dev = inv.get(serial) or inv.panorama_device(serial)  # Panorama too (the desired state's panorama block)
    if dev is None:
        raise UserError(f"device {serial} is not in the inventory; run 'panos-upgrade device discover'")
    status_path = paths.device_status_file(serial)
    upgrade = store.read_json(status_path) if status_path.exists() else None
    if as_json:
        print(json.dumps({"inventory": dev.to_json(), "status": upgrade}, indent=2))
        return
    for key, value in dev.to_json().items():
        print(f"{key:<14} {value}")
    if upgrade is None:
        print("upgrade        (no upgrade status yet)")
    else:
        for key in ("upgrade_status", "starting_version", "current_version", "target_version", "upgrade_path",
                    "current_path_index", "updated_at", "last_error"):  # fmt: skip
            if key in upgrade:
                print(f"{key:<18} {upgrade[key]}")
        reached = upgrade.get("reached")
        if reached:
            print(f"{'reached':<18} {_reached(str(reached))}")
        rollback = upgrade.get("rollback")
        if rollback:
            hold = (
                f"hold released by {rollback['released_by']}"
                if rollback.get("released_at")
                else f"held while the target is {rollback['undone_target']}, until 'device release'"
            )
            print(
                f"{'rollback':<18} {rollback['from_version']} -> {rollback['to_version']} by {rollback['by']}"
                f" at {rollback['at']}; {hold}"
            )


def _reached(path: str) -> str:
    """A status file's ``reached`` for people: ``direct``, or ``through Panorama SERIAL``."""
    if path.startswith("panorama"):
        return one_line(f"through Panorama {path.removeprefix('panorama').strip()}".rstrip())
    return one_line(f"{path} (its management address)" if path == "direct" else path)


@device_app.command("export")
def export_cmd(
    ctx: typer.Context,
    output_dir: Annotated[Path, typer.Option("--output-dir", help="Directory for the CSV files")] = Path("."),
    standalone_file: Annotated[str, typer.Option("--standalone-file")] = "standalone_devices.csv",
    ha_pairs_file: Annotated[str, typer.Option("--ha-pairs-file")] = "ha_pairs.csv",
) -> None:
    """Write standalone_devices.csv and ha_pairs.csv (active member first) for the bulk commands."""
    inv = inventory_store.load(state(ctx).paths())
    if not output_dir.is_dir():
        raise UserError(f"--output-dir: {output_dir} is not a directory")
    sa, ha = output_dir / standalone_file, output_dir / ha_pairs_file
    store.atomic_write_text(sa, export.standalone_csv(inv))
    store.atomic_write_text(ha, export.ha_pairs_csv(inv))
    n_sa = sum(1 for d in inv if d.device_type == "standalone")
    print(f"Wrote {sa} ({n_sa} devices) and {ha} ({len(inv.pairs())} pairs)")
