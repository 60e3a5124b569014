"""The daemon's lock file deleted while a daemon drives a rollout (issue 19, round 2): a second daemon
started on the same work directory is refused and never acts. The fast variant of the chaos suite's lock
scenario (tests/reliability/test_chaos.py does it under SIGKILLs on a large fleet).

The lock is an ``flock`` on the work directory itself; ``run/daemon.lock`` only names the holder
(docs/reliability.md, round 2). So neither deleting that file nor all of ``run/`` lets a second daemon in:
it exits non-zero naming the holder's pid, the first keeps running and keeps ``status/daemon.json``, and
the simulator's event log (the shared safety oracle) shows no image installed twice, no needless or unsafe
reboot and nothing beyond what one daemon does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from reconciler.sim.fleet import FleetSpec, HaSpec
from tests.integration.fleet_env import fleet_env
from tests.integration.test_engine import dev, group, installs
from tests.reliability import rollout
from tests.reliability.conftest import block
from tests.reliability.daemon_proc import MUTATING_EVENTS, DaemonProcess, refusal_problems, second_daemon
from tests.reliability.figures import TestFigures
from tests.safety import assert_safe

TARGET = "11.1.6-h1"
FLEET = FleetSpec(
    devices=(
        dev("811", "11.1.2"),
        dev("812", "11.0.6"),
        dev("813", "11.1.2", ha=HaSpec("814", priority=10)),
        dev("814", "11.1.2", ha=HaSpec("813", priority=20)),
    )
)
SERIALS = {d.serial for d in FLEET.devices}


def test_deleting_the_lock_file_mid_rollout_lets_no_second_daemon_act(
    tmp_path: Path, figures: TestFigures
) -> None:
    with fleet_env(tmp_path, FLEET, base_address=block(), **rollout.ROLLOUT_CONFIG) as env:
        env.write_desired(group(TARGET))
        tail = rollout.EventTail(env.sim.events_path)
        daemon = DaemonProcess(env.paths, env.desired).start()
        problems: list[str] = []
        try:
            daemon.wait_for(
                lambda: any(e["event"] in MUTATING_EVENTS for e in tail.poll()),
                60,
                "the first change on a device",
            )
            env.paths.lock_file.unlink()
            problems += [
                f"lock file deleted: {p}"
                for p in refusal_problems(daemon, second_daemon(env.paths, env.desired))
            ]
            shutil.rmtree(
                env.paths.run_dir
            )  # the holder's note and the pid file: the pid comes from the kernel
            problems += [
                f"run/ deleted: {p}" for p in refusal_problems(daemon, second_daemon(env.paths, env.desired))
            ]
            daemon.wait_for(rollout.Settled(daemon), 180, "the rollout to settle", interval=0.5)
            pid, stalled = rollout.stalled(env.paths)
            note = json.loads(env.paths.lock_file.read_text())  # written again by the holder's passes
        finally:
            assert 0 == daemon.stop()
        events = env.sim.events()
        phases = {
            s: json.loads(env.paths.device_status_file(s).read_text())["upgrade_status"] for s in SERIALS
        }
    figures.add("devices", len(SERIALS))
    figures.note("second daemons started with the lock file (then run/) deleted", 2)
    figures.add("violations", len(problems) + len(stalled))
    assert [] == problems
    assert daemon.pid == pid == note.get("pid")
    assert [] == stalled
    assert dict.fromkeys(SERIALS, "done") == phases
    for serial in SERIALS:
        assert [TARGET] == installs(events, serial), serial
    assert_safe(events, managed=SERIALS)
