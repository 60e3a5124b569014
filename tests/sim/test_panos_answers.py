"""Answers PAN-OS gives that the simulator must give too (issue 15.2), each sent as a real request over
real sockets and checked as a client reads it. The sources are in docs/simulator.md ("PAN-OS answers").
"""

from __future__ import annotations

import base64
import contextlib
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pan.xapi
import pytest
from panos.firewall import Firewall

from reconciler.sim import Fault, FleetSpec, Simulator
from reconciler.sim.fleet import Durations
from reconciler.sim.version import Version
from tests.sim.conftest import device, ha_pair

StartSim = Callable[..., Simulator]
V = Version.parse
FAST = Durations.from_json(
    {
        "download": [100, 150],
        "install": [240, 300],
        "reboot": [340, 400],
        "swm_settle": [20, 20],
        "ha_boot": 10,
        "ha_initial": 20,
    }
)


def start(sim: StartSim, *devices: object, **kw: object) -> Simulator:
    return sim(FleetSpec(devices=tuple(devices), durations=FAST), time_scale=0.004, **kw)  # type: ignore[arg-type]


def xapi(s: Simulator, serial: str) -> pan.xapi.PanXapi:
    ep = s.endpoint(serial)
    return pan.xapi.PanXapi(
        hostname=ep.address,
        port=ep.port,
        api_username=s.credentials.user,
        api_password=s.credentials.password,
        timeout=20,
        ssl_context=ssl.create_default_context(cafile=str(s.ca_path)),
    )


def op(x: pan.xapi.PanXapi, cmd: str) -> ET.Element:
    """Send ``cmd`` (XML) and return the parsed answer, whatever its status (pan-python raises on errors)."""
    with contextlib.suppress(pan.xapi.PanXapiError):
        x.op(cmd=cmd)
    assert x.element_root is not None, x.status_detail
    return x.element_root


def lines(root: ET.Element) -> list[str]:
    return [line.text or "" for line in root.iter("line")]


def raw(s: Simulator, serial: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    """A plain HTTPS POST (no client library), for headers and HTTP errors."""
    body = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(s.url(serial), data=body, headers=headers, method="POST")
    ctx = ssl.create_default_context(cafile=str(s.ca_path))
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=20) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_job(s: Simulator, x: pan.xapi.PanXapi, job: str) -> ET.Element:
    def done() -> bool:
        x.op(cmd=f"<show><jobs><id>{job}</id></jobs></show>")
        return x.element_root is not None and x.element_root.findtext("result/job/status") == "FIN"

    assert s.wait_until(done, timeout=30), f"job {job} never finished"
    assert x.element_root is not None
    return x.element_root


# -- request restart system ------------------------------------------------------------------------------


