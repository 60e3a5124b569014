"""``workers.max`` counts devices doing work (issue 18.4): an HA pair holds one slot, as its members work one
after the other, and the reconcile pass starts the units with the longest remaining path first.

The reconcile pass and the executor run for real against the in-memory firewalls of ``machine_world`` (the
runner is a plain function, the clocks one fake clock moved to the next due command): no sockets, no real
waiting. Every persisted transition is checked: never more than ``workers.max`` devices doing work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from machine_world import T0, FakeFirewall, ha_pair

from reconciler.core.desired import DesiredState, build
from reconciler.core.inventory import Device, Inventory
from reconciler.core.upgrade_path import parse_upgrade_paths
from reconciler.engine.executor import Executor
from reconciler.engine.reconcile import Reconciler
from reconciler.machine.commands import Command, MakeFunctional, ObserveDevice, ReadHaState, Suspend
from reconciler.machine.observations import Observation
from reconciler.machine.records import TERMINAL_PHASES, DeviceRecord, Phase
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

TARGET = "11.0.3"
START = "10.2.9"
# Resting (between hops, or waiting for its turn in a pair) or finished: not doing work.
IDLE = frozenset({Phase.PENDING, Phase.NEXT_HOP, Phase.HELD, *TERMINAL_PHASES})


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.t)


@dataclass
class Fleet:
    fws: dict[str, FakeFirewall]
    clock: FakeClock
    executor: Executor
    reconciler: Reconciler
    working_peak: int = 0
    violations: list[str] = field(default_factory=list)
    started: list[list[str]] = field(default_factory=list)

    def run(self, serial: str, command: Command) -> Observation:
        fw = self.fws[serial]
        if isinstance(command, ObserveDevice):
            return fw.live(self.clock.t)
        if isinstance(command, ReadHaState | Suspend | MakeFunctional):
            return fw.run_ha(command, self.clock.t)
        return fw.run(command, self.clock.t)

    def on_transition(self, old: DeviceRecord | None, new: DeviceRecord) -> None:
        records = dict(self.executor.records)
        records[new.serial] = new
        working = sorted(s for s, r in records.items() if r.phase not in IDLE)
        self.working_peak = max(self.working_peak, len(working))
        if len(working) > self.reconciler.max_in_flight:
            self.violations.append(f"at {self.clock.t:.0f} s: {len(working)} working: {working}")
        self.reconciler.on_transition(old, new)


@dataclass
class Runner:
    fleet: Fleet | None = None

    def run(self, serial: str, command: Command) -> Observation:
        assert self.fleet is not None
        return self.fleet.run(serial, command)


def _fleet(tmp_path: Path, fws: dict[str, FakeFirewall], workers: int) -> Iterator[Fleet]:
    paths = WorkPaths(tmp_path)
    paths.device_status_dir.mkdir(parents=True)
    clock = FakeClock()
    runner = Runner()
    executor = Executor(paths, runner, threads=2, clock=clock.now, monotonic=clock.monotonic)
    reconciler = Reconciler(
        paths,
        Config({"workers.max": workers}),
        executor,
        client_for=lambda serial: pytest.fail(f"a device client was asked for {serial}"),
        clock=clock.now,
        desired_path=tmp_path / "desired",
    )
    fleet = Fleet(fws, clock, executor, reconciler)
    runner.fleet = fleet
    executor.on_transition = fleet.on_transition
    try:
        yield fleet
    finally:
        reconciler.close()
        executor.close(wait=False)


def desired(*groups: dict[str, Any]) -> DesiredState:
    return build([{"apiVersion": "panos-upgrade/v1", "groups": list(groups)}])


def group(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "select": {"deviceGroups": [name]}, "target": TARGET, **kw}


def standalone(serial: str, dg: str = "br") -> Device:
    return Device(
        serial,
        f"fw-{serial}",
        sw_version=START,
        device_group=dg,
        device_type="standalone",
        ha_state="standalone",
    )


def member(fw: FakeFirewall, dg: str = "dc") -> Device:
    assert fw.ha_peer is not None
    return Device(
        fw.serial,
        f"fw-{fw.serial}",
        sw_version=START,
        device_group=dg,
        device_type="ha_pair",
        ha_state=fw.ha_state,
        peer_serial=fw.ha_peer.serial,
    )


def pair_of(a: str, b: str) -> tuple[FakeFirewall, FakeFirewall]:
    fa, fb = ha_pair(START)
    fa.serial, fb.serial = a, b
    return fa, fb


def roll_out(fleet: Fleet, state: DesiredState, inventory: Inventory, max_rounds: int = 20_000) -> None:
    """Passes and pumps, as the loop runs them, until every device is done (bounded)."""
    for _ in range(max_rounds):
        result = fleet.reconciler.plan_and_start(state, inventory)
        assert result.plan is not None and not result.error
        if result.started:
            fleet.started.append(sorted(result.started))
        if all(r.phase is Phase.DONE for r in fleet.executor.records.values()) and len(
            fleet.executor.records
        ) == len(inventory):
            return
        if not fleet.executor.busy() and not result.started and not result.continued:
            phases = {s: r.phase.value for s, r in fleet.executor.records.items()}
            raise AssertionError(f"nothing in motion and nothing started at {fleet.clock.t:.0f} s: {phases}")
        running = fleet.executor.running_count() > 0 or any(
            p.running is not None for p in fleet.executor.pairs.values()
        )
        nxt = fleet.executor.next_due_in()
        if nxt is not None and nxt > 0 and not running:
            fleet.clock.t += nxt
        fleet.executor.pump(max_wait=2.0)
    phases = {s: r.phase.value for s, r in fleet.executor.records.items()}
    raise AssertionError(f"the rollout did not finish in {max_rounds} rounds: {phases}")


@pytest.fixture
def two_pairs_four_standalones(tmp_path: Path) -> Iterator[Fleet]:
    fws: dict[str, FakeFirewall] = {s: FakeFirewall(s, START) for s in ("S1", "S2", "S3", "S4")}
    for a, b in (("H1", "H2"), ("H3", "H4")):
        fws.update(dict(zip((a, b), pair_of(a, b), strict=True)))
    yield from _fleet(tmp_path, fws, workers=3)


def test_an_ha_pair_takes_one_slot_and_workers_max_bounds_the_devices_doing_work(
    two_pairs_four_standalones: Fleet,
) -> None:
    fleet = two_pairs_four_standalones
    fws = fleet.fws
    inventory = Inventory.of(
        [standalone(s) for s in ("S1", "S2", "S3", "S4")] + [member(fws[s]) for s in ("H1", "H2", "H3", "H4")]
    )
    roll_out(fleet, desired(group("br"), group("dc")), inventory)

    # The first pass: both pairs (the longest units: two members' work each) and one standalone, three slots.
    assert fleet.started[0] == ["H1", "H2", "H3", "H4", "S1"]
    assert [] == fleet.violations
    assert fleet.working_peak == 3, "the slots were used"
    assert {TARGET} == {fw.version for fw in fws.values()}
    assert [] == [a for fw in fws.values() for a in fw.active_reboots]


def test_a_pass_gives_one_slot_to_a_pair_and_starts_the_longest_unit_first(tmp_path: Path) -> None:
    fws: dict[str, FakeFirewall] = {s: FakeFirewall(s, START) for s in ("S1", "S2")}
    fws.update(dict(zip(("H1", "H2"), pair_of("H1", "H2"), strict=True)))
    for fleet in _fleet(tmp_path, fws, workers=1):
        inventory = Inventory.of([standalone("S1"), standalone("S2"), member(fws["H1"]), member(fws["H2"])])
        result = fleet.reconciler.plan_and_start(desired(group("br"), group("dc")), inventory)
        # Group "br" comes first in the desired state and S1 sorts first, but the pair has more work to do;
        # one slot is enough for it.
        assert sorted(result.started) == ["H1", "H2"]
        assert fleet.executor.slots_in_use() == 1
        assert fleet.reconciler.plan_and_start(desired(group("br"), group("dc")), inventory).started == []


def test_on_a_two_hop_path_devices_resting_between_hops_go_on_while_the_slots_are_full(
    tmp_path: Path,
) -> None:
    """A device resting between hops has less work left than a unit not started yet, so it comes later in
    the start order; with every slot taken it still continues (a pass that stopped at the first unit it
    could not start would leave it resting, holding its slot, for ever)."""
    fws: dict[str, FakeFirewall] = {s: FakeFirewall(s, START) for s in ("S1", "S2", "S3", "S4", "S5")}
    fws.update(dict(zip(("H1", "H2"), pair_of("H1", "H2"), strict=True)))
    table = parse_upgrade_paths({START: ["11.0.3", "11.1.6"]})
    state = build(
        [
            {
                "apiVersion": "panos-upgrade/v1",
                "groups": [
                    {"name": g, "select": {"deviceGroups": [g]}, "target": "11.1.6"} for g in ("br", "dc")
                ],
            }
        ]
    ).with_upgrade_paths(table)
    inventory = Inventory.of(
        [standalone(s) for s in ("S1", "S2", "S3", "S4", "S5")] + [member(fws[s]) for s in ("H1", "H2")]
    )
    for fleet in _fleet(tmp_path, fws, workers=2):
        roll_out(fleet, state, inventory)
        assert [] == fleet.violations
        assert fleet.working_peak == 2
        assert {"11.1.6"} == {fw.version for fw in fws.values()}
        assert all(len(r.hops) == 2 for r in fleet.executor.records.values())
