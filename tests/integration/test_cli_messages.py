"""Issue 14.10: smaller messages that must say what is true."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.fleet import FleetSpec
from tests.integration.fleet_env import HEADER, fleet_env
from tests.integration.test_engine import dev, group


def test_config_int_error_names_the_bounds_and_the_version_hint_is_a_real_version(
    tmp_path: Path, runner: CliRunner
) -> None:
    work = tmp_path / "work"
    assert 0 == runner.invoke(app, ["init", "--work-dir", str(work)]).exit_code
    bad = runner.invoke(app, ["--work-dir", str(work), "config", "set", "workers.max", "ten"])
    assert 1 == bad.exit_code
    assert "workers.max: invalid value 'ten': must be an integer from 1 to 500" in bad.stderr
    assert "int()" not in bad.stderr
    desired = tmp_path / "d.yaml"
    desired.write_text(HEADER + "groups:\n  - name: g\n    select: {deviceGroups: [dc]}\n    target: 12.1\n")
    refused = runner.invoke(app, ["--work-dir", str(work), "validate", str(desired)])
    assert 1 == refused.exit_code
    assert 'e.g. "12.1.2"' in refused.stderr, refused.stderr  # 12.1's base image; there is no 12.1.0


def test_apply_of_a_saved_plan_without_f_says_to_pass_f(tmp_path: Path, runner: CliRunner) -> None:
    with fleet_env(tmp_path, FleetSpec(devices=(dev("001", "11.1.2"),)), base_address="127.222.0.0") as env:
        env.write_desired(group("11.1.6-h1"))
        work = str(env.paths.root)
        plan_file = tmp_path / "plan.json"
        planned = runner.invoke(
            app, ["--work-dir", work, "plan", "-f", str(env.desired), "--out", str(plan_file)]
        )
        assert 0 == planned.exit_code, planned.output
        applied = runner.invoke(app, ["--work-dir", work, "apply", str(plan_file), "--auto-approve"])
        assert 1 == applied.exit_code
        assert "pass -f DIR" in applied.stderr, applied.stderr
        assert not [e for e in env.sim.events() if e["event"] == "download_start"]
