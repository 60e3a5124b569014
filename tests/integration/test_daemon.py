"""The reconciler daemon as a real process against the simulator: GitOps pick-up from a git repository,
invalid edits, SIGTERM and restart, status files, one daemon per work directory."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.sim.fleet import FleetSpec
from reconciler.workdir import schemas
from tests.integration.fleet_env import HEADER, FleetEnv, fleet_env
from tests.integration.test_engine import dev, group

_blocks = itertools.count(170)
DAEMON_CONFIG = {"daemon.allow_root": "true", "daemon.resync_interval": 2}


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
        },
    )


_stderr_files: dict[int, Path] = {}


def start_daemon(env: FleetEnv, desired: Path) -> subprocess.Popen[bytes]:
    """The daemon as its own process. Its stderr goes to a file, never to a pipe nobody reads: a daemon that
    logs more than a pipe holds (64 KiB) would block on its next log line and never stop. ``-X faulthandler``
    lets ``stop`` dump every thread's stack when it does not stop in time."""
    cmd = [
        sys.executable,
        "-X",
        "faulthandler",
        "-m",
        "reconciler",
        "--work-dir",
        str(env.paths.root),
        "daemon",
        "run",
        "-f",
        str(desired),
    ]
    log = env.paths.root.parent / f"daemon-{len(_stderr_files)}-{time.monotonic_ns()}.stderr"
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=sink)
    _stderr_files[proc.pid] = log
    return proc


def status(env: FleetEnv) -> dict[str, object]:
    doc: dict[str, object] = json.loads(env.paths.daemon_status_file.read_text())
    return doc


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then the exit code. A daemon still running after 90 s is a hang: its threads' stacks (dumped
    by faulthandler on SIGABRT) and the end of its stderr go into the failure."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=30)
        log = _stderr_files.get(proc.pid)
        tail = log.read_text(errors="replace")[-12000:] if log else "(no stderr file)"
        raise AssertionError(
            f"the daemon did not stop within 90 s of SIGTERM; its stderr ends:\n{tail}"
        ) from None


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[FleetEnv]:
    spec = FleetSpec(devices=(dev("001", "11.1.2"), dev("002", "10.2.9")))
    with fleet_env(
        tmp_path, spec, time_scale=0.004, base_address=f"127.{next(_blocks)}.0.0", **DAEMON_CONFIG
    ) as env:
        yield env


def at_versions(env: FleetEnv, version: str) -> bool:
    return all(env.sim.device(s).version == version for s in ("001", "002"))


def test_git_commits_and_checkouts_are_picked_up_and_converge(fleet: FleetEnv, tmp_path: Path) -> None:
    repo = tmp_path / "gitops"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "fleet.yaml").write_text(HEADER + group("11.1.6-h1"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "dc to 11.1.6-h1")
    proc = start_daemon(fleet, repo)
    try:
        assert fleet.sim.wait_until(lambda: at_versions(fleet, "11.1.6-h1"), timeout=90)
        first = status(fleet)
        assert [] == schemas.errors("daemon-status", first)
        desired = first["desired"]
        assert isinstance(desired, dict) and desired["valid"] and desired["revision"]
        # A branch whose checkout swaps the file for another one: picked up like an edit.
        git(repo, "checkout", "-q", "-b", "next")
        git(repo, "rm", "-q", "fleet.yaml")
        (repo / "renamed.yaml").write_text(HEADER + group("11.2.7"))
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "dc to 11.2.7")
        git(repo, "checkout", "-q", "main")
        git(repo, "merge", "-q", "--ff-only", "next")
        assert fleet.sim.wait_until(lambda: at_versions(fleet, "11.2.7"), timeout=90)
        later = status(fleet)["desired"]
        assert isinstance(later, dict) and later["revision"] != desired["revision"]
    finally:
        assert 0 == stop(proc)
    assert "stopped" == status(fleet)["state"]


