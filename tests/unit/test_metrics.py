"""Metric rules: one-hot device gauges, enums exported as 0 from the start, no per-device counters."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from reconciler.metrics import BLOCK_REASONS, Metrics, serve
from reconciler.records import Phase


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
    names = {f.name for f in text_string_to_metric_families(body)}
    assert {
        "panos_upgrade_build_info",
        "panos_upgrade_desired_state_info",
        "panos_upgrade_upgrades_in_flight",
    } <= names
    assert 'panos_upgrade_desired_state_info{digest="sha256:x",revision="abc123"} 1.0' in body
