"""Panorama in the simulator (issue 15 point 2): management compatibility, Panorama's own software
commands and restart, Panorama HA, and firewalls reached through Panorama (``target=SERIAL``).

Every test sends the real request over a socket (pan-os-python's Panorama/Firewall objects or pan-python)
and checks the answer and the simulator's end state.
"""

from __future__ import annotations

import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from panos.errors import PanDeviceError, PanDeviceXapiError
from panos.firewall import Firewall
from panos.panorama import Panorama

from reconciler.sim import FleetSpec, Simulator
from reconciler.sim.fleet import Durations, PanoramaSpec
from reconciler.sim.panorama import can_manage
from reconciler.sim.version import Version
from tests.sim.conftest import device, ha_pair

StartSim = Callable[..., Simulator]

FAST = Durations.from_json(
    {
        "download": [100, 150],
        "install": [240, 300],
        "reboot": [340, 400],
        "ha_initial": [20, 30],
        "swm_settle": [1, 2],
    }
)


def panorama(sim: Simulator, peer: bool = False) -> Panorama:
    creds = sim.panorama_credentials
    ep = sim.panorama_peer if peer else sim.panorama
    assert ep is not None
    return Panorama(ep.address, creds.user, creds.password, port=sim.port)


def op(device: Panorama | Firewall, cmd: str) -> ET.Element:
    return device.op(cmd, xml=False, cmd_xml=not cmd.startswith("<"))  # type: ignore[no-any-return]


