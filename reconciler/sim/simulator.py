"""``Simulator``: runs a fleet (one Panorama + firewalls) on loopback in a background event-loop thread.

This is the Python API integration tests and the demo build on (documented in docs/simulator.md)::

    with Simulator(generate_fleet(firewalls=6, ha_pairs=1), SimOptions(state_dir=tmp, time_scale=0.01)) as sim:
        address, port = sim.panorama
        sim.device("010000000001").version
        sim.inject_fault("010000000001", "download_fail")

State directory: ``sim.json`` (0600: it holds the credentials), ``events.jsonl``, ``ca.pem``,
``status.json`` and ``control/`` (when ``control=True``, as ``panos-upgrade sim serve`` runs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from reconciler.sim import config_ops, files
from reconciler.sim.addresses import Addressing, parse_base
from reconciler.sim.clock import ScaledClock
from reconciler.sim.config_store import ConfigError, Write
from reconciler.sim.errors import SimUserError
from reconciler.sim.events import EventLog
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import Credentials, FleetSpec
from reconciler.sim.http import HttpFrontEnd
from reconciler.sim.tls import CertificateAuthority
from reconciler.sim.world import World

FORMAT_VERSION = 1


class Endpoint(NamedTuple):
    address: str
    port: int


@dataclass(frozen=True)
class SimOptions:
    """How to run. ``time_scale``: real seconds per simulated second (0.01: a 300 s download takes 3 s).

    ``port=0`` picks one free port usable on every device address. ``api_events`` logs one ``api`` event
    per successful request (errors are always logged). ``control`` watches ``control/`` for
    ``panos-upgrade sim fault`` requests and writes ``status.json`` for ``sim status``.
    """

    state_dir: Path
    time_scale: float = 1.0
    port: int = 0
    base_address: str = "127.20.0.0"
    http: bool = False
    latency_ms: float = 0.0
    api_events: bool = False
    control: bool = False


@dataclass(frozen=True)
class DeviceInfo:
    """What a client needs to reach a device (fixed for the life of the simulator)."""

    serial: str
    hostname: str
    address: str
    model: str
    device_group: str
    ha_peer: str | None
    ha_priority: int | None
    initial_version: str

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "hostname": self.hostname,
            "address": self.address,
            "model": self.model,
            "device_group": self.device_group,
            "ha_peer": self.ha_peer,
            "ha_priority": self.ha_priority,
            "version": self.initial_version,
        }


@dataclass(frozen=True)
class JobInfo:
    id: int
    type: str
    status: str
    result: str
    subject: str
    progress: int


@dataclass(frozen=True)
class DeviceState:
    """A consistent snapshot of one firewall (taken under the simulator's lock)."""

    serial: str
    version: str
    pending_version: str | None
    downloaded: tuple[str, ...]
    content_version: str
    phase: str
    ha_state: str | None
    ha_peer: str | None
    free_disk_mb: int
    panorama_connected: bool
    uptime: float
    jobs: tuple[JobInfo, ...] = ()
    faults: tuple[dict[str, Any], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def up(self) -> bool:
        return self.phase == "up"

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any]) -> DeviceState:
        return cls(
            serial=snap["serial"],
            version=snap["version"],
            pending_version=snap["pending_version"],
            downloaded=tuple(snap["downloaded"]),
            content_version=snap["content_version"],
            phase=snap["phase"],
            ha_state=snap["ha_state"],
            ha_peer=snap["ha_peer"],
            free_disk_mb=snap["free_disk_mb"],
            panorama_connected=snap["panorama_connected"],
            uptime=snap["uptime"],
            jobs=tuple(JobInfo(**j) for j in snap["jobs"]),
            faults=tuple(snap["faults"]),
            raw=snap,
        )


