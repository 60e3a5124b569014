"""Kept connections end to end: the engine upgrades a standalone firewall and an HA pair (reboots included)
through the real pan-os-python client, and each device sees a handful of TLS connections for its hundreds
of API calls. Each restart cut the device's connections; the calls after it went on new ones, and no
device-changing request was sent twice (the simulator's own counts)."""

from __future__ import annotations

from pathlib import Path

from reconciler.core.version import PanOsVersion
from reconciler.machine.records import Phase
from reconciler.sim.fleet import DeviceSpec, FleetSpec, HaSpec
from tests.integration.fleet_env import fleet_env
from tests.safety import assert_safe

TARGET = "11.1.6-h1"
SERIALS = ("201", "202", "203")
CHANGING = ("op:request restart system", "op:request system software install")


def dev(serial: str, **kw: object) -> DeviceSpec:
    return DeviceSpec(serial, f"fw-{serial}", version=PanOsVersion.parse("11.1.2"), device_group="dc", **kw)  # type: ignore[arg-type]


def test_each_device_is_called_over_a_few_kept_connections_and_nothing_is_sent_twice(tmp_path: Path) -> None:
    fleet = FleetSpec(
        devices=(
            dev("201"),
            dev("202", ha=HaSpec("203", priority=10)),
            dev("203", ha=HaSpec("202", priority=20)),
        )
    )
    with fleet_env(tmp_path, fleet, base_address="127.96.0.0") as env:
        env.write_desired(
            f'groups:\n  - name: dc\n    select: {{deviceGroups: [dc]}}\n    target: "{TARGET}"\n'
        )
        _, records = env.converge()
        events = env.sim.events()
        for serial in SERIALS:
            assert TARGET == env.sim.device(serial).version, serial
            assert Phase.DONE is records[serial].phase, records[serial].last_error
        assert_safe(events, managed=set(SERIALS), max_in_flight=20)
        for serial in SERIALS:
            calls = env.sim.api_calls(serial)
            answered = sum(
                n for command, n in calls.items() if command.startswith(("op:", "keygen", "config:"))
            )
            connections = env.sim.connections(serial)
            reboots = sum(1 for e in events if e["event"] == "reboot_start" and e["serial"] == serial)
            assert 1 == reboots, serial
            # At least one connection before the restart and one after it; far fewer than calls (each
            # device-changing request goes on a connection of its own).
            assert 2 <= connections <= answered / 2, (serial, connections, calls)
            for command in CHANGING:
                assert 1 == calls.get(command), (serial, command, calls)
