"""The PAN-OS fleet simulator: one Panorama and many firewalls on loopback, speaking the XML API.

Public API (stable; see docs/simulator.md):

- ``Simulator`` / ``SimOptions``: run a fleet in a background thread; query state, inject faults, read events.
- ``running_simulator``: a context manager for tests (``reconciler.sim.testing``).
- ``FleetSpec``, ``load_fleet``, ``generate_fleet``: describe or generate the fleet.
- ``Fault`` and ``FAULT_KINDS``: what can be injected.
"""

from reconciler.sim.faults import KINDS as FAULT_KINDS
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import Credentials, DeviceSpec, FleetSpec, HaSpec, PanoramaSpec, load_fleet
from reconciler.sim.generate import generate_fleet
from reconciler.sim.simulator import DeviceInfo, DeviceState, Endpoint, SimOptions, Simulator
from reconciler.sim.testing import running_simulator

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
