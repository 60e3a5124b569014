"""Unmodified pan-os-python against the simulator over real sockets."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from panos.firewall import Firewall
from panos.panorama import DeviceGroup, Panorama

from reconciler.sim import FleetSpec, Simulator, generate_fleet
from reconciler.sim.fleet import Durations
from tests.sim.conftest import device, ha_pair

StartSim = Callable[..., Simulator]

# Realistic durations compressed: a 300 s download plays in 1.2 real seconds at time_scale 0.004.
# ``swm_settle`` 0: pan-os-python installs as soon as its download poll sees the job done, which on PAN-OS
# (and in the simulator by default) may find the software manager still loading the image; this test is
# about the happy path (the busy install: tests/sim/test_panos_answers.py).
FAST = Durations.from_json(
    {"download": [100, 150], "install": [240, 300], "reboot": [340, 400], "swm_settle": 0}
)


def firewall(sim: Simulator, serial: str) -> Firewall:
    ep = sim.endpoint(serial)
    return Firewall(ep.address, sim.credentials.user, sim.credentials.password, port=ep.port)


def panorama(sim: Simulator) -> Panorama:
    creds = sim.panorama_credentials
    return Panorama(sim.panorama.address, creds.user, creds.password, port=sim.port)


def test_refresh_devices_finds_every_firewall_in_its_device_group(sim: StartSim) -> None:
    s = sim(generate_fleet(firewalls=9, ha_pairs=2, device_groups=3, seed=5))
    found = panorama(s).refresh_devices()
    groups = {dg.name: dg for dg in found if isinstance(dg, DeviceGroup)}
    by_serial = {fw.serial: (dg_name, fw) for dg_name, dg in groups.items() for fw in dg.children}
    expected = {d.serial: d for d in s.devices}
    assert set(by_serial) == set(expected)
    for serial, (dg_name, fw) in by_serial.items():
        assert dg_name == expected[serial].device_group
        assert fw.version == expected[serial].initial_version
        assert fw.state.connected is True


def test_refresh_system_info(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("007200000042", "11.1.6-h1", model="PA-440"),)))
    info = firewall(s, "007200000042").refresh_system_info()
    assert (info.version, info.platform, info.serial) == ("11.1.6-h1", "PA-440", "007200000042")


def test_software_check_download_install_and_syncreboot(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("A1", "10.2.9"),), durations=FAST), time_scale=0.004)
    fw = firewall(s, "A1")
    fw.software.check()
    assert fw.version == "10.2.9"
    assert fw.software.versions["10.2.13"]["downloaded"] is False
    result = fw.software.download("10.2.13", sync=True)
    assert result["success"] and "Successfully downloaded" in result["messages"]
    fw.software.info()
    assert fw.software.versions["10.2.13"]["downloaded"] is True
    result = fw.software.install("10.2.13", sync=True)
    assert result["success"]
    fw.restart()
    assert fw.syncreboot(interval=0.1, timeout=60) == "10.2.13"
    assert fw.is_ready(seconds=30)
    assert s.device("A1").version == "10.2.13"


def test_install_refused_by_pan_os_rules_raises(sim: StartSim) -> None:
    from panos.errors import PanDeviceXapiError

    s = sim(FleetSpec(devices=(device("A1", "10.2.9"),), durations=FAST), time_scale=0.004)
    fw = firewall(s, "A1")
    fw.software.check()
    fw.software.download("11.0.6", sync=True)
    with pytest.raises(PanDeviceXapiError, match=r"base image PanOS_vm-11\.0\.0 must be downloaded"):
        fw.software.install("11.0.6", sync=True)


def test_ha_state_and_failover_on_suspend(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=ha_pair("HA1", "HA2"), durations=Durations.from_json({"ha_functional": 5})))
    a, b = firewall(s, "HA1"), firewall(s, "HA2")
    assert a.show_highavailability_state()[0] == "active"
    state, xml = b.show_highavailability_state()
    assert state == "passive"
    assert xml.findtext("result/group/peer-info/state") == "active"
    assert xml.findtext("result/group/local-info/build-rel") == "10.2.9"
    a.set_ha_peers(b)
    assert a.refresh_ha_active() == "active"
    a.op("request high-availability state suspend")
    assert a.show_highavailability_state()[0] == "suspended"
    assert b.show_highavailability_state()[0] == "active"
    a.op("request high-availability state functional")
    assert s.wait_until(lambda: s.device("HA1").ha_state == "passive", timeout=10)
    assert a.show_highavailability_state()[0] == "passive"


def test_panorama_proxies_to_a_firewall_by_serial(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("P1", "11.0.6"),)))
    pano = panorama(s)
    fw = Firewall(serial="P1")
    pano.add(fw)
    assert fw.refresh_system_info().version == "11.0.6"
    assert s.api_calls("P1").get("op:show system info (via panorama)") == 1


def test_direct_unreachable_closes_the_firewalls_own_listener_but_panorama_reaches_it(sim: StartSim) -> None:
    from panos.errors import PanURLError

    from reconciler.sim.faults import Fault

    s = sim(FleetSpec(devices=(device("D1", "11.0.6", faults=(Fault.create("direct_unreachable"),)),)))
    with pytest.raises(PanURLError, match="refused"):
        firewall(s, "D1").refresh_system_info()
    fw = Firewall(serial="D1")
    panorama(s).add(fw)
    assert fw.refresh_system_info().version == "11.0.6"
    s.clear_faults("D1", "direct_unreachable")

    def answers_directly() -> bool:
        try:
            return bool(firewall(s, "D1").refresh_system_info().version == "11.0.6")
        except PanURLError:
            return False  # the listener reopens asynchronously

    assert s.wait_until(answers_directly, timeout=5, interval=0.1)


def test_content_check_download_and_install(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("C1", content_version="8750-8340"),)))
    fw = firewall(s, "C1")
    fw.content.check()
    assert fw.content_version == "8750-8340"
    assert fw.content.download(sync=True)["success"]
    assert fw.content.install(sync=True)["success"]
    fw.refresh_system_info()
    assert fw.content_version == s.fleet.catalog.latest_content().version
    assert [e["event"] for e in s.events(serial="C1") if e["event"].startswith("content_")] == [
        "content_check", "content_download_start", "content_download_end", "content_install_start",
        "content_install_end",
    ]  # fmt: skip
