"""A selector that matches nothing (issue 14.8): ``validate --inventory`` and ``plan`` warn, naming the
selector and the nearest existing names, against an inventory discovered from the simulator."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.fleet import FleetSpec
from tests.integration.fleet_env import fleet_env
from tests.integration.test_engine import dev

DESIRED = """groups:
  - name: br
    select: {deviceGroups: [brances]}
    target: "11.1.6-h1"
  - name: dc
    select: [{deviceGroups: [dc]}, {models: [PA-3500]}]
    target: "11.1.6-h1"
"""


def test_validate_and_plan_warn_about_selectors_that_match_nothing(tmp_path: Path, runner: CliRunner) -> None:
    fleet = FleetSpec(devices=(dev("001", "11.1.2", device_group="branches"), dev("002", "11.1.2")))
    with fleet_env(tmp_path, fleet, base_address="127.227.0.0") as env:
        env.write_desired(DESIRED)
        work = ["--work-dir", str(env.paths.root)]
        inventory = str(env.paths.inventory_file)
        valid = runner.invoke(app, [*work, "validate", str(env.desired), "--inventory", inventory])
        assert 0 == valid.exit_code, valid.output
        typo = "group 'br': select.deviceGroups: 'brances' matches no device group in the inventory; did you mean 'branches'?"
        assert f"warning: {typo}" in valid.stderr
        assert "warning: group 'br': selects no device of the inventory (2 devices)" in valid.stderr
        assert "group 'dc': select[1].models: 'PA-3500' matches no model in the inventory" in valid.stderr
        as_json = runner.invoke(
            app, [*work, "validate", str(env.desired), "--inventory", inventory, "--json"]
        )
        assert 0 == as_json.exit_code, as_json.output
        doc = json.loads(as_json.stdout)
        assert doc["valid"] and typo in doc["warnings"] and 3 == len(doc["warnings"])
        planned = runner.invoke(app, [*work, "plan", "-f", str(env.desired), "--json"])
        assert 0 == planned.exit_code, planned.output
        assert f"warning: {typo}" in planned.stderr
        devices = {d["serial"]: d for d in json.loads(planned.stdout)["devices"]}
        assert devices["001"]["group"] is None and devices["002"]["group"] == "dc"
