"""Metric rules: one-hot device gauges, enums exported as 0 from the start, no per-device counters."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from reconciler.engine.metrics import API_ERROR_KINDS, BLOCK_REASONS, Metrics, serve
from reconciler.machine.records import Phase


def samples(m: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for fam in m.registry.collect():
        for s in fam.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_device_phase_is_one_hot() -> None:
    m = Metrics()
    m.set_device("001", "branches", "install", "OutOfSync", reachable=True)
    phases = {dict(k)["phase"]: v for k, v in samples(m, "panos_upgrade_device_phase").items()}
    assert {p.value for p in Phase} == set(phases)
    assert [("install", 1.0)] == [(p, v) for p, v in phases.items() if v]
    m.set_device("001", "branches", "done", "Synced")
    phases = {dict(k)["phase"]: v for k, v in samples(m, "panos_upgrade_device_phase").items()}
    assert [("done", 1.0)] == [(p, v) for p, v in phases.items() if v]
    assert {"Synced": 1, "OutOfSync": 0, "Unknown": 0} == m.sync_counts()


def test_group_enums_exist_at_zero_before_anything_happens() -> None:
    m = Metrics()
    m.declare_group("dc")
    blocked = samples(m, "panos_upgrade_group_blocked")
    assert len(BLOCK_REASONS) == len(blocked)
    assert {0.0} == set(blocked.values())
    attempts = samples(m, "panos_upgrade_upgrade_attempts_total")
    assert attempts and {0.0} == set(attempts.values())


def test_counters_and_histograms_have_no_device_label() -> None:
    m = Metrics()
    m.set_device("001", "g", "done", "Synced")
    m.api_call("show system info", None)
    for fam in m.registry.collect():
        if fam.type in ("counter", "histogram"):
            for s in fam.samples:
                assert "serial" not in s.labels, fam.name


def test_removed_devices_drop_their_series() -> None:
    m = Metrics()
    m.set_device("001", "g", "done", "Synced", reachable=True)
    m.set_device("002", "g", "pending", "OutOfSync")
    m.retain_devices(["002"])
    serials = {dict(k)["serial"] for k in samples(m, "panos_upgrade_device_phase")}
    assert {"002"} == serials


def test_served_over_http_and_parseable() -> None:
    m = Metrics()
    m.set_desired(ok=True, when=1.0, revision="abc123", digest="sha256:x")
    server, _ = serve(m, "127.0.0.1:0")
    try:
        body = (
            urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5)
            .read()
            .decode()
        )
    finally:
        server.shutdown()
        server.server_close()
    names = {f.name for f in text_string_to_metric_families(body)}
    assert {
        "panos_upgrade_build_info",
        "panos_upgrade_desired_state_info",
        "panos_upgrade_upgrades_in_flight",
    } <= names
    assert 'panos_upgrade_desired_state_info{digest="sha256:x",revision="abc123"} 1.0' in body


def test_block_reasons_are_the_planners() -> None:
    from reconciler.core import plan

    assert plan.BLOCK_REASONS == BLOCK_REASONS
    m = Metrics()
    m.set_group("dc", blocked={"change-freeze", "failed"}, window_open=True)
    on = {dict(k)["reason"] for k, v in samples(m, "panos_upgrade_group_blocked").items() if v}
    assert {"change-freeze", "failed"} == on


def test_failure_reasons_and_api_error_kinds_exist_at_zero() -> None:
    from reconciler.machine import Reason
    from reconciler.machine.pair import PairReason

    m = Metrics()
    m.declare_group("dc")
    failures = samples(m, "panos_upgrade_device_failures_total")
    assert {r.value for r in Reason} | {r.value for r in PairReason} == {dict(k)["reason"] for k in failures}
    assert {0.0} == set(failures.values())
    errors = samples(m, "panos_upgrade_api_errors_total")
    assert set(API_ERROR_KINDS) == {dict(k)["kind"] for k in errors}
    assert {0.0} == set(errors.values())


def test_api_error_kinds_cover_every_kind_the_device_seam_raises() -> None:
    source = (Path(__file__).resolve().parents[2] / "reconciler" / "device" / "client.py").read_text()
    raised = set(re.findall(r'kind="([^"]+)"', source))
    assert raised and raised <= set(API_ERROR_KINDS), raised - set(API_ERROR_KINDS)


def test_a_rejected_desired_state_keeps_the_last_success_time_and_revision() -> None:
    m = Metrics()
    m.set_desired(ok=True, when=100.0, revision="abc", digest="sha256:1")
    m.set_desired(ok=False, when=200.0)
    assert {(): 0.0} == samples(m, "panos_upgrade_desired_state_last_reload_successful")
    assert {(): 100.0} == samples(m, "panos_upgrade_desired_state_last_reload_success_timestamp_seconds")
    info = samples(m, "panos_upgrade_desired_state_info")
    assert {(("digest", "sha256:1"), ("revision", "abc")): 1.0} == info
    m.set_desired(ok=True, when=300.0, revision="def", digest="sha256:2")
    assert {(): 1.0} == samples(m, "panos_upgrade_desired_state_last_reload_successful")
    assert {(): 300.0} == samples(m, "panos_upgrade_desired_state_last_reload_success_timestamp_seconds")
    assert [("def", 1.0)] == [
        (dict(k)["revision"], v) for k, v in samples(m, "panos_upgrade_desired_state_info").items()
    ]


def test_observe_reconcile_counts_times_and_stamps_only_successes() -> None:
    m = Metrics()
    m.observe_reconcile(0.2, ok=True, when=1000.0)
    m.observe_reconcile(0.3, ok=False, when=2000.0)
    totals = {dict(k)["result"]: v for k, v in samples(m, "panos_upgrade_reconcile_total").items()}
    assert {"ok": 1.0, "error": 1.0} == totals
    assert {(): 2.0} == samples(m, "panos_upgrade_reconcile_duration_seconds_count")
    assert {(): 1000.0} == samples(m, "panos_upgrade_last_successful_reconcile_timestamp_seconds")


def test_no_created_series_are_exported() -> None:
    m = Metrics()
    m.declare_group("dc")
    names = {s.name for fam in m.registry.collect() for s in fam.samples}
    assert not [n for n in names if n.endswith("_created")]
