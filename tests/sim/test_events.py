"""The event log as an oracle: its shape, its invariants, and determinism under a seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from panos.firewall import Firewall

from reconciler.sim import FleetSpec, Simulator, generate_fleet
from reconciler.sim.fleet import Durations
from reconciler.sim.testing import both_members_down, installs_without_download
from tests.sim.conftest import ha_pair

StartSim = Callable[..., Simulator]
FAST = Durations.from_json(
    {"download": [100, 150], "install": [240, 300], "reboot": [340, 400], "ha_boot": 10, "ha_initial": 20}
)


def client(s: Simulator, serial: str) -> Firewall:
    ep = s.endpoint(serial)
    return Firewall(ep.address, s.credentials.user, s.credentials.password, port=ep.port, timeout=30)


def upgrade(s: Simulator, serial: str, version: str) -> None:
    fw = client(s, serial)
    fw.software.check()
    fw.software.download(version, sync=True)
    fw.software.install(version, sync=True)
    fw.restart()
    fw.syncreboot(interval=0.1, timeout=60)


def functional(s: Simulator, serial: str) -> bool:
    return s.wait_until(lambda: s.device(serial).ha_state in ("active", "passive"), timeout=15)


def test_every_event_has_the_documented_fields_and_time_never_goes_back(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=ha_pair("A", "B"), durations=FAST), time_scale=0.003)
    upgrade(s, "B", "10.2.13")
    events = s.events()
    assert events[0]["event"] == "sim_start"
    for e in events:
        assert {"seq", "sim_time", "wall_time", "serial", "event"} <= set(e)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    times = [e["sim_time"] for e in events]
    assert times == sorted(times)
    kinds = [e["event"] for e in s.events(serial="B")]
    for kind in (
        "download_start",
        "download_end",
        "install_start",
        "install_end",
        "reboot_start",
        "reboot_end",
    ):
        assert kind in kinds


def test_a_careful_ha_upgrade_keeps_the_invariants(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=ha_pair("A", "B"), durations=FAST), time_scale=0.003)
    upgrade(s, "B", "10.2.13")  # the passive member first
    assert functional(s, "B")
    client(s, "A").op("request high-availability state suspend")
    assert s.device("B").ha_state == "active"
    upgrade(s, "A", "10.2.13")
    client(s, "A").op("request high-availability state functional")
    assert functional(s, "A")
    events = s.events()
    assert both_members_down(events, [("A", "B")]) == []
    assert installs_without_download(events) == []
    assert {s.device(x).version for x in "AB"} == {"10.2.13"}


def test_rebooting_both_members_at_once_is_caught(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=ha_pair("A", "B"), durations=FAST), time_scale=0.003)
    for serial in "AB":
        client(s, serial).restart()
    assert s.wait_until(lambda: len(s.events("reboot_end")) == 2, timeout=15)
    overlaps = both_members_down(s.events(), [("A", "B")])
    assert overlaps and overlaps[0][:2] == ("A", "B")


def test_api_calls_are_counted_per_device_and_command(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=ha_pair("A", "B")), api_events=True)
    fw = client(s, "A")
    for _ in range(3):
        fw.op("show system info")
    assert s.api_calls("A") == {"keygen": 1, "op:show system info": 3}
    assert len(s.events("api", "A")) == 4
    assert s.status()["api_calls"]["A"]["op:show system info"] == 3


def _durations(s: Simulator, serial: str) -> list[tuple[str, float]]:
    starts: dict[str, float] = {}
    out = []
    for e in s.events(serial=serial):
        kind = e["event"]
        if kind.endswith("_start"):
            starts[kind[: -len("_start")]] = e["sim_time"]
        elif kind.endswith("_end") and kind[: -len("_end")] in starts:
            name = kind[: -len("_end")]
            out.append((name, round(e["sim_time"] - starts.pop(name), 1)))
    return out


def test_same_seed_same_fleet_and_same_durations(sim: StartSim) -> None:
    def run(seed: int, *, act: bool = True) -> tuple[list[dict[str, Any]], list[tuple[str, float]]]:
        fleet = generate_fleet(firewalls=5, ha_pairs=1, device_groups=2, seed=seed)
        s = sim(FleetSpec(devices=fleet.devices, seed=seed, durations=FAST), time_scale=0.003)
        serial = s.devices[-1].serial
        if not act:
            return [d.to_json() for d in s.devices], []
        version = s.devices[-1].initial_version
        client(s, serial).software.check()
        candidates = [str(v) for v in s.fleet.catalog.train(version.rsplit(".", 1)[0]) if str(v) != version]
        upgrade(s, serial, candidates[-1])
        return [d.to_json() for d in s.devices], _durations(s, serial)

    devices_a, durations_a = run(11)
    devices_b, durations_b = run(11)
    devices_c, _ = run(12, act=False)
    assert devices_a == devices_b
    assert durations_a == durations_b and [n for n, _ in durations_a] == ["download", "install", "reboot"]
    assert devices_a != devices_c
