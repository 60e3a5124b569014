"""Issue 14.12: ``reconcile now`` wakes the running daemon for a pass (no SIGHUP) and waits for it; exit 3
and nothing written when no daemon runs; ``--no-wait`` queues and returns."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.fleet import FleetSpec
from reconciler.workdir import schemas
from reconciler.workdir.lock import DaemonLock
from tests.integration.fleet_env import fleet_env
from tests.integration.test_daemon import start_daemon, stop
from tests.integration.test_engine import dev, group


def last_pass_at(work: Path) -> str:
    file = work / "status" / "daemon.json"
    if not file.exists():
        return ""
    doc = json.loads(file.read_text())
    return str((doc.get("last_reconcile") or {}).get("at") or "")


def test_reconcile_now_wakes_the_daemon_and_waits_for_the_pass(tmp_path: Path, runner: CliRunner) -> None:
    fleet = FleetSpec(devices=(dev("001", "11.1.2"),))
    # Resync every 300 s and no periodic discovery: any pass within the test is one somebody asked for.
    config = {"daemon.allow_root": "true", "daemon.resync_interval": 300, "discovery.interval": 0}
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address="127.223.0.0", **config) as env:

        def cli(*args: str) -> object:
            return runner.invoke(app, ["--work-dir", str(env.paths.root), *args])

        incoming = env.paths.commands("incoming")
        refused = cli("reconcile", "now")
        assert 3 == refused.exit_code, refused.output  # type: ignore[attr-defined]
        assert "no daemon runs" in refused.stderr  # type: ignore[attr-defined]
        assert [] == list(incoming.iterdir())  # nothing queued for a daemon that is not there
        with DaemonLock(env.paths.lock_file):  # held as a foreground 'apply' holds it: no pid file
            applying = cli("reconcile", "now")
        assert 3 == applying.exit_code, applying.output  # type: ignore[attr-defined]
        assert "foreground 'apply'" in applying.stderr  # type: ignore[attr-defined]
        assert [] == list(incoming.iterdir())

        env.write_desired(group("11.1.2"))  # converged: the daemon has nothing else to do
        proc = start_daemon(env, env.desired)
        try:
            assert env.sim.wait_until(lambda: last_pass_at(env.paths.root) != "", timeout=30)
            before = last_pass_at(env.paths.root)
            woken = cli("reconcile", "now", "--reason", "after a change ticket", "--timeout", "20")
            assert 0 == woken.exit_code, woken.output + woken.stderr  # type: ignore[attr-defined]
            assert "Reconcile pass finished at" in woken.output  # type: ignore[attr-defined]
            after = last_pass_at(env.paths.root)
            assert after > before, (before, after)
            # The request and its outcome are files like any command (the web application can drop one).
            processed = env.paths.commands("processed")
            outcomes = [json.loads(p.read_text()) for p in processed.glob("*.outcome.json")]
            assert 1 == len(outcomes)
            assert [] == schemas.errors("command-outcome", outcomes[0])
            assert ("reconcile", "daemon", []) == (
                outcomes[0]["request"]["command"],
                outcomes[0]["request"]["target"],
                outcomes[0]["devices"],
            )
            assert after > outcomes[0]["applied_at"]  # the pass waited for started after the request
            audit = [json.loads(line) for line in env.paths.audit_file.read_text().splitlines()]
            assert any(a.get("action") == "operator-reconcile" for a in audit), audit[-5:]

            queued = cli("reconcile", "now", "--no-wait")
            assert 0 == queued.exit_code, queued.output  # type: ignore[attr-defined]
            assert "Queued cmd-" in queued.output  # type: ignore[attr-defined]
            assert env.sim.wait_until(lambda: len(list(processed.glob("*.outcome.json"))) == 2, timeout=20)
        finally:
            assert 0 == stop(proc)
