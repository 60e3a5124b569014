"""Chaos: a rollout of 200+ simulated firewalls (HA pairs included) under a real daemon process that is
killed with SIGKILL at moments picked from the simulator's event log (during downloads, installs, reboots
and HA failovers) and restarted every time.

Afterwards, from the event log through the shared safety oracle (tests/safety.py, with the rollout's managed
groups, closed window, workers.max and maxParallel): no image installed twice, no active HA member rebooted,
no moment with both members of an HA pair down, no needless failover, no device touched outside its group
or window, no more devices busy than allowed; and this rollout's own rules (no reboot that was not asked
for, nothing beyond a group's target, no install in a download-only group); every status file was valid
JSON (and valid against its schema) at every kill; every managed device converged or is failed, held or
blocked with a reason. Run with ``.venv/bin/pytest -m slow tests/reliability``.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.fleet_env import fleet_env
from tests.reliability import rollout
from tests.reliability.conftest import block
from tests.reliability.daemon_proc import DaemonProcess
from tests.reliability.figures import TestFigures

FIREWALLS = int(os.environ.get("CHAOS_FIREWALLS", "240"))
HA_PAIRS = FIREWALLS // 8
KILLS = int(os.environ.get("CHAOS_KILLS", "24"))
TIME_SCALE = 0.002
WORKERS = 60
MAX_PARALLEL = 25
# Kill moments: right after the daemon started one of these (round robin over the categories).
CATEGORIES = {
    "download": ("download_start",),
    "install": ("install_start",),
    "reboot": ("reboot_start",),
    "ha failover": ("ha_suspend_request", "failover"),
}
EVENT_WAIT = 45.0  # seconds to wait for an event of the wanted kind before killing anyway
SETTLE_TIMEOUT = 900.0


@pytest.mark.slow
def test_sigkill_during_a_large_rollout_loses_nothing_and_breaks_no_safety_rule(
    tmp_path: Path, figures: TestFigures
) -> None:
    rng = random.Random(20261127)
    spec = rollout.fleet(FIREWALLS, HA_PAIRS, seed=11)
    config = {**rollout.ROLLOUT_CONFIG, "workers.max": WORKERS}
    started = time.monotonic()
    with fleet_env(tmp_path, spec, time_scale=TIME_SCALE, base_address=block(), **config) as env:
        env.write_desired(rollout.desired_yaml(max_parallel=MAX_PARALLEL))
        tail = rollout.EventTail(env.sim.events_path)
        kills: Counter[str] = Counter()
        invalid_at_kill: list[str] = []
        categories = list(CATEGORIES)
        for n in range(KILLS):
            daemon = DaemonProcess(env.paths, env.desired).start()
            wanted = categories[n % len(categories)]
            hit = _wait_for_event(daemon, tail, CATEGORIES[wanted], EVENT_WAIT)
            time.sleep(rng.uniform(0.0, 0.4))
            daemon.kill()
            kills[wanted if hit else "random moment"] += 1
            invalid_at_kill += [f"kill {n + 1}: {p}" for p in rollout.invalid_status_files(env.paths)]
        daemon = DaemonProcess(env.paths, env.desired).start()
        try:
            daemon.wait_for(rollout.Settled(daemon), SETTLE_TIMEOUT, "the rollout to settle", interval=1.0)
        finally:
            assert 0 == daemon.stop()
        tail.poll()
        events = tail.events
        # The shared oracle (tests/safety.py) plus this rollout's own rules; the in-flight limits are
        # checked from the devices' side across every kill and restart.
        invariants = rollout.check_invariants(
            events,
            spec,
            max_in_flight=WORKERS,
            max_parallel=dict.fromkeys([*rollout.TARGETS, rollout.CLOSED_WINDOW_GROUP], MAX_PARALLEL),
        )
        end = rollout.end_state(env.paths, env.desired)
        temp_files = rollout.leftover_temp_files(env.paths)
    elapsed = time.monotonic() - started
    kinds = Counter(e["event"] for e in events)
    violations = invariants.violations + len(invalid_at_kill) + len(end.unexplained)
    figures.add("kills", sum(kills.values()))
    figures.add("devices", FIREWALLS)
    figures.add("violations", violations)
    figures.note("fleet", {"firewalls": FIREWALLS, "HA pairs": HA_PAIRS, "time scale": TIME_SCALE})
    figures.note("kills by moment", dict(kills))
    figures.note(
        "device events",
        {k: kinds[k] for k in ("download_start", "install_start", "reboot_start", "failover", "api_error")},
    )
    figures.note("invariant violations", invariants.summary())
    figures.note("status files invalid at a kill", len(invalid_at_kill))
    figures.note(
        "end state",
        {"converged": end.converged, "failed or held": end.failed_or_held, "unmanaged": end.unmanaged}
        | {f"blocked {k}": v for k, v in end.blocked.items()},
    )
    figures.note("temporary files left by kills", temp_files)
    figures.note("wall-clock minutes", elapsed / 60)
    assert KILLS == sum(kills.values())
    assert {k for k in kills if k != "random moment"} == set(CATEGORIES), kills
    assert [] == invalid_at_kill
    assert 0 == invariants.violations, str(invariants)
    assert [] == end.unexplained
    assert end.converged > FIREWALLS // 3, "the rollout made real progress"
    assert KILLS >= 20 or "CHAOS_KILLS" in os.environ, "at least 20 kills unless scaled down on purpose"


def _wait_for_event(
    daemon: DaemonProcess, tail: rollout.EventTail, kinds: tuple[str, ...], timeout: float
) -> bool:
    """Wait (bounded) for the next event of one of ``kinds``; False if none came in time."""
    tail.poll()  # what happened before this daemon started does not count
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemon.alive():
            raise AssertionError(f"the daemon exited on its own; see {daemon.stderr}")
        if any(e["event"] in kinds for e in tail.poll()):
            return True
        time.sleep(0.05)
    return False
