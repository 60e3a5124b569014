"""``panos-upgrade sim serve|status|fault``: run the fleet simulator and poke it from another shell.

The product's CLI mounts ``sim_app`` (``register``); this module imports nothing from the product. Errors the
simulator raises for bad input (``SimUserError``) become one ``error: ...`` line on stderr and exit code 1
here, as the product's CLI does for its own errors.
"""

from __future__ import annotations

import errno
import json
import signal
import socket
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from reconciler.sim.addresses import Addressing, parse_base
from reconciler.sim.errors import FleetFileError, SimUserError
from reconciler.sim.faults import KINDS

if TYPE_CHECKING:
    from reconciler.sim.simulator import Simulator

# The fleet model and the simulator load when a ``sim`` command runs: the product's CLI registers these
# commands, and its other commands should not pay for importing the whole simulator.


class _SimGroup(TyperGroup):
    """``SimUserError`` -> ``error: <message>`` (plus one line per fleet-file problem) and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SimUserError as exc:
            typer.echo(f"error: {exc}", err=True)
            if isinstance(exc, FleetFileError) and len(exc.errors) > 1:
                for line in exc.errors:
                    typer.echo(f"  {line}", err=True)
            raise typer.Exit(1) from None


sim_app = typer.Typer(
    cls=_SimGroup,
    help="Run the PAN-OS fleet simulator (Panorama + firewalls on loopback).",
    no_args_is_help=True,
)

DEFAULT_STATE_DIR = Path("sim-state")
StateDir = Annotated[
    Path, typer.Option("--state-dir", help="Simulator state directory (sim.json, events.jsonl, CA)")
]


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app, name="sim")


def _default_port(address: str) -> int:
    """443 when this process may bind it (as on a real firewall), else 0 (any free port)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, 443))
        return 443
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EADDRINUSE, errno.EPERM):
            return 0
        raise


@sim_app.command("serve")
def serve(
    fleet_file: Annotated[
        Path | None, typer.Option("--fleet", help="Fleet YAML file (schemas/fleet.schema.json)")
    ] = None,
    firewalls: Annotated[int, typer.Option("--firewalls", min=0, help="Generate N firewalls")] = 10,
    ha_pairs: Annotated[int, typer.Option("--ha-pairs", min=0, help="... of which M HA pairs")] = 2,
    device_groups: Annotated[int, typer.Option("--device-groups", min=1, help="... in K device groups")] = 3,
    preemptive: Annotated[
        str,
        typer.Option(
            "--preemptive", help="Generated HA pairs with preemption: random (about 1 in 5), all or none"
        ),
    ] = "random",
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of generation, durations and noise (overrides the file's)"),
    ] = None,
    time_scale: Annotated[
        float,
        typer.Option("--time-scale", min=0.0001, help="Real seconds per simulated second (0.01 = 100x)"),
    ] = 1.0,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="Port (default 443 if bindable)")
    ] = None,
    base_address: Annotated[
        str, typer.Option("--base-address", help="127.A.0.0: Panorama is 127.A.0.1")
    ] = "127.20.0.0",
    state_dir: StateDir = DEFAULT_STATE_DIR,
    http: Annotated[bool, typer.Option("--http", help="Plain HTTP instead of HTTPS")] = False,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, help="Added latency per API call")
    ] = 0.0,
    api_events: Annotated[bool, typer.Option("--api-events", help="Log one 'api' event per request")] = False,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0, help="Stop after this many real seconds")
    ] = None,
) -> None:
    """Run one Panorama and the firewalls in this process until SIGINT/SIGTERM."""
    from reconciler.sim.fleet import load_fleet
    from reconciler.sim.generate import generate_fleet
    from reconciler.sim.simulator import SimOptions, Simulator

    base = parse_base(base_address)
    if fleet_file is not None:
        fleet = load_fleet(fleet_file)
        if seed is not None:
            fleet = replace(fleet, seed=seed)
    else:
        if preemptive not in ("random", "all", "none"):
            raise SimUserError(f"--preemptive: expected random, all or none, got {preemptive!r}")
        try:
            fleet = generate_fleet(
                firewalls=firewalls,
                ha_pairs=ha_pairs,
                device_groups=device_groups,
                seed=seed or 0,
                preemptive=None if preemptive == "random" else preemptive,  # type: ignore[arg-type]
            )
        except ValueError as exc:
            raise SimUserError(str(exc)) from None
    chosen = port if port is not None else _default_port(Addressing(base).panorama)
    options = SimOptions(
        state_dir=state_dir,
        time_scale=time_scale,
        port=chosen,
        base_address=base,
        http=http,
        latency_ms=latency_ms,
        api_events=api_events,
        control=True,
    )
    sim = Simulator(fleet, options)
    # The handler only records the signal: it runs in the main thread, maybe while that thread holds a lock
    # (an Event's, inside ``wait``), and taking that lock again would wait forever.
    signalled: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signalled.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sim.start()
        _summary(sim)
        deadline = None if duration is None else time.monotonic() + duration
        while not signalled:
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    finally:
        sim.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("simulator stopped")


