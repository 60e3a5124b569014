"""Unmodified panos-upgrade-assurance readiness checks and snapshots against the simulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from panos.firewall import Firewall
from panos_upgrade_assurance.check_firewall import CheckFirewall
from panos_upgrade_assurance.firewall_proxy import FirewallProxy
from panos_upgrade_assurance.snapshot_compare import SnapshotCompare

from reconciler.sim import Fault, FleetSpec, Simulator
from reconciler.sim.fleet import Durations
from reconciler.sim.version import Version
from tests.sim.conftest import device, ha_pair

StartSim = Callable[..., Simulator]
FAST = Durations.from_json({"install": [240, 300], "reboot": [340, 400], "net_recovery": 30})

# Every readiness check we use, with the parameters it needs.
READINESS = [
    "panorama",
    "ha",
    "ntp_sync",
    "candidate_config",
    "expired_licenses",
    "active_support",
    "content_version",
    "free_disk_space",
    {"free_disk_space": {"image_version": "10.2.13"}},
    # Two requests (show clock, show clock more) may straddle a second boundary, on a real box too.
    {"planes_clock_sync": {"diff_threshold": 1}},
    "certificates_requirements",
    "dynamic_updates",
    "jobs",
    {"global_jumbo_frame": {"mode": False}},
    "environmentals",
    "dp_cpu_utilization",
    "mp_cpu_utilization",
    "mp_mem_utilization",
    "config_locks",
    {"ip_sec_tunnel_status": {"tunnel_name": "tun-hq"}},
]
SNAPSHOTS = ["nics", "routes", "bgp_peers", "license", "arp_table", "content_version", "session_stats",
             "ip_sec_tunnels", "fib_routes", "global_jumbo_frame", "mtu"]  # fmt: skip


def checker(sim: Simulator, serial: str) -> CheckFirewall:
    ep = sim.endpoint(serial)
    fw = Firewall(ep.address, sim.credentials.user, sim.credentials.password, port=ep.port)
    return CheckFirewall(FirewallProxy(fw), skip_force_locale=True)


def statuses(results: dict[str, Any]) -> dict[str, str]:
    return {name: r["status"] for name, r in results.items()}


def test_every_readiness_check_passes_on_a_healthy_ha_member(sim: StartSim) -> None:
    latest = "9021-9135"
    s = sim(FleetSpec(devices=ha_pair("A", "B", model="PA-3220", content_version=latest)))
    results = checker(s, "A").run_readiness_checks(READINESS)
    assert statuses(results) == {name: "SUCCESS" for name in results}, results
    assert len(results) == len(READINESS) - 1  # free_disk_space appears once, with its parameters


def test_readiness_failures_are_reported(sim: StartSim) -> None:
    faults = (Fault.create("disk_small", free_mb=500), Fault.create("panorama_unreachable"))
    s = sim(FleetSpec(devices=(device("A", content_version="8950-8936", model="PA-VM", faults=faults),)))
    results = checker(s, "A").run_readiness_checks(["free_disk_space", "panorama", "ha", "content_version"])
    assert statuses(results) == {
        "free_disk_space": "FAIL",
        "panorama": "FAIL",
        "ha": "ERROR",  # a standalone firewall is not an HA member
        "content_version": "FAIL",
    }
    assert "500M" in results["free_disk_space"]["reason"]


def test_every_snapshot_we_use_succeeds(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("A"),)))
    snaps = checker(s, "A").run_snapshots(SNAPSHOTS)
    assert statuses(snaps) == {name: "SUCCESS" for name in SNAPSHOTS}
    assert snaps["routes"]["snapshot"] and snaps["arp_table"]["snapshot"]
    assert int(snaps["session_stats"]["snapshot"]["num-active"]) > 0


def test_snapshot_comparison_catches_routes_lost_in_an_upgrade(sim: StartSim) -> None:
    faults = (Fault.create("routes_missing", fraction=0.5),)
    spec = device("A", downloaded=(Version.parse("10.2.13"),), faults=faults)
    s = sim(FleetSpec(devices=(spec,), durations=FAST), time_scale=0.004)
    check = checker(s, "A")
    before = check.run_snapshots(["routes", "arp_table"])
    fw = check._node._fw
    fw.software.install("10.2.13", sync=True)
    fw.restart()
    fw.syncreboot(interval=0.1, timeout=60)
    assert s.wait_until(lambda: s.device("A").raw["uptime"] > 40, timeout=10)  # past network recovery
    after = check.run_snapshots(["routes", "arp_table"])
    # ARP TTLs always move (noise), so the ARP comparison ignores them, as an operator would.
    report = SnapshotCompare(before, after).compare_snapshots(
        ["routes", {"arp_table": {"properties": ["!ttl"]}}]
    )
    assert report["routes"]["passed"] is False
    assert report["routes"]["missing"]["missing_keys"]
    assert report["arp_table"]["passed"] is True


ADDRESS = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/address"


def test_pending_changes_and_locks_fail_the_readiness_checks(sim: StartSim) -> None:
    """Issue 15.2: another admin's uncommitted change and locks are what "no pending changes / no locks"
    readiness checks must notice (candidate_config, config_locks), over the API as a client reads them."""
    s = sim(FleetSpec(devices=(device("P"), device("L"), device("C"))))
    entry = "<entry name='db'><ip-netmask>10.1.0.1/32</ip-netmask></entry>"
    s.config_write("P", "set", ADDRESS, entry, admin="jdoe")
    s.config_lock("L", "config", admin="jdoe", comment="maintenance")
    s.config_lock("C", "commit", admin="jdoe")
    checks = ["candidate_config", "config_locks"]
    assert statuses(checker(s, "P").run_readiness_checks(checks)) == {
        "candidate_config": "FAIL",
        "config_locks": "SUCCESS",
    }
    for serial in ("L", "C"):
        results = checker(s, serial).run_readiness_checks(checks)
        assert statuses(results) == {"candidate_config": "SUCCESS", "config_locks": "FAIL"}, serial
    # The pending change is a real one: reverting it makes the check pass again.
    ep = s.endpoint("P")
    Firewall(
        ep.address, s.credentials.user, s.credentials.password, port=ep.port
    ).revert_to_running_configuration()
    assert statuses(checker(s, "P").run_readiness_checks(["candidate_config"])) == {
        "candidate_config": "SUCCESS"
    }
