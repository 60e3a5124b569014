"""Issue 14.12: ``group suspend|resume NAME``, a run-time pause recorded in the work directory and shown by
``plan``, ``group status``, ``daemon status`` and the metrics; a suspended group starts no new device work, its
working device stops at its next safe point and is held (as ``device hold``), and ``resume`` releases it and
the rollout finishes. An unknown group is refused with nothing written."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.fleet import FleetSpec, HaSpec
from reconciler.workdir import schemas
from tests.integration.fleet_env import fleet_env
from tests.integration.test_daemon import start_daemon, stop
from tests.integration.test_engine import dev, group

TARGET = "11.1.6-h1"
WORKING = {"preflight", "software_check", "download_base", "download_target", "install", "reboot",
           "wait_ready", "verify_version", "postflight"}  # fmt: skip


def record(work: Path, serial: str) -> dict[str, Any]:
    file = work / "status" / "devices" / f"{serial}.json"
    return json.loads(file.read_text()) if file.exists() else {}


def installs(events: list[dict[str, Any]]) -> list[str]:
    return [str(e["serial"]) for e in events if e["event"] == "install_start"]


def test_group_suspend_and_resume_next_to_the_daemon(tmp_path: Path, runner: CliRunner) -> None:
    fleet = FleetSpec(devices=(dev("001", "11.1.2"), dev("002", "11.1.2"), dev("003", "11.1.2")))
    config = {
        "daemon.allow_root": "true",
        "daemon.resync_interval": 300,
        "discovery.interval": 0,
        "metrics.enabled": "true",
        "metrics.listen": "127.0.0.1:0",
    }
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address="127.226.0.0", **config) as env:
        work = env.paths.root

        def cli(*args: str) -> Any:
            return runner.invoke(app, ["--work-dir", str(work), *args])

        env.write_desired(group(TARGET, "maxParallel: 1"))
        desired = str(env.desired)
        unknown = cli("group", "suspend", "dd", "-f", desired)
        assert 1 == unknown.exit_code, unknown.output
        assert "no group 'dd'" in unknown.stderr and "dc" in unknown.stderr, unknown.stderr
        assert not env.paths.suspended_dir.exists()  # nothing written

        proc = start_daemon(env, env.desired)
        try:
            # One device at a time (maxParallel 1): suspend while the first one works.
            assert env.sim.wait_until(
                lambda: any(record(work, s).get("upgrade_status") in WORKING for s in ("001", "002", "003")),
                timeout=30,
            )
            working = next(
                s for s in ("001", "002", "003") if record(work, s).get("upgrade_status") in WORKING
            )
            suspended = cli(
                "group", "suspend", "dc", "-f", desired, "--reason", "change freeze", "--timeout", "20"
            )
            assert 0 == suspended.exit_code, suspended.output + suspended.stderr
            assert "applied it in its pass" in suspended.output
            file = env.paths.suspension_file("dc")
            assert [] == schemas.errors("group-suspension", json.loads(file.read_text()))

            # The working device stops at its next safe point, held by the suspension; no other starts.
            def stopped() -> bool:
                return all(
                    record(work, s).get("upgrade_status") not in WORKING for s in ("001", "002", "003")
                )

            assert env.sim.wait_until(stopped, timeout=60)
            held = record(work, working)
            if held["upgrade_status"] == "held":
                assert (
                    "group-suspension" == held["hold"]["held_by"]
                    and "change freeze" in held["hold"]["reason"]
                )
            else:  # it had passed its last safe point: it finished its upgrade
                assert "done" == held["upgrade_status"], held
            others = [s for s in ("001", "002", "003") if s != working]
            reconcile = cli("reconcile", "now", "--timeout", "20")  # one more pass: still nothing starts
            assert 0 == reconcile.exit_code, reconcile.output + reconcile.stderr
            assert [] == [s for s in installs(env.sim.events()) if s in others]

            # Shown everywhere: plan, group status, daemon status, metrics.
            plan = json.loads(cli("plan", "-f", desired, "--json").output)
            dc = next(g for g in plan["groups"] if g["name"] == "dc")
            assert "suspended (operator)" in dc["suspended"] and "change freeze" in dc["suspended"], dc
            for serial in others:
                device = next(d for d in plan["devices"] if d["serial"] == serial)
                assert ("blocked", "suspended") == (device["action"], device["reason"]), device
            table = cli("group", "status", "-f", desired)
            assert "SUSPENDED (operator)" in table.output, table.output
            status = json.loads(cli("group", "status", "-f", desired, "--json").output)
            assert "suspended" == status["groups"][0]["state"]
            preview = cli("apply", "-f", desired, "--dry-run", "--auto-approve", "--timeout", "30")
            assert "SUSPENDED (operator)" in preview.output, preview.output  # apply's plan (read-only here)
            assert [] == [s for s in installs(env.sim.events()) if s in others]
            daemon = cli("daemon", "status")
            assert 0 == daemon.exit_code and "SUSPENDED:  group 'dc' suspended (operator)" in daemon.output
            url = json.loads(env.paths.daemon_status_file.read_text())["metrics"]
            with urllib.request.urlopen(url, timeout=10) as resp:
                metrics = resp.read().decode()
            assert 'panos_upgrade_group_blocked{group="dc",reason="suspended"} 1.0' in metrics

            again = cli("group", "suspend", "dc", "-f", desired)
            assert 1 == again.exit_code and "already suspended" in again.stderr

            # Resume: the held device is released, and the rollout converges on the YAML's target.
            resumed = cli("group", "resume", "dc", "--timeout", "20")
            assert 0 == resumed.exit_code, resumed.output + resumed.stderr
            assert not file.exists()
            assert env.sim.wait_until(
                lambda: all(env.sim.device(s).version == TARGET for s in ("001", "002", "003")), timeout=120
            )
            assert env.sim.wait_until(
                lambda: all(record(work, s).get("upgrade_status") == "done" for s in ("001", "002", "003")),
                timeout=30,
            )
            twice = cli("group", "resume", "dc")
            assert 1 == twice.exit_code and "is not suspended" in twice.stderr

            # An emergency stop does not wait for a broken YAML to be fixed: the name is checked against the
            # groups of the device records instead.
            broken = tmp_path / "broken"
            broken.mkdir()
            (broken / "fleet.yaml").write_text("groups: [")
            emergency = cli("group", "suspend", "dc", "-f", str(broken), "--no-wait")
            assert 0 == emergency.exit_code, emergency.output + emergency.stderr
            assert "does not load" in emergency.stderr
            nope = cli("group", "suspend", "zz", "-f", str(broken))
            assert 1 == nope.exit_code and "no group 'zz'" in nope.stderr
            assert 0 == cli("group", "resume", "dc", "--no-wait").exit_code
        finally:
            assert 0 == stop(proc)
        audit = [json.loads(line) for line in env.paths.audit_file.read_text().splitlines()]
        assert ["group-suspend", "group-resume"] * 2 == [
            a["action"] for a in audit if a["action"] in ("group-suspend", "group-resume")
        ]


def test_a_suspended_ha_pair_stops_as_a_unit_and_resumes(tmp_path: Path, runner: CliRunner) -> None:
    """A pair suspended mid-upgrade: the working member stops at its next safe point, the waiting one is held
    at once, never both down (the safety oracle checks the event log); resume finishes both."""
    pair = ("101", "102")
    fleet = FleetSpec(
        devices=(
            dev("101", "11.1.2", ha=HaSpec("102", priority=10)),
            dev("102", "11.1.2", ha=HaSpec("101", priority=20)),
        )
    )
    config = {"daemon.allow_root": "true", "daemon.resync_interval": 300, "discovery.interval": 0}
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address="127.227.0.0", **config) as env:
        work = env.paths.root

        def cli(*args: str) -> Any:
            return runner.invoke(app, ["--work-dir", str(work), *args])

        env.write_desired(group(TARGET))
        proc = start_daemon(env, env.desired)
        try:
            assert env.sim.wait_until(
                lambda: any(record(work, s).get("upgrade_status") in WORKING for s in pair), timeout=30
            )
            suspended = cli("group", "suspend", "dc", "-f", str(env.desired), "--timeout", "20")
            assert 0 == suspended.exit_code, suspended.output + suspended.stderr
            assert env.sim.wait_until(
                lambda: all(record(work, s).get("upgrade_status") not in WORKING for s in pair), timeout=60
            )
            phases = {s: record(work, s).get("upgrade_status") for s in pair}
            # Both stop: the working member at its next safe point, the one waiting for its turn at once.
            assert "held" in phases.values() and set(phases.values()) <= {"held", "done"}, phases
            installed = len(installs(env.sim.events()))
            for serial in pair:
                if phases[serial] == "held":
                    assert "group-suspension" == record(work, serial)["hold"]["held_by"]
            again = cli("reconcile", "now", "--timeout", "20")
            assert 0 == again.exit_code, again.output + again.stderr
            assert installed == len(installs(env.sim.events()))  # nothing started while suspended
            resumed = cli("group", "resume", "dc", "--timeout", "20")
            assert 0 == resumed.exit_code, resumed.output + resumed.stderr
            assert env.sim.wait_until(
                lambda: all(env.sim.device(s).version == TARGET for s in pair), timeout=120
            ), {s: record(work, s).get("upgrade_status") for s in pair}
        finally:
            assert 0 == stop(proc)
