"""Integration fixtures: a simulated fleet on loopback and a work directory configured to reach it.

Everything goes through the real pan-os-python client over real sockets, TLS verified against the
simulator's CA.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.simulator import Simulator
from reconciler.sim.testing import running_simulator
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

# Each simulator in a test session gets its own 127.X.0.0 block so parallel or leftover listeners never clash.
_blocks = itertools.count(60)


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    """Factory: start a simulator (stopped at the end of the test)."""
    stack: list[AbstractContextManager[Simulator]] = []

    def start(**kw: Any) -> Simulator:
        kw.setdefault("state_dir", tmp_path / f"sim{len(stack)}")
        kw.setdefault("base_address", f"127.{next(_blocks) % 200 + 20}.0.0")
        cm = running_simulator(**kw)
        sim = cm.__enter__()
        stack.append(cm)
        return sim

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


def configure_for(work: WorkPaths, sim: Simulator, **overrides: Any) -> Config:
    """Point a work directory's config at a simulator (credentials stored 0600, CA bundle set)."""
    cfg = Config.load(work.config_file)
    values = {**sim.client_config(), "panorama.rate_limit": "100000"}
    values.update({k: str(v) for k, v in overrides.items()})
    for key, value in values.items():
        cfg.set(key, value)
    cfg.save()
    return cfg


@pytest.fixture
def cli(runner: CliRunner, work: WorkPaths) -> Callable[..., Any]:
    """Run a CLI command in the test's work directory; returns the click Result."""

    def invoke(*args: str, **kw: Any) -> Any:
        return runner.invoke(app, ["--work-dir", str(work.root), *args], **kw)

    return invoke
