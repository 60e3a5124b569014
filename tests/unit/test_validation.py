"""Post-flight comparison with margins: drops beyond a margin breach, growth never does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.snapshots import Margins, Snapshot, compare


def snap(tcp: int | None = 100, routes: set[str] | None = None, arp: set[str] | None = None) -> Snapshot:
    return Snapshot("t", tcp, tcp, frozenset(routes or {"r1", "r2"}), frozenset(arp or {"a1", "a2"}))


def test_identical_snapshots_pass() -> None:
    assert compare(snap(), snap(), Margins()).passed


def test_session_drop_within_margin_passes_and_beyond_fails() -> None:
    assert compare(snap(100), snap(95), Margins(tcp_session_pct=5)).passed
    result = compare(snap(100), snap(94), Margins(tcp_session_pct=5))
    assert not result.passed
    assert ["tcp_sessions: 100 -> 94 (drop 6.0%, allowed 5%)"] == result.breaches


def test_missing_route_breaches_with_zero_margin_and_is_listed() -> None:
    result = compare(snap(routes={"r1", "r2"}), snap(routes={"r1"}), Margins())
    assert not result.passed
    (routes,) = [c for c in result.checks if c.name == "routes"]
    assert ("r2",) == routes.missing


def test_replaced_route_is_still_a_loss() -> None:
    result = compare(snap(routes={"r1", "r2"}), snap(routes={"r1", "r3"}), Margins(route_pct=0))
    assert not result.passed


def test_snapshot_errors_after_upgrade_breach() -> None:
    post = Snapshot("t", 100, 100, frozenset({"r1", "r2"}), frozenset({"a1", "a2"}), ("routes: timeout",))
    assert ["snapshot: routes: timeout"] == compare(snap(), post, Margins()).breaches


def test_from_assurance_shape() -> None:
    raw = {
        "session_stats": {
            "status": "success",
            "reason": "",
            "snapshot": {"num-tcp": "42", "num-active": "50"},
        },
        "routes": {"status": "success", "snapshot": {"default_0.0.0.0/0_ethernet1/1_127.0.0.1": {}}},
        "arp_table": {"status": "error", "reason": "boom", "snapshot": None},
    }
    s = Snapshot.from_assurance(raw, "now")
    assert (42, 50, 1, 0, ("arp_table: boom",)) == (
        s.tcp_sessions,
        s.active_sessions,
        len(s.routes),
        len(s.arp),
        s.errors,
    )
    assert s == Snapshot.from_json(s.to_json())


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.floats(0, 100))
def test_growth_never_breaches_and_verdict_matches_the_drop(before: int, after: int, margin: float) -> None:
    result = compare(snap(before), snap(after), Margins(tcp_session_pct=margin))
    drop = 0.0 if before == 0 or after >= before else (before - after) * 100 / before
    assert result.passed == (drop <= margin + 1e-9)
