"""The fleet a simulator runs: devices, Panorama, catalog, durations, credentials and faults.

A fleet comes from a YAML file validated by ``schemas/fleet.schema.json`` (``load_fleet``), from
``generate_fleet`` (see ``reconciler.sim.generate``), or from both (a file's ``generate:`` block adds
generated devices to the ones it lists). Records are frozen, with explicit JSON codecs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from reconciler.sim.catalog import Catalog, default_catalog
from reconciler.sim.errors import FleetFileError
from reconciler.sim.faults import Fault
from reconciler.sim.version import Version

# Simulated seconds, (min, max): each occurrence draws uniformly from the range with the device's seeded RNG.
DEFAULT_DURATIONS: dict[str, tuple[float, float]] = {
    "download": (100.0, 420.0),
    "install": (240.0, 600.0),
    "reboot": (340.0, 540.0),
    "content_download": (20.0, 60.0),
    "content_install": (40.0, 120.0),
    "autocommit": (20.0, 60.0),
    "chassis_ready": (5.0, 15.0),
    "ha_boot": (10.0, 30.0),
    "ha_initial": (20.0, 60.0),
    "ha_functional": (5.0, 15.0),
    "preempt_hold": (60.0, 60.0),
    "panorama_reconnect": (5.0, 30.0),
    "net_recovery": (30.0, 90.0),
    "job_fail": (2.0, 5.0),
    "swm_settle": (10.0, 30.0),
    "shutdown": (1.0, 3.0),
    "commit": (10.0, 40.0),
}


@dataclass(frozen=True)
class Durations:
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_DURATIONS))

    def range(self, name: str) -> tuple[float, float]:
        return self.ranges.get(name) or DEFAULT_DURATIONS[name]

    def to_json(self) -> dict[str, list[float]]:
        return {k: [lo, hi] for k, (lo, hi) in sorted(self.ranges.items())}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Durations:
        ranges = dict(DEFAULT_DURATIONS)
        for name, value in (data or {}).items():
            if name not in DEFAULT_DURATIONS:
                raise ValueError(f"durations: unknown duration {name!r}")
            lo, hi = (float(value), float(value)) if isinstance(value, int | float) else map(float, value)
            if lo < 0 or hi < lo:
                raise ValueError(f"durations.{name}: need 0 <= min <= max, got {value!r}")
            ranges[name] = (lo, hi)
        return cls(ranges)


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)

    def to_json(self) -> dict[str, str]:
        return {"user": self.user, "password": self.password}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Credentials:
        return cls(str(data["user"]), str(data["password"]))


@dataclass(frozen=True)
class HaSpec:
    """HA membership: the peer's serial, this member's priority (lower wins) and preemption."""

    peer: str
    priority: int = 100
    preemptive: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"peer": self.peer, "priority": self.priority, "preemptive": self.preemptive}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HaSpec:
        return cls(str(data["peer"]), int(data.get("priority", 100)), bool(data.get("preemptive", False)))


@dataclass(frozen=True)
class DeviceSpec:
    """One firewall as the fleet file describes it. ``free_disk_mb`` is /opt/panrepo free at start."""

    serial: str
    hostname: str
    model: str = "PA-VM"
    version: Version = field(default_factory=lambda: Version.parse("10.2.9"))
    content_version: str = "8899-8769"
    device_group: str = ""
    ha: HaSpec | None = None
    free_disk_mb: int | None = None
    downloaded: tuple[Version, ...] = ()
    faults: tuple[Fault, ...] = ()
    uptime_days: int = 30

    def __post_init__(self) -> None:
        # Versions may be given as text or as any version object whose str() is a PAN-OS version (tests
        # hand in the product's); the simulator keeps its own (reconciler.sim.version).
        object.__setattr__(self, "version", Version.parse(self.version))
        object.__setattr__(self, "downloaded", tuple(Version.parse(v) for v in self.downloaded))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "serial": self.serial,
            "hostname": self.hostname,
            "model": self.model,
            "version": str(self.version),
            "content_version": self.content_version,
            "device_group": self.device_group,
            "uptime_days": self.uptime_days,
        }
        if self.ha is not None:
            out["ha"] = self.ha.to_json()
        if self.free_disk_mb is not None:
            out["free_disk_mb"] = self.free_disk_mb
        if self.downloaded:
            out["downloaded"] = [str(v) for v in self.downloaded]
        if self.faults:
            out["faults"] = [f.to_json() for f in self.faults]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceSpec:
        return cls(
            serial=str(data["serial"]),
            hostname=str(data.get("hostname") or data["serial"]),
            model=str(data.get("model", "PA-VM")),
            version=Version.parse(data.get("version", "10.2.9")),
            content_version=str(data.get("content_version", "8899-8769")),
            device_group=str(data.get("device_group", "")),
            ha=HaSpec.from_json(data["ha"]) if data.get("ha") else None,
            free_disk_mb=int(data["free_disk_mb"]) if data.get("free_disk_mb") is not None else None,
            downloaded=tuple(Version.parse(v) for v in data.get("downloaded", [])),
            faults=tuple(Fault.from_json(f) for f in data.get("faults", [])),
            uptime_days=int(data.get("uptime_days", 30)),
        )


@dataclass(frozen=True)
class PanoramaSpec:
    serial: str = "000710000001"
    hostname: str = "panorama"
    model: str = "M-200"
    version: Version = field(default_factory=lambda: Version.parse("12.1.3"))
    faults: tuple[Fault, ...] = ()
    downloaded: tuple[Version, ...] = ()
    # A Panorama HA pair: this Panorama is the primary, ``ha_peer`` the secondary (its own ``ha_peer`` None).
    ha_peer: PanoramaSpec | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", Version.parse(self.version))
        object.__setattr__(self, "downloaded", tuple(Version.parse(v) for v in self.downloaded))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "serial": self.serial,
            "hostname": self.hostname,
            "model": self.model,
            "version": str(self.version),
        }
        if self.faults:
            out["faults"] = [f.to_json() for f in self.faults]
        if self.downloaded:
            out["downloaded"] = [str(v) for v in self.downloaded]
        if self.ha_peer is not None:
            out["ha"] = {"peer": self.ha_peer.to_json()}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PanoramaSpec:
        d = PanoramaSpec()
        peer = (data.get("ha") or {}).get("peer")
        return cls(
            serial=str(data.get("serial", d.serial)),
            hostname=str(data.get("hostname", d.hostname)),
            model=str(data.get("model", d.model)),
            version=Version.parse(data.get("version", str(d.version))),
            faults=tuple(Fault.from_json(f) for f in data.get("faults", [])),
            downloaded=tuple(Version.parse(v) for v in data.get("downloaded", [])),
            ha_peer=PanoramaSpec.from_json(
                {
                    "serial": "000710000002",
                    "hostname": "panorama-2",
                    **{k: v for k, v in peer.items() if k != "ha"},
                }
            )
            if peer
            else None,
        )


@dataclass(frozen=True)
class FleetSpec:
    """Everything a simulator needs to know about the fleet it runs (addresses are assigned at start)."""

    devices: tuple[DeviceSpec, ...]
    panorama: PanoramaSpec = field(default_factory=PanoramaSpec)
    catalog: Catalog = field(default_factory=default_catalog)
    durations: Durations = field(default_factory=Durations)
    seed: int = 0
    panorama_credentials: Credentials | None = None
    firewall_credentials: Credentials | None = None

    def __post_init__(self) -> None:
        problems = validate_devices(self.devices, self.panorama)
        if problems:
            raise ValueError("; ".join(problems))

    def device(self, serial: str) -> DeviceSpec:
        for d in self.devices:
            if d.serial == serial:
                return d
        raise KeyError(serial)

    def with_credentials(self, panorama: Credentials, firewalls: Credentials) -> FleetSpec:
        return replace(self, panorama_credentials=panorama, firewall_credentials=firewalls)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seed": self.seed,
            "panorama": self.panorama.to_json(),
            "devices": [d.to_json() for d in self.devices],
            "durations": self.durations.to_json(),
            "catalog": self.catalog.to_json(),
        }
        creds: dict[str, Any] = {}
        if self.panorama_credentials:
            creds["panorama"] = self.panorama_credentials.to_json()
        if self.firewall_credentials:
            creds["firewalls"] = self.firewall_credentials.to_json()
        if creds:
            out["credentials"] = creds
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FleetSpec:
        """Build from a fleet document (already schema-valid); a ``generate`` block adds generated devices."""
        from reconciler.sim.generate import generate_devices

        seed = int(data.get("seed", 0))
        catalog = Catalog.from_json(data["catalog"]) if data.get("catalog") else default_catalog()
        devices = [DeviceSpec.from_json(d) for d in data.get("devices", [])]
        gen = data.get("generate")
        if gen:
            taken = {d.serial for d in devices}
            generated = generate_devices(
                firewalls=int(gen.get("firewalls", 0)),
                ha_pairs=int(gen.get("ha_pairs", 0)),
                device_groups=int(gen.get("device_groups", 1)),
                seed=seed,
                catalog=catalog,
            )
            devices.extend(d for d in generated if d.serial not in taken)
        creds = data.get("credentials") or {}
        return cls(
            devices=tuple(devices),
            panorama=PanoramaSpec.from_json(data.get("panorama") or {}),
            catalog=catalog,
            durations=Durations.from_json(data.get("durations")),
            seed=seed,
            panorama_credentials=Credentials.from_json(creds["panorama"]) if creds.get("panorama") else None,
            firewall_credentials=Credentials.from_json(creds["firewalls"])
            if creds.get("firewalls")
            else None,
        )


def validate_devices(devices: tuple[DeviceSpec, ...], panorama: PanoramaSpec) -> list[str]:
    """Cross-device rules a schema cannot express: unique serials, reciprocal HA peers."""
    problems: list[str] = []
    by_serial: dict[str, DeviceSpec] = {}
    pano_serials = {panorama.serial} | ({panorama.ha_peer.serial} if panorama.ha_peer else set())
    if panorama.ha_peer is not None and panorama.ha_peer.serial == panorama.serial:
        problems.append(f"Panorama serial {panorama.serial} is used twice")
    for d in devices:
        if d.serial in by_serial or d.serial in pano_serials:
            problems.append(f"serial {d.serial} is used twice")
        by_serial[d.serial] = d
    for d in devices:
        if d.ha is None:
            continue
        peer = by_serial.get(d.ha.peer)
        if peer is None:
            problems.append(f"{d.serial}: HA peer {d.ha.peer} is not in the fleet")
        elif peer.ha is None or peer.ha.peer != d.serial:
            problems.append(f"{d.serial}: HA peer {d.ha.peer} does not name {d.serial} as its peer")
        elif peer.serial == d.serial:
            problems.append(f"{d.serial}: a device cannot be its own HA peer")
    return problems


def load_fleet(path: str | Path) -> FleetSpec:
    """Read and validate a fleet YAML file; every problem is reported as ``file:line: path: message``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetFileError(f"{path}: cannot read fleet file: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise FleetFileError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise FleetFileError(f"{path}:1: (root): a fleet file must be a mapping")
    errors = []
    for err in sorted(_fleet_validator().iter_errors(data), key=lambda e: list(map(str, e.path))):
        line_no = _line_of(root, list(err.absolute_path))
        errors.append(f"{path}:{line_no}: {_json_path(err.absolute_path)}: {_short(err.message)}")
    if len(errors) == 1:
        raise FleetFileError(errors[0])
    if errors:
        raise FleetFileError(f"{path}: {len(errors)} problems in fleet file", errors)
    try:
        return FleetSpec.from_json(data)
    except (ValueError, KeyError) as exc:
        raise FleetFileError(f"{path}: {exc}") from None


# The fleet schema ships with the project's schemas (top-level ``schemas/``, ``reconciler/_schemas`` in a
# wheel); the simulator reads the file itself.
_SCHEMA_DIRS = (
    Path(__file__).resolve().parent.parent / "_schemas",
    Path(__file__).resolve().parents[2] / "schemas",
)
_MAX_MESSAGE = 300


@cache
def _fleet_validator() -> jsonschema.Draft7Validator:
    for folder in _SCHEMA_DIRS:
        path = folder / "fleet.schema.json"
        if path.is_file():
            schema = json.loads(path.read_text(encoding="utf-8"))
            jsonschema.Draft7Validator.check_schema(schema)
            return jsonschema.Draft7Validator(
                schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
            )
    raise FileNotFoundError("fleet.schema.json not found next to the reconciler package")


def _json_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def _short(message: str) -> str:
    """jsonschema quotes the whole offending value; a 100 kB string must not make a 100 kB line."""
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def _line_of(node: Any, parts: list[Any]) -> int:
    """1-based line of the YAML node at ``parts`` (the deepest node found)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in parts:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line
