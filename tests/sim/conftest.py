"""Fixtures for the simulator's tests.

- ``world``: a factory for an in-process ``World`` on a ``ManualClock`` (no sockets, no real waiting);
  ``Harness.advance(seconds)`` moves sim time and runs everything that became due.
- ``sim``: a factory starting a real simulator on loopback (``running_simulator``) that is stopped at the
  end of the test. Other test suites build their own fixtures the same way on ``reconciler.sim.testing``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.sim.addresses import Addressing
from reconciler.sim.clock import ManualClock
from reconciler.sim.events import EventLog
from reconciler.sim.firewall import SimFirewall
from reconciler.sim.fleet import Credentials, DeviceSpec, FleetSpec, HaSpec
from reconciler.sim.simulator import Simulator
from reconciler.sim.testing import running_simulator
from reconciler.sim.version import Version
from reconciler.sim.world import World

CREDS = Credentials("admin", "s3cret")


@dataclass
class Harness:
    world: World
    clock: ManualClock

    def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move sim time forward in steps, running due changes (as the ticker does)."""
        remaining = seconds
        while remaining > 0:
            delta = min(step, remaining)
            self.clock.advance(delta)
            self.world.scheduler.run_due(self.clock.now())
            remaining -= delta

    def fw(self, serial: str) -> SimFirewall:
        return self.world.firewalls[serial]

    def events(self, kind: str | None = None, serial: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.world.events.read()
            if (kind is None or e["event"] == kind) and (serial is None or e["serial"] == serial)
        ]

    def run_until(self, condition: Callable[[], bool], limit: float = 20_000.0, step: float = 1.0) -> float:
        """Advance until ``condition`` holds; return the sim seconds it took (fails the test at ``limit``)."""
        start = self.clock.now()
        while not condition():
            if self.clock.now() - start > limit:
                raise AssertionError(f"condition not met within {limit} sim seconds")
            self.advance(step, step)
        return self.clock.now() - start


def device(serial: str, version: str = "10.2.9", **kw: Any) -> DeviceSpec:
    kw.setdefault("content_version", "9021-9135")
    kw.setdefault("free_disk_mb", 9000)
    return DeviceSpec(serial=serial, hostname=f"fw-{serial}", version=Version.parse(version), **kw)


def ha_pair(a: str, b: str, version: str = "10.2.9", **kw: Any) -> tuple[DeviceSpec, DeviceSpec]:
    pre = kw.pop("preemptive", False)
    return (
        device(a, version, ha=HaSpec(peer=b, priority=100, preemptive=pre), **kw),
        device(b, version, ha=HaSpec(peer=a, priority=110, preemptive=pre), **kw),
    )


@pytest.fixture
def world() -> Callable[..., Harness]:
    def make(*devices: DeviceSpec, seed: int = 7) -> Harness:
        fleet = FleetSpec(devices=tuple(devices), seed=seed)
        clock = ManualClock()
        w = World(
            fleet,
            clock,
            EventLog(None, clock),
            addressing=Addressing("127.20.0.0"),
            secret=b"k" * 32,
            panorama_credentials=CREDS,
            firewall_credentials=CREDS,
        )
        return Harness(w, clock)

    return make


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    """``sim(fleet=None, **running_simulator kwargs)`` -> a started simulator, stopped after the test."""
    with contextlib.ExitStack() as stack:
        counter = iter(range(1000))

        def start(fleet: Any = None, **kw: Any) -> Simulator:
            kw.setdefault("time_scale", 0.005)
            state = tmp_path / f"sim{next(counter)}"
            return stack.enter_context(running_simulator(fleet, state_dir=state, **kw))

        yield start
