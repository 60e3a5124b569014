"""Device clients for the engine: one per firewall (so its API key is generated once), used under a
per-device lock (pan-os-python's objects are not safe to share between threads)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from reconciler.core.errors import PermanentDeviceError
from reconciler.core.inventory import Inventory
from reconciler.device.client import FirewallClient, FirewallClientFactory, RetryPolicy
from reconciler.workdir.config import Config


class ClientPool:
    def __init__(
        self,
        config: Config,
        inventory: Callable[[], Inventory],
        *,
        on_call: Callable[[str, str | None, str], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.inventory = inventory
        # Retry waits are durations like any other: against a time-scaled simulator they shrink with it
        # (unscaled, one retried call took hundreds of simulated seconds and timed out healthy reboots).
        scale = float(config.get("engine.time_scale"))
        self.make = FirewallClientFactory(
            config,
            retry=retry or RetryPolicy(attempts=2, initial_wait=1.0 * scale, max_wait=5.0 * scale),
            on_call=on_call,
        )
        self._clients: dict[str, tuple[str, FirewallClient]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, serial: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(serial, threading.Lock())

    def get(self, serial: str) -> FirewallClient:
        dev = self.inventory().get(serial)
        if dev is None or not dev.mgmt_ip:
            raise PermanentDeviceError(
                f"{serial}: not in the inventory (run 'device discover')", kind="inventory"
            )
        with self._guard:
            cached = self._clients.get(serial)
            if cached is not None and cached[0] == dev.mgmt_ip:
                return cached[1]
            client = self.make(dev.mgmt_ip, serial)
            self._clients[serial] = (dev.mgmt_ip, client)
            return client