def _summary(sim: Simulator) -> None:
    fws = sim.devices
    pairs = sum(1 for d in fws if d.ha_peer) // 2
    groups = len({d.device_group for d in fws if d.device_group})
    scale = sim.options.time_scale
    print(
        f"PAN-OS simulator: {1 if sim.panorama_peer is None else 2} Panorama + {len(fws)} firewalls ({pairs} HA pair(s), {groups} device group(s)), "
        f"{sim.scheme} on port {sim.port}"
    )
    print(f"  panorama   {sim.panorama.address}:{sim.port}  serial {sim.panorama_serial}")
    peer = sim.panorama_peer
    if peer is not None:
        print(f"  panorama   {peer.address}:{sim.port}  (HA peer, secondary)")
    if fws:
        print(f"  firewalls  {fws[0].address} .. {fws[-1].address}")
    if sim.scheme == "https":
        print(f"  CA bundle  {sim.ca_path}")
    print(f"  sim.json   {sim.state_dir / 'sim.json'} (addresses and credentials; mode 0600)")
    print(f"  events     {sim.events_path}")
    print(f"  time       1 simulated second = {scale:g} real seconds ({1 / scale:g}x)")
    print("Stop with Ctrl-C.", flush=True)


@sim_app.command("status")
def status(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full status as JSON")] = False,
) -> None:
    """Versions, HA states, jobs and downloaded images of every simulated device."""
    from reconciler.sim.simulator import read_sim_json

    read_sim_json(state_dir)
    path = state_dir / "status.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise SimUserError(f"{path}: not written yet; try again in a few seconds") from None
    except ValueError as exc:
        raise SimUserError(f"{path}: unreadable: {exc}") from None
    if as_json:
        print(json.dumps(data, indent=2))
        return
    print(f"sim time {data['sim_time']:.0f} s, {len(data['devices'])} firewalls, port {data['port']}")
    violations: dict[str, int] = data.get("violations") or {}
    kinds = ", ".join(f"{kind} {n}" for kind, n in violations.items())
    print(f"safety violations seen: {sum(violations.values())}" + (f" ({kinds})" if kinds else ""))
    header = (
        "SERIAL",
        "HOSTNAME",
        "ADDRESS",
        "VERSION",
        "PENDING",
        "PHASE",
        "HA",
        "JOBS",
        "DOWNLOADED",
        "FAULTS",
    )
    rows = [header]
    for d in data["devices"]:
        active = [f"{j['type']}:{j['progress']}%" for j in d["jobs"] if j["status"] != "FIN"]
        rows.append(
            (
                d["serial"],
                d["hostname"],
                d["address"],
                d["version"],
                d["pending_version"] or "-",
                d["phase"],
                d["ha_state"] or "-",
                ",".join(active) or "-",
                ",".join(d["downloaded"]),
                ",".join(f["kind"] for f in d["faults"]) or "-",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


@sim_app.command("fault")
def fault(
    serial: Annotated[str, typer.Argument(help="Device serial (a firewall, or Panorama's)")],
    kind: Annotated[str | None, typer.Argument(help=f"Fault kind: {', '.join(sorted(KINDS))}")] = None,
    params: Annotated[
        list[str] | None, typer.Argument(help="Parameters as NAME=VALUE (e.g. rate=0.5)")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Clear KIND (or every fault) instead")] = False,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Inject a fault into a running simulator (or clear one with --clear)."""
    if clear:
        request: dict[str, Any] = {"action": "clear", "serial": serial, "kind": kind}
    else:
        if kind is None:
            raise SimUserError("sim fault: give a fault KIND (or --clear)")
        parsed: dict[str, str] = {}
        for item in params or []:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise SimUserError(f"sim fault: parameter {item!r} is not NAME=VALUE")
            parsed[name] = value
        request = {"action": "fault", "serial": serial, "kind": kind, "params": parsed}
    from reconciler.sim.simulator import control_request

    reply = control_request(state_dir, request)
    if not reply.get("ok"):
        raise SimUserError(f"sim fault: {reply.get('message')}")
    print(reply.get("message"))
