"""The engine's in-flight limit (``workers.max``) against the simulator, with HA pairs holding two slots."""

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


def test_a_started_pair_keeps_both_slots_until_a_member_finishes(tmp_path: Path) -> None:
    """With room for two devices, a started HA pair holds both slots: the member waiting for its turn
    counts as in flight, so no standalone firewall starts in its place (on a multi-hop path that member
    begins while its peer rests between hops, and the fleet would exceed the limit)."""
    fleet = FleetSpec(
        devices=(
            dev("p1", "dc", ha=HaSpec("p2", priority=10)),
            dev("p2", "dc", ha=HaSpec("p1", priority=20)),
            dev("s1", "branches"),
            dev("s2", "branches"),
        )
    )
    with fleet_env(tmp_path, fleet, base_address="127.160.0.0", **{"workers.max": 2}) as env:
        # s1 goes first; s2 (one at a time in its group) comes after the pair in the plan's order.
        env.write_desired(
            "groups:\n"
            f'  - {{name: pairs, select: {{ha: true}}, target: "{TARGET}"}}\n'
            f'  - {{name: rest, select: {{deviceGroups: [branches]}}, target: "{TARGET}", maxParallel: 1}}\n'
        )
        _, records = env.converge()
        assert {Phase.DONE} == {records[s].phase for s in ("p1", "p2", "s1", "s2")}
        assert {TARGET} == {env.sim.device(s).version for s in ("p1", "p2", "s1", "s2")}
        first_member_done = min(str(records[s].finished_at) for s in ("p1", "p2"))
        assert str(records["s1"].finished_at) <= min(str(records[s].started_at) for s in ("p1", "p2"))
        assert first_member_done <= str(records["s2"].started_at)
        # From the devices' side: never more than two busy at once, one unit of "rest" at a time.
        assert_safe(env.sim.events(), max_in_flight=2, groups={"rest": (["s1", "s2"], 1)})
