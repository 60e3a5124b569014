"""The simulated Panorama: managed devices, device groups, and proxying to firewalls by serial."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.sim.faults import Fault, FaultSet
from reconciler.sim.fleet import PanoramaSpec

if TYPE_CHECKING:
    from reconciler.sim.world import World


class SimPanorama:
    kind = "panorama"

    def __init__(self, world: World, spec: PanoramaSpec, address: str) -> None:
        self.world = world
        self.spec = spec
        self.serial = spec.serial
        self.hostname = spec.hostname
        self.address = address
        self.version = spec.version
        self.faults = FaultSet(spec.faults)
        self.booted_at = -(42 * 86400.0)
        self.device_groups: dict[str, list[str]] = {}
        for fw in world.fleet.devices:
            if fw.device_group:
                self.device_groups.setdefault(fw.device_group, []).append(fw.serial)

    @property
    def listening(self) -> bool:
        return self.faults.get("panorama_unreachable") is None

    @property
    def api_up(self) -> bool:
        return True

    def inject(self, fault: Fault, t: float) -> None:
        self.faults.add(fault)
        self.world.emit(
            "fault_injected", self.serial, sim_time=t, fault=fault.kind, params=dict(fault.params)
        )
        self.world.reachability_changed(self)

    def clear_faults(self, kind: str | None, t: float) -> list[str]:
        removed = self.faults.clear(kind)
        for k in removed:
            self.world.emit("fault_cleared", self.serial, sim_time=t, fault=k)
        self.world.reachability_changed(self)
        return removed

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "hostname": self.hostname,
            "address": self.address,
            "model": self.spec.model,
            "version": str(self.version),
            "listening": self.listening,
            "device_groups": {k: list(v) for k, v in sorted(self.device_groups.items())},
            "faults": [f.to_json() for f in self.faults.active()],
        }
