"""How a device was reached (issue 16.3): the runner keeps what each device's client says after every
command (``FirewallClient.reached``), the record carries it (``reached``) into the status file."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.core.errors import TemporaryDeviceError
from reconciler.engine.runner import Runner
from reconciler.machine import commands as c
from reconciler.machine import observations as o
from reconciler.machine.records import DeviceRecord
from reconciler.workdir import schemas
from reconciler.workdir.layout import WorkPaths
from tests.unit.test_records import sample


@dataclass
class FakeClient:
    """A client whose calls go through Panorama member ``through`` (or fail there)."""

    reached: str
    fail: bool = False

    def software_info(self, timeout: float | None = None) -> list[Any]:
        if self.fail:
            raise TemporaryDeviceError(
                "firewall 001 through Panorama P2: not connected", kind="not-connected"
            )
        return []


def test_the_runner_keeps_how_each_devices_last_command_reached_it(tmp_path: Path) -> None:
    clients = {"001": FakeClient("panorama 000710000001"), "002": FakeClient("direct")}
    runner = Runner(WorkPaths(tmp_path), clients.__getitem__, lambda: "2026-01-01T00:00:00+00:00")
    assert isinstance(runner.run("001", c.SoftwareInfo(timeout=5.0)), o.SoftwareList)
    runner.run("002", c.SoftwareInfo(timeout=5.0))
    assert {"001": "panorama 000710000001", "002": "direct"} == runner.reached
    # A failed command still says which way it went (the other Panorama member, here).
    clients["001"] = FakeClient("panorama 000710000002", fail=True)
    assert isinstance(runner.run("001", c.SoftwareInfo(timeout=5.0)), o.CommandFailed)
    assert "panorama 000710000002" == runner.reached["001"]


def test_the_record_carries_reached_into_a_valid_status_file() -> None:
    record = replace(sample(), reached="panorama 000710000002")
    data = record.to_json()
    assert [] == schemas.errors("device-status", data)
    assert record == DeviceRecord.from_json(data)
    older = {k: v for k, v in data.items() if k != "reached"}  # a file written before the field existed
    assert DeviceRecord.from_json(older).reached is None
    assert [] == schemas.errors("device-status", older)
