"""Metric values at known points of a simulated rollout, read from the registry in process (no Prometheus).

One rollout (``rollout.py``) is driven like ``apply``; after every pump the test compares the metrics with
the executor's records, so the one-hot phase gauges and the in-flight gauge are checked at every point of
the run, not only at its end. Separate small runs cover desired-state reloads, generations and the daemon.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.version import PanOsVersion
from reconciler.daemon.service import Daemon
from reconciler.engine.loop import drive
from reconciler.engine.metrics import BLOCK_REASONS, Metrics
from reconciler.engine.session import Session, open_session
from reconciler.machine.records import ACTIVE_PHASES, DeviceRecord, Phase
from reconciler.sim.fleet import DeviceSpec, FleetSpec
from tests.integration.fleet_env import fleet_env
from tests.observability import rollout
from tests.safety import assert_safe

# 127.241-244: this file's simulators (127.240 is the Prometheus scrape test's).
ROLLOUT_BLOCK = "127.241.0.0"
RELOAD_BLOCK = "127.242.0.0"
DAEMON_BLOCK = "127.243.0.0"
GENERATION_BLOCK = "127.244.0.0"


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def labelled(m: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for fam in m.registry.collect()
        for s in fam.samples
        if s.name == name
    }


def phase_problems(m: Metrics, records: dict[str, DeviceRecord]) -> list[str]:
    """Where the one-hot phase gauges disagree with the records (empty when they agree)."""
    problems = []
    for serial, rec in records.items():
        on = [
            dict(k)["phase"]
            for k, v in labelled(m, "panos_upgrade_device_phase").items()
            if dict(k)["serial"] == serial and v == 1
        ]
        if on != [rec.phase.value]:
            problems.append(f"{serial}: record {rec.phase.value}, gauges at 1: {on}")
    return problems


@dataclass
class Watched:
    """What the test saw while the rollout ran, and the end state."""

    metrics: Metrics
    records: dict[str, DeviceRecord] = field(default_factory=dict)
    ticks: int = 0
    max_in_flight_gauge: float = 0.0
    ticks_with_active_devices: int = 0
    in_flight_mismatches: list[str] = field(default_factory=list)
    phase_mismatches: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    tmp = tmp_path_factory.mktemp("rollout")
    with fleet_env(tmp, rollout.fleet(), time_scale=0.002, base_address=ROLLOUT_BLOCK) as env:
        env.write_desired(rollout.DESIRED)
        seen = Watched(Metrics())
        session = env.session(metrics=seen.metrics)

        def check() -> None:
            seen.ticks += 1
            records = session.executor.records
            gauge = value(seen.metrics, "panos_upgrade_upgrades_in_flight") or 0.0
            actual = len(session.executor.in_flight())
            if gauge != actual:
                seen.in_flight_mismatches.append(f"tick {seen.ticks}: gauge {gauge}, executor {actual}")
            seen.max_in_flight_gauge = max(seen.max_in_flight_gauge, gauge)
            if any(r.phase in ACTIVE_PHASES for r in records.values()):
                seen.ticks_with_active_devices += 1
            seen.phase_mismatches.extend(phase_problems(seen.metrics, records))

        try:
            session.reconciler.load_records()
            drive(
                session,
                stop=threading.Event(),
                until_settled=True,
                resync=1.0,
                on_tick=check,
                deadline=time.monotonic() + 120,
            )
            seen.records = session.executor.records
        finally:
            session.close()
        seen.events = env.sim.events()
        yield seen


def test_the_rollout_is_safe_from_the_devices_side(watched: Watched) -> None:
    """The shared oracle on the module's rollout (started by a module fixture, so the per-test check does not
    see it): nothing changed on the branch device (window closed) nor the lab one (paused), at most
    workers.max devices busy, no HA or install rule broken (the injected install failure breaks none)."""
    held_back = {serial for serial, _ in rollout.BLOCKED.values()}
    assert_safe(
        watched.events,
        managed={d.serial for d in rollout.fleet().devices},
        change_allowed=lambda serial, wall: serial not in held_back,
        max_in_flight=20,
    )


def test_the_rollout_reaches_its_known_end(watched: Watched) -> None:
    phases = {s: r.phase for s, r in watched.records.items()}
    assert {s: Phase.DONE for s in rollout.SUCCEED} | {rollout.FAIL: Phase.FAILED} == phases


def test_in_flight_follows_devices_mid_upgrade_and_ends_at_zero(watched: Watched) -> None:
    assert [] == watched.in_flight_mismatches
    assert watched.ticks_with_active_devices > 0
    assert watched.max_in_flight_gauge >= 2, "the HA pair alone is two devices in flight"
    assert 0 == value(watched.metrics, "panos_upgrade_upgrades_in_flight")
    assert 20 == value(watched.metrics, "panos_upgrade_upgrades_max_in_flight")


def test_device_phase_is_one_hot_and_matches_the_records_at_every_tick(watched: Watched) -> None:
    assert watched.ticks > 0
    assert [] == watched.phase_mismatches
    phases = labelled(watched.metrics, "panos_upgrade_device_phase")
    per_device: dict[str, float] = {}
    for labels, v in phases.items():
        serial = dict(labels)["serial"]
        per_device[serial] = per_device.get(serial, 0.0) + v
    devices = set(rollout.SUCCEED) | {rollout.FAIL} | {s for s, _ in rollout.BLOCKED.values()}
    assert dict.fromkeys(devices, 1.0) == per_device
    # Devices that never started show "pending".
    for group, (serial, _) in rollout.BLOCKED.items():
        pending = {"serial": serial, "group": group, "phase": "pending"}
        assert 1 == value(watched.metrics, "panos_upgrade_device_phase", **pending)


def test_sync_status_and_reachability_at_the_end(watched: Watched) -> None:
    sync = {
        (dict(k)["serial"], dict(k)["status"]): v
        for k, v in labelled(watched.metrics, "panos_upgrade_device_sync_status").items()
        if v == 1
    }
    expected = {(s, "Synced") for s in rollout.SUCCEED} | {(rollout.FAIL, "OutOfSync")}
    expected |= {(s, "OutOfSync") for s, _ in rollout.BLOCKED.values()}
    assert expected == set(sync)
    reachable = labelled(watched.metrics, "panos_upgrade_device_reachable")
    assert len(expected) == len(reachable)
    assert {1.0} == set(reachable.values())


def test_attempts_by_result_and_failures_by_reason_match_the_devices(watched: Watched) -> None:
    attempts = {
        (dict(k)["group"], dict(k)["result"]): v
        for k, v in labelled(watched.metrics, "panos_upgrade_upgrade_attempts_total").items()
        if v
    }
    assert {("dc", "succeeded"): len(rollout.SUCCEED), ("dc", "failed"): 1} == attempts
    failures = {
        (dict(k)["group"], dict(k)["reason"]): v
        for k, v in labelled(watched.metrics, "panos_upgrade_device_failures_total").items()
        if v
    }
    assert {("dc", rollout.FAIL_REASON): 1} == failures
    # Every group has its attempt and failure series, at 0 where nothing happened.
    for group in ("branch", "lab"):
        assert 0 == value(
            watched.metrics, "panos_upgrade_upgrade_attempts_total", group=group, result="failed"
        )
        assert 0 == value(
            watched.metrics, "panos_upgrade_device_failures_total", group=group, reason=rollout.FAIL_REASON
        )


def test_blocked_reasons_and_windows_of_each_group(watched: Watched) -> None:
    blocked = labelled(watched.metrics, "panos_upgrade_group_blocked")
    assert len(BLOCK_REASONS) * len(rollout.GROUPS) == len(blocked)
    on = {(dict(k)["group"], dict(k)["reason"]) for k, v in blocked.items() if v == 1}
    # dc is blocked only where its failed device waits for a retry.
    assert {("branch", "outside-window"), ("lab", "paused"), ("dc", "failed")} == on
    windows = {
        dict(k)["group"]: v for k, v in labelled(watched.metrics, "panos_upgrade_group_window_open").items()
    }
    assert {"dc": 1.0, "branch": 0.0, "lab": 1.0} == windows


def test_step_and_upgrade_durations_are_observed_in_simulated_seconds(watched: Watched) -> None:
    m = watched.metrics
    finished = len(rollout.SUCCEED) + 1
    assert finished == value(m, "panos_upgrade_upgrade_duration_seconds_count", mode="upgrade")
    installs = value(m, "panos_upgrade_step_duration_seconds_count", step="install")
    assert installs is not None and installs >= finished
    # The simulator's installs take 240-600 simulated seconds: none falls in the 30 s bucket.
    assert 0 == value(m, "panos_upgrade_step_duration_seconds_bucket", step="install", le="30.0")
    assert 0 == value(m, "panos_upgrade_upgrade_duration_seconds_count", mode="dry_run")
    calls = sum(labelled(m, "panos_upgrade_api_calls_total").values())
    assert calls > 0


def test_apply_counts_and_times_its_reconcile_passes(watched: Watched) -> None:
    m = watched.metrics
    ok = value(m, "panos_upgrade_reconcile_total", result="ok")
    assert ok is not None and ok >= 2
    assert ok == value(m, "panos_upgrade_reconcile_duration_seconds_count")
    assert 0 == value(m, "panos_upgrade_reconcile_total", result="error")
    last = value(m, "panos_upgrade_last_successful_reconcile_timestamp_seconds")
    assert last is not None and last > 0


# -- desired state reloads and generations ------------------------------------------------------------------


def _device(serial: str, version: str) -> DeviceSpec:
    return DeviceSpec(serial, f"fw-{serial}", version=PanOsVersion.parse(version), device_group="dc")


def _group(target: str) -> str:
    return f'groups:\n  - name: dc\n    select: {{deviceGroups: [dc]}}\n    target: "{target}"\n'


def _converge(session: Session) -> None:
    drive(session, stop=threading.Event(), until_settled=True, resync=1.0, deadline=time.monotonic() + 60)


def test_reload_gauge_drops_on_an_invalid_edit_and_recovers_when_fixed(tmp_path: Path) -> None:
    fleet = FleetSpec(devices=(_device("r01", rollout.TARGET),))
    with fleet_env(tmp_path, fleet, base_address=RELOAD_BLOCK) as env:
        env.write_desired(_group(rollout.TARGET))
        m = Metrics()
        session = env.session(metrics=m)
        try:
            rec = session.reconciler
            assert rec.reload_desired()
            ok_at = value(m, "panos_upgrade_desired_state_last_reload_success_timestamp_seconds")
            info = labelled(m, "panos_upgrade_desired_state_info")
            assert 1 == value(m, "panos_upgrade_desired_state_last_reload_successful")
            assert ok_at and 1 == len(info)

            env.write_desired("groups:\n  - name: dc\n    target: [not, a, version\n")
            assert not rec.reload_desired()
            assert 0 == value(m, "panos_upgrade_desired_state_last_reload_successful")
            # The last valid state stays in force, and its revision and load time stay exported.
            assert ok_at == value(m, "panos_upgrade_desired_state_last_reload_success_timestamp_seconds")
            assert info == labelled(m, "panos_upgrade_desired_state_info")

            env.write_desired(_group(rollout.TARGET))
            assert rec.reload_desired()
            assert 1 == value(m, "panos_upgrade_desired_state_last_reload_successful")
            again = value(m, "panos_upgrade_desired_state_last_reload_success_timestamp_seconds")
            assert again is not None and again >= ok_at
        finally:
            session.close()


def test_group_generation_moves_on_edits_and_observed_generation_on_convergence(tmp_path: Path) -> None:
    fleet = FleetSpec(devices=(_device("g01", "11.1.2"),))
    with fleet_env(tmp_path, fleet, base_address=GENERATION_BLOCK) as env:
        m = Metrics()
        env.write_desired(_group("11.1.2"))
        session = env.session(metrics=m)
        try:
            session.reconciler.pass_()
            assert (1, 1) == _generations(m)
            env.write_desired(_group(rollout.TARGET))
            session.reconciler.pass_()
            assert (2, 1) == _generations(m), "a new target is a new generation, not yet observed"
            _converge(session)
            assert rollout.TARGET == env.sim.device("g01").version
            assert (2, 2) == _generations(m)
        finally:
            session.close()


def _generations(m: Metrics) -> tuple[float | None, float | None]:
    return (
        value(m, "panos_upgrade_group_generation", group="dc"),
        value(m, "panos_upgrade_group_observed_generation", group="dc"),
    )


# -- the daemon -----------------------------------------------------------------------------------------------


def test_daemon_counts_times_and_stamps_its_reconcile_passes(tmp_path: Path) -> None:
    fleet = FleetSpec(devices=(_device("d01", rollout.TARGET),))
    config: dict[str, Any] = {
        "daemon.allow_root": "true",
        "daemon.resync_interval": 1,
        "discovery.interval": 0,
    }
    with fleet_env(tmp_path, fleet, base_address=DAEMON_BLOCK, **config) as env:
        env.write_desired(_group(rollout.TARGET))
        m = Metrics()

        def session_factory(*args: object, **kw: object) -> Session:
            return open_session(*args, serve_metrics=False, metrics=m, **kw)  # type: ignore[arg-type]

        daemon = Daemon(
            env.paths,
            env.config,
            desired_path=env.desired,
            session_factory=session_factory,
            install_signals=False,
        )
        outcome: dict[str, object] = {}
        thread = threading.Thread(target=lambda: outcome.setdefault("rc", daemon.run()), daemon=True)
        thread.start()
        try:
            assert _wait(lambda: (value(m, "panos_upgrade_reconcile_total", result="ok") or 0) >= 1)
            first_count = value(m, "panos_upgrade_reconcile_total", result="ok") or 0
            first_stamp = value(m, "panos_upgrade_last_successful_reconcile_timestamp_seconds") or 0
            # Resyncs every second: the counter and the timestamp keep moving without any event.
            assert _wait(
                lambda: (value(m, "panos_upgrade_reconcile_total", result="ok") or 0) >= first_count + 2
            )
            later_stamp = value(m, "panos_upgrade_last_successful_reconcile_timestamp_seconds") or 0
            assert first_stamp > 0 and later_stamp > first_stamp
        finally:
            daemon.stop.set()
            daemon.wakeup.ring()
            thread.join(timeout=60)
        assert not thread.is_alive()
        assert 0 == outcome.get("rc")
        ok = value(m, "panos_upgrade_reconcile_total", result="ok")
        errors = value(m, "panos_upgrade_reconcile_total", result="error")
        assert 0 == errors
        assert ok == value(m, "panos_upgrade_reconcile_duration_seconds_count")
        assert 1 == value(m, "panos_upgrade_device_sync_status", serial="d01", group="dc", status="Synced")


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``condition`` (bounded): True as soon as it holds, False at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())
