"""Issue 14.4: a changed inventory.json wakes a daemon pass at once (not at the next resync)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.fleet import FleetSpec
from tests.integration.fleet_env import fleet_env
from tests.integration.test_daemon import start_daemon, stop
from tests.integration.test_engine import dev, group


def test_rediscovery_by_the_cli_wakes_the_daemon(tmp_path: Path, runner: CliRunner) -> None:
    fleet = FleetSpec(devices=(dev("001", "11.1.2"),))
    config = {"daemon.allow_root": "true", "daemon.resync_interval": 300, "discovery.interval": 0}
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address="127.219.0.0", **config) as env:
        # The inventory the daemon starts with is out of date: 001 in another device group, so unmanaged.
        data = json.loads(env.paths.inventory_file.read_text())
        data["devices"][0]["device_group"] = "elsewhere"
        env.paths.inventory_file.write_text(json.dumps(data))
        env.write_desired(group("11.1.6-h1"))
        proc = start_daemon(env, env.desired)
        try:
            assert env.sim.wait_until(lambda: env.paths.daemon_status_file.exists(), timeout=30)
            status = lambda: json.loads(env.paths.daemon_status_file.read_text())  # noqa: E731
            assert env.sim.wait_until(lambda: status().get("last_reconcile"), timeout=30)
            assert not env.paths.device_status_file("001").exists()
            # Re-discovery puts 001 back in its group: the daemon plans again within seconds, not 300 s.
            found = runner.invoke(app, ["--work-dir", str(env.paths.root), "device", "discover"])
            assert 0 == found.exit_code, found.output
            assert env.sim.wait_until(lambda: env.paths.device_status_file("001").exists(), timeout=20), (
                "the daemon did not wake for the new inventory"
            )
        finally:
            assert 0 == stop(proc)
