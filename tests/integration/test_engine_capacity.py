"""The engine's in-flight limit (``workers.max``) against the simulator: devices doing work count, an HA pair
holds one slot (its members work one after the other)."""

from __future__ import annotations

from pathlib import Path

from reconciler.core.version import PanOsVersion
from reconciler.machine.records import Phase
from reconciler.sim.fleet import DeviceSpec, FleetSpec, HaSpec
from tests.integration.fleet_env import fleet_env
from tests.safety import assert_safe

TARGET = "11.1.6-h1"


def dev(serial: str, group: str, **kw: object) -> DeviceSpec:
    return DeviceSpec(serial, f"fw-{serial}", version=PanOsVersion.parse("11.1.2"), device_group=group, **kw)  # type: ignore[arg-type]


def test_a_started_pair_takes_one_slot_and_a_standalone_works_beside_it(tmp_path: Path) -> None:
    """With room for two devices, a started HA pair holds one slot: its coordinator starts a member only
    while the other one rests, so one standalone firewall works beside it, and never more than two devices
    are busy at once (the pair keeps its slot between its members' turns, on every hop)."""
    fleet = FleetSpec(
        devices=(
            dev("p1", "dc", ha=HaSpec("p2", priority=10)),
            dev("p2", "dc", ha=HaSpec("p1", priority=20)),
            dev("s1", "branches"),
            dev("s2", "branches"),
        )
    )
    with fleet_env(tmp_path, fleet, base_address="127.160.0.0", **{"workers.max": 2}) as env:
        # The pair (two members' work) starts first, s1 beside it; s2 (one at a time in its group) after s1.
        env.write_desired(
            "groups:\n"
            f'  - {{name: rest, select: {{deviceGroups: [branches]}}, target: "{TARGET}", maxParallel: 1}}\n'
            f'  - {{name: pairs, select: {{ha: true}}, target: "{TARGET}"}}\n'
        )
        _, records = env.converge()
        assert {Phase.DONE} == {records[s].phase for s in ("p1", "p2", "s1", "s2")}
        assert {TARGET} == {env.sim.device(s).version for s in ("p1", "p2", "s1", "s2")}
        pair_start = min(str(records[s].started_at) for s in ("p1", "p2"))
        pair_end = max(str(records[s].finished_at) for s in ("p1", "p2"))
        assert str(records["s1"].started_at) < pair_end and pair_start < str(records["s1"].finished_at)
        assert str(records["s1"].finished_at) <= str(records["s2"].started_at)
        # From the devices' side: never more than two busy at once, one unit of "rest" at a time.
        assert_safe(env.sim.events(), max_in_flight=2, groups={"rest": (["s1", "s2"], 1)})
