"""Configuration writes, commits, locks and pending changes (issue 15 point 2), sent by unmodified
pan-os-python / pan-python over real sockets: enough to change and restore HA preemption and to test
"no pending changes / no locks" readiness checks."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from panos.errors import PanDeviceXapiError, PanLockError
from panos.firewall import Firewall
from panos.panorama import Panorama

from reconciler.sim import FleetSpec, Simulator
from reconciler.sim.fleet import Durations
from tests.sim.conftest import device, ha_pair

StartSim = Callable[..., Simulator]

FAST = Durations.from_json({"commit": [10, 20], "preempt_hold": 5})
ELECTION = "/config/devices/entry[@name='localhost.localdomain']/deviceconfig/high-availability/group/election-option"
ADDRESS = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/address"


def firewall(sim: Simulator, serial: str) -> Firewall:
    ep = sim.endpoint(serial)
    return Firewall(ep.address, sim.credentials.user, sim.credentials.password, port=ep.port)


def preemptive(fw: Firewall) -> str:
    root = fw.op("show high-availability state", xml=False)
    return root.findtext("./result/group/local-info/preemptive") or ""


def test_set_edit_delete_answer_code_20_and_stay_pending_until_commit(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("C1"),), durations=FAST))
    fw = firewall(s, "C1")
    assert fw.pending_changes() is False
    fw.xapi.set(ADDRESS, "<entry name='web'><ip-netmask>10.0.0.1/32</ip-netmask></entry>")
    assert (fw.xapi.status, fw.xapi.status_code) == ("success", "20")
    assert "command succeeded" in (fw.xapi.xml_document or "")
    fw.xapi.edit(f"{ADDRESS}/entry[@name='web']/ip-netmask", "<ip-netmask>10.0.0.2/32</ip-netmask>")
    assert fw.xapi.status_code == "20"
    # get reads the candidate, show the running configuration.
    fw.xapi.get(f"{ADDRESS}/entry[@name='web']/ip-netmask")
    assert fw.xapi.element_result.findtext("ip-netmask") == "10.0.0.2/32"
    fw.xapi.show(f"{ADDRESS}/entry[@name='web']")
    assert fw.xapi.status_code == "7" and fw.xapi.element_result.find("entry") is None
    assert fw.pending_changes() is True
    changes = fw.op("show config list changes", xml=False).findall("./result/journal/entry")
    assert [(c.findtext("action"), c.findtext("owner")) for c in changes] == [
        ("set", "admin"),
        ("edit", "admin"),
    ]
    result = fw.commit(sync=True)
    assert result is not None and result["success"] is True and result["result"] == "OK"
    assert fw.pending_changes() is False
    fw.xapi.show(f"{ADDRESS}/entry[@name='web']/ip-netmask")
    assert fw.xapi.element_result.findtext("ip-netmask") == "10.0.0.2/32"
    fw.xapi.delete(f"{ADDRESS}/entry[@name='web']")
    assert fw.xapi.status_code == "20"
    assert fw.pending_changes() is True
    # Deleting what is not there, and an XPath outside the supported subset, are refused.
    with pytest.raises(PanDeviceXapiError, match="Object doesn't exist"):
        fw.xapi.delete(f"{ADDRESS}/entry[@name='nothing']")
    with pytest.raises(PanDeviceXapiError, match="Invalid xpath"):
        fw.xapi.set("/devices/entry", "<x>1</x>")
    ends = s.events("commit_end", serial="C1")
    assert [e["result"] for e in ends] == ["OK"]


def test_commit_with_nothing_pending_starts_no_job(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("C2"),), durations=FAST))
    fw = firewall(s, "C2")
    assert fw.commit(sync=True) is None  # pan-os-python: no result/job = no commit needed
    assert s.events("commit_start", serial="C2") == []


def test_change_and_restore_ha_preemption_with_commits(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=ha_pair("HA1", "HA2", preemptive=True), durations=FAST))
    members = [firewall(s, "HA1"), firewall(s, "HA2")]
    assert [preemptive(fw) for fw in members] == ["yes", "yes"]
    for fw in members:
        fw.xapi.edit(f"{ELECTION}/preemptive", "<preemptive>no</preemptive>")
        assert preemptive(fw) == "yes"  # not before the commit
        assert fw.commit(sync=True)["success"] is True
    assert [preemptive(fw) for fw in members] == ["no", "no"]
    # With preemption off, the better-priority member does not take back the active role after a failover.
    hold = members[0].op(
        "<request><high-availability><state><suspend/></state></high-availability></request>",
        xml=False,
        cmd_xml=False,
    )
    assert hold.get("status") == "success"
    members[0].op(
        "<request><high-availability><state><functional/></state></high-availability></request>",
        cmd_xml=False,
    )
    assert s.wait_until(lambda: s.device("HA1").ha_state == "passive", timeout=10)
    time.sleep(s.real_seconds(30))
    assert s.device("HA1").ha_state == "passive" and s.device("HA2").ha_state == "active"
    for fw in members:
        fw.xapi.edit(f"{ELECTION}/preemptive", "<preemptive>yes</preemptive>")
        assert fw.commit(sync=True)["success"] is True
        assert fw.pending_changes() is False
    assert [preemptive(fw) for fw in members] == ["yes", "yes"]
    # Restored: the better-priority member preempts again.
    assert s.wait_until(lambda: s.device("HA1").ha_state == "active", timeout=10)


def test_config_and_commit_locks(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("L1"),), durations=FAST))
    fw = firewall(s, "L1")
    assert fw.check_config_locks() is False and fw.check_commit_locks() is False
    assert fw.add_config_lock(comment="upgrade window") is True
    assert fw.check_config_locks() is True
    entry = fw.op("show config-locks", xml=False).find("./result/config-locks/entry")
    assert entry is not None and entry.get("name") == "admin"
    assert (entry.findtext("name"), entry.findtext("comment")) == ("shared", "upgrade window")
    with pytest.raises(PanLockError, match="You already own a config lock"):
        fw.add_config_lock()
    assert fw.remove_config_lock() is True
    with pytest.raises(PanLockError, match="Config is not currently locked"):
        fw.remove_config_lock()
    assert fw.add_commit_lock() is True and fw.check_commit_locks() is True
    with pytest.raises(PanLockError, match="Commit lock is already held"):
        fw.add_commit_lock()
    assert fw.remove_commit_lock() is True and fw.check_commit_locks() is False
    # Another administrator's locks: our writes and commits are refused until they are released.
    s.config_lock("L1", "config", admin="jdoe", comment="maintenance")
    assert fw.check_config_locks() is True
    with pytest.raises(PanDeviceXapiError, match="currently locked by jdoe"):
        fw.xapi.set(ADDRESS, "<entry name='x'><fqdn>x.example</fqdn></entry>")
    s.config_lock("L1", "commit", admin="jdoe")
    assert fw.check_commit_locks() is True
    assert fw.remove_commit_lock(admin="jdoe") is True  # a superuser may remove another's commit lock
    locks = [e["admin"] for e in s.events("config_lock", serial="L1")]
    assert locks == ["admin", "admin", "jdoe"]


def test_another_admins_pending_change_is_seen_and_reverted(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("P1"),), durations=FAST))
    fw = firewall(s, "P1")
    s.config_write(
        "P1", "set", ADDRESS, "<entry name='db'><ip-netmask>10.1.0.1/32</ip-netmask></entry>", admin="jdoe"
    )
    assert fw.pending_changes() is True
    summary = fw.op("show config list change-summary", xml=False)
    assert [m.text for m in summary.findall("./result/summary/admin/member")] == ["jdoe"]
    fw.revert_to_running_configuration()
    assert fw.pending_changes() is False
    fw.xapi.get(f"{ADDRESS}/entry[@name='db']")
    assert fw.xapi.element_result.find("entry") is None


def test_panorama_config_commit_and_proxied_firewall_commit(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("T1"),), durations=FAST))
    creds = s.panorama_credentials
    pano = Panorama(s.panorama.address, creds.user, creds.password, port=s.port)
    xpath = "/config/devices/entry[@name='localhost.localdomain']/deviceconfig/system"
    pano.xapi.set(xpath, "<login-banner>maintenance tonight</login-banner>")
    assert pano.xapi.status_code == "20"
    assert pano.pending_changes() is True
    assert pano.commit(sync=True)["success"] is True
    assert pano.pending_changes() is False
    # A firewall reached through Panorama (target=SERIAL): the write and the commit land on the firewall.
    fw = Firewall(serial="T1")
    pano.add(fw)
    fw.xapi.set(ADDRESS, "<entry name='via-panorama'><fqdn>a.example</fqdn></entry>")
    assert fw.xapi.status_code == "20"
    assert fw.commit(sync=True)["success"] is True
    direct = firewall(s, "T1")
    direct.xapi.show(f"{ADDRESS}/entry[@name='via-panorama']")
    assert direct.xapi.element_result.find("entry") is not None
    assert [e["serial"] for e in s.events("commit_end")] == [s.panorama_serial, "T1"]
    exported = direct.xapi.export(category="configuration")  # the running configuration
    assert isinstance(exported, ET.Element)
    assert exported.find(".//address/entry[@name='via-panorama']") is not None
