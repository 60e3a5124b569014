"""Third-party clients, unmodified, complete their real workflows against the simulator (issue 15.4).

pan-os-python's own upgrade (``upgrade_to_version``, ``syncreboot`` with their default poll intervals) runs
in a child process whose clock runs at the simulator's time scale (``clients/launcher.py``), so the
client's shipped sleeps (5 s between reboot polls, 2 s for chassis-ready, 0.5 s for jobs) mean simulated
seconds. panos-upgrade-assurance needs no clock: it runs in the test process. The pan-os-upgrade tool:
``test_pan_os_upgrade.py``. Every run ends on an end state read from the simulator and a clean safety log.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from panos.firewall import Firewall
from panos_upgrade_assurance.check_firewall import CheckFirewall
from panos_upgrade_assurance.firewall_proxy import FirewallProxy
from panos_upgrade_assurance.snapshot_compare import SnapshotCompare

from reconciler.sim import FleetSpec, Simulator
from reconciler.sim.fleet import Durations
from reconciler.sim.version import Version
from tests.safety import assert_safe
from tests.sim.clients.run import device_env, run_client
from tests.sim.conftest import device

StartSim = Callable[..., Simulator]

WORKFLOWS = "panos_python_workflows"
# PAN-OS's durations, narrowed so a run's length is predictable; at time scale 0.005 a 300 s install
# plays in 1.5 real seconds and pan-os-python's 5 s reboot poll in 25 ms. ``swm_settle`` 0: pan-os-python
# installs the moment its download poll sees the job done, when PAN-OS's software manager may still be
# loading the image ("The software manager is currently in use", as reported against pan-os-upgrade, which
# retries; pan-os-python does not): these runs are on a box whose manager is free by then.
DURATIONS = Durations.from_json(
    {"download": [100, 150], "install": [240, 300], "reboot": [340, 400], "swm_settle": 0}
)


def reboots(sim: Simulator, serial: str) -> list[tuple[str, str, str]]:
    return [(e["previous"], e["version"], e["result"]) for e in sim.events("reboot_end", serial=serial)]


def test_upgrade_to_version_takes_every_hop_to_the_target(sim: StartSim, tmp_path: Path) -> None:
    s = sim(FleetSpec(devices=(device("U1", "10.2.9"),), durations=DURATIONS), time_scale=0.005)
    run = run_client(s, f"{WORKFLOWS}:upgrade_to_version", ["11.0.6"], cwd=tmp_path, timeout=120,
                     env=device_env(s, "U1"))  # fmt: skip
    assert run.returncode == 0, run.tail()
    assert run.result() == {"done": True, "version": "11.0.6", "reported": "11.0.6"}
    # pan-os-python's path: the next feature release's lowest image first, then the target.
    assert reboots(s, "U1") == [("10.2.9", "11.0.0", "upgraded"), ("11.0.0", "11.0.6", "upgraded")]
    assert s.device("U1").version == "11.0.6"
    assert_safe(s.events())


def test_syncreboot_with_its_default_interval_sees_the_device_come_back(
    sim: StartSim, tmp_path: Path
) -> None:
    s = sim(FleetSpec(devices=(device("R1", "10.2.9"),), durations=DURATIONS), time_scale=0.005)
    run = run_client(s, f"{WORKFLOWS}:install_and_syncreboot", ["10.2.13"], cwd=tmp_path, timeout=60,
                     env=device_env(s, "R1"))  # fmt: skip
    assert run.returncode == 0, run.tail()
    assert run.result() == {"installed": True, "version": "10.2.13"}
    assert reboots(s, "R1") == [("10.2.9", "10.2.13", "upgraded")]
    assert_safe(s.events())


# -- panos-upgrade-assurance: readiness, snapshots, upgrade, snapshots, comparison -------------------------------

# The readiness checks that apply to a standalone firewall (``ha`` answers ERROR there), with parameters.
STANDALONE_READINESS: list[Any] = [
    "panorama", "ntp_sync", "candidate_config", "expired_licenses", "active_support", "content_version",
    {"free_disk_space": {"image_version": "10.2.13"}}, {"planes_clock_sync": {"diff_threshold": 1}},
    "certificates_requirements", "dynamic_updates", "jobs", {"global_jumbo_frame": {"mode": False}},
    "environmentals", "dp_cpu_utilization", "mp_cpu_utilization", "mp_mem_utilization", "config_locks",
    {"ip_sec_tunnel_status": {"tunnel_name": "tun-hq"}},
]  # fmt: skip
SNAPSHOT_AREAS = ["nics", "routes", "bgp_peers", "license", "arp_table", "content_version", "session_stats",
                  "ip_sec_tunnels", "fib_routes", "global_jumbo_frame", "mtu"]  # fmt: skip
# How an operator compares them: ARP TTLs always move; session counts may move by a margin.
COMPARISON: list[Any] = [area for area in SNAPSHOT_AREAS if area not in ("arp_table", "session_stats")] + [
    {"arp_table": {"properties": ["!ttl"]}},
    {"session_stats": {"thresholds": [{"num-active": 25}, {"num-tcp": 25}, {"num-udp": 25}]}},
]


def checker(sim: Simulator, serial: str) -> tuple[CheckFirewall, Firewall]:
    ep = sim.endpoint(serial)
    fw = Firewall(ep.address, sim.credentials.user, sim.credentials.password, port=ep.port)
    return CheckFirewall(FirewallProxy(fw), skip_force_locale=True), fw


def failed(results: dict[str, Any]) -> dict[str, Any]:
    return {name: r for name, r in results.items() if r["status"] != "SUCCESS"}


def test_assurance_readiness_snapshots_and_comparison_around_an_upgrade(sim: StartSim) -> None:
    durations = Durations.from_json(
        {"install": [240, 300], "reboot": [340, 400], "net_recovery": 30, "swm_settle": 0}
    )
    spec = device("W1", model="PA-3220", downloaded=(Version.parse("10.2.13"),))
    s = sim(FleetSpec(devices=(spec,), durations=durations), time_scale=0.004)
    check, fw = checker(s, "W1")

    readiness = check.run_readiness_checks(STANDALONE_READINESS)
    assert len(readiness) == len(STANDALONE_READINESS)
    assert failed(readiness) == {}
    before = check.run_snapshots(SNAPSHOT_AREAS)
    assert failed(before) == {}

    assert fw.software.install("10.2.13", sync=True)["success"]
    fw.restart()
    assert fw.syncreboot(interval=0.1, timeout=60) == "10.2.13"
    assert s.wait_until(lambda: s.device("W1").raw["uptime"] > 40, timeout=10)  # past network recovery

    after = check.run_snapshots(SNAPSHOT_AREAS)
    assert failed(after) == {}
    report = SnapshotCompare(before, after).compare_snapshots(COMPARISON)
    assert {area: result["passed"] for area, result in report.items()} == {a: True for a in SNAPSHOT_AREAS}
    assert failed(check.run_readiness_checks(STANDALONE_READINESS)) == {}
    assert s.device("W1").version == "10.2.13"
    assert_safe(s.events())


def test_the_launcher_runs_a_client_clock_at_the_simulator_time_scale() -> None:
    probe = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); import launcher; launcher.scale_clock(0.002);"
        "t, m, p = time.time(), time.monotonic(), time.perf_counter(); time.sleep(100);"
        "print(time.time() - t, time.monotonic() - m, time.perf_counter() - p)"
    )
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", probe, str(Path(__file__).parent / "clients")],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    real = time.monotonic() - started
    assert all(100 <= float(x) < 200 for x in out.split()), out  # 100 simulated seconds passed on each clock
    assert real < 10  # in 0.2 real seconds (plus the interpreter's start)
