"""Panorama as a desired-state target end to end (issue 16 point 2), through ``apply`` and the daemon.

The desired state declares Panorama's own target; the firewalls of one group need that newer Panorama for
their hop, another group's do not. Panorama (standalone, or an HA pair passive member first) is upgraded
first through the same state machine as a firewall, with pan-os-python's Panorama object against the
simulator's Panorama; the firewalls that needed it wait ``panorama-upgrade-pending`` and then go without
operator action. A Panorama that fails leaves them waiting. The safety oracle (autouse, and asked here
with the managed set) checks the event log: Panorama HA members never both down, no active member
restarted, no firewall ever past its Panorama.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import FleetSpec, PanoramaSpec
from reconciler.workdir import inventory_store
from tests.integration.fleet_env import FleetEnv, fleet_env
from tests.integration.test_engine import assert_status_files_valid, dev, installs
from tests.safety import assert_safe

PANO = "000710000001"
PEER = "000710000002"
DESIRED = """panorama:
  target: "{target}"
groups:
  - name: dc
    select: {{deviceGroups: [dc]}}
    target: "{target}"
  - name: edge
    select: {{deviceGroups: [edge]}}
    target: "{edge}"
"""


def cli(runner: CliRunner, env: FleetEnv, *args: str) -> Any:
    return runner.invoke(app, ["--work-dir", str(env.paths.root), *args])


def apply(runner: CliRunner, env: FleetEnv) -> Any:
    return cli(runner, env, "apply", "-f", str(env.desired), "--auto-approve", "--timeout", "150")


def seq_of(events: list[dict[str, Any]], event: str, serial: str, **match: Any) -> list[int]:
    return [
        int(e["seq"])
        for e in events
        if e["event"] == event and e["serial"] == serial and all(e.get(k) == v for k, v in match.items())
    ]


def device_status(env: FleetEnv, serial: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(env.paths.device_status_file(serial).read_text())
    return doc


def test_apply_upgrades_panorama_first_then_the_firewalls_that_waited(
    tmp_path: Path, runner: CliRunner
) -> None:
    fleet = FleetSpec(
        devices=(dev("201", "11.1.4"), dev("202", "11.1.4", device_group="edge")),
        panorama=PanoramaSpec(version="11.1.4"),
    )
    with fleet_env(tmp_path, fleet, base_address="127.201.0.0") as env:
        assert [p.serial for p in inventory_store.load(env.paths).panoramas] == [PANO]
        env.write_desired(DESIRED.format(target="12.1.3", edge="11.1.6-h1"))

        planned = cli(runner, env, "plan", "-f", str(env.desired), "--json")
        assert 0 == planned.exit_code, planned.output
        doc = json.loads(planned.stdout)
        assert doc["devices"][0]["serial"] == PANO and doc["devices"][0]["group"] == "panorama"
        assert doc["devices"][0]["action"] == "upgrade"
        by_serial = {d["serial"]: d for d in doc["devices"]}
        assert (by_serial["201"]["action"], by_serial["201"]["reason"]) == (
            "blocked",
            "panorama-upgrade-pending",
        )
        assert by_serial["202"]["action"] == "upgrade"  # Panorama 11.1.4 manages 11.1.6-h1 already
        table = cli(runner, env, "plan", "-f", str(env.desired))
        assert "panorama-upgrade-pending" in table.stdout and "panorama" in table.stdout

        applied = apply(runner, env)
        assert 0 == applied.exit_code, applied.output
        assert env.sim.panorama_state()["version"] == "12.1.3"
        assert env.sim.device("201").version == "12.1.3" and env.sim.device("201").panorama_connected
        assert env.sim.device("202").version == "11.1.6-h1"
        events = env.sim.events()
        assert installs(events, PANO) == ["12.1.3"]  # base images downloaded first, one install
        # Panorama came back on its new version before the firewall that needed it installed anything.
        pano_up = seq_of(events, "reboot_end", PANO, version="12.1.3")
        assert pano_up and pano_up[0] < min(seq_of(events, "install_start", "201"))
        record = device_status(env, PANO)
        assert (record["upgrade_status"], record["group"], record["current_version"]) == (
            "done",
            "panorama",
            "12.1.3",
        )
        assert_status_files_valid(env.paths.root)

        status = cli(runner, env, "group", "status", "-f", str(env.desired), "--json")
        assert 0 == status.exit_code, status.output
        groups = {g["name"]: g for g in json.loads(status.stdout)["groups"]}
        assert list(groups) == ["panorama", "dc", "edge"]
        assert [g["state"] for g in groups.values()] == ["synced"] * 3
        assert_safe(events, managed={PANO, "201", "202"}, max_in_flight=20)


def test_a_failed_panorama_leaves_its_firewalls_blocked(tmp_path: Path, runner: CliRunner) -> None:
    fleet = FleetSpec(
        devices=(dev("211", "11.1.4"), dev("212", "11.1.4", device_group="edge")),
        panorama=PanoramaSpec(version="11.1.4", faults=(Fault.create("reboot_old_version"),)),
    )
    with fleet_env(tmp_path, fleet, base_address="127.202.0.0") as env:
        env.write_desired(DESIRED.format(target="12.1.3", edge="11.1.6-h1"))
        applied = apply(runner, env)
        assert 0 != applied.exit_code, applied.output  # never "done": Panorama failed, a firewall waits
        assert env.sim.panorama_state()["version"] == "11.1.4"
        assert device_status(env, PANO)["upgrade_status"] == "failed"
        events = env.sim.events()
        assert installs(events, "211") == []  # the firewall that needed the new Panorama was not touched
        assert env.sim.device("211").version == "11.1.4" and env.sim.device("211").panorama_connected
        assert env.sim.device("212").version == "11.1.6-h1"  # the other group did not wait for Panorama

        planned = cli(runner, env, "plan", "-f", str(env.desired), "--json")
        by_serial = {d["serial"]: d for d in json.loads(planned.stdout)["devices"]}
        assert by_serial[PANO]["reason"] == "failed"
        assert by_serial["211"]["reason"] == "panorama-upgrade-pending"
        assert f"Panorama {PANO} failed:" in by_serial["211"]["detail"]
        status = cli(runner, env, "group", "status", "-f", str(env.desired), "--json")
        groups = {g["name"]: g for g in json.loads(status.stdout)["groups"]}
        assert groups["dc"]["reasons"] == {"panorama-upgrade-pending": 1}
        assert groups["panorama"]["state"] == "halted"
        # The engine's next pass (as the daemon's would be) exports the wait, and Panorama's failure.
        session = env.session()
        try:
            session.reconciler.load_records()
            session.reconciler.pass_()
            value = session.metrics.registry.get_sample_value
            waiting = value(
                "panos_upgrade_group_blocked", {"group": "dc", "reason": "panorama-upgrade-pending"}
            )
            failed = value("panos_upgrade_group_blocked", {"group": "panorama", "reason": "failed"})
        finally:
            session.close()
        assert (waiting, failed) == (1.0, 1.0)
        assert env.sim.device("211").version == "11.1.4"

        # The cause fixed and Panorama retried: it is upgraded, then the firewall that waited goes.
        shown = cli(runner, env, "device", "status", PANO)
        assert 0 == shown.exit_code and "came-back-on-old-version" in shown.output, shown.output
        env.sim.clear_faults(PANO)
        retried = cli(runner, env, "device", "retry", PANO, "--no-wait")
        assert 0 == retried.exit_code, retried.output
        applied = apply(runner, env)
        assert 0 == applied.exit_code, applied.output
        assert env.sim.panorama_state()["version"] == "12.1.3" and env.sim.device("211").version == "12.1.3"
        events = env.sim.events()
        assert max(seq_of(events, "reboot_end", PANO)) < min(seq_of(events, "install_start", "211"))
        assert_safe(events, managed={PANO, "211", "212"}, max_in_flight=20)


def ha_fleet(version: str) -> FleetSpec:
    return FleetSpec(
        devices=(dev("221", version), dev("222", version, device_group="edge")),
        panorama=PanoramaSpec(
            version=version, ha_peer=PanoramaSpec(serial=PEER, hostname="panorama-b", version=version)
        ),
    )


def assert_ha_panorama_upgraded_passive_first(env: FleetEnv, target: str) -> None:
    events = env.sim.events()
    assert {env.sim.panorama_state(s)["version"] for s in (PANO, PEER)} == {target}
    # The secondary (passive) installed and rebooted first; the primary failed over onto it before its own
    # reboot; the firewall that needed the new Panorama installed only after both were back on it.
    assert min(seq_of(events, "install_start", PEER)) < min(seq_of(events, "install_start", PANO))
    assert max(seq_of(events, "reboot_end", PEER)) < min(seq_of(events, "reboot_start", PANO))
    assert seq_of(events, "ha_suspend_request", PANO)
    both_up = max(seq_of(events, "reboot_end", s, version=target)[0] for s in (PANO, PEER))
    assert both_up < min(seq_of(events, "install_start", "221"))
    assert env.sim.device("221").version == target
    assert_safe(events, managed={PANO, PEER, "221", "222"}, max_in_flight=20)


def test_apply_upgrades_a_panorama_ha_pair_passive_first(tmp_path: Path, runner: CliRunner) -> None:
    with fleet_env(tmp_path, ha_fleet("11.2.7"), base_address="127.203.0.0") as env:
        inventory = inventory_store.load(env.paths)
        states = {p.serial: (p.ha_state, p.peer_serial) for p in inventory.panoramas}
        assert states == {PANO: ("active", PEER), PEER: ("passive", PANO)}
        env.write_desired(DESIRED.format(target="12.1.3", edge="11.2.7"))
        applied = apply(runner, env)
        assert 0 == applied.exit_code, applied.output
        assert_ha_panorama_upgraded_passive_first(env, "12.1.3")
        for serial in (PANO, PEER):
            assert device_status(env, serial)["upgrade_status"] == "done"


def test_daemon_upgrades_a_panorama_ha_pair_then_the_firewalls(tmp_path: Path) -> None:
    from tests.integration.test_daemon import DAEMON_CONFIG, start_daemon, status, stop

    with fleet_env(
        tmp_path, ha_fleet("11.2.7"), time_scale=0.004, base_address="127.204.0.0", **DAEMON_CONFIG
    ) as env:
        env.write_desired(DESIRED.format(target="12.1.3", edge="11.2.7"))
        proc = start_daemon(env, env.desired)
        try:
            converged = env.sim.wait_until(
                lambda: (
                    env.sim.device("221").version == "12.1.3"
                    and all(env.sim.panorama_state(s)["version"] == "12.1.3" for s in (PANO, PEER))
                ),
                timeout=150,
            )
        finally:
            assert 0 == stop(proc)
        assert converged
        assert "stopped" == status(env)["state"]
        assert_ha_panorama_upgraded_passive_first(env, "12.1.3")


def test_panorama_outside_its_window_is_left_alone_and_its_firewalls_wait(
    tmp_path: Path, runner: CliRunner
) -> None:
    fleet = FleetSpec(
        devices=(dev("231", "11.1.4"), dev("232", "11.1.4", device_group="edge")),
        panorama=PanoramaSpec(version="11.1.4"),
    )
    with fleet_env(tmp_path, fleet, base_address="127.206.0.0") as env:
        closed = '  maintenanceWindows: [{from: "2020-01-04T01:00", until: "2020-01-04T05:00"}]\n'
        body = DESIRED.format(target="12.1.3", edge="11.1.6-h1")
        env.write_desired(
            body.replace('  target: "12.1.3"\ngroups:', f'  target: "12.1.3"\n{closed}groups:', 1)
        )
        applied = apply(runner, env)
        assert 2 == applied.exit_code, applied.output  # incomplete: Panorama and a firewall wait
        events = env.sim.events()
        assert installs(events, PANO) == [] and installs(events, "231") == []
        assert env.sim.device("232").version == "11.1.6-h1"
        planned = cli(runner, env, "plan", "-f", str(env.desired), "--json")
        by_serial = {d["serial"]: d for d in json.loads(planned.stdout)["devices"]}
        assert (by_serial[PANO]["action"], by_serial[PANO]["reason"]) == ("blocked", "outside-window")
        assert by_serial["231"]["reason"] == "panorama-upgrade-pending"
        assert f"Panorama {PANO} blocked outside-window" in by_serial["231"]["detail"]
        assert_safe(
            events,
            managed={PANO, "231", "232"},
            max_in_flight=20,
            change_allowed=lambda serial, wall_time: serial != PANO,
        )


def test_daemon_upgrades_a_standalone_panorama_then_the_firewalls_that_waited(tmp_path: Path) -> None:
    from tests.integration.test_daemon import DAEMON_CONFIG, start_daemon, status, stop

    fleet = FleetSpec(
        devices=(dev("241", "11.1.4"), dev("242", "11.1.4", device_group="edge")),
        panorama=PanoramaSpec(version="11.1.4"),
    )
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address="127.209.0.0", **DAEMON_CONFIG) as env:
        env.write_desired(DESIRED.format(target="12.1.3", edge="11.1.6-h1"))
        proc = start_daemon(env, env.desired)
        try:
            converged = env.sim.wait_until(
                lambda: (
                    env.sim.device("241").version == "12.1.3" and env.sim.device("242").version == "11.1.6-h1"
                ),
                timeout=150,
            )
        finally:
            assert 0 == stop(proc)
        assert converged
        assert "stopped" == status(env)["state"]
        assert env.sim.panorama_state()["version"] == "12.1.3"
        assert device_status(env, PANO)["upgrade_status"] == "done"
        events = env.sim.events()
        pano_up = seq_of(events, "reboot_end", PANO, version="12.1.3")
        assert pano_up and pano_up[0] < min(seq_of(events, "install_start", "241"))
        assert_safe(events, managed={PANO, "241", "242"}, max_in_flight=20)
