"""Issue 14.7: asynchronous commands say what really happened. With a daemon holding the work directory,
``job cancel`` and ``device hold|release|retry`` wait for the daemon's outcome and exit 1 when refused;
``--no-wait`` queues and returns; ``daemon status`` exits 3 when no daemon runs."""

from __future__ import annotations

import itertools
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.jobs import queue
from reconciler.sim.fleet import FleetSpec
from tests.integration.fleet_env import fleet_env
from tests.integration.test_daemon import DAEMON_CONFIG, start_daemon, stop
from tests.integration.test_engine import dev, group

_blocks = itertools.count(150)


def test_commands_wait_for_the_daemon_and_exit_1_when_refused(tmp_path: Path, runner: CliRunner) -> None:
    spec = FleetSpec(devices=(dev("001", "11.1.2"), dev("002", "11.1.2", device_group="lab")))
    with fleet_env(
        tmp_path, spec, time_scale=0.004, base_address=f"127.{next(_blocks)}.0.0", **DAEMON_CONFIG
    ) as env:

        def cli(*args: str) -> object:
            return runner.invoke(app, ["--work-dir", str(env.paths.root), *args])

        stopped = cli("daemon", "status")
        assert 3 == stopped.exit_code, stopped.output  # type: ignore[attr-defined]
        assert "not running" in stopped.output  # type: ignore[attr-defined]
        assert 3 == cli("daemon", "status", "--json").exit_code  # type: ignore[attr-defined]
        env.write_desired(group("11.1.2"))  # 001 converged; 002 unmanaged (jobs may run on it)
        proc = start_daemon(env, env.desired)
        try:
            assert env.sim.wait_until(lambda: env.paths.daemon_status_file.exists(), timeout=30)
            running = cli("daemon", "status")
            assert 0 == running.exit_code, running.output  # type: ignore[attr-defined]

            # Refused by the daemon: nothing to release, nothing to retry -> exit 1 with the reason.
            release = cli("device", "release", "001")
            assert 1 == release.exit_code, release.output  # type: ignore[attr-defined]
            assert "waiting up to 30 s" in release.output  # type: ignore[attr-defined]
            assert "001: " in release.output and "nothing changed" in release.stderr  # type: ignore[attr-defined]
            retry = cli("device", "retry", "001")
            assert 1 == retry.exit_code, retry.output  # type: ignore[attr-defined]
            # Accepted: hold, then release, each reports the daemon's outcome and exits 0.
            hold = cli("device", "hold", "001", "--reason", "maintenance")
            assert 0 == hold.exit_code, hold.output + hold.stderr  # type: ignore[attr-defined]
            assert "001: created" in hold.output  # type: ignore[attr-defined]
            again = cli("device", "release", "001", "--timeout", "20")
            assert 0 == again.exit_code, again.output + again.stderr  # type: ignore[attr-defined]
            assert "001: removed" in again.output  # type: ignore[attr-defined]
            # --no-wait: queued, exit 0 whatever the outcome.
            queued = cli("device", "retry", "001", "--no-wait")
            assert 0 == queued.exit_code, queued.output  # type: ignore[attr-defined]
            assert "Queued cmd-" in queued.output  # type: ignore[attr-defined]

            # Cancelling a job that already completed is refused (exit 1).
            submitted = cli(
                "job",
                "submit",
                "--device",
                "002",
                "--dry-run",
                "--target-version",
                "11.1.6-h1",
                "--job-id",
                "dry-002",
            )
            assert 0 == submitted.exit_code, submitted.output  # type: ignore[attr-defined]
            assert env.sim.wait_until(
                lambda: (
                    (found := queue.find(env.paths, "dry-002")) is not None and found.state == "completed"
                ),
                timeout=60,
            )
            cancel = cli("job", "cancel", "dry-002")
            assert 1 == cancel.exit_code, cancel.output  # type: ignore[attr-defined]
            assert "002: refused" in cancel.output  # type: ignore[attr-defined]
            assert "nothing changed" in cancel.stderr  # type: ignore[attr-defined]
        finally:
            assert 0 == stop(proc)