def wait(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize(
    ("pano", "fw", "ok"),
    [
        ("12.1.3", "11.1.4", True),  # older feature release
        ("11.1.4", "12.1.3", False),  # later feature release: never
        ("11.1.4", "11.1.6", True),  # later maintenance release, Panorama 10.2.7 or later
        ("10.2.7", "10.2.9", True),
        ("10.2.7-h1", "10.2.13", True),
        ("10.2.4", "10.2.9", False),  # before 10.2.7: same or later release only
        ("10.2.4", "10.2.4", True),
        ("10.1.14", "10.1.14-h9", False),
        ("10.2.9", "11.0.0", False),
    ],
)
def test_management_compatibility_rule(pano: str, fw: str, ok: bool) -> None:
    assert can_manage(Version.parse(pano), Version.parse(fw)) is ok


def test_firewall_past_its_panorama_is_unsupported_and_not_connected(sim: StartSim) -> None:
    fleet = FleetSpec(
        devices=(device("OLD", "10.2.9"), device("SAME", "11.1.6"), device("NEW", "12.1.3")),
        panorama=PanoramaSpec(version=Version.parse("11.1.4")),
    )
    s = sim(fleet)
    pano = panorama(s)
    wait(lambda: len(op(pano, "show devices connected").findall("./result/devices/entry")) == 2)
    rows = {e.get("name"): e for e in op(pano, "show devices all").findall("./result/devices/entry")}
    assert {k: (v.findtext("connected"), v.findtext("unsupported-version")) for k, v in rows.items()} == {
        "OLD": ("yes", "no"),
        "SAME": ("yes", "no"),
        "NEW": ("no", "yes"),
    }
    connected = [e.get("name") for e in op(pano, "show devices connected").findall("./result/devices/entry")]
    assert sorted(connected) == ["OLD", "SAME"]
    # Through Panorama the firewall answers as PAN-OS does for one it cannot reach.
    fw = Firewall(serial="NEW")
    pano.add(fw)
    with pytest.raises(PanDeviceXapiError, match=r"^NEW not connected$"):
        fw.refresh_system_info()
    # And the firewall itself says it is not connected to Panorama.
    ep = s.endpoint("NEW")
    direct = Firewall(ep.address, s.credentials.user, s.credentials.password, port=ep.port)
    status = op(direct, "show panorama-status").findtext("./result") or ""
    assert re.search(r"Connected\s*: no", status)
    assert s.device("NEW").panorama_connected is False


def test_panorama_upgrades_itself_check_download_install_restart(sim: StartSim) -> None:
    fleet = FleetSpec(
        devices=(device("F1", "11.1.4"),),
        panorama=PanoramaSpec(version=Version.parse("11.1.4"), downloaded=(Version.parse("11.2.0"),)),
        durations=FAST,
    )
    s = sim(fleet, time_scale=0.004)
    pano = panorama(s)
    pano.software.check()
    assert "11.2.7" in pano.software.versions
    assert pano.software.versions["11.2.0"]["downloaded"] is True
    pano.software.download("11.2.7", sync=True)
    pano.software.download("12.1.3", sync=True)
    # An install refused by the rules answers an op error (a skip without the 12.1 base image).
    with pytest.raises(PanDeviceXapiError, match=r"base image Panorama_m-12\.1\.2 must be downloaded"):
        pano.software.install("12.1.3", sync=False)
    result = pano.software.install("11.2.7", sync=True)
    assert result["success"] is True
    assert s.panorama_state()["pending_version"] == "11.2.7"
    # request restart system answers success; Panorama goes away, then comes back on the new version.
    answer = op(pano, "<request><restart><system></system></restart></request>")
    assert answer.get("status") == "success"
    wait(lambda: s.panorama_state()["phase"] == "down")
    # While Panorama is away the firewalls it manages show as disconnected.
    assert s.device("F1").panorama_connected is False
    wait(lambda: s.panorama_state()["phase"] == "up")
    assert pano.refresh_system_info().version == "11.2.7"
    ends = s.events("reboot_end", serial=s.panorama_serial)
    assert [(e["previous"], e["version"], e["result"]) for e in ends] == [("11.1.4", "11.2.7", "upgraded")]
    wait(lambda: s.device("F1").panorama_connected)
    jobs = {j["type"]: j["result"] for j in s.panorama_state()["jobs"]}
    assert jobs["Downld"] == "OK" and jobs["SWInstall"] == "OK"


def test_panorama_install_while_a_download_runs_fails_as_a_job(sim: StartSim) -> None:
    """As on a firewall: the software manager is busy, the install is enqueued and its job fails."""
    fleet = FleetSpec(
        devices=(device("F1", "11.1.4"),), panorama=PanoramaSpec(version="11.1.4"), durations=FAST
    )
    s = sim(fleet, time_scale=0.004)
    pano = panorama(s)
    pano.software.check()
    pano.software.download("11.1.6", sync=False)
    with pytest.raises(
        PanDeviceError, match=r"The software manager is currently in use\. Please try again later\."
    ):
        pano.software.install("11.1.6", sync=True)  # the job ran and failed (pan-os-python raises on it)
    assert [e["busy"] for e in s.events("install_busy", serial=s.panorama_serial)] == ["download running"]
    assert s.events("install_start", serial=s.panorama_serial) == []


def _ha_state(p: Panorama) -> tuple[str, str]:
    root = op(p, "show high-availability state")
    assert root.find("./result/group") is None  # Panorama's shape has no <group>
    return root.findtext("./result/local-info/state") or "", root.findtext("./result/peer-info/state") or ""


def test_panorama_ha_pair_passive_first_upgrade(sim: StartSim) -> None:
    peer = PanoramaSpec(serial="000710000002", hostname="panorama-2", version=Version.parse("11.1.4"))
    fleet = FleetSpec(
        devices=(device("F1", "11.1.4"),),
        panorama=PanoramaSpec(version=Version.parse("11.1.4"), ha_peer=peer),
        durations=FAST,
    )
    s = sim(fleet, time_scale=0.004)
    primary, secondary = panorama(s), panorama(s, peer=True)
    assert _ha_state(primary) == ("primary-active", "secondary-passive")
    assert _ha_state(secondary) == ("secondary-passive", "primary-active")
    # Passive first: the secondary installs and restarts; the primary stays active throughout.
    secondary.software.check()
    secondary.software.download("11.1.6", sync=True)
    assert secondary.software.install("11.1.6", sync=True)["success"] is True
    op(secondary, "request restart system")
    wait(lambda: s.panorama_state("000710000002")["phase"] == "down")
    assert _ha_state(primary) == ("primary-active", "unknown")
    wait(lambda: s.panorama_state("000710000002")["ha_state"] == "passive")
    assert _ha_state(secondary) == ("secondary-passive", "primary-active")
    sync = op(primary, "show high-availability state").findtext("./result/running-sync")
    assert sync == "not synchronized"  # versions differ until both are upgraded
    # Then suspend the active primary: the secondary takes over.
    answer = op(
        primary, "<request><high-availability><state><suspend/></state></high-availability></request>"
    )
    assert answer.findtext("./result") == "Successfully changed HA state to suspended"
    assert _ha_state(secondary) == ("secondary-active", "primary-suspended")
    op(primary, "<request><high-availability><state><functional/></state></high-availability></request>")
    wait(lambda: s.panorama_state()["ha_state"] == "passive")
    assert _ha_state(primary) == ("primary-passive", "secondary-active")
    failovers = [e["serial"] for e in s.events("failover")]
    assert failovers == ["000710000002"]


def test_firewall_through_panorama_not_connected_while_it_reboots(sim: StartSim) -> None:
    fleet = FleetSpec(devices=(device("FW1", "11.1.4"),), durations=FAST)
    s = sim(fleet, time_scale=0.004)
    pano = panorama(s)
    fw = Firewall(serial="FW1")
    pano.add(fw)
    assert fw.refresh_system_info().version == "11.1.4"
    fw.software.check()
    fw.software.download("11.1.6", sync=True)
    assert fw.software.install("11.1.6", sync=True)["success"] is True
    fw.restart()
    wait(lambda: not s.device("FW1").up)
    with pytest.raises(PanDeviceXapiError, match=r"^FW1 not connected$"):
        fw.refresh_system_info()
    wait(lambda: s.device("FW1").panorama_connected)
    assert fw.refresh_system_info().version == "11.1.6"
    calls = s.api_calls("FW1")
    assert calls.get("op:request restart system (via panorama)") == 1
    assert [e["result"] for e in s.events("reboot_end", serial="FW1")] == ["upgraded"]


def _call(url: str, key: str, cafile: str) -> int:
    """One raw XML API call (a new TLS connection, as urllib clients make); the HTTP status."""
    ctx = ssl.create_default_context(cafile=cafile)
    data = urllib.parse.urlencode({"type": "op", "cmd": "<show><system><info/></system></show>", "key": key})
    try:
        with urllib.request.urlopen(url, data=data.encode(), context=ctx, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_panorama_answers_502_under_concurrent_load_only_with_the_fault(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("L1"),)))
    key = panorama(s).api_key
    url, ca = s.url(), str(s.ca_path)

    def burst() -> list[int]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(lambda _: _call(url, key, ca), range(8)))

    assert burst() == [200] * 8  # default: off
    s.inject_fault(s.panorama_serial, "overload_502", max_concurrent=2, delay_ms=400)
    statuses = burst()
    assert statuses.count(502) >= 1 and statuses.count(200) >= 2, statuses
    assert set(statuses) == {200, 502}
    assert [_call(url, key, ca) for _ in range(3)] == [200, 200, 200]  # one at a time: no 502
    errors = [e for e in s.events("api_error", serial=s.panorama_serial) if e["http_status"] == 502]
    assert len(errors) == statuses.count(502)
    s.clear_faults(s.panorama_serial, "overload_502")
    assert burst() == [200] * 8


