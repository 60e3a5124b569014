"""A simulated fleet plus a work directory wired to it, for engine-level integration tests.

Real pan-os-python over real sockets (TLS verified against the simulator's CA); discovery and the engine
run exactly as in production, only with ``engine.time_scale`` matching the simulator's.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.cli.init_cmd import initialise
from reconciler.device import discovery
from reconciler.engine.loop import drive
from reconciler.engine.reconcile import PassResult
from reconciler.engine.session import Session, open_session
from reconciler.machine.records import DeviceRecord
from reconciler.sim.fleet import FleetSpec
from reconciler.sim.simulator import Simulator
from reconciler.sim.testing import running_simulator
from reconciler.workdir import inventory_store, logs
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

HEADER = "apiVersion: panos-upgrade/v1\n"


@dataclass
class FleetEnv:
    sim: Simulator
    paths: WorkPaths
    config: Config
    desired: Path
    time_scale: float

    def discover(self) -> None:
        previous = inventory_store.load(self.paths, required=False)
        pano, firewalls = discovery.connect(self.config, self.paths, previous)
        inv = discovery.discover(
            pano,
            firewalls,
            workers=8,
            retry_attempts=2,
            now="2026-01-01T00:00:00+00:00",
            previous=previous,
        )
        inventory_store.save(self.paths, inv)

    def write_desired(self, body: str, name: str = "fleet.yaml") -> None:
        self.desired.mkdir(exist_ok=True)
        (self.desired / name).write_text(HEADER + body)

    def session(self, **kw: Any) -> Session:
        kw.setdefault("serve_metrics", False)
        return open_session(self.paths, self.config, desired_path=self.desired, **kw)

    def converge(
        self, *, timeout: float = 120.0, only: Iterable[str] | None = None, dry_run: bool = False, **kw: Any
    ) -> tuple[PassResult, dict[str, DeviceRecord]]:
        """Run the engine like ``apply --auto-approve`` until it settles; returns the last pass and records."""
        session = self.session(only=only, dry_run=dry_run, **kw)
        try:
            session.reconciler.load_records()
            result = drive(
                session,
                stop=threading.Event(),
                until_settled=True,
                resync=1.0,
                deadline=time.monotonic() + timeout,
            )
            return result, session.executor.records
        finally:
            session.close()


@contextlib.contextmanager
def fleet_env(
    tmp: Path,
    fleet: FleetSpec,
    *,
    time_scale: float = 0.002,
    base_address: str = "127.90.0.0",
    api_events: bool = False,
    **config: Any,
) -> Iterator[FleetEnv]:
    with running_simulator(
        fleet, state_dir=tmp / "sim", time_scale=time_scale, base_address=base_address, api_events=api_events
    ) as sim:
        paths = WorkPaths(tmp / "work")
        initialise(paths)
        logs.setup(paths, component="test")
        cfg = Config.load(paths.config_file)
        values: dict[str, Any] = {
            **sim.client_config(),
            "panorama.rate_limit": 100000,
            "metrics.enabled": "false",
            "workers.max": 20,
        }
        values.update(config)
        for key, value in values.items():
            cfg.set(key, str(value))
        cfg.save()
        env = FleetEnv(sim, paths, cfg, tmp / "desired", time_scale)
        env.discover()
        yield env
