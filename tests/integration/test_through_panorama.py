"""Firewalls reached through Panorama (issue 16.3): ``firewall.connection`` ``panorama`` and ``auto``.

The firewalls' own listeners are closed (``direct_unreachable``): only Panorama's ``target=SERIAL`` proxy
reaches them. ``apply`` upgrades them end to end, reboot included (Panorama answers ``SERIAL not
connected`` while they restart), with the real pan-os-python client over sockets.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.engine.loop import drive
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import FleetSpec, HaSpec
from reconciler.workdir import firewall_paths
from tests.integration.fleet_env import fleet_env
from tests.integration.test_engine import TARGET, dev, group
from tests.safety import assert_safe

CUT_OFF = (Fault.create("direct_unreachable"),)
VIA = " (via panorama)"


def connection(mode: str) -> dict[str, Any]:
    return {"firewall.connection": mode}


def apply(runner: CliRunner, work: Path, desired: Path) -> object:
    return runner.invoke(
        app, ["--work-dir", str(work), "apply", "-f", str(desired), "--auto-approve", "--timeout", "120"]
    )


def direct_calls(calls: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in calls.items() if not k.endswith(VIA)}


def proxied_calls(calls: dict[str, int]) -> int:
    return sum(v for k, v in calls.items() if k.endswith(VIA))


def restarts(events: list[dict[str, object]], serial: str) -> int:
    return sum(
        1 for e in events if e["event"] == "boot_phase" and e["serial"] == serial and e["phase"] == "down"
    )


def not_connected(events: list[dict[str, object]]) -> set[str]:
    """Serials Panorama answered ``<serial> not connected`` for."""
    return {
        str(e["message"]).split()[0]
        for e in events
        if e["event"] == "api_error" and str(e.get("message", "")).endswith(" not connected")
    }


def test_apply_through_panorama_upgrades_firewalls_with_no_direct_route(
    tmp_path: Path, runner: CliRunner
) -> None:
    fleet = FleetSpec(devices=(dev("001", "11.1.2", faults=CUT_OFF), dev("002", "11.1.2", faults=CUT_OFF)))
    with fleet_env(tmp_path, fleet, base_address="127.236.0.0", **connection("panorama")) as env:
        env.write_desired(group())
        result = apply(runner, env.paths.root, env.desired)
        assert 0 == result.exit_code, result.output  # type: ignore[attr-defined]
        events = env.sim.events()
        for serial in ("001", "002"):
            assert TARGET == env.sim.device(serial).version
            assert restarts(events, serial) >= 1, serial
            calls = env.sim.api_calls(serial)
            assert {} == direct_calls(calls), serial  # nothing reached its own address
            assert proxied_calls(calls) > 10
            assert calls.get("op:request restart system" + VIA) == 1
        # Reboot polling through Panorama met "<serial> not connected" and waited, as for a closed listener.
        assert {"001", "002"} <= not_connected(events)
        assert_safe(events, managed={"001", "002"}, max_in_flight=20)


def test_apply_auto_reaches_a_cut_off_ha_pair_through_panorama_and_the_rest_directly(
    tmp_path: Path, runner: CliRunner
) -> None:
    """``auto``: an HA pair whose management addresses are cut off is upgraded through Panorama (suspend,
    reboot, functional, passive first), a standalone firewall that answers at its address stays direct."""
    fleet = FleetSpec(
        devices=(
            dev("101", "11.1.2", ha=HaSpec("102", priority=10), faults=CUT_OFF),
            dev("102", "11.1.2", ha=HaSpec("101", priority=20), faults=CUT_OFF),
            dev("003", "11.1.2"),
        )
    )
    with fleet_env(tmp_path, fleet, base_address="127.237.0.0", **connection("auto")) as env:
        env.write_desired(group())
        result = apply(runner, env.paths.root, env.desired)
        assert 0 == result.exit_code, result.output  # type: ignore[attr-defined]
        events = env.sim.events()
        assert {TARGET} == {env.sim.device(s).version for s in ("101", "102", "003")}
        for serial in ("101", "102"):
            calls = env.sim.api_calls(serial)
            assert {} == direct_calls(calls), serial
            assert calls.get("op:request restart system" + VIA) == 1
            asked = [e["event"] for e in events if e["serial"] == serial and e["event"].startswith("ha_")]
            assert ["ha_suspend_request", "ha_functional_request"] == [e for e in asked if "request" in e]
        assert 0 == proxied_calls(env.sim.api_calls("003"))
        assert env.sim.api_calls("003").get("op:request restart system") == 1
        assert {"101", "102"} <= not_connected(events)
        assert_safe(events, managed={"101", "102", "003"}, max_in_flight=20)


def test_a_groups_connection_overrides_the_setting(tmp_path: Path, runner: CliRunner) -> None:
    """``firewall.connection`` is ``panorama`` (discovery probes through Panorama too); the desired state
    keeps one group on the management addresses."""
    fleet = FleetSpec(
        devices=(
            dev("001", "11.1.2", faults=CUT_OFF, device_group="remote"),
            dev("002", "11.1.2", device_group="dc"),
        )
    )
    with fleet_env(tmp_path, fleet, base_address="127.238.0.0", **connection("panorama")) as env:
        env.write_desired(
            f'groups:\n  - name: remote\n    select: {{deviceGroups: [remote]}}\n    target: "{TARGET}"\n'
            f'  - name: dc\n    select: {{deviceGroups: [dc]}}\n    target: "{TARGET}"\n'
            "    connection: direct\n"
        )
        result = apply(runner, env.paths.root, env.desired)
        assert 0 == result.exit_code, result.output  # type: ignore[attr-defined]
        assert {TARGET} == {env.sim.device(s).version for s in ("001", "002")}
        assert {} == direct_calls(env.sim.api_calls("001"))
        assert env.sim.api_calls("001").get("op:request restart system" + VIA) == 1
        dc = env.sim.api_calls("002")
        assert dc.get("op:request restart system") == 1 and "op:request restart system" + VIA not in dc
        assert_safe(env.sim.events(), managed={"001", "002"}, max_in_flight=20)


def test_metrics_count_calls_by_path(tmp_path: Path) -> None:
    """The engine's ``panos_upgrade_api_calls_total`` tells calls through Panorama from direct ones."""
    fleet = FleetSpec(
        devices=(
            dev("001", "11.1.2", faults=CUT_OFF, device_group="remote"),
            dev("002", "11.1.2", device_group="dc"),
        )
    )
    with fleet_env(tmp_path, fleet, base_address="127.239.0.0", **connection("auto")) as env:
        env.write_desired(
            f'groups:\n  - name: all\n    select: {{deviceGroups: [remote, dc]}}\n    target: "{TARGET}"\n'
        )
        session = env.session()
        try:
            session.reconciler.load_records()
            drive(
                session,
                stop=threading.Event(),
                until_settled=True,
                resync=1.0,
                deadline=time.monotonic() + 120,
            )
            value = session.metrics.registry.get_sample_value
            restarts = {
                path: value(
                    "panos_upgrade_api_calls_total", {"command": "request restart system", "path": path}
                )
                for path in ("direct", "panorama")
            }
        finally:
            session.close()
        assert {TARGET} == {env.sim.device(s).version for s in ("001", "002")}
        assert {"direct": 1.0, "panorama": 1.0} == restarts
        # 001's address was tried once, by the fixture's discovery, which fell back to Panorama and kept that
        # (status/firewall-paths.json): the engine went through Panorama from its first call.
        assert {"001"} == set(firewall_paths.load(firewall_paths.file_of(env.paths)))
        assert sum(direct_calls(env.sim.api_calls("001")).values()) <= 1
        assert_safe(env.sim.events(), managed={"001", "002"}, max_in_flight=20)