def test_installing_past_panorama_is_a_violation_and_disconnects_the_firewall(sim: StartSim) -> None:
    """PAN-OS installs it; the safety monitor flags it at the request, and after the reboot Panorama lists
    the firewall unsupported and disconnected."""
    images = tuple(Version.parse(v) for v in ("11.2.0", "12.1.2", "12.1.3"))
    fleet = FleetSpec(
        devices=(device("X1", "11.1.4", downloaded=images),),
        panorama=PanoramaSpec(version=Version.parse("11.1.4")),
        durations=FAST,
    )
    s = sim(fleet, time_scale=0.004)
    ep = s.endpoint("X1")
    fw = Firewall(ep.address, s.credentials.user, s.credentials.password, port=ep.port)
    assert fw.software.install("12.1.3", sync=True)["success"] is True
    found = [e for e in s.events("violation", serial="X1") if e["kind"] == "past-panorama"]
    assert [(e["version"], e["panorama_version"]) for e in found] == [("12.1.3", "11.1.4")]
    assert s.status()["violations"]["past-panorama"] == 1
    fw.restart()
    wait(lambda: s.device("X1").version == "12.1.3" and s.device("X1").up)
    time.sleep(s.real_seconds(40))  # past panorama_reconnect: it still does not connect
    row = op(panorama(s), "show devices all").find("./result/devices/entry[@name='X1']")
    assert row is not None and (row.findtext("connected"), row.findtext("unsupported-version")) == (
        "no",
        "yes",
    )
    assert row.findtext("sw-version") == "12.1.3"


