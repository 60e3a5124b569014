"""The Panorama compatibility guard end to end (issue 16 point 1): discovery against the simulator records
Panorama's version, and plan, apply and group status block the firewall whose target Panorama cannot
manage with ``panorama-too-old`` while the other group upgrades."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.fleet import FleetSpec, PanoramaSpec
from reconciler.workdir import inventory_store
from tests.integration.fleet_env import FleetEnv, fleet_env
from tests.integration.test_engine import dev, installs

DESIRED = """groups:
  - name: dc
    select: {deviceGroups: [dc]}
    target: "12.1.3"
  - name: edge
    select: {deviceGroups: [edge]}
    target: "11.1.6-h1"
"""


def cli(runner: CliRunner, env: FleetEnv, *args: str) -> Any:
    return runner.invoke(app, ["--work-dir", str(env.paths.root), *args])


def test_firewall_target_past_panorama_is_blocked_the_rest_upgrades(
    tmp_path: Path, runner: CliRunner
) -> None:
    fleet = FleetSpec(
        devices=(dev("201", "11.1.4"), dev("202", "11.1.4", device_group="edge")),
        panorama=PanoramaSpec(version="11.1.4"),
    )
    with fleet_env(tmp_path, fleet, base_address="127.229.0.0") as env:
        inventory = inventory_store.load(env.paths)
        assert inventory.panorama_version == "11.1.4"
        env.write_desired(DESIRED)
        desired = str(env.desired)
        detail = "Panorama runs 11.1.4; 12.1.3 needs Panorama 12.1.2 or later"

        planned = cli(runner, env, "plan", "-f", desired, "--json")
        assert 0 == planned.exit_code, planned.output
        by_serial = {d["serial"]: d for d in json.loads(planned.stdout)["devices"]}
        assert (by_serial["201"]["action"], by_serial["201"]["reason"]) == ("blocked", "panorama-too-old")
        assert by_serial["201"]["detail"] == detail
        assert by_serial["202"]["action"] == "upgrade"
        table = cli(runner, env, "plan", "-f", desired)
        assert "panorama-too-old" in table.stdout

        applied = cli(runner, env, "apply", "-f", desired, "--auto-approve", "--timeout", "90")
        assert 2 == applied.exit_code, applied.output  # incomplete: one device stays blocked
        events = env.sim.events()
        assert installs(events, "201") == []  # nothing touched the blocked firewall
        assert installs(events, "202") == ["11.1.6-h1"]
        assert env.sim.device("202").version == "11.1.6-h1"
        assert env.sim.device("201").version == "11.1.4" and env.sim.device("201").panorama_connected

        status = cli(runner, env, "group", "status", "-f", desired, "--json")
        assert 0 == status.exit_code, status.output
        groups = {g["name"]: g for g in json.loads(status.stdout)["groups"]}
        assert groups["dc"]["reasons"] == {"panorama-too-old": 1}, groups["dc"]
        assert groups["edge"]["state"] == "synced"
