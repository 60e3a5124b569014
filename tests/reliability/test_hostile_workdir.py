"""Hostile things done to the work directory around a running daemon: its lock file deleted, stray files
left in its folders.

Each test runs real ``panos-upgrade daemon run`` processes (no simulator: an empty inventory is enough).
"""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import lock
from reconciler.paths import WorkPaths
from tests.reliability.daemon_proc import DaemonProcess, log_text

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
    cmd = [
        sys.executable,
        "-m",
        "reconciler",
        "--work-dir",
        str(work.root),
        "daemon",
        "run",
        "-f",
        str(desired),
    ]
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


def test_a_desired_file_linked_to_a_secret_reaches_no_status_file_or_log_and_status_is_not_world_readable(
    daemon_work: tuple[WorkPaths, Path], tmp_path: Path
) -> None:
    work, _ = daemon_work
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2-s3cr3t-value\n")
    folder = tmp_path / "desired"
    folder.mkdir()
    (folder / "10-good.yaml").write_text(DESIRED)
    (folder / "20-secret.yaml").symlink_to(secret)
    daemon = DaemonProcess(work, folder).start()
    try:
        daemon.wait_for(
            lambda: "symbolic link leading out" in work.daemon_status_file.read_text(), 60, "the refusal"
        )
        assert "hunter2" not in work.daemon_status_file.read_text()
        assert 0o640 == stat.S_IMODE(work.daemon_status_file.stat().st_mode)
    finally:
        assert 0 == daemon.stop()
    assert "hunter2" not in log_text(work) + daemon.stderr.read_text()
    for path in work.status_dir.rglob("*.json"):
        assert 0 == path.stat().st_mode & 0o007, path