def test_invalid_edit_keeps_the_last_valid_state(fleet: FleetEnv) -> None:
    fleet.write_desired(group("11.1.6-h1"))
    proc = start_daemon(fleet, fleet.desired)
    try:
        assert fleet.sim.wait_until(lambda: at_versions(fleet, "11.1.6-h1"), timeout=90)
        (fleet.desired / "fleet.yaml").write_text(HEADER + "groups:\n  - name: dc\n    target: 11.2\n")
        assert fleet.sim.wait_until(lambda: not status(fleet)["desired"]["valid"], timeout=20)  # type: ignore[index]
        doc = status(fleet)
        desired = doc["desired"]
        assert isinstance(desired, dict) and desired["in_force"] and "fleet.yaml" in desired["error"]
        time.sleep(1.0)
        assert at_versions(fleet, "11.1.6-h1"), "nothing was done on the strength of the invalid file"
        assert proc.poll() is None, "the daemon survives bad input"
    finally:
        assert 0 == stop(proc)


def test_sigterm_mid_upgrade_then_restart_resumes(fleet: FleetEnv) -> None:
    fleet.write_desired(group("11.1.6-h1"))
    proc = start_daemon(fleet, fleet.desired)
    try:
        assert fleet.sim.wait_until(
            lambda: any(e["event"] == "install_start" for e in fleet.sim.events()), timeout=60
        )
    finally:
        started = time.monotonic()
        assert 0 == stop(proc)
        assert time.monotonic() - started < 70, "a stop is bounded"
    assert not at_versions(fleet, "11.1.6-h1")
    proc = start_daemon(fleet, fleet.desired)
    try:
        assert fleet.sim.wait_until(lambda: at_versions(fleet, "11.1.6-h1"), timeout=90)
    finally:
        assert 0 == stop(proc)
    per_image = Counter(
        (e["serial"], e["version"]) for e in fleet.sim.events() if e["event"] == "install_start"
    )
    assert all(n == 1 for n in per_image.values()), per_image


