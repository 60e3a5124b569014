"""Issue 14.11: ``--json`` where a script looks: ``apply --json`` as a stream of JSON events (validated
against schemas/apply-events.schema.json), ``device discover``, ``job submit``, ``verify-download`` and
``config get``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import FleetSpec
from reconciler.workdir import schemas
from tests.integration.fleet_env import fleet_env
from tests.integration.test_engine import dev, group


def test_apply_json_streams_one_event_per_transition_then_the_summary(
    tmp_path: Path, runner: CliRunner
) -> None:
    fleet = FleetSpec(
        devices=(dev("001", "11.1.2"), dev("002", "11.1.2", faults=(Fault.create("install_fail"),)))
    )
    with fleet_env(tmp_path, fleet, base_address="127.217.0.0") as env:
        env.write_desired(group("11.1.6-h1", extra="failureBudget: 5\n"))
        work = str(env.paths.root)
        refused = runner.invoke(app, ["--work-dir", work, "apply", "-f", str(env.desired), "--json"])
        assert 1 == refused.exit_code and "--auto-approve" in refused.stderr
        result = runner.invoke(
            app,
            [
                "--work-dir",
                work,
                "apply",
                "-f",
                str(env.desired),
                "--json",
                "--auto-approve",
                "--timeout",
                "90",
            ],
        )
        assert 2 == result.exit_code, result.output
        events = [json.loads(line) for line in result.stdout.splitlines()]  # every stdout line is JSON
        for event in events:
            assert [] == schemas.errors("apply-events", event), event
        assert "plan" == events[0]["event"] and 2 == events[0]["counts"]["upgrade"]
        assert "summary" == events[-1]["event"]
        assert {"transition"} == {e["event"] for e in events[1:-1]}
        summary = events[-1]
        assert ("failed", 2) == (summary["result"], summary["exit_code"])
        assert ["002"] == [d["serial"] for d in summary["not_converged"]]
        phases = {s: [e["phase"] for e in events if e.get("serial") == s] for s in ("001", "002")}
        assert "done" == phases["001"][-1] and "failed" == phases["002"][-1]
        failure = next(e for e in events if e.get("phase") == "failed")
        assert failure["reason"] and "002" == failure["serial"]
        # Converged now: one plan event, then the summary "nothing-to-do".
        again = runner.invoke(
            app,
            [
                "--work-dir",
                work,
                "apply",
                "-f",
                str(env.desired),
                "--json",
                "--auto-approve",
                "--target",
                "001",
            ],
        )
        assert 0 == again.exit_code, again.output
        quiet = [json.loads(line) for line in again.stdout.splitlines()]
        assert ["plan", "summary"] == [e["event"] for e in quiet]
        assert "nothing-to-do" == quiet[-1]["result"]
        assert all([] == schemas.errors("apply-events", e) for e in quiet)


def test_json_of_discover_job_submit_verify_download_and_config_get(
    tmp_path: Path, runner: CliRunner
) -> None:
    fleet = FleetSpec(devices=(dev("001", "11.1.2"), dev("002", "10.2.9", device_group="lab")))
    with fleet_env(tmp_path, fleet, base_address="127.218.0.0") as env:

        def cli(*args: str) -> Any:
            result = runner.invoke(app, ["--work-dir", str(env.paths.root), *args])
            assert 0 == result.exit_code, result.output
            return json.loads(result.stdout)

        found = cli("device", "discover", "--json")
        assert (2, {"standalone": 2, "ha_pair": 0, "unknown": 0}) == (found["devices"], found["by_type"])
        assert ([], [], {}) == (found["stale"], found["auth_failed"], found["errors"])
        assert {"added": [], "removed": [], "changed": {}} == found["changes"]

        job = cli("job", "submit", "--device", "002", "--target-version", "11.1.6-h1", "--dry-run", "--json")
        assert job["job_id"] and ["002"] == job["devices"] and job["dry_run"]
        assert (env.paths.queue("pending") / f"{job['job_id']}.json").exists()

        report = tmp_path / "report.csv"
        verified = cli("verify-download", "--json", "--output", str(report), "--version", "11.1.6-h1")
        assert (2, 2, str(report)) == (verified["checked"], verified["answered"], verified["report"])
        assert {"001", "002"} == {d["serial"] for d in verified["devices"]}
        assert {"11.1.6-h1": 0} == verified["versions"] and report.exists()

        assert {"key": "workers.max", "value": 20, "source": "config file", "secret": False} == cli(
            "config", "get", "workers.max", "--json"
        )
        secret = cli("config", "get", "firewall.password", "--json")
        assert secret["secret"] and secret["value"] != env.sim.credentials.password
