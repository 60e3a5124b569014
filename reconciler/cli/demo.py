"""``panos-upgrade demo``: a whole simulated fleet converging on the shipped desired state, on loopback.

It starts the simulator (Panorama + firewalls, TLS with the simulator's own CA, verified), initialises a work
directory configured for it, discovers the fleet, shows the plan for ``desired/``, converges with the live
view and metrics served, and prints a per-group summary. One firewall carries an injected install failure
so the demo shows what a failed upgrade looks like and how to retry it. ``--keep-running`` then stays up as
the daemon, watching ``desired/``: edit the YAML and watch the fleet follow.

``--scenario panorama``: the same fleet behind a Panorama HA pair on an older release, with the desired state
extended by a ``panorama`` block (written into the work directory next to a copy of ``desired/``): Panorama
is upgraded first, passive member first, while the firewalls whose hops need it wait
``panorama-upgrade-pending``; two standalone firewalls have no direct route (the simulator's
``direct_unreachable``) and are reached through Panorama (``firewall.connection auto``).
"""

from __future__ import annotations

import ipaddress
import shutil
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.cli import plan_render, progress_view
from reconciler.cli.demo_cmd import DEMO_BASE_ADDRESS, DEMO_METRICS
from reconciler.cli.init_cmd import initialise
from reconciler.core.errors import UserError
from reconciler.daemon.service import Daemon
from reconciler.device import discovery
from reconciler.engine.loop import drive
from reconciler.engine.reconcile import group_lines
from reconciler.engine.session import Session, open_session
from reconciler.machine.records import Phase
from reconciler.sim.catalog import model
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import FleetSpec, PanoramaSpec
from reconciler.sim.generate import generate_fleet
from reconciler.sim.simulator import Simulator
from reconciler.sim.testing import running_simulator
from reconciler.sim.version import Version
from reconciler.workdir import inventory_store, logs, store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths
from reconciler.workdir.lock import DaemonLock

# The logger keeps the name it had before the package move: operators filter logs on it.
log = logs.get("reconciler.demo")


def check_sim_address(text: str) -> str:
    """``--sim-address``: the simulator's base address, ``127.A.0.0`` (loopback only; Panorama is
    ``127.A.0.1``, the firewalls ``127.A.B.C``). Raise ``UserError`` naming the option otherwise."""
    try:
        address = ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise UserError(f"--sim-address {text!r} is not an IPv4 address (expected 127.A.0.0)") from None
    parts = str(address).split(".")
    if not address.is_loopback or parts[2:] != ["0", "0"] or parts[1] == "0":
        raise UserError(
            f"--sim-address {text!r}: the demo's simulator listens on loopback only; give 127.A.0.0 "
            "with A from 1 to 255 (e.g. 127.30.0.0)"
        )
    return str(address)


def check_metrics_listen(text: str) -> str:
    """``--metrics-listen``: ``HOST:PORT`` with HOST a loopback address (127.0.0.0/8): the demo serves its
    metrics on this machine only. Port 0 picks a free port (the demo prints the one bound)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UserError(f"--metrics-listen {text!r} is not HOST:PORT (e.g. 127.0.0.1:9753)")
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UserError(
            f"--metrics-listen {text!r}: the demo serves metrics on loopback only; give a 127.0.0.0/8 "
            "address and a port (e.g. 127.0.0.1:9753, or 127.0.0.1:0 for any free port)"
        )
    return f"{host}:{int(port)}"


@dataclass(frozen=True)
class DemoOptions:
    work_dir: Path
    firewalls: int = 24
    ha_pairs: int = 3
    device_groups: int = 4
    time_scale: float = 0.004
    seed: int = 1
    keep_running: bool = False
    metrics_listen: str = DEMO_METRICS
    sim_address: str = DEMO_BASE_ADDRESS
    scenario: str = "default"


SCENARIOS = ("default", "panorama")
PANORAMA_TARGET = "12.1.3"
PANORAMA_PEER = "000710000002"
PANORAMA_BLOCK = f"""\
# Written by 'panos-upgrade demo --scenario panorama': Panorama is upgraded first (docs/desired-state.md).
apiVersion: panos-upgrade/v1
panorama:
  target: "{PANORAMA_TARGET}"
  maintenanceWindows: [demo-anytime]
"""


def desired_dir() -> Path:
    """The shipped demo desired state: the repository's ``desired/`` or the copy inside the wheel."""
    here = Path(__file__).resolve().parent.parent  # the reconciler package
    for candidate in (here / "_desired", here.parent / "desired"):
        if candidate.is_dir():
            return candidate
    raise UserError("the demo's desired/ directory is missing from this installation")


