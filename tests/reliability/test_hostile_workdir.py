"""Hostile things done to the work directory around a running daemon: its lock file deleted, stray files
left in its folders.

Each test runs real ``panos-upgrade daemon run`` processes (no simulator: an empty inventory is enough).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.workdir import inventory_store, lock
from reconciler.workdir.layout import WorkPaths
from tests.reliability import hostile
from tests.reliability.daemon_proc import DaemonProcess, log_text

DESIRED = 'apiVersion: panos-upgrade/v1\ngroups:\n  - name: dc\n    select: {deviceGroups: [dc]}\n    target: "11.1.2"\n'


@pytest.fixture
def daemon_work(work: WorkPaths, tmp_path: Path) -> Iterator[tuple[WorkPaths, Path]]:
    from reconciler.workdir.config import Config

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


def test_leftover_temporary_files_of_killed_writes_are_removed_at_start_up_and_nothing_else(
    daemon_work: tuple[WorkPaths, Path], tmp_path: Path
) -> None:
    work, desired = daemon_work
    hour_ago = time.time() - 3600
    stale = [
        work.device_status_dir / ".001.json.k2j4h_x9.tmp",
        work.status_dir / ".daemon.json.abcdefgh.tmp",
        work.queue("pending") / ".job-7.json.staged",
        work.validation_dir / "001" / ".pre.json.0a1b2c3d.tmp",
    ]
    kept = [
        work.device_status_dir / ".002.json.zzzzzzzz.tmp",  # fresh: a write may be in progress
        work.status_dir / "notes.tmp",  # not our pattern
        work.status_dir / ".x.tmp",  # not our pattern
        tmp_path / ".outside.json.abcdefgh.tmp",  # not our directory
    ]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{")
    for path in [*stale, *kept[1:]]:
        os.utime(path, (hour_ago, hour_ago))
    daemon = DaemonProcess(work, desired).start()
    try:
        daemon.wait_for(lambda: work.daemon_status_file.exists(), 60, "the daemon's status")
        assert [] == [p for p in stale if p.exists()]
        assert [] == [p for p in kept if not p.exists()]
    finally:
        assert 0 == daemon.stop()


def test_a_job_file_dropped_straight_into_queue_active_is_adopted_or_rejected_at_start_up(
    daemon_work: tuple[WorkPaths, Path],
) -> None:
    work, desired = daemon_work
    inventory_store.save(work, hostile.INVENTORY)
    job = {"job_id": "stray", "type": "standalone", "devices": ["001"], "dry_run": True}
    (work.queue("active") / "stray.json").write_text(json.dumps(job))
    (work.queue("active") / "garbage.json").write_text("{not json")
    daemon = DaemonProcess(work, desired).start()
    try:
        daemon.wait_for(
            lambda: (
                not any(work.queue("active").glob("stray.json"))
                and (work.queue("rejected") / "garbage.json.reason").exists()
            ),
            60,
            "the stray job files to leave queue/active",
        )
        assert "found in queue/active" in (work.queue("rejected") / "garbage.json.reason").read_text()
        audit = work.audit_file.read_text()
        assert "job stray found in queue/active without any device started for it" in audit
    finally:
        assert 0 == daemon.stop()
