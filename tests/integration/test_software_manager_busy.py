"""An install PAN-OS accepts but cannot run ("The software manager is currently in use"): the engine
submits it again after ``firewall.install_retry_delay`` instead of failing the device (issue 15.2).

Against the simulator, an install asked while a freshly downloaded image is still loading into the software
manager (``swm_settle``, long here) is a job that ends FAIL with that text, as on PAN-OS. End states: the
device on the target, one real install per image, the busy installs in the event log, the record DONE.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from reconciler.core.version import PanOsVersion
from reconciler.machine.records import Phase
from reconciler.sim.fleet import DeviceSpec, Durations, FleetSpec
from reconciler.sim.testing import installs_without_download
from tests.integration.fleet_env import fleet_env

_blocks = itertools.count(236)
TARGET = "10.2.13"


def test_an_install_failing_software_manager_busy_is_retried_until_it_runs(tmp_path: Path) -> None:
    # Every image keeps the software manager busy for 150 s after its download: the engine's install
    # (asked 30 s after the download is seen done, MachineSettings.install_after_download) fails busy, the
    # retry 60 s later too, then one runs.
    durations = Durations.from_json({"swm_settle": [150, 150]})
    fleet = FleetSpec(
        devices=(DeviceSpec("001", "fw-001", version=PanOsVersion.parse("10.2.9"), device_group="dc"),),  # type: ignore[arg-type]
        durations=durations,
    )
    with fleet_env(tmp_path, fleet, base_address=f"127.{next(_blocks)}.0.0") as env:
        env.write_desired(
            f'groups:\n  - name: dc\n    select: {{deviceGroups: [dc]}}\n    target: "{TARGET}"\n'
        )
        _, records = env.converge()
        events = env.sim.events()
        assert Phase.DONE is records["001"].phase, records["001"].last_error
        assert TARGET == env.sim.device("001").version
        busy = [e for e in events if e["event"] == "install_busy"]
        assert busy and all(e["version"] == TARGET for e in busy)
        started = [e for e in events if e["event"] == "install_start"]
        assert [e["version"] for e in started] == [TARGET]  # one install that ran, after the busy ones
        assert all(b["sim_time"] < started[0]["sim_time"] for b in busy)
        assert records["001"].install_attempts == len(busy) + 1
        assert [] == installs_without_download(events)
        reboots = [e for e in events if e["event"] == "reboot_start"]
        assert len(reboots) == 1 and reboots[0]["sim_time"] > started[0]["sim_time"]