def with_room_to_prestage(fleet: FleetSpec) -> FleetSpec:
    """The DMZ firewalls (the download-only group of desired/) get a tidy repository (90 % free): pre-staging
    a whole multi-hop path holds every image at once, and a box without that room fails ``insufficient-disk``
    as it should. Every other firewall keeps its generated disk (35-80 % free): small appliances on
    multi-hop paths make room by image cleanup."""
    devices = tuple(
        replace(d, free_disk_mb=int(model(d.model).panrepo_gb * 1024 * 0.9)) if d.device_group == "dmz" else d
        for d in fleet.devices
    )
    return replace(fleet, devices=devices)


def with_failure(fleet: FleetSpec) -> tuple[FleetSpec, str]:
    """Inject an install failure into one standalone firewall outside the canary and download-only groups."""
    candidates = [d for d in fleet.devices if d.ha is None and d.device_group not in ("branches", "dmz")]
    if not candidates:
        return fleet, ""
    victim = candidates[-1]
    devices = tuple(
        replace(d, faults=(Fault.create("install_fail"),)) if d is victim else d for d in fleet.devices
    )
    return replace(fleet, devices=devices), victim.serial


def with_panorama_first(fleet: FleetSpec, victim: str) -> tuple[FleetSpec, tuple[str, ...]]:
    """The panorama scenario's fleet: a Panorama HA pair on the newest release the firewalls run (below
    the target: the fleet's upgrade needs Panorama's first), and two standalone firewalls of the ``rest``
    group (not the one with the injected failure) whose own management address does not answer."""
    newest = max(d.version for d in fleet.devices)
    version = newest if newest < Version.parse("12.1.2") else fleet.panorama.version
    primary = fleet.panorama
    panorama = replace(
        primary,
        version=version,
        ha_peer=PanoramaSpec(
            serial=PANORAMA_PEER, hostname="panorama-b", model=primary.model, version=version
        ),
    )
    candidates = [
        d.serial
        for d in fleet.devices
        if d.ha is None and d.device_group not in ("branches", "dmz") and d.serial != victim
    ]
    cut = tuple(candidates[:2])
    devices = tuple(
        replace(d, faults=(*d.faults, Fault.create("direct_unreachable"))) if d.serial in cut else d
        for d in fleet.devices
    )
    return replace(fleet, devices=devices, panorama=panorama), cut


def scenario_desired(paths: WorkPaths, scenario: str) -> Path:
    """The desired state the scenario converges on: the shipped ``desired/``, or for ``panorama`` a copy of
    it in the work directory with the ``panorama`` block added (``desired-panorama/``)."""
    if scenario != "panorama":
        return desired_dir()
    target = paths.root / "desired-panorama"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(desired_dir(), target)
    store.atomic_write_text(target / "05-panorama.yaml", PANORAMA_BLOCK)
    return target


def configure(paths: WorkPaths, sim: Simulator, opts: DemoOptions, desired: Path | None = None) -> Config:
    cfg = Config.load(paths.config_file)
    values: dict[str, object] = {
        **sim.client_config(),
        "panorama.rate_limit": 6000,
        "workers.max": 20,
        "metrics.listen": opts.metrics_listen,
        "desired.path": str(desired or desired_dir()),
        # The demo's daemon runs wherever you run the demo (often root in a container); its targets are simulated.
        "daemon.allow_root": "true",
        "daemon.resync_interval": 5,
        "discovery.interval": 0,
    }
    if opts.scenario == "panorama":  # two firewalls answer only through Panorama
        values["firewall.connection"] = "auto"
    for key, value in values.items():
        cfg.set(key, str(value))
    cfg.save()
    return cfg


