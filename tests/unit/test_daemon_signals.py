"""The daemon's signal handlers take no lock. A handler runs in the main thread between two bytecodes, maybe
while that thread holds a lock of its own: ``Wakeup.due`` holds the bell's lock every loop turn. A handler
that rang the bell then waited for itself forever, and the daemon never stopped (seen once in CI: SIGTERM,
then no exit in 90 s). Each handler here is called while its thread holds the bell's lock, as the
interrupted main thread would; a worker thread bounds the test instead of a hang."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from reconciler.daemon.service import Daemon
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

WAIT = 30.0  # an upper bound for the handler's thread to finish; a deadlocked handler never does


def _daemon(tmp_path: Path) -> Daemon:
    return Daemon(
        WorkPaths(tmp_path), Config({}, None, {}), desired_path=tmp_path / "d", install_signals=False
    )


def _while_holding_the_bell(d: Daemon, handler: Callable[[], None]) -> bool:
    """Calls ``handler`` in a thread that holds the wakeup bell's lock; True when it returned."""

    def run() -> None:
        with d.wakeup._lock:
            handler()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(WAIT)
    return not t.is_alive()


def test_sigterm_during_a_bell_check_stops_the_daemon_without_deadlock(tmp_path: Path) -> None:
    d = _daemon(tmp_path)
    assert _while_holding_the_bell(d, lambda: d._on_stop(15, None))
    assert d.stop.is_set()


def test_sighup_during_a_bell_check_asks_for_a_pass_at_the_next_turn(tmp_path: Path) -> None:
    d = _daemon(tmp_path)
    d._next_discovery = float("inf")  # no re-discovery in this test
    assert _while_holding_the_bell(d, lambda: d._on_hup(1, None))
    assert d._tick(d.session, 0.0) is True  # type: ignore[arg-type]  # the pass the reload needs
    assert d._tick(d.session, 0.0) is False  # once
