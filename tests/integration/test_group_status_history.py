"""``group status`` and ``device history`` (issue 14.12) through the CLI against the simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import FleetSpec
from tests.integration.fleet_env import FleetEnv, fleet_env
from tests.integration.test_engine import dev

DESIRED = """groups:
  - name: dc
    select: {deviceGroups: [dc]}
    target: "11.1.6-h1"
    maxParallel: 1
  - name: edge
    select: {deviceGroups: [edge]}
    target: "11.1.6-h1"
  - name: lab
    select: {deviceGroups: [lab]}
    target: "11.1.6-h1"
    paused: true
  - name: spare
    select: {deviceGroups: [spare]}
    target: "11.1.6-h1"
"""


def cli(runner: CliRunner, env: FleetEnv, *args: str) -> Any:
    return runner.invoke(app, ["--work-dir", str(env.paths.root), *args])


def test_group_status_and_device_history(tmp_path: Path, runner: CliRunner) -> None:
    fleet = FleetSpec(
        devices=(
            dev("001", "11.1.2"),
            dev("002", "11.1.2", faults=(Fault.create("install_fail"),)),
            dev("003", "11.1.2"),
            dev("004", "11.1.6-h1", device_group="edge"),
            dev("005", "11.1.2", device_group="lab"),
        )
    )
    with fleet_env(tmp_path, fleet, base_address="127.228.0.0") as env:
        env.write_desired(DESIRED)
        desired = str(env.desired)
        applied = cli(runner, env, "apply", "-f", desired, "--auto-approve", "--timeout", "90")
        assert 2 == applied.exit_code, applied.output
        held = cli(runner, env, "device", "hold", "003", "--reason", "waiting for the vendor")
        assert 0 == held.exit_code, held.output

        result = cli(runner, env, "group", "status", "-f", desired, "--json")
        assert 0 == result.exit_code, result.output
        groups = {g["name"]: g for g in json.loads(result.stdout)["groups"]}
        dc = groups["dc"]
        assert "halted" == dc["state"] and {"failed": 1, "held": 1} == dc["reasons"], dc
        assert {"devices": 3, "converged": 1, "failed": 1} == {
            k: dc["counts"][k] for k in ("devices", "converged", "failed")
        }
        assert dc["observed_revision"] == dc["desired_revision"] and 2 == dc["observed_current"]
        assert "synced" == groups["edge"]["state"] and 1 == groups["edge"]["counts"]["converged"]
        assert "blocked" == groups["lab"]["state"] and {"paused": 1} == groups["lab"]["reasons"]
        assert "blocked" == groups["spare"]["state"] and "no-devices" in groups["spare"]["reasons"]
        table = cli(runner, env, "group", "status", "-f", desired, "dc")
        assert 0 == table.exit_code, table.output
        assert "HALTED" in table.stdout and "failed 1" in table.stdout and "edge" not in table.stdout

        history = cli(runner, env, "device", "history", "002", "--json")
        assert 0 == history.exit_code, history.output
        doc = json.loads(history.stdout)
        phases = [e for e in doc["events"] if e["kind"] == "phase"]
        assert phases[0]["phase"] == "pending" and phases[-1]["phase"] == "failed"
        assert (
            phases[-1]["reason"] == doc["current"]["last_error"]["reason"]
            and phases[-1]["hop"] == "11.1.6-h1"
        )
        assert any(e["kind"] == "command" and e["detail"].startswith("Install") for e in doc["events"])
        assert all(e["ts"] for e in doc["events"])
        text = cli(runner, env, "device", "history", "002")
        assert 0 == text.exit_code, text.output
        assert "download_target -> install" in text.stdout and "now: failed on 11.1.2" in text.stdout
        held_history = json.loads(cli(runner, env, "device", "history", "003", "--json").stdout)
        operator = [e for e in held_history["events"] if e["kind"] == "operator"]
        assert 1 == len(operator) and operator[0]["detail"].startswith("hold"), operator
        unknown = cli(runner, env, "device", "history", "999")
        assert 1 == unknown.exit_code and "no history for device 999" in unknown.stderr
