"""The daemon's periodic re-discovery runs on a worker thread, never inside the reconcile loop: passes go on
while it asks Panorama and the firewalls, and the loop writes what it found once it ends. The discovery is a
stand-in that blocks on an event (no network, no sleeps); the loop is the real ``drive`` over the counting
stand-ins of ``test_reconcile_loop``, with the daemon's own ``_tick`` as its hook."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.core.errors import TemporaryDeviceError
from reconciler.core.inventory import Device, Inventory
from reconciler.daemon import service
from reconciler.daemon.rediscovery import DiscoverFn, Found
from reconciler.daemon.service import Daemon
from reconciler.device.discovery import Cancelled, Discovery
from reconciler.engine.loop import drive
from reconciler.workdir import inventory_store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths
from tests.unit.test_reconcile_loop import session, turns

INTERVAL = 3600.0
WAIT = 30.0  # an upper bound for a thread to get somewhere; never slept, only waited on events
FOUND = Inventory.of(
    [Device("001234567890", "fw-a", "127.0.0.1", "PA-440", "10.2.9", "edge", "standalone", "standalone")],
    discovered_at="2026-12-02T20:00:00Z",
    panorama="pano",
)


def daemon(tmp_path: Path, discover: DiscoverFn) -> Daemon:
    paths = WorkPaths(tmp_path)
    config = Config({"discovery.interval": int(INTERVAL)}, None, {})
    d = Daemon(paths, config, desired_path=tmp_path / "desired", install_signals=False, discover=discover)
    d._next_discovery = 0.0  # due at the first turn
    return d


@pytest.fixture
def daemon_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The daemon's log lines (its logger may not propagate once logging was configured)."""
    logger = logging.getLogger("reconciler.daemon")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="reconciler.daemon")
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def test_passes_go_on_while_rediscovery_runs_and_its_result_is_written_after(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[threading.Event] = []

    def discover(cancel: threading.Event) -> Found:
        calls.append(cancel)
        started.set()
        release.wait(WAIT)  # Panorama and 10,000 firewalls, as slow as the test wants
        return Found(Inventory(), Discovery(FOUND))

    d = daemon(tmp_path, discover)
    s, stop = session(), threading.Event()
    while_running: list[tuple[int, bool, str | None, bool]] = []
    applied: list[int] = []

    def each(turn: int) -> bool:
        if turn > 1 and not release.is_set():
            # The discovery is blocked: the loop still turns and passes; nothing of it is written yet.
            written = tmp_path.joinpath("inventory.json").exists()
            again = d._discovery.start()  # a second discovery while one runs: refused
            while_running.append((s.reconciler.passes, written, d.state.last_discovery, again))
            if len(while_running) == 5:
                release.set()
        asked = d._tick(s, INTERVAL)  # type: ignore[arg-type]
        if turn == 1:
            assert started.wait(WAIT), "the first turn started the discovery"
        if asked:
            applied.append(s.reconciler.passes)
        return asked

    drive(
        s,  # type: ignore[arg-type]
        stop=stop,
        until_settled=False,
        resync=0.0,  # a pass after every turn, so passes are counted while the discovery blocks
        on_tick=turns(1_000_000, stop, each, until=lambda: bool(applied)),
    )
    passes = [p for p, *_ in while_running]
    assert passes == sorted(set(passes)) and passes[-1] - passes[0] == 4, "a pass every turn meanwhile"
    assert all(not written and seen is None and not again for _, written, seen, again in while_running), (
        "nothing written while it ran, and never a second discovery at once"
    )
    assert 1 == len(calls)
    assert FOUND.devices == inventory_store.load(d.paths).devices, "written by the loop once it ended"
    assert d.state.last_discovery is not None
    assert applied and s.reconciler.passes > applied[0], "and a pass right after (the tick asked for one)"
    assert d._next_discovery > INTERVAL / 2, "the next one an interval after this one ended"
    assert not d._discovery.busy


def test_a_failed_rediscovery_is_logged_and_keeps_the_inventory(
    tmp_path: Path, daemon_log: pytest.LogCaptureFixture
) -> None:
    go = threading.Event()

    def discover(cancel: threading.Event) -> Found:
        go.wait(WAIT)
        raise TemporaryDeviceError("panorama 127.0.0.1: timed out", kind="timeout")

    d = daemon(tmp_path, discover)
    s = session()
    assert not d._tick(s, INTERVAL), "started, still running"  # type: ignore[arg-type]
    go.set()
    assert d._discovery._thread is not None
    d._discovery._thread.join(WAIT)
    assert d._tick(s, INTERVAL), "a pass after it, as after any discovery"  # type: ignore[arg-type]
    assert "periodic discovery failed; keeping the current inventory: panorama 127.0.0.1: timed out" in (
        daemon_log.text
    )
    assert not tmp_path.joinpath("inventory.json").exists() and d.state.last_discovery is None
    assert d._next_discovery > INTERVAL / 2


def test_a_stop_cancels_the_rediscovery_and_abandons_one_that_does_not_end(
    tmp_path: Path, daemon_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()

    def cancellable(cancel: threading.Event) -> Found:
        started.set()
        if cancel.wait(WAIT):
            raise Cancelled("discovery cancelled with 7 of 9 firewalls not yet answered")
        return Found(Inventory(), Discovery(FOUND))

    d = daemon(tmp_path, cancellable)
    d._tick(session(), INTERVAL)  # type: ignore[arg-type]
    assert started.wait(WAIT)
    d._discovery.cancel()
    d._finish_discovery()
    assert "periodic discovery cancelled (daemon stopping); inventory unchanged" in daemon_log.text
    assert not d._discovery.busy and not tmp_path.joinpath("inventory.json").exists()

    release = threading.Event()
    stuck = threading.Event()

    def deaf(cancel: threading.Event) -> Found:  # still waiting on a firewall's answer, within its timeout
        stuck.set()
        release.wait(WAIT)
        return Found(Inventory(), Discovery(FOUND))

    monkeypatch.setattr(service, "DISCOVERY_STOP_GRACE", 0.0)
    d = daemon(tmp_path, deaf)
    d._tick(session(), INTERVAL)  # type: ignore[arg-type]
    assert stuck.wait(WAIT)
    d._discovery.cancel()
    d._finish_discovery()
    assert "periodic discovery still running after 0 s; abandoned, inventory unchanged" in daemon_log.text
    release.set()
    assert d._discovery._thread is not None
    d._discovery._thread.join(WAIT)
    assert not tmp_path.joinpath("inventory.json").exists(), "an abandoned discovery writes nothing"
