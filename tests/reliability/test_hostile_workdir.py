"""Hostile things done to the work directory around a running daemon: its lock file deleted, stray files
left in its folders.

Each test runs real ``panos-upgrade daemon run`` processes (no simulator: an empty inventory is enough).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import lock
from reconciler.paths import WorkPaths
from tests.reliability.daemon_proc import DaemonProcess

DESIRED = 'apiVersion: panos-upgrade/v1\ngroups:\n  - name: dc\n    select: {deviceGroups: [dc]}\n    target: "11.1.2"\n'


@pytest.fixture
def daemon_work(work: WorkPaths, tmp_path: Path) -> Iterator[tuple[WorkPaths, Path]]:
    from reconciler.config import Config

    cfg = Config.load(work.config_file)
    cfg.set("daemon.allow_root", "true")
    cfg.set("daemon.resync_interval", "1")
    cfg.set("metrics.enabled", "false")
    cfg.save()
    desired = tmp_path / "desired.yaml"
    desired.write_text(DESIRED)
    yield work, desired


def _run_daemon(work: WorkPaths, desired: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "reconciler", "--work-dir", str(work.root), "daemon", "run", "-f", str(desired)]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"a second daemon started and ran: {exc.stderr!r}") from None


def test_deleting_the_lock_file_does_not_let_a_second_daemon_start(
    daemon_work: tuple[WorkPaths, Path],
) -> None:
    work, desired = daemon_work
    first = DaemonProcess(work, desired).start()
    try:
        first.wait_for(lambda: work.daemon_status_file.exists(), 60, "the first daemon's status")
        work.lock_file.unlink()
        second = _run_daemon(work, desired)
        assert 1 == second.returncode, second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert "delete" not in second.stderr.lower() and "remove" not in second.stderr.lower()
        assert first.alive()
        assert first.pid == (lock.holder(work.lock_file) or {}).get("pid"), "the holder is still named"
    finally:
        assert 0 == first.stop()