def test_panorama_ha_restarts_are_watched_like_a_firewall_pairs(sim: StartSim) -> None:
    """The safety monitor: the passive member first is fine; the active one restarted with its peer up is
    ``active-rebooted``; a member restarted while its peer restarts is ``both-down``."""
    peer = PanoramaSpec(serial="000710000002", hostname="panorama-2", version=Version.parse("11.1.4"))
    fleet = FleetSpec(
        devices=(device("F1", "11.1.4"),),
        panorama=PanoramaSpec(version=Version.parse("11.1.4"), ha_peer=peer),
        durations=FAST,
    )
    s = sim(fleet, time_scale=0.004)
    primary, secondary = panorama(s), panorama(s, peer=True)
    assert primary.api_key and secondary.api_key  # keys first: the restarts below take both away
    op(secondary, "request restart system")  # the passive member: no violation
    wait(lambda: s.panorama_state("000710000002")["phase"] == "down")
    wait(lambda: s.panorama_state("000710000002")["ha_state"] == "passive")
    assert s.events("violation") == []
    op(primary, "request restart system")  # the active member, its peer up and passive
    op(secondary, "request restart system")  # while the primary restarts
    kinds = [(e["serial"], e["kind"]) for e in s.events("violation")]
    assert kinds == [(s.panorama_serial, "active-rebooted"), ("000710000002", "both-down")]
    assert s.status()["violations"] == {"active-rebooted": 1, "both-down": 1}


def test_show_devices_all_reports_ha_state_previous_content_and_plugins(sim: StartSim) -> None:
    """Layout of a ``show devices all`` entry as Panorama answers it (sources in docs/simulator.md)."""
    vm_a, vm_b = ha_pair("VA", "VB", "10.2.9", model="PA-VM")
    hw = device("HW", "11.1.6", model="PA-3220", content_version="8750-8340")
    s = sim(FleetSpec(devices=(vm_a, vm_b, hw), panorama=PanoramaSpec(version=Version.parse("12.1.3"))))
    ep = s.endpoint("HW")
    fw = Firewall(ep.address, s.credentials.user, s.credentials.password, port=ep.port)
    fw.content.check()
    assert fw.content.download(sync=True)["success"]
    assert fw.content.install(sync=True)["success"]
    latest = s.fleet.catalog.latest_content().version
    assert s.device("HW").content_version == latest
    pano = panorama(s)

    def rows() -> dict[str | None, ET.Element]:
        return {e.get("name"): e for e in op(pano, "show devices all").findall("./result/devices/entry")}

    wait(lambda: all(r.findtext("connected") == "yes" for r in rows().values()))
    seen = rows()
    # HA members: ha/state and the peer's serial; a standalone firewall has no ha block.
    assert [(seen[k].findtext("ha/state"), seen[k].findtext("ha/peer/serial")) for k in ("VA", "VB")] == [
        ("active", "VB"),
        ("passive", "VA"),
    ]
    assert seen["HW"].find("ha") is None
    # prev-*-version: the content installed before the current one, "0" when there was none.
    prev = ["prev-app-version", "prev-av-version", "prev-threat-version", "prev-wildfire-version"]
    assert [seen["HW"].findtext(t) for t in ["app-version", *prev]] == [
        latest,
        "8750-8340",
        "0",
        "8750-8340",
        "0",
    ]
    assert [seen["VA"].findtext(t) for t in prev] == ["0", "0", "0", "0"]
    # ... placed after global-protect-client-package-version and before domain, as Panorama lists them.
    tags = [child.tag for child in seen["HW"]]
    start = tags.index("global-protect-client-package-version")
    assert tags[start + 1 : start + 7] == [*prev, "prev-device-dictionary-version", "domain"]
    # plugin_versions: the VM-Series plugin on a PA-VM (name/version attributes, pkginfo), none on hardware.
    plugins = seen["VA"].findall("plugin_versions/entry")
    assert [(p.get("name"), p.get("version"), p.findtext("pkginfo")) for p in plugins] == [
        ("vm_series", "2.1.9", "vm_series-2.1.9")
    ]
    vm_tags = [child.tag for child in seen["VA"]]
    assert vm_tags.index("tag") < vm_tags.index("plugin_versions") < vm_tags.index("ha")
    assert seen["HW"].find("plugin_versions") is None
    # The firewall's own content list marks the replaced release as previous.
    listed = op(fw, "request content upgrade info").findall("./result/content-updates/entry")
    assert {e.findtext("version") for e in listed if e.findtext("previous") == "yes"} == {"8750-8340"}


