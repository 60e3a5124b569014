"""The daemon as a real process (``python -m reconciler daemon run``), for the reliability tests.

Waiting is always bounded: ``wait_for`` polls a condition with a deadline and fails loudly if the daemon
process exits meanwhile.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.workdir.layout import WorkPaths

# Events in the simulator's log that change something on a device (anything else is a read).
MUTATING_EVENTS = frozenset(
    {
        "download_queued",
        "download_start",
        "install_start",
        "reboot_start",
        "ha_suspend_request",
        "ha_functional_request",
        "content_download_start",
        "content_install_start",
    }
)


class DaemonProcess:
    def __init__(self, paths: WorkPaths, desired: Path, *, env: dict[str, str] | None = None) -> None:
        self.paths = paths
        self.desired = desired
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr = paths.root.parent / "daemon-stderr.log"

    def start(self) -> DaemonProcess:
        cmd = [sys.executable, "-m", "reconciler", "--work-dir", str(self.paths.root), "daemon", "run"]
        cmd += ["-f", str(self.desired)]
        with self.stderr.open("ab") as err:
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, **(self.env or {})}
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed; what is on disk is all a restart gets."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 120.0) -> int:
        """SIGTERM and wait (bounded); returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            raise

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.paths.daemon_status_file.read_text())
        return doc

    def wait_for(
        self, condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(
                    f"the daemon exited (code {self.proc and self.proc.poll()}) waiting for {what}"
                )
            try:
                if condition():
                    return
            except (OSError, ValueError, KeyError):
                pass  # a file not there yet; the next poll sees it
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def second_daemon(paths: WorkPaths, desired: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Start another ``daemon run`` on the same work directory and wait (bounded) for it to exit. One that
    is still running after ``timeout`` was let in: it is killed and the test fails."""
    cmd = [sys.executable, "-m", "reconciler", "--work-dir", str(paths.root), "daemon", "run"]
    cmd += ["-f", str(desired)]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed it
        raise AssertionError(f"a second daemon started on the same work directory: {exc.stderr!r}") from None


def refusal_problems(holder: DaemonProcess, second: subprocess.CompletedProcess[str]) -> list[str]:
    """What is wrong with a second daemon's refusal while ``holder`` runs: it must exit non-zero naming the
    holder's pid, the holder must still run, and ``status/daemon.json`` must still be the holder's."""
    problems = []
    if second.returncode == 0:
        problems.append(f"the second daemon exited 0: {second.stderr[-300:]!r}")
    if f"pid {holder.pid}" not in second.stderr:
        problems.append(f"the refusal does not name the holder (pid {holder.pid}): {second.stderr[-300:]!r}")
    if not holder.alive():
        problems.append("the holder died")
    else:
        try:
            pid = holder.status().get("pid")
        except (OSError, ValueError) as exc:
            pid = f"unreadable ({exc})"
        if pid != holder.pid:
            problems.append(f"status/daemon.json names pid {pid}, not the holder {holder.pid}")
    return problems


def log_text(paths: WorkPaths) -> str:
    """Everything the daemon logged as text (all rotated files)."""
    return "\n".join(p.read_text(errors="replace") for p in sorted(paths.text_logs_dir.glob("*daemon*")))
