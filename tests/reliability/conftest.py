"""Reliability suite fixtures: the figures every test reports, address blocks, and the report hook.

Address blocks: this suite's simulators use 127.220.0.0 - 127.254.0.0 (other suites stay below 220).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator

import pytest

from tests.reliability import figures as fig

_SESSION = fig.Session()
_blocks = itertools.count(220)


def block() -> str:
    """A fresh 127.X.0.0 block for one simulator (X in 220..254, wrapping)."""
    return f"127.{220 + (next(_blocks) - 220) % 35}.0.0"


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[fig.TestFigures]:
    yield _SESSION.for_test(request.node.nodeid, request.node.get_closest_marker("slow") is not None)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _SESSION.finished(report.nodeid, "slow" in report.keywords, report.outcome, report.duration)
    if report.when == "teardown":
        # The safety oracle (tests/conftest.py) ran on this test's event logs at teardown.
        slow = "slow" in report.keywords
        for name, value in report.user_properties:
            if name == "safety" and isinstance(value, dict):
                record = _SESSION.for_test(report.nodeid, slow)
                record.add("safety_logs", int(value.get("event logs", 0)))
                record.note("safety oracle", value)
        if report.outcome == "failed":
            _SESSION.finished(report.nodeid, slow, "failed", 0.0)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.environ.get(fig.ENV):
        return
    if _SESSION.save(["pytest", *sys.argv[1:]]):
        fig.write_doc()
