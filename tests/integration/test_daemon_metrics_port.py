"""Issue 14.9: with ``metrics.listen 127.0.0.1:0`` the daemon reports the port it really bound, in
status/daemon.json (``daemon status --json``) and in its log."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.fleet import FleetSpec
from tests.integration.fleet_env import fleet_env
from tests.integration.test_daemon import start_daemon, stop
from tests.integration.test_engine import dev, group


def test_metrics_on_port_0_reports_the_bound_port(tmp_path: Path, runner: CliRunner) -> None:
    fleet = FleetSpec(devices=(dev("001", "11.1.2"),))
    config = {
        "daemon.allow_root": "true",
        "metrics.enabled": "true",
        "metrics.listen": "127.0.0.1:0",
    }
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address="127.221.0.0", **config) as env:
        env.write_desired(group("11.1.2"))
        proc = start_daemon(env, env.desired)
        try:
            assert env.sim.wait_until(lambda: env.paths.daemon_status_file.exists(), timeout=30)
            shown = runner.invoke(app, ["--work-dir", str(env.paths.root), "daemon", "status", "--json"])
            assert 0 == shown.exit_code, shown.output
            url = json.loads(shown.stdout)["status"]["metrics"]
            assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
            assert not url.startswith("http://127.0.0.1:0/"), url
            body = urllib.request.urlopen(url, timeout=10).read().decode()
            assert "panos_upgrade_" in body
            logged = "".join(p.read_text() for p in env.paths.text_logs_dir.glob("*.log"))
            assert f"metrics on {url}" in logged
        finally:
            assert 0 == stop(proc)
