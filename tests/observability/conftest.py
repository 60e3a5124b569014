"""Prometheus tools: required in CI (``.ci/run`` installs Debian's ``prometheus``), optional elsewhere."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture
def promtool() -> str:
    return require("promtool")


@pytest.fixture
def prometheus_bin() -> str:
    return require("prometheus")


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required in CI (apt-get install prometheus)")
        pytest.skip(f"{tool} not installed (apt-get install prometheus)")
    return path
