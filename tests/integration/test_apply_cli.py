"""``apply`` from the command line: saved plans, staleness, confirmation, exit codes, summary."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import FleetSpec
from tests.integration.fleet_env import fleet_env
from tests.integration.test_engine import dev, group
from tests.safety import assert_safe


def run(runner: CliRunner, work: Path, *args: str) -> object:
    return runner.invoke(app, ["--work-dir", str(work), *args])


def test_saved_plan_applies_and_a_stale_one_is_refused(tmp_path: Path, runner: CliRunner) -> None:
    fleet = FleetSpec(
        devices=(dev("001", "11.1.2"), dev("002", "11.1.2", faults=(Fault.create("install_fail"),)))
    )
    with fleet_env(tmp_path, fleet, base_address="127.215.0.0") as env:
        work = env.paths.root
        env.write_desired(group("11.1.6-h1", extra="failureBudget: 5\n"))
        plan_file = tmp_path / "plan.json"
        planned = run(
            runner, work, "plan", "-f", str(env.desired), "--out", str(plan_file), "--detailed-exitcode"
        )
        assert 2 == planned.exit_code, planned.output  # type: ignore[attr-defined]
        # No confirmation possible without a terminal: refused, nothing changed.
        refused = run(runner, work, "apply", str(plan_file), "-f", str(env.desired))
        assert 1 == refused.exit_code  # type: ignore[attr-defined]
        assert "--auto-approve" in refused.stderr  # type: ignore[attr-defined]
        assert not [e for e in env.sim.events() if e["event"] == "download_start"]
        assert_safe(env.sim.events(), dry_run=True, label="apply refused")  # refused: nothing changed
        # The desired state changes: the saved plan is stale and refused.
        env.write_desired(group("11.2.7", extra="failureBudget: 5\n"))
        stale = run(runner, work, "apply", str(plan_file), "-f", str(env.desired), "--auto-approve")
        assert 1 == stale.exit_code  # type: ignore[attr-defined]
        assert "stale" in stale.stderr and "desired state changed" in stale.stderr  # type: ignore[attr-defined]
        # Back to the planned state: the plan applies; one device fails -> exit 2 with a summary.
        env.write_desired(group("11.1.6-h1", extra="failureBudget: 5\n"))
        applied = run(
            runner, work, "apply", str(plan_file), "-f", str(env.desired), "--auto-approve", "--timeout", "90"
        )
        assert 2 == applied.exit_code, applied.output  # type: ignore[attr-defined]
        out = applied.output  # type: ignore[attr-defined]
        assert "Finished in" in out and "device retry" in out
        assert "11.1.6-h1" == env.sim.device("001").version
        summary = json.loads((work / "status" / "last-apply.json").read_text())
        assert [{"group": "dc", "devices": 2, "converged": 1, "failed": 1}] == [
            {k: row[k] for k in ("group", "devices", "converged", "failed")} for row in summary["groups"]
        ]
        # Nothing left to do for the converged device; a second apply says so for a target that matches.
        before = len(env.sim.events())
        again = run(runner, work, "apply", "-f", str(env.desired), "--auto-approve", "--target", "001")
        assert 0 == again.exit_code, again.output  # type: ignore[attr-defined]
        assert "Nothing to do" in again.output  # type: ignore[attr-defined]
        assert_safe(env.sim.events()[before:], managed={"001"}, label="apply --target 001")
        assert_safe(env.sim.events(), managed={"001", "002"}, max_in_flight=20)


def test_apply_is_refused_while_a_daemon_holds_the_work_dir(tmp_path: Path, runner: CliRunner) -> None:
    from reconciler.workdir.lock import DaemonLock

    fleet = FleetSpec(devices=(dev("001", "11.1.2"),))
    with fleet_env(tmp_path, fleet, base_address="127.216.0.0") as env:
        env.write_desired(group())
        with DaemonLock(env.paths.lock_file):
            result = run(runner, env.paths.root, "apply", "-f", str(env.desired), "--auto-approve")
        assert 1 == result.exit_code  # type: ignore[attr-defined]
        assert "already runs" in result.stderr  # type: ignore[attr-defined]


def test_apply_plans_multi_hop_paths_from_the_devices_image_lists(tmp_path: Path, runner: CliRunner) -> None:
    """9.1 -> 11.1 needs the intermediate trains' newest releases: the device's image list is fetched for
    the plan shown before anything starts, and the same plan then runs."""
    fleet = FleetSpec(devices=(dev("001", "9.1.17"),))
    with fleet_env(tmp_path, fleet, base_address="127.217.0.0") as env:
        env.write_desired(group())
        result = run(
            runner, env.paths.root, "apply", "-f", str(env.desired), "--auto-approve", "--timeout", "120"
        )
        assert 0 == result.exit_code, result.output  # type: ignore[attr-defined]
        out = result.output  # type: ignore[attr-defined]
        assert "Nothing to do" not in out and "10.0.12" in out.split("Finished")[0]
        assert "11.1.6-h1" == env.sim.device("001").version
