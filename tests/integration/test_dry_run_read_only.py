"""Issue 14.10: ``apply --dry-run`` runs while the daemon holds the work directory, and is read-only: it takes
no lock and writes nothing there (the work directory hashes the same before and after)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.fleet import FleetSpec
from reconciler.workdir.lock import DaemonLock
from tests.integration.fleet_env import HEADER, fleet_env
from tests.integration.test_daemon import start_daemon, stop
from tests.integration.test_engine import dev, group

# The daemon's own files, with the temporary files of their atomic writes (``.<name>.<random>.tmp``: one
# caught mid-write was seen as a new file, or gone by the time it was read).
DAEMON_OWN = (
    "status/daemon.json",
    "status/.daemon.json.",
    "status/workers.json",
    "status/.workers.json.",
    "logs/",
)


def tree_hash(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file and directory under ``root`` (relative name -> sha256 of the content, or 'dir')."""
    out = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if any(name == s or name.startswith(s) for s in skip):
            continue
        out[name] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def software_checks(events: list[dict[str, object]]) -> list[object]:
    return [e["serial"] for e in events if e["event"] == "software_check"]


def test_apply_dry_run_next_to_the_daemon_writes_nothing(tmp_path: Path, runner: CliRunner) -> None:
    fleet = FleetSpec(devices=(dev("001", "11.1.2"), dev("002", "11.1.2"), dev("003", "11.1.2")))
    config = {"daemon.allow_root": "true", "daemon.resync_interval": 300, "discovery.interval": 0}
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address="127.224.0.0", **config) as env:

        def cli(*args: str) -> object:
            return runner.invoke(app, ["--work-dir", str(env.paths.root), *args])

        hold = cli("device", "hold", "002", "--reason", "RMA")  # a record of its own: held, never upgraded
        assert 0 == hold.exit_code, hold.output + hold.stderr  # type: ignore[attr-defined]
        upgrade = tmp_path / "upgrade"
        upgrade.mkdir()
        (upgrade / "fleet.yaml").write_text(HEADER + group("11.1.6-h1"))

        # 1. Another engine holds the lock (the daemon's, exactly): the dry run runs, and the whole work
        #    directory, logs included, is byte for byte what it was.
        with DaemonLock(env.paths.lock_file):
            before = tree_hash(env.paths.root)
            result = cli("apply", "-f", str(upgrade), "--dry-run", "--auto-approve", "--timeout", "60")
            assert 0 == result.exit_code, result.output + result.stderr  # type: ignore[attr-defined]
            assert before == tree_hash(env.paths.root)
        out = result.output  # type: ignore[attr-defined]
        assert "dry run: 2 device(s) previewed: 2 would pass pre-flight, 0 would fail" in out, out
        assert "nothing was written to the work directory" in out
        # It did rehearse (pre-flight and software check on the devices), but not the held one.
        assert ["001", "003"] == sorted(map(str, software_checks(env.sim.events())))
        assert all(env.sim.device(s).version == "11.1.2" for s in ("001", "002", "003"))

        # 2. The real daemon, converged on its own desired state: the dry run of another one is allowed
        #    and leaves everything but the daemon's own status and log files as it was.
        env.write_desired(group("11.1.2"))
        proc = start_daemon(env, env.desired)
        try:
            assert env.sim.wait_until(lambda: env.paths.daemon_status_file.exists(), timeout=30)
            assert env.sim.wait_until(
                lambda: (
                    (json.loads(env.paths.daemon_status_file.read_text()).get("last_reconcile") or {}).get(
                        "result"
                    )
                    == "ok"
                ),
                timeout=30,
            )
            before = tree_hash(env.paths.root, DAEMON_OWN)
            again = cli("apply", "-f", str(upgrade), "--dry-run", "--auto-approve", "--timeout", "60")
            assert 0 == again.exit_code, again.output + again.stderr  # type: ignore[attr-defined]
            assert before == tree_hash(env.paths.root, DAEMON_OWN)
            assert proc.poll() is None  # the daemon kept running
            # A real apply still refuses to run next to the daemon.
            real = cli("apply", "-f", str(upgrade), "--auto-approve", "--timeout", "5")
            assert 1 == real.exit_code, real.output  # type: ignore[attr-defined]
        finally:
            assert 0 == stop(proc)
        assert all(env.sim.device(s).version == "11.1.2" for s in ("001", "002", "003"))
