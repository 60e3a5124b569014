"""Device clients for the engine: one per firewall (so its API key is generated once), used under a
per-device lock (pan-os-python's objects are not safe to share between threads)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from reconciler.core.desired import DesiredState, group_connections
from reconciler.core.errors import PermanentDeviceError
from reconciler.core.inventory import Inventory
from reconciler.device.client import FirewallClient, FirewallClientFactory, RetryPolicy
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths


class ClientPool:
    def __init__(
        self,
        config: Config,
        inventory: Callable[[], Inventory],
        *,
        on_call: Callable[[str, str | None, str], None] | None = None,
        retry: RetryPolicy | None = None,
        connection_for: Callable[[str], str | None] | None = None,
        work: WorkPaths | None = None,
    ) -> None:
        self.inventory = inventory
        self.connection_for = connection_for or (lambda serial: None)
        # Retry waits are durations like any other: against a time-scaled simulator they shrink with it
        # (unscaled, one retried call took hundreds of simulated seconds and timed out healthy reboots).
        scale = float(config.get("engine.time_scale"))
        self.make = FirewallClientFactory(
            config,
            retry=retry or RetryPolicy(attempts=2, initial_wait=1.0 * scale, max_wait=5.0 * scale),
            on_call=on_call,
            work=work,
            panoramas=lambda: [(p.mgmt_ip, p.serial) for p in self.inventory().panoramas],
        )
        self._clients: dict[str, tuple[tuple[str, str | None], FirewallClient]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, serial: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(serial, threading.Lock())

    def get(self, serial: str) -> FirewallClient:
        inventory = self.inventory()
        dev = inventory.get(serial)
        pano = inventory.panorama_device(serial) if dev is None else None
        if pano is not None and pano.mgmt_ip:
            with self._guard:
                cached = self._clients.get(serial)
                if cached is not None and cached[0] == (pano.mgmt_ip, "panorama-device"):
                    return cached[1]
                client: FirewallClient = self.make.panorama_device(pano.mgmt_ip, serial)
                self._clients[serial] = ((pano.mgmt_ip, "panorama-device"), client)
                return client
        if dev is None or not dev.mgmt_ip:
            raise PermanentDeviceError(
                f"{serial}: not in the inventory (run 'device discover')", kind="inventory"
            )
        key = (dev.mgmt_ip, self.connection_for(serial))
        with self._guard:
            cached = self._clients.get(serial)
            if cached is not None and cached[0] == key:
                return cached[1]
            client = self.make(dev.mgmt_ip, serial, key[1])
            self._clients[serial] = (key, client)
            return client


class GroupConnections:
    """serial -> its group's ``connection`` override (None: the setting), from the desired state in force
    and the inventory; recomputed only when either changes."""

    def __init__(
        self, desired: Callable[[], DesiredState | None], inventory: Callable[[], Inventory]
    ) -> None:
        self.desired = desired
        self.inventory = inventory
        self._key: tuple[str, Inventory] | None = None  # the inventory itself: compared by identity
        self._of: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, serial: str) -> str | None:
        desired, inventory = self.desired(), self.inventory()
        if desired is None or not any(g.connection for g in desired.groups):
            return None
        with self._lock:
            if self._key is None or self._key[0] != desired.digest or self._key[1] is not inventory:
                self._of = group_connections(desired, inventory)
                self._key = (desired.digest, inventory)
            return self._of.get(serial)
