"""HA safety against the simulator's own view, with no allowance: a fleet whose every HA pair is preemptive
(the better-priority member takes the active role back as soon as it is functional again), upgraded over
several hops by ``apply``; and the default demo. The oracle is tests/safety.py, fed only the event log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.fleet import FleetSpec, HaSpec
from tests.integration.fleet_env import fleet_env
from tests.integration.test_engine import TARGET, dev, group
from tests.safety import assert_safe, ha_pairs, read_events


def test_preemptive_pairs_upgraded_over_several_hops_never_lose_the_active_member(
    tmp_path: Path, runner: CliRunner
) -> None:
    # Two pairs, 10.2 -> 11.0 -> 11.1 (HA members go one feature release at a time): two hops per member.
    fleet = FleetSpec(
        devices=(
            dev("301", "10.2.9", ha=HaSpec("302", priority=10, preemptive=True)),
            dev("302", "10.2.9", ha=HaSpec("301", priority=20, preemptive=True)),
            dev("303", "10.2.9", ha=HaSpec("304", priority=10, preemptive=True)),
            dev("304", "10.2.9", ha=HaSpec("303", priority=20, preemptive=True)),
        )
    )
    serials = ("301", "302", "303", "304")
    with fleet_env(tmp_path, fleet, base_address="127.218.0.0") as env:
        env.write_desired(group())
        args = ["--work-dir", str(env.paths.root), "apply", "-f", str(env.desired), "--auto-approve"]
        result = runner.invoke(app, [*args, "--timeout", "300"])
        events = env.sim.events()
        start = events[0]
        assert [["301", "302"], ["303", "304"]] == start["ha_pairs"]
        assert all(start["ha"][s]["preemptive"] for s in serials)
        assert_safe(events, managed=set(serials), max_in_flight=20, label="preemptive pairs")
        assert 0 == result.exit_code, result.output
        assert {TARGET} == {env.sim.device(s).version for s in serials}


def test_the_default_demo_is_safe(tmp_path: Path) -> None:
    """The demo as the README runs it (default fleet and seed), only on a faster clock."""
    work = tmp_path / "demo-work"
    args = ["demo", "--work-dir", str(work), "--time-scale", "0.002", "--metrics-listen", "127.0.0.1:0"]
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    log = work / "simulator" / "events.jsonl"
    assert log.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    events = read_events(log)
    assert ha_pairs(events), "the default demo has HA pairs"
    # Every device of the demo fleet is managed by its desired state; the one injected failure is an
    # install that fails (install_fail), which breaks none of these rules.
    assert_safe(events, label="demo")
    assert 0 == proc.returncode, proc.stdout[-3000:] + proc.stderr[-3000:]
