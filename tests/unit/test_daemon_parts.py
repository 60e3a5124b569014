"""Daemon building blocks: the work-dir lock, systemd notify, and webhooks against a loopback receiver."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from reconciler.daemon import sdnotify
from reconciler.engine.webhooks import Notifier
from reconciler.workdir import lock


def test_second_lock_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "run" / "daemon.lock"
    with lock.DaemonLock(path):
        with pytest.raises(lock.AlreadyRunning, match=f"pid {os.getpid()}"):
            lock.DaemonLock(path).acquire()
        assert os.getpid() == (lock.holder(path) or {}).get("pid")
    assert lock.holder(path) is None, "released on exit"
    with lock.DaemonLock(path):
        pass


def test_the_lock_survives_its_note_being_deleted_and_still_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "run" / "daemon.lock"
    with lock.DaemonLock(path) as held:
        path.unlink()
        assert os.getpid() == (lock.holder(path) or {}).get("pid"), "read from /proc/locks"
        with pytest.raises(lock.AlreadyRunning, match=f"pid {os.getpid()}") as refused:
            lock.DaemonLock(path).acquire()
        assert "daemon.lock" not in str(refused.value)
        held.refresh()
        assert os.getpid() == json.loads(path.read_text())["pid"], "the note is written again"
    assert lock.holder(path) is None


def test_notify_sends_datagrams_to_the_socket(tmp_path: Path) -> None:
    addr = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(addr)
        assert sdnotify.notify("READY=1\nSTATUS=ok", env={"NOTIFY_SOCKET": addr})
        assert b"READY=1\nSTATUS=ok" == server.recv(100)
    assert not sdnotify.notify("READY=1", env={})


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert 5.0 == sdnotify.watchdog_interval({"WATCHDOG_USEC": "10000000"})
    assert sdnotify.watchdog_interval({}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "10", "WATCHDOG_PID": "1"}) is None


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(500)
            self.end_headers()
            return
        _Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    _Receiver.fail_first = 0
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_events_arrive_with_retries(receiver: str) -> None:
    _Receiver.fail_first = 1
    notifier = Notifier([receiver], timeout=2, attempts=3, wait=lambda n: 0)
    notifier.emit("group_started", group="branches", target="11.1.6-h1")
    notifier.emit("device_failed", group="branches", serial="0001", reason="job-stalled")
    notifier.close(timeout=10)
    assert ["group_started", "device_failed"] == [e["event"] for e in _Receiver.received]
    assert "job-stalled" == _Receiver.received[1]["reason"]
    assert (2, 0) == (notifier.sent, notifier.failed)


def test_unreachable_webhook_never_raises_into_the_caller() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    notifier = Notifier([f"http://127.0.0.1:{port}/"], timeout=1, attempts=2, wait=lambda n: 0)
    notifier.emit("converged", group="g")
    notifier.close(timeout=10)
    assert (0, 1) == (notifier.sent, notifier.failed)


def test_unknown_event_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        Notifier([]).emit("exploded")


def test_watcher_rings_on_atomic_save_rename_and_delete(tmp_path: Path) -> None:
    import time as _time

    from reconciler.engine.wakeup import Wakeup, Watcher

    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "a.yaml").write_text("x: 1\n")
    wakeup = Wakeup()
    watcher = Watcher([desired], wakeup)
    watcher.start()
    try:
        for change in (
            lambda: (desired / ".a.yaml.tmp").write_text("x: 2\n"),
            lambda: (desired / ".a.yaml.tmp").rename(desired / "a.yaml"),
            lambda: (desired / "a.yaml").unlink(),
        ):
            before = wakeup.rings
            change()
            deadline = _time.monotonic() + 5
            while wakeup.rings == before and _time.monotonic() < deadline:
                _time.sleep(0.02)
            assert wakeup.rings > before
        assert wakeup.wait(timeout=2, debounce=0.05)
        assert not wakeup.wait(timeout=0.1), "cleared after being consumed"
    finally:
        watcher.stop()