def test_restart_answers_success_then_the_device_goes_down(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9", downloaded=(V("10.2.13"),)))
    fw = Firewall(s.endpoint("F1").address, s.credentials.user, s.credentials.password, port=s.port)
    # What pan-os-upgrade's perform_reboot sends; it does not catch an error here.
    root = fw.op("<request><restart><system/></restart></request>", cmd_xml=False)
    assert root.get("status") == "success"
    assert s.wait_until(lambda: s.device("F1").phase == "down", timeout=10)
    assert [e["serial"] for e in s.events("reboot_start")] == ["F1"]
    assert not s.events("api_error", serial="F1")


# -- code 17: unexpected elements, misplaced parameters, invalid values -----------------------------------


def test_an_unknown_child_element_is_unexpected(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9"))
    root = op(xapi(s, "F1"), "<show><system><info><verbose>yes</verbose></info></system></show>")
    assert (root.get("status"), root.get("code")) == ("error", "17")
    assert lines(root) == [" show -> system -> info -> verbose  is unexpected"]
    root = op(xapi(s, "F1"), "<show><system><info><bogus/></info></system></show>")
    assert (root.get("code"), lines(root)) == ("17", [" show -> system -> info -> bogus  is unexpected"])


def test_a_version_outside_download_starts_no_download(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9"))
    x = xapi(s, "F1")
    op(x, "<request><system><software><check/></software></system></request>")
    root = op(
        x, "<request><system><software><version>10.2.13</version><download/></software></system></request>"
    )
    assert (root.get("status"), root.get("code")) == ("error", "17")
    assert lines(root) == [" request -> system -> software -> version  is unexpected"]
    assert not s.events("download_queued") and not s.device("F1").jobs[2:]


@pytest.mark.parametrize("value", ["maybe", "YES", "1"])
def test_sync_to_peer_other_than_yes_or_no_is_invalid(sim: StartSim, value: str) -> None:
    s = start(sim, device("F1", "10.2.9"))
    x = xapi(s, "F1")
    op(x, "<request><system><software><check/></software></system></request>")
    root = op(
        x,
        "<request><system><software><download>"
        f"<sync-to-peer>{value}</sync-to-peer><version>10.2.13</version>"
        "</download></software></system></request>",
    )
    where = " request -> system -> software -> download -> sync-to-peer"
    assert root.get("code") == "17"
    assert lines(root) == [f"{where} '{value}' is not an allowed keyword", f"{where} is invalid"]
    assert not s.events("download_queued")


def test_an_unknown_virtual_router_is_invalid_not_the_whole_table(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9"))
    x = xapi(s, "F1")
    everything = op(x, "<show><routing><route/></routing></show>").findall("result/entry")
    assert {e.findtext("virtual-router") for e in everything} == {"default", "vr-dmz"}
    dmz = op(x, "<show><routing><route><virtual-router>vr-dmz</virtual-router></route></routing></show>")
    assert {e.findtext("virtual-router") for e in dmz.findall("result/entry")} == {"vr-dmz"}
    root = op(x, "<show><routing><route><virtual-router>nope</virtual-router></route></routing></show>")
    where = " show -> routing -> route -> virtual-router"
    assert (root.get("code"), lines(root)) == (
        "17",
        [f"{where} 'nope' is not an allowed keyword", f"{where} is invalid"],
    )
    assert root.find("result") is None


def test_a_content_version_not_on_the_device_is_invalid(sim: StartSim) -> None:
    # The answer pan-os-python issue #394 shows for ``request content upgrade install version '8503-7125'``.
    s = start(sim, device("F1", "10.2.9"))
    x = xapi(s, "F1")
    root = op(
        x,
        "<request><content><upgrade><install><version>8503-7125</version></install></upgrade></content></request>",
    )
    where = " request -> content -> upgrade -> install -> version"
    assert (root.get("code"), lines(root)) == (
        "17",
        [f"{where} '8503-7125' is not an allowed keyword", f"{where} is invalid"],
    )


# -- software manager in use -------------------------------------------------------------------------------


def test_an_install_right_after_a_download_is_a_job_that_fails_software_manager_busy(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9"))
    x = xapi(s, "F1")
    op(x, "<request><system><software><check/></software></system></request>")
    root = op(
        x,
        "<request><system><software><download><version>10.2.13</version></download></software></system></request>",
    )
    wait_job(s, x, root.findtext("result/job") or "")
    # Asked at once: accepted (code 19, a job), not refused...
    root = op(
        x,
        "<request><system><software><install><version>10.2.13</version></install></software></system></request>",
    )
    assert (root.get("status"), root.get("code")) == ("success", "19")
    job = root.findtext("result/job") or ""
    # ...and the job fails with the software manager's text.
    done = wait_job(s, x, job)
    assert done.findtext("result/job/type") == "SWInstall"
    assert done.findtext("result/job/result") == "FAIL"
    details = [line.text for line in done.iterfind("result/job/details/line")]
    assert "The software manager is currently in use. Please try again later." in details
    assert [e["job"] for e in s.events("install_busy")] == [int(job)]
    assert not s.events("install_start") and not s.events("violation")
    # Once the image is loaded (swm_settle, 20 s here) the same install runs.
    assert s.wait_until(lambda: s.sim_time() > s.events("download_end")[0]["sim_time"] + 20, timeout=10)
    root = op(
        x,
        "<request><system><software><install><version>10.2.13</version></install></software></system></request>",
    )
    assert wait_job(s, x, root.findtext("result/job") or "").findtext("result/job/result") == "OK"
    assert s.device("F1").pending_version == "10.2.13"


def test_an_install_during_another_install_is_a_job_that_fails_busy(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9", downloaded=(V("10.2.13"), V("10.2.12"))))
    x = xapi(s, "F1")
    first = op(
        x,
        "<request><system><software><install><version>10.2.13</version></install></software></system></request>",
    )
    second = op(
        x,
        "<request><system><software><install><version>10.2.12</version></install></software></system></request>",
    )
    assert second.get("status") == "success"
    done = wait_job(s, x, second.findtext("result/job") or "")
    assert done.findtext("result/job/result") == "FAIL"
    assert wait_job(s, x, first.findtext("result/job") or "").findtext("result/job/result") == "OK"
    assert s.device("F1").pending_version == "10.2.13"


# -- content: nothing newer --------------------------------------------------------------------------------


def test_a_content_download_with_nothing_newer_answers_no_update_available(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9", content_version="8750-8340"))
    x = xapi(s, "F1")
    op(x, "<request><content><upgrade><check/></upgrade></content></request>")
    root = op(x, "<request><content><upgrade><download><latest/></download></upgrade></content></request>")
    assert root.get("status") == "success"
    wait_job(s, x, root.findtext("result/job") or "")
    again = op(x, "<request><content><upgrade><download><latest/></download></upgrade></content></request>")
    assert again.get("status") == "error" and lines(again) == ["No update available"]


# -- HA pairs more than one feature release apart ------------------------------------------------------------


def test_an_ha_member_two_releases_ahead_is_not_refused_and_its_older_peer_suspends(sim: StartSim) -> None:
    a, b = ha_pair("A", "B", "10.2.9", downloaded=(V("11.0.0"), V("11.1.0"), V("11.1.6")))
    s = start(sim, a, b)
    xa, xb = xapi(s, "A"), xapi(s, "B")
    op(xb, "<request><high-availability><state><suspend/></state></high-availability></request>")
    root = op(
        xb,
        "<request><system><software><install><version>11.1.6</version></install></software></system></request>",
    )
    assert (root.get("status"), root.get("code")) == ("success", "19")  # PAN-OS does not refuse it
    assert wait_job(s, xb, root.findtext("result/job") or "").findtext("result/job/result") == "OK"
    assert [(e["kind"], e["gap"]) for e in s.events("violation")] == [("ha-version-gap", 2)]
    op(xb, "<request><restart><system/></restart></request>")
    # After the reboot the older member (A, still 10.2.9) suspends: "Peer version too old".
    assert s.wait_until(lambda: s.device("A").ha_state == "suspended", timeout=30)
    assert s.device("B").version == "11.1.6"
    seen = op(xa, "<show><high-availability><state/></high-availability></show>")
    assert seen.findtext("result/group/local-info/state") == "suspended"
    too_old = [e for e in s.events("ha_state", serial="A") if e["to"] == "suspended"]
    assert [e["reason"] for e in too_old] == ["Peer version too old"]


def test_a_downgrade_from_10_2_below_10_1_3_is_refused_over_the_api(sim: StartSim) -> None:
    """PAN-OS 10.2 Upgrade Guide, "Upgrade/Downgrade Considerations": from 10.2 only to 10.1.3 or later."""
    s = start(sim, device("D", "10.2.9", downloaded=(V("10.1.0"), V("10.1.3"))))
    x = xapi(s, "D")
    install = (
        "<request><system><software><install><version>{}</version></install></software></system></request>"
    )
    root = op(x, install.format("10.1.0"))
    assert root.get("status") == "error"
    assert any("10.1.3 or later" in line for line in lines(root)), lines(root)
    assert not s.events("install_start") and s.device("D").pending_version is None
    assert [(e["kind"], e["version"]) for e in s.events("violation")] == [("install-refused", "10.1.0")]
    root = op(x, install.format("10.1.3"))  # the documented floor itself is accepted
    assert (root.get("status"), root.get("code")) == ("success", "19")
    assert wait_job(s, x, root.findtext("result/job") or "").findtext("result/job/result") == "OK"
    assert s.device("D").pending_version == "10.1.3"


# -- authentication and HTTP 400 ---------------------------------------------------------------------------


def test_basic_authentication_is_accepted_instead_of_a_key(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9"))
    good = base64.b64encode(f"{s.credentials.user}:{s.credentials.password}".encode()).decode()
    status, body = raw(
        s,
        "F1",
        {"type": "op", "cmd": "<show><system><info/></system></show>"},
        {"Authorization": f"Basic {good}"},
    )
    assert status == 200 and ET.fromstring(body).findtext("result/system/serial") == "F1"
    bad = base64.b64encode(f"{s.credentials.user}:wrong".encode()).decode()
    status, body = raw(
        s,
        "F1",
        {"type": "op", "cmd": "<show><system><info/></system></show>"},
        {"Authorization": f"Basic {bad}"},
    )
    assert status == 403 and ET.fromstring(body).findtext("result/msg") == "Invalid credentials."


def test_http_400_bodies_carry_result_msg(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9"))
    x = xapi(s, "F1")
    x.keygen()
    key = str(x.api_key)
    status, body = raw(s, "F1", {"type": "op"}, {"X-PAN-KEY": key})
    root = ET.fromstring(body)
    assert (status, root.get("status"), root.get("code")) == (400, "error", "400")
    assert root.findtext("result/msg") == "Missing parameter: cmd"
    status, body = raw(s, "F1", {"type": "nonsense"}, {"X-PAN-KEY": key})
    assert status == 400 and "nonsense" in (ET.fromstring(body).findtext("result/msg") or "")


# -- layout details clients parse ----------------------------------------------------------------------------


def test_ha_state_has_monitoring_blocks_and_backup_link_fields(sim: StartSim) -> None:
    s = start(sim, *ha_pair("A", "B", "10.2.9"))
    root = op(xapi(s, "A"), "<show><high-availability><state/></high-availability></show>")
    group = root.find("result/group")
    assert group is not None
    assert group.findtext("link-monitoring/fail-cond") == "any"
    assert group.find("link-monitoring/groups/entry/name") is not None
    assert [c.tag for c in group.find("path-monitoring") or []] == [
        "vwire",
        "fail-cond",
        "vlan",
        "enabled",
        "vrouter",
    ]
    assert group.findtext("local-info/active-passive/passive-link-state") == "auto"
    assert group.findtext("local-info/ha1-backup-port")
    assert group.findtext("peer-info/conn-ha1-backup/conn-status") == "up"


def test_system_info_time_is_ctime_with_a_newline(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9"))
    text = op(xapi(s, "F1"), "<show><system><info/></system></show>").findtext("result/system/time") or ""
    assert re.fullmatch(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\n", text), repr(text)


def test_content_check_entries_carry_sha256_and_features(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9"))
    root = op(xapi(s, "F1"), "<request><content><upgrade><check/></upgrade></content></request>")
    entries = root.findall("result/content-updates/entry")
    assert entries
    for e in entries:
        assert re.fullmatch(r"[0-9a-f]{64}", e.findtext("sha256") or "")
        assert e.findtext("features") == "Apps, Threats"
        assert [c.tag for c in e][-1] == "sha256"


def test_job_history_finishes_after_it_was_enqueued(sim: StartSim) -> None:
    s = start(sim, *(device(f"F{i}", "10.2.9") for i in range(4)))
    for serial in ("F0", "F1", "F2", "F3"):
        for job in op(xapi(s, serial), "<show><jobs><all/></jobs></show>").iterfind("result/job"):
            tenq, tfin = job.findtext("tenq") or "", job.findtext("tfin") or ""
            if tfin:
                assert tfin >= tenq, (serial, job.findtext("id"), tenq, tfin)


# -- injectable faults (defaults off) ------------------------------------------------------------------------


def test_fault_ha_initial_stuck_holds_a_member_in_initial(sim: StartSim) -> None:
    a, b = ha_pair("A", "B", "10.2.9", downloaded=(V("10.2.13"),))
    s = start(sim, a, b)
    s.inject_fault("B", "ha_initial_stuck", seconds=2000)
    xb = xapi(s, "B")
    op(xb, "<request><restart><system/></restart></request>")
    assert s.wait_until(lambda: s.device("B").ha_state == "initial", timeout=30)
    entered = s.sim_time()
    # Well past ha_initial (20 s) it is still initial, and says so.
    assert s.wait_until(lambda: s.sim_time() > entered + 200, timeout=10)
    assert (
        op(xb, "<show><high-availability><state/></high-availability></show>").findtext(
            "result/group/local-info/state"
        )
        == "initial"
    )
    assert [e["fault"] for e in s.events("fault_fired", serial="B")] == ["ha_initial_stuck"]


def test_fault_autocommit_fail_fails_the_autocom_job_after_boot(sim: StartSim) -> None:
    s = start(sim, device("F1", "10.2.9", downloaded=(V("10.2.13"),)))
    s.inject_fault("F1", "autocommit_fail", count=1)
    x = xapi(s, "F1")
    op(x, "<request><restart><system/></restart></request>")
    assert s.wait_until(lambda: bool(s.events("autocommit_end", serial="F1")), timeout=30)
    jobs = op(x, "<show><jobs><all/></jobs></show>").findall("result/job")
    newest = max(
        (j for j in jobs if j.findtext("type") == "AutoCom"), key=lambda j: int(j.findtext("id") or 0)
    )
    assert (newest.findtext("status"), newest.findtext("result")) == ("FIN", "FAIL")
    assert s.events("autocommit_end", serial="F1")[-1]["result"] == "FAIL"


@pytest.mark.parametrize("state", ["expired", "absent"])
def test_fault_licenses(sim: StartSim, state: str) -> None:
    s = start(sim, device("F1", "10.2.9"))
    x = xapi(s, "F1")
    assert all(
        e.findtext("expired") == "no"
        for e in op(x, "<request><license><info/></license></request>").iterfind("result/licenses/entry")
    )
    s.inject_fault("F1", "licenses", state=state)
    entries = op(x, "<request><license><info/></license></request>").findall("result/licenses/entry")
    if state == "absent":
        assert entries == []
    else:
        assert entries and all(e.findtext("expired") == "yes" for e in entries)


def test_antivirus_check_lists_virus_packages(sim: StartSim) -> None:
    """Per-kind features: antivirus entries say ``Virus``, application and threat content ``Apps, Threats``."""
    s = start(
        sim,
        device("AV", "10.2.9"),
        device("NO", "10.2.9", faults=(Fault.create("update_server_unreachable"),)),
    )
    x = xapi(s, "AV")
    info = op(x, "<request><anti-virus><upgrade><info/></upgrade></anti-virus></request>")
    assert [e.findtext("current") for e in info.findall("result/content-updates/entry")] == ["yes"]
    root = op(x, "<request><anti-virus><upgrade><check/></upgrade></anti-virus></request>")
    rows = root.findall("result/content-updates/entry")
    assert [(e.findtext("features"), e.findtext("current"), e.findtext("downloaded")) for e in rows] == [
        ("Virus", "no", "no"),
        ("Virus", "yes", "yes"),
    ]
    assert all((e.findtext("filename") or "").startswith("panup-all-antivirus-") for e in rows)
    assert all(re.fullmatch(r"[0-9a-f]{64}", e.findtext("sha256") or "") for e in rows)
    installed = op(x, "<show><system><info/></system></show>").findtext("result/system/av-version")
    assert rows[1].findtext("version") == installed
    failed = op(xapi(s, "NO"), "<request><anti-virus><upgrade><check/></upgrade></anti-virus></request>")
    assert failed.get("status") == "error"
    assert any("generic communication error" in line for line in lines(failed))