def test_daemon_upgrades_firewalls_reached_only_through_panorama(tmp_path: Path) -> None:
    from tests.integration.test_daemon import DAEMON_CONFIG, start_daemon, status, stop

    fleet = FleetSpec(devices=(dev("001", "11.1.2", faults=CUT_OFF), dev("002", "10.2.9", faults=CUT_OFF)))
    with fleet_env(
        tmp_path,
        fleet,
        time_scale=0.004,
        base_address="127.235.0.0",
        **DAEMON_CONFIG,
        **connection("panorama"),
    ) as env:
        env.write_desired(group())
        proc = start_daemon(env, env.desired)
        try:
            converged = env.sim.wait_until(
                lambda: all(env.sim.device(s).version == TARGET for s in ("001", "002")), timeout=120
            )
        finally:
            assert 0 == stop(proc)
        assert converged, (proc.stderr.read() if proc.stderr else b"").decode()[-2000:]
        assert "stopped" == status(env)["state"]
        events = env.sim.events()
        for serial in ("001", "002"):
            calls = env.sim.api_calls(serial)
            assert {} == direct_calls(calls), serial
            assert calls.get("op:request restart system" + VIA, 0) >= 1
        assert {"001", "002"} <= not_connected(events)
        assert_safe(events, managed={"001", "002"}, max_in_flight=20)
