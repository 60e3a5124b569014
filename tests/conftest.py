"""Shared fixtures: an isolated HOME and work directory per test, and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.paths import WorkPaths


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME so tests never read or write the real ~/.panos-upgrade.config.json."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("PANOS_UPGRADE_HOME", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("PANOS_UPGRADE_"):
            monkeypatch.delenv(name, raising=False)
    return h


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def work(home: Path, tmp_path: Path, runner: CliRunner) -> WorkPaths:
    """An initialised work directory (via the real ``init`` command)."""
    from reconciler.cli import app

    wd = tmp_path / "work"
    result = runner.invoke(app, ["init", "--work-dir", str(wd)])
    assert result.exit_code == 0, result.output
    return WorkPaths(wd)
