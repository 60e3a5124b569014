"""The PAN-OS fleet simulator: one Panorama and many firewalls on loopback, speaking the XML API.

Public API (stable; see docs/simulator.md):

- ``Simulator`` / ``SimOptions``: run a fleet in a background thread; query state, inject faults, read events.
- ``running_simulator``: a context manager for tests (``reconciler.sim.testing``).
- ``FleetSpec``, ``load_fleet``, ``generate_fleet``: describe or generate the fleet.
- ``Fault`` and ``FAULT_KINDS``: what can be injected.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.sim.faults import KINDS as FAULT_KINDS
    from reconciler.sim.faults import Fault
    from reconciler.sim.fleet import Credentials, DeviceSpec, FleetSpec, HaSpec, PanoramaSpec, load_fleet
    from reconciler.sim.generate import generate_fleet
    from reconciler.sim.simulator import DeviceInfo, DeviceState, Endpoint, SimOptions, Simulator
    from reconciler.sim.testing import running_simulator

# Each public name and the module it comes from. They load on first use (PEP 562), so importing a light
# part of the simulator (``reconciler.sim.errors``, as the product's CLI does) does not start the whole model.
_EXPORTS = {
    "FAULT_KINDS": ("reconciler.sim.faults", "KINDS"),
    "Fault": ("reconciler.sim.faults", "Fault"),
    "Credentials": ("reconciler.sim.fleet", "Credentials"),
    "DeviceSpec": ("reconciler.sim.fleet", "DeviceSpec"),
    "FleetSpec": ("reconciler.sim.fleet", "FleetSpec"),
    "HaSpec": ("reconciler.sim.fleet", "HaSpec"),
    "PanoramaSpec": ("reconciler.sim.fleet", "PanoramaSpec"),
    "load_fleet": ("reconciler.sim.fleet", "load_fleet"),
    "generate_fleet": ("reconciler.sim.generate", "generate_fleet"),
    "DeviceInfo": ("reconciler.sim.simulator", "DeviceInfo"),
    "DeviceState": ("reconciler.sim.simulator", "DeviceState"),
    "Endpoint": ("reconciler.sim.simulator", "Endpoint"),
    "SimOptions": ("reconciler.sim.simulator", "SimOptions"),
    "Simulator": ("reconciler.sim.simulator", "Simulator"),
    "running_simulator": ("reconciler.sim.testing", "running_simulator"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__all__ = [
    "FAULT_KINDS",
    "Credentials",
    "DeviceInfo",
    "DeviceSpec",
    "DeviceState",
    "Endpoint",
    "Fault",
    "FleetSpec",
    "HaSpec",
    "PanoramaSpec",
    "SimOptions",
    "Simulator",
    "generate_fleet",
    "load_fleet",
    "running_simulator",
]