def test_before_10_2_7_panorama_cannot_manage_a_later_maintenance_release(sim: StartSim) -> None:
    """Panorama Management Compatibility: a later firewall maintenance release of Panorama's own feature
    release is managed only from Panorama 10.2.7 on (the 11.1.4/11.1.6 case above is managed)."""
    fleet = FleetSpec(
        devices=(device("EQ", "10.2.4"), device("LATER", "10.2.9")),
        panorama=PanoramaSpec(version=Version.parse("10.2.4")),
    )
    s = sim(fleet)
    pano = panorama(s)
    wait(lambda: len(op(pano, "show devices connected").findall("./result/devices/entry")) == 1)
    rows = {e.get("name"): e for e in op(pano, "show devices all").findall("./result/devices/entry")}
    assert {k: (v.findtext("connected"), v.findtext("unsupported-version")) for k, v in rows.items()} == {
        "EQ": ("yes", "no"),
        "LATER": ("no", "yes"),
    }
    assert rows["LATER"].findtext("sw-version") == "10.2.9"
    assert s.device("LATER").panorama_connected is False


def test_panorama_answers_disk_space_and_its_running_config(sim: StartSim) -> None:
    """Pre-flight, image cleanup and the backup before an install ask Panorama what they ask a firewall: the
    free space on /opt/panrepo (less once an image is downloaded, more once it is deleted) and the running
    configuration."""
    fleet = FleetSpec(
        devices=(device("F1", "11.1.4"),), panorama=PanoramaSpec(version="11.1.4"), durations=FAST
    )
    s = sim(fleet, time_scale=0.004)
    pano = panorama(s)

    def panrepo() -> str:
        df = op(pano, "show system disk-space").findtext("result") or ""
        return next(line for line in df.splitlines() if line.endswith("/opt/panrepo")).split()[3]

    before = panrepo()
    pano.software.check()
    pano.software.download("11.1.6-h1", sync=True)
    assert panrepo() != before
    # Image cleanup on Panorama: the downloaded image goes, the running one is refused.
    assert op(pano, 'delete software version "11.1.6-h1"').get("status") == "success"
    assert panrepo() == before
    with pytest.raises(PanDeviceXapiError, match="running version"):
        op(pano, 'delete software version "11.1.4"')
    config = op(pano, "show config running").find("result/config")
    assert config is not None and config.get("detail-version") == "11.1.4"
    assert config.findtext("devices/entry/deviceconfig/system/hostname") == "panorama"