def run(opts: DemoOptions) -> int:
    """Run the demo; returns the exit code (0 converged except the injected failure, 1 otherwise)."""
    paths = WorkPaths(opts.work_dir.resolve())
    initialise(paths)
    logs.setup(paths, console_level="WARNING", component="demo")
    generated = generate_fleet(
        firewalls=opts.firewalls, ha_pairs=opts.ha_pairs, device_groups=opts.device_groups, seed=opts.seed
    )
    fleet, victim = with_failure(with_room_to_prestage(generated))
    through: tuple[str, ...] = ()
    if opts.scenario == "panorama":
        fleet, through = with_panorama_first(fleet, victim)
    sim_dir = paths.root / "simulator"
    shutil.rmtree(sim_dir, ignore_errors=True)
    shutil.rmtree(paths.status_dir, ignore_errors=True)  # a fresh fleet: earlier demo records do not apply
    initialise(paths)
    desired = scenario_desired(paths, opts.scenario)
    print(
        f"Starting a simulated fleet: {len(fleet.devices)} firewalls ({opts.ha_pairs} HA pairs) + Panorama on "
        f"{opts.sim_address}/16, time scale {opts.time_scale} (1 simulated second = {opts.time_scale} s)"
    )
    if opts.scenario == "panorama":
        print(
            f"Scenario panorama: a Panorama HA pair on {fleet.panorama.version}, upgraded first to "
            f"{PANORAMA_TARGET}; reachable only through Panorama: {', '.join(through) or 'none'}"
        )
    with running_simulator(
        fleet, state_dir=sim_dir, time_scale=opts.time_scale, base_address=opts.sim_address
    ) as sim:
        cfg = configure(paths, sim, opts, desired)
        print(f"Work directory: {paths.root}  (simulator state, CA and event log: {sim_dir})")
        _discover(paths, cfg)
        code = _converge(paths, cfg, victim, desired)
        if opts.keep_running:
            print(
                "\n--keep-running: the daemon now watches",
                desired,
                "- edit the YAML and watch; Ctrl-C stops.",
            )
            Daemon(paths, cfg, desired_path=desired).run()
        return code


def _discover(paths: WorkPaths, cfg: Config) -> None:
    started = time.monotonic()
    panorama, firewalls = discovery.connect(cfg, paths, inventory_store.load(paths, required=False))
    inv = discovery.discover(
        panorama,
        firewalls,
        workers=16,
        retry_attempts=2,
        now=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    inventory_store.save(paths, inv)
    pairs = len(inv.pairs())
    print(
        f"Discovered {len(inv)} firewalls from Panorama in {time.monotonic() - started:.1f} s "
        f"({pairs} HA pairs confirmed on the firewalls); inventory: {paths.inventory_file}"
    )
    if len(inv.panoramas) > 1:
        print(
            "Panorama is an HA pair: "
            + ", ".join(f"{p.serial} ({p.ha_state}, {p.sw_version})" for p in inv.panoramas)
        )


def _converge(paths: WorkPaths, cfg: Config, victim: str, desired: Path) -> int:
    with DaemonLock(paths.lock_file):
        session = open_session(paths, cfg, desired_path=desired)
        try:
            return _run_session(session, victim, desired)
        finally:
            session.close()


def _run_session(session: Session, victim: str, desired: Path) -> int:
    rec = session.reconciler
    rec.load_records()
    preview = rec.preview()
    if preview.plan is None:
        raise UserError(preview.error)
    print(f"\nPlan for {desired}:\n")
    print(plan_render.to_table(preview.plan), end="")
    metrics = session.metrics_url or "not served"
    print(f"\nConverging (metrics: {metrics}) ...\n")
    started = time.monotonic()
    with progress_view.open_view(session) as view:
        result = drive(
            session,
            stop=threading.Event(),
            until_settled=True,
            resync=2.0,
            on_tick=view.tick,
            deadline=time.monotonic() + 900,
        )
    plan = result.plan or rec.last_plan
    assert plan is not None
    rows = group_lines(rec, plan, session.executor.records)
    print(f"\nFinished in {time.monotonic() - started:.1f} s\n")
    print(progress_view.summary_table(rows))
    store.atomic_write_text(
        session.paths.status_dir / "demo-summary.txt", progress_view.summary_table(rows) + "\n"
    )
    failed = [r for r in session.executor.records.values() if r.phase is Phase.FAILED]
    for record in failed:
        err = record.last_error
        print(
            f"\nFailed: {record.serial} ({record.hostname}) in {err.phase if err else '?'}: "
            f"{err.reason if err else '?'} - {err.message if err else ''}"
        )
        print(
            f"  The device keeps its state; inspect:  panos-upgrade --work-dir {session.paths.root} device status {record.serial}"
        )
        print(
            f"  After fixing the cause, retry:       panos-upgrade --work-dir {session.paths.root} device retry {record.serial}"
        )
    print(f"\nStatus files: {session.paths.device_status_dir}")
    print(f"Logs:         {session.paths.logs_dir}   Audit: {session.paths.audit_file}")
    print(f"Plan again:   panos-upgrade --work-dir {session.paths.root} plan")
    unexpected = [r for r in failed if r.serial != victim]
    incomplete = [r for r in rows if int(r["converged"]) + int(r["failed"]) < int(r["devices"])]  # type: ignore[call-overload]
    return 1 if unexpected or incomplete else 0
