"""Helpers for tests that run against the simulator (stable API; see docs/simulator.md).

    from reconciler.sim.testing import running_simulator

    with running_simulator(firewalls=4, ha_pairs=1, state_dir=tmp_path, time_scale=0.005) as sim:
        ...

``running_simulator`` accepts a ``FleetSpec``, a fleet file path, or generation parameters.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.sim.fleet import FleetSpec, load_fleet
from reconciler.sim.generate import Preemptive, generate_fleet
from reconciler.sim.simulator import SimOptions, Simulator
from reconciler.sim.tls import client_context


@contextlib.contextmanager
def running_simulator(
    fleet: FleetSpec | str | Path | None = None,
    *,
    state_dir: str | Path,
    firewalls: int = 4,
    ha_pairs: int = 0,
    device_groups: int = 2,
    seed: int = 1,
    time_scale: float = 0.01,
    port: int = 0,
    base_address: str = "127.20.0.0",
    http: bool = False,
    latency_ms: float = 0.0,
    api_events: bool = False,
    preemptive: Preemptive = None,
) -> Iterator[Simulator]:
    """Start a simulator for the duration of the ``with`` block (stopped even if the block raises).

    ``preemptive`` applies to a generated fleet: ``"all"``/``True`` makes every HA pair preemptive."""
    if fleet is None:
        spec = generate_fleet(
            firewalls=firewalls,
            ha_pairs=ha_pairs,
            device_groups=device_groups,
            seed=seed,
            preemptive=preemptive,
        )
    elif isinstance(fleet, FleetSpec):
        spec = fleet
    else:
        spec = load_fleet(fleet)
    options = SimOptions(
        state_dir=Path(state_dir),
        time_scale=time_scale,
        port=port,
        base_address=base_address,
        http=http,
        latency_ms=latency_ms,
        api_events=api_events,
    )
    sim = Simulator(spec, options)
    try:
        sim.start()
        yield sim
    finally:
        sim.stop()


def verifying_context(sim: Simulator) -> ssl.SSLContext:
    """An SSL context that verifies the simulator's certificates (for pan-python's ``ssl_context``)."""
    return client_context(sim.ca_path)


def both_members_down(
    events: list[dict[str, Any]], pairs: list[tuple[str, str]]
) -> list[tuple[str, str, float]]:
    """Invariant check: every moment both members of an HA pair were rebooting at once.

    A member is down from its ``reboot_start`` event to its ``reboot_end`` event (or to the end of the log).
    Returns (serial_a, serial_b, sim_time) for each overlap found; an empty list means the invariant held.
    """
    intervals: dict[str, list[tuple[float, float]]] = {}
    open_since: dict[str, float] = {}
    end = max((e["sim_time"] for e in events), default=0.0)
    for e in events:
        if e["event"] == "reboot_start":
            open_since[e["serial"]] = e["sim_time"]
        elif e["event"] == "reboot_end" and e["serial"] in open_since:
            intervals.setdefault(e["serial"], []).append((open_since.pop(e["serial"]), e["sim_time"]))
    for serial, start in open_since.items():
        intervals.setdefault(serial, []).append((start, end))
    overlaps = []
    for a, b in pairs:
        for a0, a1 in intervals.get(a, []):
            for b0, b1 in intervals.get(b, []):
                if a0 < b1 and b0 < a1:
                    overlaps.append((a, b, max(a0, b0)))
    return overlaps


def installs_without_download(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Invariant check: ``install_start`` events whose image had no successful download or sync before.

    Images present at start (the running one and those listed in the fleet) count as downloaded only if
    the caller passes their ``download_end`` equivalents; use with fleets whose installs all start from a
    download made during the test.
    """
    have: set[tuple[str, str]] = set()
    bad = []
    for e in events:
        if (e["event"] == "download_end" and e.get("result") == "OK") or e["event"] == "download_synced":
            have.add((e["serial"], e["version"]))
        elif e["event"] == "image_deleted":
            have.discard((e["serial"], e["version"]))
        elif e["event"] == "install_start" and (e["serial"], e["version"]) not in have:
            bad.append(e)
    return bad