def test_a_second_daemon_on_the_same_work_dir_is_refused(fleet: FleetEnv) -> None:
    fleet.write_desired(group("11.1.2"))
    proc = start_daemon(fleet, fleet.desired)
    try:
        assert fleet.sim.wait_until(lambda: fleet.paths.daemon_status_file.exists(), timeout=30)
        second = subprocess.run(
            [sys.executable, "-m", "reconciler", "--work-dir", str(fleet.paths.root), "daemon", "run"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert 1 == second.returncode
        assert f"pid {proc.pid}" in second.stderr and "already runs" in second.stderr
        shown = subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler",
                "--work-dir",
                str(fleet.paths.root),
                "daemon",
                "status",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        doc = json.loads(shown.stdout)
        assert doc["running"] and [] == schemas.errors("daemon-status", doc["status"])
        workers = json.loads(fleet.paths.workers_status_file.read_text())
        assert [] == schemas.errors("workers-status", workers)
    finally:
        assert 0 == stop(proc)


def test_web_app_job_and_cancel_files_take_effect_and_bad_files_are_rejected(tmp_path: Path) -> None:
    spec = FleetSpec(
        devices=(
            dev("001", "11.1.2"),
            dev("002", "11.1.2", device_group="lab"),
            dev("003", "10.2.9", device_group="lab"),
        )
    )
    with fleet_env(
        tmp_path, spec, time_scale=0.004, base_address=f"127.{next(_blocks)}.0.0", **DAEMON_CONFIG
    ) as env:
        env.write_desired(group("11.1.6-h1"))
        pending = env.paths.queue("pending")
        incoming = env.paths.commands("incoming")
        drop = {
            "web-job-1": {
                "job_id": "web-job-1",
                "type": "standalone",
                "devices": ["002"],
                "target_version": "11.1.6-h1",
            },
            "web-job-2": {
                "job_id": "web-job-2",
                "type": "standalone",
                "devices": ["001"],
                "target_version": "11.2.7",
            },
            "web-job-3": {
                "job_id": "web-job-3",
                "type": "standalone",
                "devices": ["003"],
                "target_version": "11.1.6-h1",
            },
        }
        for job_id, body in drop.items():
            (pending / f"{job_id}.json").write_text(json.dumps(body))
        (pending / "broken.json").write_text('{"job_id": "../../x", "type": "standalone"')
        (incoming / "bad-command.json").write_text(json.dumps({"command": "format_disk", "serial": "002"}))
        proc = start_daemon(env, env.desired)
        try:
            assert env.sim.wait_until(
                lambda: (env.paths.queue("active") / "web-job-3.json").exists(), timeout=30
            )
            cancel = {
                "command": "cancel_upgrade",
                "target": "job",
                "job_id": "web-job-3",
                "reason": "Admin takeover",
            }
            (incoming / "cancel-3.json").write_text(json.dumps(cancel))
            done = lambda: (env.paths.queue("completed") / "web-job-1.json").exists()  # noqa: E731
            assert env.sim.wait_until(done, timeout=90)
            assert env.sim.wait_until(
                lambda: (env.paths.queue("cancelled") / "web-job-3.json").exists(), timeout=60
            )
            assert env.sim.wait_until(lambda: "11.1.6-h1" == env.sim.device("001").version, timeout=90)
        finally:
            assert 0 == stop(proc)
        assert "11.1.6-h1" == env.sim.device("002").version
        job1 = json.loads(env.paths.job_status_file("web-job-1").read_text())
        assert [] == schemas.errors("job-status", job1)
        assert "completed" == job1["state"]
        # Refused: 001 is managed by the desired state toward another target; nothing ran for that job.
        reason = (env.paths.queue("rejected") / "web-job-2.json.reason").read_text()
        assert "managed by desired-state group 'dc'" in reason
        assert not [
            e for e in env.sim.events() if e["event"] == "download_start" and e.get("version") == "11.2.7"
        ]
        # Cancelled: 003 stopped at a safe point (held) and never installed.
        record = json.loads(env.paths.device_status_file("003").read_text())
        assert record["upgrade_status"] in ("held", "cancelled")
        assert not [e for e in env.sim.events() if e["event"] == "install_start" and e["serial"] == "003"]
        # Bad files: moved aside with a reason, no side effect.
        assert (env.paths.queue("rejected") / "broken.json.reason").exists()
        assert "command" in (env.paths.commands("rejected") / "bad-command.json.reason").read_text()
        assert (env.paths.commands("processed") / "cancel-3.outcome.json").exists()


def test_sighup_reloads_the_desired_state_at_once(fleet: FleetEnv) -> None:
    """With nothing to do and the periodic resync an hour away, only SIGHUP can cause the next pass."""
    fleet.write_desired(group("11.1.2"))
    fleet.config.set("daemon.resync_interval", "3600")
    fleet.config.save()
    proc = start_daemon(fleet, fleet.desired)
    try:
        assert fleet.sim.wait_until(lambda: status_or_none(fleet) is not None, timeout=30)
        assert fleet.sim.wait_until(lambda: (status(fleet).get("last_reconcile") or {}).get("at"), timeout=30)
        time.sleep(1.5)  # let start-up passes settle
        before = status(fleet)["last_reconcile"]["at"]  # type: ignore[index]
        time.sleep(1.0)
        assert before == status(fleet)["last_reconcile"]["at"], "quiet: no pass without a reason"  # type: ignore[index]
        proc.send_signal(signal.SIGHUP)
        assert fleet.sim.wait_until(lambda: status(fleet)["last_reconcile"]["at"] != before, timeout=10)  # type: ignore[index]
        assert proc.poll() is None
    finally:
        assert 0 == stop(proc)


def status_or_none(env: FleetEnv) -> dict[str, object] | None:
    try:
        return status(env)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_periodic_rediscovery_refreshes_the_inventory(fleet: FleetEnv) -> None:
    fleet.write_desired(group("11.1.2"))
    fleet.config.set("discovery.interval", "1")
    fleet.config.save()
    before = json.loads(fleet.paths.inventory_file.read_text())["discovered_at"]
    proc = start_daemon(fleet, fleet.desired)
    try:
        refreshed = lambda: json.loads(fleet.paths.inventory_file.read_text())["discovered_at"] != before  # noqa: E731
        assert fleet.sim.wait_until(refreshed, timeout=30)
        assert fleet.sim.wait_until(lambda: (status_or_none(fleet) or {}).get("last_discovery"), timeout=30)
        assert 2 == len(json.loads(fleet.paths.inventory_file.read_text())["devices"])
    finally:
        assert 0 == stop(proc)