class Simulator:
    """A running fleet. Start with ``start()`` or use as a context manager; every method is thread-safe."""

    def __init__(self, fleet: FleetSpec, options: SimOptions) -> None:
        parse_base(options.base_address)
        if not options.time_scale > 0:
            raise SimUserError(f"time scale must be > 0, got {options.time_scale}")
        self.options = options
        self.state_dir = Path(options.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        secret = self._secrets()
        self.panorama_credentials = fleet.panorama_credentials or Credentials(
            "admin", secret["panorama_password"]
        )
        self.credentials = fleet.firewall_credentials or Credentials("admin", secret["firewall_password"])
        self.fleet = fleet
        self.clock = ScaledClock(options.time_scale)
        self.addressing = Addressing(options.base_address)
        self.events_path = self.state_dir / "events.jsonl"
        self._events = EventLog(self.events_path, self.clock)
        self.world = World(
            fleet,
            self.clock,
            self._events,
            addressing=self.addressing,
            secret=bytes.fromhex(secret["key_secret"]),
            panorama_credentials=self.panorama_credentials,
            firewall_credentials=self.credentials,
            api_events=options.api_events,
        )
        self.ca = CertificateAuthority(self.state_dir / "tls")
        self.ca_path = self.ca.ca_path
        self.world.extras["ca_pem"] = self.ca_path.read_text()
        self.port = 0
        self._frontend: HttpFrontEnd | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> Simulator:
        if self._started:
            return self
        contexts = None
        devices = [(d.address, d.hostname) for d in self.world.devices()]
        if not self.options.http:
            contexts, pems = self.ca.contexts(devices)
            self.world.extras["cert_pem"] = pems
        self._frontend = HttpFrontEnd(self.world, contexts=contexts, latency_ms=self.options.latency_ms)
        self._thread = threading.Thread(target=self._run, name="panos-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise SimUserError(f"simulator did not start within {timeout:.0f} s")
        if self._error is not None:
            self._thread.join(5)
            error = self._error
            if isinstance(error, OSError):
                raise SimUserError(
                    f"cannot listen on port {self.options.port}: {error.strerror or error}"
                ) from error
            raise error
        self._started = True
        self._write_sim_json()
        self._events.emit(
            "sim_start",
            firewalls=len(self.world.firewalls),
            port=self.port,
            time_scale=self.options.time_scale,
            seed=self.fleet.seed,
            **self._ha_at_start(),
        )
        return self

    def _ha_at_start(self) -> dict[str, Any]:
        """``ha_pairs`` ([[a, b], ...]) and ``ha`` ({serial: {state, peer, priority, preemptive}}) for the
        ``sim_start`` event, so that the log alone says who is paired and who is active at start."""
        pairs: list[list[str]] = []
        members: dict[str, dict[str, Any]] = {}
        with self.world.lock:
            for fw in self.world.firewalls.values():
                if fw.ha is None:
                    continue
                members[fw.serial] = {
                    "state": fw.ha.state,
                    "peer": fw.ha.peer,
                    "priority": fw.ha.priority,
                    "preemptive": fw.ha.preemptive,
                }
                if fw.ha.peer in self.world.firewalls and fw.serial < fw.ha.peer:
                    pairs.append([fw.serial, fw.ha.peer])
        return {"ha_pairs": pairs, "ha": members}

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)
        if self._started:
            self._events.emit("sim_stop")
        self._events.close()
        self._started = False

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except (
            BaseException
        ) as exc:  # reported to start() or lost at shutdown; never kill the thread silently
            self._error = self._error or exc
            self._ready.set()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        assert self._frontend is not None
        self._stop = asyncio.Event()
        try:
            self.port = await self._frontend.start(self.options.port)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        next_control = next_status = 0.0
        status_interval = 1.0 if len(self.world.firewalls) <= 200 else 3.0
        while not self._stop.is_set():
            with self.world.lock:
                self.world.scheduler.run_due(self.clock.now())
                due = self.world.scheduler.next_due()
            delay = 0.05 if due is None else (due - self.clock.now()) * self.options.time_scale
            if self.options.control and time.monotonic() >= next_control:
                write_status = time.monotonic() >= next_status
                next_control = time.monotonic() + 0.2
                if write_status:
                    next_status = time.monotonic() + status_interval
                await asyncio.to_thread(self._control_pass, write_status)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=min(max(delay, 0.001), 0.05))
        await self._frontend.stop()

    # -- state dir -------------------------------------------------------------------------------------

    def _secrets(self) -> dict[str, str]:
        path = self.state_dir / "secret.json"
        if path.exists():
            data: dict[str, str] = json.loads(path.read_text())
            return data
        data = {
            "key_secret": secrets.token_hex(32),
            "panorama_password": secrets.token_urlsafe(12),
            "firewall_password": secrets.token_urlsafe(12),
        }
        files.atomic_write_json(path, data, mode=0o600)
        return data

    def client_config(self) -> dict[str, str]:
        """The panos-upgrade config keys that point a work directory at this simulator (TLS verified
        against its CA, or plain HTTP with ``--http``)."""
        http = "true" if self.options.http else "false"
        return {
            "panorama.host": self.panorama.address,
            "panorama.port": str(self.port),
            "panorama.username": self.panorama_credentials.user,
            "panorama.password": self.panorama_credentials.password,
            "panorama.ca_bundle": str(self.ca_path),
            "panorama.use_http": http,
            "firewall.username": self.credentials.user,
            "firewall.password": self.credentials.password,
            "firewall.port": str(self.port),
            "firewall.ca_bundle": str(self.ca_path),
            "firewall.use_http": http,
            "engine.time_scale": str(self.options.time_scale),
        }

    def sim_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "pid": os.getpid(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "scheme": "http" if self.options.http else "https",
            "port": self.port,
            "base_address": self.options.base_address,
            "time_scale": self.options.time_scale,
            "seed": self.fleet.seed,
            "ca_path": str(self.ca_path),
            "events": str(self.events_path),
            "status": str(self.state_dir / "status.json"),
            "control": str(self.state_dir / "control") if self.options.control else None,
            "panorama": {
                "serial": self.world.panorama.serial,
                "hostname": self.world.panorama.hostname,
                "address": self.world.panorama.address,
                "port": self.port,
                "version": str(self.world.panorama.version),
            },
            "panorama_peer": {
                "serial": peer.serial,
                "hostname": peer.hostname,
                "address": peer.address,
                "port": self.port,
                "version": str(peer.version),
            }
            if (peer := self.world.panorama.peer()) is not None
            else None,
            "credentials": {
                "panorama": self.panorama_credentials.to_json(),
                "firewalls": self.credentials.to_json(),
            },
            "devices": [d.to_json() for d in self.devices],
        }

    def _write_sim_json(self) -> None:
        files.atomic_write_json(self.state_dir / "sim.json", self.sim_json(), mode=0o600)

    # -- the API ---------------------------------------------------------------------------------------

    @property
    def panorama(self) -> Endpoint:
        return Endpoint(self.world.panorama.address, self.port)

    @property
    def panorama_serial(self) -> str:
        return self.world.panorama.serial

    @property
    def panorama_peer(self) -> Endpoint | None:
        """The secondary Panorama of a Panorama HA pair (None: a single Panorama)."""
        peer = self.world.panorama.peer()
        return Endpoint(peer.address, self.port) if peer is not None else None

    def panorama_state(self, serial: str | None = None) -> dict[str, Any]:
        """A Panorama's snapshot (version, pending_version, downloaded, phase, ha_state, jobs, ...);
        ``serial`` None: the primary."""
        with self.world.lock:
            self.world.scheduler.run_due(self.clock.now())
            pano = self.world.panorama if serial is None else self.world.device(serial)
            if pano is None or pano not in self.world.panoramas:
                raise SimUserError(f"no Panorama with serial {serial!r} in the simulator")
            return pano.snapshot(self.clock.now())

    @property
    def scheme(self) -> str:
        return "http" if self.options.http else "https"

    @property
    def listeners(self) -> int:
        return self._frontend.listeners if self._frontend is not None else 0

    @property
    def devices(self) -> list[DeviceInfo]:
        out = []
        for fw in self.world.firewalls.values():
            out.append(
                DeviceInfo(
                    serial=fw.serial,
                    hostname=fw.hostname,
                    address=fw.address,
                    model=fw.spec.model,
                    device_group=fw.spec.device_group,
                    ha_peer=fw.ha.peer if fw.ha else None,
                    ha_priority=fw.ha.priority if fw.ha else None,
                    initial_version=str(fw.spec.version),
                )
            )
        return out

    def endpoint(self, serial: str) -> Endpoint:
        return Endpoint(self._firewall(serial).address, self.port)

    def url(self, serial: str | None = None) -> str:
        address = self.panorama.address if serial is None else self.endpoint(serial).address
        return f"{self.scheme}://{address}:{self.port}/api/"

    def device(self, serial: str) -> DeviceState:
        with self.world.lock:
            self.world.scheduler.run_due(self.clock.now())
            return DeviceState.from_snapshot(self._firewall(serial).snapshot(self.clock.now()))

    def status(self) -> dict[str, Any]:
        """Everything ``panos-upgrade sim status --json`` shows."""
        with self.world.lock:
            now = self.clock.now()
            return {
                "format_version": FORMAT_VERSION,
                "sim_time": round(now, 3),
                "wall_time": round(self.clock.wall(), 3),
                "port": self.port,
                "listeners": self.listeners,
                "panorama": self.world.panorama.snapshot(now),
                "panorama_peer": peer.snapshot(now) if (peer := self.world.panorama.peer()) else None,
                "devices": [fw.snapshot(now) for fw in self.world.firewalls.values()],
                "api_calls": self.world.counters.snapshot(),
                "connections": dict(sorted(self.world.connections.items())),
                "violations": dict(sorted(self.world.violations.items())),
            }

    def inject_fault(self, serial: str, kind: str, **params: Any) -> None:
        """Attach a fault to a firewall or to Panorama (see ``reconciler.sim.faults.KINDS``)."""
        try:
            fault = Fault.create(kind, **params)
        except ValueError as exc:
            raise SimUserError(str(exc)) from None
        with self.world.lock:
            device = self.world.device(serial)
            if device is None:
                raise SimUserError(f"no device with serial {serial!r} in the simulator")
            self.world.scheduler.run_due(self.clock.now())
            device.inject(fault, self.clock.now())

    def config_write(
        self, serial: str, action: str, xpath: str, element: str = "", *, admin: str = "other-admin"
    ) -> None:
        """Make an uncommitted ``set``/``edit``/``delete`` on a device's candidate configuration as
        ``admin`` (another administrator's pending change, for readiness tests)."""
        with self.world.lock:
            device = self.world.device(serial)
            if device is None:
                raise SimUserError(f"no device with serial {serial!r} in the simulator")
            try:
                config_ops.pending_write(self.world, device, Write(action, xpath, element, admin))
            except ConfigError as exc:
                raise SimUserError(f"{serial}: {exc.message}") from None

    def config_lock(self, serial: str, kind: str, *, admin: str = "other-admin", comment: str = "") -> None:
        """Take a ``config`` or ``commit`` lock on a device as ``admin`` (another administrator's lock)."""
        with self.world.lock:
            device = self.world.device(serial)
            if device is None:
                raise SimUserError(f"no device with serial {serial!r} in the simulator")
            cfg = config_ops.store(self.world, device)
            try:
                if kind == "config":
                    cfg.add_config_lock(admin, comment, self.clock.wall())
                elif kind == "commit":
                    cfg.add_commit_lock(admin, comment, self.clock.wall())
                else:
                    raise SimUserError(f"lock kind must be 'config' or 'commit', not {kind!r}")
            except ConfigError as exc:
                raise SimUserError(f"{serial}: {exc.message}") from None
            self.world.emit(f"{kind}_lock", serial, action="add", admin=admin)

    def clear_faults(self, serial: str, kind: str | None = None) -> list[str]:
        with self.world.lock:
            device = self.world.device(serial)
            if device is None:
                raise SimUserError(f"no device with serial {serial!r} in the simulator")
            self.world.scheduler.run_due(self.clock.now())
            return device.clear_faults(kind, self.clock.now())

    def events(self, event: str | None = None, serial: str | None = None) -> list[dict[str, Any]]:
        """Parsed events.jsonl, optionally filtered by kind and serial."""
        out = self._events.read()
        return [
            e
            for e in out
            if (event is None or e["event"] == event) and (serial is None or e["serial"] == serial)
        ]

    def api_calls(self, serial: str | None = None) -> dict[str, Any]:
        """Calls per command for one device (or every device)."""
        return self.world.counters.of(serial) if serial is not None else self.world.counters.snapshot()

    def connections(self, serial: str | None = None) -> int:
        """Connections accepted (over HTTPS, TLS handshakes completed) by one device, or by all of them."""
        with self.world.lock:
            if serial is not None:
                return self.world.connections[serial]
            return sum(self.world.connections.values())

    def sim_time(self) -> float:
        return self.clock.now()

    def real_seconds(self, sim_seconds: float) -> float:
        return sim_seconds * self.options.time_scale

    def wait_until(self, condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
        """Poll ``condition`` (real seconds); True as soon as it holds, False at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            if condition():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    def _firewall(self, serial: str) -> Any:
        fw = self.world.firewalls.get(serial)
        if fw is None:
            raise SimUserError(f"no firewall with serial {serial!r} in the simulator")
        return fw

    # -- control directory (``sim fault`` / ``sim status`` from another process) ------------------------

    def _control_pass(self, write_status: bool) -> None:
        control = self.state_dir / "control"
        done = control / "done"
        done.mkdir(parents=True, exist_ok=True)
        for request in sorted(control.glob("*.json")):
            reply = self._apply_control(request)
            files.atomic_write_json(done / request.name, reply)
            with contextlib.suppress(FileNotFoundError):
                request.unlink()
            write_status = True  # let `sim status` show the change at once
        if write_status:
            files.atomic_write_json(self.state_dir / "status.json", self.status(), mode=0o644)

    def _apply_control(self, path: Path) -> dict[str, Any]:
        try:
            req = json.loads(path.read_text())
            serial = str(req["serial"])
            if req.get("action") == "clear":
                removed = self.clear_faults(serial, req.get("kind"))
                return {"ok": True, "message": f"cleared {', '.join(removed) or 'nothing'} on {serial}"}
            self.inject_fault(serial, str(req["kind"]), **dict(req.get("params") or {}))
            return {"ok": True, "message": f"fault {req['kind']} injected on {serial}"}
        except (SimUserError, KeyError, ValueError, TypeError) as exc:
            return {"ok": False, "message": str(exc)}


def control_request(state_dir: Path, request: dict[str, Any], *, timeout: float = 15.0) -> dict[str, Any]:
    """Send a request to a running ``sim serve`` through its control directory and wait for the reply."""
    info = read_sim_json(state_dir)
    if not info.get("control"):
        raise SimUserError(f"{state_dir}: the simulator there was not started with a control directory")
    control = Path(info["control"])
    name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.json"
    files.atomic_write_json(control / name, request)
    reply_path = control / "done" / name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reply_path.exists():
            reply: dict[str, Any] = json.loads(reply_path.read_text())
            reply_path.unlink()
            return reply
        time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        (control / name).unlink()
    raise SimUserError(f"{state_dir}: the simulator did not answer within {timeout:.0f} s (is it running?)")


def read_sim_json(state_dir: Path) -> dict[str, Any]:
    path = Path(state_dir) / "sim.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise SimUserError(
            f"{path}: not found; start one with 'panos-upgrade sim serve --state-dir {state_dir}'"
        ) from None
    except (OSError, ValueError) as exc:
        raise SimUserError(f"{path}: unreadable: {exc}") from None
    pid = data.get("pid")
    if isinstance(pid, int) and not _alive(pid):
        raise SimUserError(f"{path}: the simulator (pid {pid}) is not running")
    return data


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
