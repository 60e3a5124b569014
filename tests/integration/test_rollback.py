"""Rollback (issue 16.4) end to end against the simulator: ``device rollback`` and ``group rollback`` through
the CLI with no daemon (the rollback runs in the foreground) and through the daemon, a standalone firewall and
an HA pair; the end versions, the status files, the simulator's event log (the safety oracle runs on it too),
the hold afterwards and the refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.jobs import operator_requests
from reconciler.machine.observations import HoldRequest, ReleaseRequest
from reconciler.machine.records import Phase
from reconciler.sim.fleet import FleetSpec, HaSpec
from reconciler.workdir import inventory_store, schemas
from tests.integration.fleet_env import FleetEnv, fleet_env
from tests.integration.test_daemon import DAEMON_CONFIG, start_daemon, stop
from tests.integration.test_engine import TARGET, block, dev, group, installs
from tests.safety import assert_safe


def run(env: FleetEnv, *args: str) -> Any:
    return CliRunner().invoke(app, ["--work-dir", str(env.paths.root), *args])


def status_file(env: FleetEnv, serial: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(env.paths.device_status_file(serial).read_text())
    assert [] == schemas.errors("device-status", doc)
    return doc


def plan_of(env: FleetEnv) -> dict[str, dict[str, Any]]:
    result = run(env, "plan", "-f", str(env.desired), "--json")
    assert result.exit_code in (0, 2), result.output
    return {d["serial"]: d for d in json.loads(result.stdout)["devices"]}


def reboots(events: list[dict[str, Any]], serial: str) -> list[str]:
    return [e["result"] for e in events if e["event"] == "reboot_end" and e["serial"] == serial]


def test_device_rollback_without_a_daemon_runs_now_then_holds_until_released(tmp_path: Path) -> None:
    # 001 upgrades within 11.1; 003 skips from 10.2 to 11.1 in one hop (standalone): going back two feature
    # releases in one install is not supported, so its rollback is refused. 002 is never upgraded.
    fleet = FleetSpec(
        devices=(dev("001", "11.1.2"), dev("002", "11.1.2", device_group="lab"), dev("003", "10.2.9"))
    )
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.write_desired(group())
        env.converge()
        assert {TARGET} == {env.sim.device(s).version for s in ("001", "003")}

        result = run(env, "device", "rollback", "001", "-f", str(env.desired), "--reason", "app-id breakage")
        assert 0 == result.exit_code, result.output
        assert "001: rolled back from 11.1.6-h1 to 11.1.2" in result.stdout
        assert "11.1.2" == env.sim.device("001").version
        events = env.sim.events()
        assert [TARGET, "11.1.2"] == installs(events, "001")
        assert ["upgraded", "downgraded"] == reboots(events, "001")
        # The image PAN-OS kept is installed again: nothing was downloaded for the way back.
        assert "11.1.2" not in [e["version"] for e in events if e["event"] == "download_start"]
        doc = status_file(env, "001")
        assert ("done", "11.1.6-h1", "11.1.2", ["11.1.2"]) == (
            doc["upgrade_status"],
            doc["starting_version"],
            doc["current_version"],
            doc["upgrade_path"],
        )
        assert ("11.1.6-h1", "11.1.2", TARGET, "app-id breakage", None) == (
            doc["rollback"]["from_version"],
            doc["rollback"]["to_version"],
            doc["rollback"]["undone_target"],
            doc["rollback"]["reason"],
            doc["rollback"]["released_at"],
        )
        assert doc["pre_snapshot"] and doc["post_snapshot"] and doc["backup"]  # the upgrade's own gates

        shown = run(env, "device", "status", "001")
        assert 0 == shown.exit_code, shown.output
        assert (
            "rollback           11.1.6-h1 -> 11.1.2 by" in shown.stdout
            and "until 'device release'" in shown.stdout
        )

        # Held afterwards: the plan blocks it, and a converge leaves it on 11.1.2.
        planned = plan_of(env)["001"]
        assert ("blocked", "held") == (planned["action"], planned["reason"])
        assert "rolled back from 11.1.6-h1 to 11.1.2" in planned["detail"]
        env.converge()
        assert "11.1.2" == env.sim.device("001").version
        assert [TARGET, "11.1.2"] == installs(env.sim.events(), "001")

        # Refusals, each with its reason, exit 1, nothing installed.
        again = run(env, "device", "rollback", "001", "-f", str(env.desired))
        assert 1 == again.exit_code and "already rolled back" in again.stdout, again.output
        skipped = run(env, "device", "rollback", "003", "-f", str(env.desired))
        assert 1 == skipped.exit_code, skipped.output
        assert "not allowed" in skipped.stdout and "one feature release at a time" in skipped.stdout
        assert TARGET == env.sim.device("003").version
        never = run(env, "device", "rollback", "002", "-f", str(env.desired))
        assert 1 == never.exit_code and "no upgrade recorded" in never.stdout, never.output
        unknown = run(env, "device", "rollback", "999")
        assert 1 == unknown.exit_code and "not in the inventory" in unknown.output

        # Released: planned again toward the group's target.
        released = run(env, "device", "release", "001")
        assert 0 == released.exit_code, released.output
        assert "rollback hold released" in released.stdout
        assert status_file(env, "001")["rollback"]["released_at"]
        planned = plan_of(env)["001"]
        assert ("upgrade", None) == (planned["action"], planned["reason"])
        assert_safe(env.sim.events(), managed={"001", "003"}, max_in_flight=20)


def test_a_new_group_target_lifts_the_hold(tmp_path: Path) -> None:
    fleet = FleetSpec(devices=(dev("001", "11.1.2"),))
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.write_desired(group())
        env.converge()
        assert 0 == run(env, "device", "rollback", "001", "-f", str(env.desired)).exit_code
        assert "held" == plan_of(env)["001"]["reason"]
        env.write_desired(group("11.1.4"))
        planned = plan_of(env)["001"]
        assert ("upgrade", "11.1.4") == (planned["action"], planned["target"])


def test_group_rollback_of_an_ha_pair_passive_first_through_the_daemon(tmp_path: Path) -> None:
    """The daemon runs the rollback: a pair goes back as one unit with the pair machine (passive member
    first; each member suspends itself before its reboot and is made functional after it)."""
    fleet = FleetSpec(
        devices=(
            dev("101", "11.0.3", ha=HaSpec("102", priority=10)),
            dev("102", "11.0.3", ha=HaSpec("101", priority=20)),
        )
    )
    serials = ("101", "102")
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address=block(), **DAEMON_CONFIG) as env:
        env.write_desired(group("11.1.4"))
        _, records = env.converge(timeout=300)
        why = {s: (r.phase.value, r.last_error) for s, r in records.items()}
        assert {"11.1.4"} == {env.sim.device(s).version for s in serials}, why
        proc = start_daemon(env, env.desired)
        try:
            deadline = time.monotonic() + 60
            while not env.paths.daemon_status_file.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            result = run(env, "group", "rollback", "dc", "-f", str(env.desired), "--timeout", "60")
            assert 0 == result.exit_code, result.output
            assert "rollback from 11.1.4 to 11.0.3 started" in result.stdout
            # Asked again while the pair is on its way back: refused by the daemon, with the reason.
            busy = run(env, "device", "rollback", "102", "-f", str(env.desired), "--timeout", "60")
            assert 1 == busy.exit_code and "mid-upgrade: a rollback is in progress" in busy.stdout, (
                busy.output
            )
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and not all(
                status_file(env, s)["upgrade_status"] == "done" and status_file(env, s)["rollback"]
                for s in serials
            ):
                time.sleep(0.2)
            # The daemon holds them afterwards: a few passes later nothing has moved.
            time.sleep(2)
        finally:
            assert 0 == stop(proc)
        assert {"11.0.3"} == {env.sim.device(s).version for s in serials}
        events = env.sim.events()
        assert_safe(events, managed=set(serials), max_in_flight=20)
        # Passive first: the first member installs its way back while passive; each member suspends itself
        # right before its reboot (for the active one that is the failover onto the member already back).
        states: dict[str, str] = {s: str(m["state"]) for s, m in events[0]["ha"].items()}
        back, restarted = [], []
        for e in events:
            if e["event"] == "ha_state":
                states[str(e["serial"])] = str(e["to"])
            elif e["event"] == "install_start" and e["version"] == "11.0.3":
                back.append((e["serial"], states[str(e["serial"])]))
            elif e["event"] == "reboot_start" and back:  # the reboots of the way back
                restarted.append((e["serial"], states[str(e["serial"])]))
        assert 2 == len(back) and {s for s, _ in back} == set(serials), back
        assert "passive" == back[0][1], back
        assert [(back[0][0], "suspended"), (back[1][0], "suspended")] == restarted, restarted
        for serial in serials:
            doc = status_file(env, serial)
            assert ("done", "11.0.3", "11.1.4") == (
                doc["upgrade_status"],
                doc["current_version"],
                doc["rollback"]["from_version"],
            )
            assert ["upgraded", "downgraded"] == reboots(events, serial)
        planned = plan_of(env)
        assert {"held"} == {planned[s]["reason"] for s in serials}
        again = run(env, "group", "rollback", "dc", "-f", str(env.desired))
        assert 1 == again.exit_code and "nothing to roll back" in again.output


def test_device_rollback_of_an_ha_member_without_a_daemon_takes_its_pair_back(tmp_path: Path) -> None:
    """No daemon: the CLI runs the pair's rollback itself, with the pair machine; a release of one member
    releases both."""
    fleet = FleetSpec(
        devices=(
            dev("201", "11.1.2", ha=HaSpec("202", priority=10)),
            dev("202", "11.1.2", ha=HaSpec("201", priority=20)),
        )
    )
    serials = ("201", "202")
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.write_desired(group())
        _, records = env.converge(timeout=300)
        why = {s: (r.phase.value, r.last_error) for s, r in records.items()}
        assert {TARGET} == {env.sim.device(s).version for s in serials}, why
        result = run(env, "device", "rollback", "202", "-f", str(env.desired))
        assert 0 == result.exit_code, result.output
        for serial in serials:
            assert f"{serial}: rolled back from {TARGET} to 11.1.2" in result.stdout
            assert "11.1.2" == env.sim.device(serial).version
            assert ("done", "11.1.2") == (
                status_file(env, serial)["upgrade_status"],
                status_file(env, serial)["rollback"]["to_version"],
            )
        events = env.sim.events()
        assert_safe(events, managed=set(serials), max_in_flight=20)
        assert {s: ["upgraded", "downgraded"] for s in serials} == {s: reboots(events, s) for s in serials}
        assert {"held"} == {plan_of(env)[s]["reason"] for s in serials}
        released = run(env, "device", "release", "201")
        assert 0 == released.exit_code, released.output
        assert "together with its HA peer 201" in released.stdout
        assert {s: "upgrade" for s in serials} == {s: plan_of(env)[s]["action"] for s in serials}


def test_a_rollback_held_on_its_way_then_released_goes_on(tmp_path: Path) -> None:
    """An operator's hold stops a rollback at its next safe point like any work; the release continues it
    (the plan only holds a rollback, so the engine's intake begins it again), and it ends rolled back."""
    fleet = FleetSpec(devices=(dev("001", "11.1.2"),))
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.write_desired(group())
        env.converge()
        session = env.session()
        try:
            rec, ex, imperative = session.reconciler, session.executor, session.imperative
            assert imperative is not None
            rec.reload_desired()
            rec.inventory = inventory_store.load(env.paths)
            now = rec.clock()

            def request(command: str) -> operator_requests.Outcome:
                data = {"command": command, "serial": "001", "submitted_by": "test"}
                operator_requests.write_command(env.paths, data, now)
                (req,) = operator_requests.read_incoming(env.paths, inventory=rec.inventory, now=now)
                return imperative.command(req, rec.inventory, now)

            assert operator_requests.APPLIED == request("rollback").devices[0].result
            assert ex.request("001", HoldRequest(by="test", reason="wait"))
            deadline = time.monotonic() + 60
            while ex.busy() and time.monotonic() < deadline:
                ex.pump(max_wait=0.2)
            held = ex.record("001")
            assert held is not None and Phase.HELD is held.phase and held.rollback is not None
            assert "11.1.6-h1" == env.sim.device("001").version  # stopped before its install
            assert ex.request("001", ReleaseRequest(by="test"))
            imperative.continue_job_devices()
            deadline = time.monotonic() + 120
            while ex.busy() and time.monotonic() < deadline:
                ex.pump(max_wait=0.2)
            done = ex.record("001")
            assert done is not None and (Phase.DONE, "11.1.2") == (done.phase, done.current_version)
        finally:
            session.close()
        assert "11.1.2" == env.sim.device("001").version
        assert_safe(env.sim.events(), managed={"001"}, max_in_flight=20)
