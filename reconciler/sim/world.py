"""The shared state of one simulation: clock, scheduler, event log, catalog, keys and every device.

Everything that mutates device state holds ``World.lock`` (an ``RLock``): the event-loop thread while it
answers a request or runs due callbacks, and any other thread using the Python API.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from reconciler.sim import ha as ha_rules
from reconciler.sim.addresses import Addressing
from reconciler.sim.clock import Clock
from reconciler.sim.events import ApiCounters, EventLog
from reconciler.sim.firewall import SimFirewall
from reconciler.sim.fleet import Credentials, FleetSpec
from reconciler.sim.panorama import SimPanorama
from reconciler.sim.scheduler import Scheduler

# API keys avoid '+', '/' and '=': pan-python appends key= to the form without URL-encoding it.
KEY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

Device = SimFirewall | SimPanorama


class World:
    def __init__(
        self,
        fleet: FleetSpec,
        clock: Clock,
        events: EventLog,
        *,
        addressing: Addressing,
        secret: bytes,
        panorama_credentials: Credentials,
        firewall_credentials: Credentials,
        api_events: bool = False,
    ) -> None:
        self.fleet = fleet
        self.clock: Clock = clock
        self.events = events
        self.catalog = fleet.catalog
        self.durations = fleet.durations
        self.seed = fleet.seed
        self.api_events = api_events
        self.panorama_credentials = panorama_credentials
        self.firewall_credentials = firewall_credentials
        self.lock = threading.RLock()
        self.scheduler = Scheduler()
        self.counters = ApiCounters()
        self.connections: Counter[str] = Counter()  # connections accepted per serial (HTTPS: TLS handshakes)
        self.extras: dict[str, Any] = {}
        self.violations: Counter[str] = Counter()  # safety monitor findings by kind (reconciler.sim.monitor)
        self._secret = secret
        self._keys: dict[str, str] = {}
        self._key_owners: dict[str, str] | None = None  # every device's key -> its serial, built on demand
        self._hooks: list[Callable[[Device], None]] = []
        self.firewalls: dict[str, SimFirewall] = {}
        for index, spec in enumerate(fleet.devices):
            self.firewalls[spec.serial] = SimFirewall(self, spec, addressing.firewall(index), index)
        peer_spec = fleet.panorama.ha_peer
        self.panorama = SimPanorama(
            self,
            fleet.panorama,
            addressing.panorama,
            ha_priority="primary" if peer_spec is not None else None,
            peer_serial=peer_spec.serial if peer_spec is not None else None,
        )
        # Every Panorama: the one above and, for a Panorama HA pair, its secondary peer.
        self.panoramas: list[SimPanorama] = [self.panorama]
        if peer_spec is not None:
            self.panoramas.append(
                SimPanorama(
                    self,
                    peer_spec,
                    addressing.panorama_peer,
                    ha_priority="secondary",
                    peer_serial=fleet.panorama.serial,
                )
            )
        done: set[str] = set()
        for fw in self.firewalls.values():
            peer = ha_rules.peer_of(fw)
            if peer is not None and fw.serial not in done:
                ha_rules.initial_states(fw, peer)
                done.update((fw.serial, peer.serial))
        for fw in self.firewalls.values():
            ha_rules.evaluate(fw, 0.0)

    # -- services for devices --------------------------------------------------------------------------

    def rng(self, serial: str, stream: str) -> random.Random:
        """A deterministic random stream per (seed, device, purpose)."""
        return random.Random(f"{self.seed}:{serial}:{stream}")

    def emit(self, event: str, serial: str = "", *, sim_time: float | None = None, **fields: Any) -> None:
        self.events.emit(event, serial, sim_time=sim_time, **fields)

    def on_reachability(self, hook: Callable[[Device], None]) -> None:
        self._hooks.append(hook)

    def reachability_changed(self, device: Device) -> None:
        for hook in self._hooks:
            hook(device)

    def advance(self) -> int:
        """Run every scheduled change due by now."""
        with self.lock:
            return self.scheduler.run_due(self.clock.now())

    def device(self, serial: str) -> Device | None:
        for pano in self.panoramas:
            if serial == pano.serial:
                return pano
        return self.firewalls.get(serial)

    def devices(self) -> list[Device]:
        return [*self.panoramas, *self.firewalls.values()]

    def panorama_manages(self, fw: SimFirewall) -> bool:
        """Is some Panorama up and able to manage ``fw`` on its current version (management
        compatibility, ``reconciler.sim.panorama.can_manage``)?"""
        return any(pano.manages(fw.version) for pano in self.panoramas)

    # -- credentials -----------------------------------------------------------------------------------

    def credentials_for(self, device: Device) -> Credentials:
        return self.panorama_credentials if isinstance(device, SimPanorama) else self.firewall_credentials

    def api_key(self, device: Device) -> str:
        """The key ``type=keygen`` returns on ``device`` for its configured user (stable across restarts)."""
        cached = self._keys.get(device.serial)
        if cached is not None:
            return cached
        creds = self.credentials_for(device)
        digest = hmac.new(
            self._secret, f"{device.serial}\0{creds.user}\0{creds.password}".encode(), hashlib.sha512
        )
        number = int.from_bytes(digest.digest(), "big")
        chars = []
        for _ in range(72):
            number, rem = divmod(number, len(KEY_ALPHABET))
            chars.append(KEY_ALPHABET[rem])
        key = "LUFRPT" + "".join(chars)
        self._keys[device.serial] = key
        return key

    def check_login(self, device: Device, user: str, password: str) -> bool:
        creds = self.credentials_for(device)
        return hmac.compare_digest(user.encode(), creds.user.encode()) and hmac.compare_digest(
            password.encode(), creds.password.encode()
        )

    def check_key(self, device: Device, key: str) -> bool:
        return bool(key) and hmac.compare_digest(key.encode(), self.api_key(device).encode())

    def key_owner(self, key: str) -> str | None:
        """The serial of the device whose ``type=keygen`` returns ``key`` (None: nobody's key).

        Every device has its own key (derived from its serial), as every PAN-OS box has its own master key:
        a key generated on one firewall does not open another one."""
        if not key:
            return None
        if self._key_owners is None:
            self._key_owners = {self.api_key(d): d.serial for d in self.devices()}
        return self._key_owners.get(key)
