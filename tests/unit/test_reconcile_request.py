"""``reconcile now`` / ``group suspend`` wait for the pass that saw the request: the first pass that *began*
after the daemon took it, not the pass whose intake took it (that one had planned before)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from reconciler.jobs import operator_requests, reconcile_request
from reconciler.workdir.layout import WorkPaths

TAKEN = "2026-12-02T10:00:05.000Z"


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _daemon_writes(monkeypatch: pytest.MonkeyPatch, passes: list[Mapping[str, Any]]) -> None:
    """``last_reconcile`` as the daemon writes it, one value per poll (the last one repeats)."""
    seen = iter(passes)
    last: list[Mapping[str, Any] | None] = [None]

    def read(paths: WorkPaths) -> Mapping[str, Any] | None:
        last[0] = next(seen, last[0])
        return last[0]

    monkeypatch.setattr(reconcile_request, "last_reconcile", read)
    monkeypatch.setattr(operator_requests, "wait_reported", lambda *a, **k: operator_requests.Reported())
    monkeypatch.setattr(reconcile_request, "_applied_at", lambda paths, name: TAKEN)


# The pass whose intake took the request: it finished after TAKEN but began before it.
TAKING_PASS = {"at": "2026-12-02T10:00:05.300Z", "started_at": "2026-12-02T10:00:04.900Z", "result": "ok"}
NEXT_PASS = {"at": "2026-12-02T10:00:06.200Z", "started_at": "2026-12-02T10:00:06.000Z", "result": "ok"}


def test_the_pass_that_took_the_request_is_not_the_one_that_saw_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _daemon_writes(monkeypatch, [TAKING_PASS, TAKING_PASS, NEXT_PASS])
    clock = _Clock()
    seen = reconcile_request.wait_for_pass(
        WorkPaths(tmp_path), "r.json", 10, poll=0.1, clock=clock, sleep=clock.sleep
    )
    assert seen.taken_at == TAKEN
    assert seen.last_reconcile == NEXT_PASS


def test_no_pass_began_after_the_request_is_a_timeout_not_a_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _daemon_writes(monkeypatch, [TAKING_PASS])
    clock = _Clock()
    seen = reconcile_request.wait_for_pass(
        WorkPaths(tmp_path), "r.json", 2, poll=0.1, clock=clock, sleep=clock.sleep
    )
    assert seen.taken_at == TAKEN and seen.last_reconcile is None
    assert clock.now >= 2
