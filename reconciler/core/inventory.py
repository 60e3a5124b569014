"""The inventory: what discovery found (``inventory.json``), as frozen records with explicit JSON codecs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

DEVICE_TYPES = ("standalone", "ha_pair", "unknown")
HA_STATES = ("active", "passive", "standalone", "unknown", "suspended", "initial", "non-functional")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Device:
    """One firewall as discovered. ``sw_version`` is the raw string the device reported."""

    serial: str
    hostname: str = ""
    mgmt_ip: str = ""
    model: str = ""
    sw_version: str = ""
    device_group: str = ""
    device_type: str = "unknown"
    ha_state: str = "unknown"
    peer_serial: str = ""
    connected: bool = True
    discovered_at: str = ""
    error: str = ""
    stale: bool = False
    """The firewall could not be asked at the last discovery (``error`` says why): its version and HA facts
    are the last known ones, from ``discovered_at``."""

    def to_json(self) -> dict[str, Any]:
        # A plain field dict: dataclasses.asdict deep-copies and dominates planning time at 10,000 devices.
        return {name: getattr(self, name) for name in _DEVICE_FIELDS}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Device:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def is_ha(self) -> bool:
        return self.device_type == "ha_pair" and bool(self.peer_serial)

    def with_changes(self, **changes: Any) -> Device:
        return replace(self, **changes)


_DEVICE_FIELDS = tuple(f.name for f in fields(Device))


@dataclass(frozen=True)
class Inventory:
    """All discovered devices, keyed by serial."""

    devices: Mapping[str, Device] = field(default_factory=dict)
    discovered_at: str = ""
    panorama: str = ""
    panorama_version: str = ""
    """The version Panorama reported at discovery ("" when unknown)."""
    panorama_peer_version: str = ""
    """The version of Panorama's HA peer, for a Panorama HA pair ("" when none or unknown)."""
    panoramas: tuple[Device, ...] = ()
    """Panorama itself and its HA peer as devices (``mgmt_ip`` the address the API answers on; HA fields as
    for a firewall pair), for the desired state's ``panorama`` block; never among ``devices``."""

    @classmethod
    def of(cls, devices: Iterable[Device], **kw: Any) -> Inventory:
        return cls({d.serial: d for d in devices}, **kw)

    def __iter__(self) -> Iterator[Device]:
        return iter(self.devices[s] for s in sorted(self.devices))

    def __len__(self) -> int:
        return len(self.devices)

    def __contains__(self, serial: object) -> bool:
        return serial in self.devices

    def get(self, serial: str) -> Device | None:
        return self.devices.get(serial)

    def panorama_device(self, serial: str) -> Device | None:
        """Panorama (or its HA peer) by serial, None for any other serial."""
        return next((p for p in self.panoramas if p.serial == serial), None)

    def peer_of(self, device: Device) -> Device | None:
        return self.devices.get(device.peer_serial) if device.peer_serial else None

    def pairs(self) -> list[tuple[Device, Device]]:
        """HA pairs as (active-or-first, other), each pair once, sorted by the first serial."""
        seen: set[str] = set()
        out = []
        for dev in self:
            peer = self.peer_of(dev)
            if not dev.is_ha or peer is None or dev.serial in seen:
                continue
            seen.update((dev.serial, peer.serial))
            first, second = (
                (peer, dev) if peer.ha_state == "active" and dev.ha_state != "active" else (dev, peer)
            )
            out.append((first, second))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "discovered_at": self.discovered_at,
            "panorama": self.panorama,
            "panorama_version": self.panorama_version,
            "panorama_peer_version": self.panorama_peer_version,
            **({"panorama_devices": [p.to_json() for p in self.panoramas]} if self.panoramas else {}),
            "devices": [d.to_json() for d in self],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Inventory:
        return cls.of(
            (Device.from_json(d) for d in data.get("devices", [])),
            discovered_at=data.get("discovered_at", ""),
            panorama=data.get("panorama", ""),
            panorama_version=data.get("panorama_version", ""),
            panorama_peer_version=data.get("panorama_peer_version", ""),
            panoramas=tuple(Device.from_json(d) for d in data.get("panorama_devices", [])),
        )

    def digest(self) -> str:
        """A stable digest of what planning depends on (used to refuse stale saved plans)."""
        digested: list[Any] = [_digested(d) for d in self]
        if self.panorama_version or self.panorama_peer_version:  # kept out when unknown: old digests stay
            digested.append({"panorama": [self.panorama_version, self.panorama_peer_version]})
        if self.panoramas:  # likewise: kept out when discovery recorded none
            digested.append({"panorama_devices": [_digested(p) for p in self.panoramas]})
        body = json.dumps(digested, sort_keys=True)
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def _digested(device: Device) -> dict[str, Any]:
    """A device as the digest sees it: without its discovery time, and without ``stale`` when false (so an
    inventory written before the field existed keeps its digest)."""
    out = device.to_json() | {"discovered_at": ""}
    if not device.stale:
        del out["stale"]
    return out
