"""The XML API front without sockets: authentication shapes, command parsing, Panorama proxying."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pan.xapi
import pytest

from reconciler.sim.commands import CommandTree, cli_to_xml, parse_command
from reconciler.sim.faults import Fault
from reconciler.sim.firewall import Phase
from reconciler.sim.world import KEY_ALPHABET
from reconciler.sim.xmlapi import ApiRequest, ApiResponse, XmlApi
from tests.sim.conftest import CREDS, Harness, device, ha_pair

MakeWorld = Callable[..., Harness]


def call(h: Harness, serial: str, **params: str) -> tuple[ApiResponse, ET.Element | None]:
    dev = h.world.device(serial)
    assert dev is not None
    resp = XmlApi(h.world).handle(dev, ApiRequest("POST", "/api/", params, {}))
    try:
        return resp, ET.fromstring(resp.body)
    except ET.ParseError:
        return resp, None


def key(h: Harness, serial: str) -> str:
    resp, root = call(h, serial, type="keygen", user=CREDS.user, password=CREDS.password)
    assert resp.status == 200 and root is not None
    return root.findtext("result/key") or ""


class TestCommandParsing:
    @pytest.mark.parametrize(
        "cli",
        [
            'show jobs id "12"',
            'request system software download sync-to-peer "yes" version "10.2.9"',
            "show high-availability state",
            'show interface "hardware"',
        ],
    )
    def test_cli_text_converts_like_pan_python(self, cli: str) -> None:
        assert cli_to_xml(cli) == pan.xapi.PanXapi(hostname="127.0.0.1", api_key="x").cmd_xml(cli)

    def test_parameters_and_keywords(self) -> None:
        cmd = parse_command(
            "<request><system><software><download><sync-to-peer>yes</sync-to-peer>"
            "<version>10.2.9</version></download></software></system></request>"
        )
        assert cmd.key == "request system software download"
        assert cmd.params == {"sync-to-peer": "yes", "version": "10.2.9"}

    def test_both_spellings_of_show_arp_all_are_one_command(self) -> None:
        a = parse_command("<show><arp><entry name = 'all'/></arp></show>")
        b = parse_command("show arp entry all")
        assert a == b and a.key == "show arp"

    def test_unknown_word_is_explained_like_pan_os(self) -> None:
        tree = CommandTree(["show system info", "show jobs all"])
        assert tree.explain(("show", "foo")) == " show -> foo  is unexpected"


class TestAuthentication:
    def test_keygen_returns_a_key_safe_for_pan_python(self, world: MakeWorld) -> None:
        h = world(device("A"))
        k = key(h, "A")
        assert k.startswith("LUFRPT") and set(k) <= set(KEY_ALPHABET)
        assert key(h, "A") == k  # stable for the same credentials

    def test_wrong_password_gets_the_real_403_shape(self, world: MakeWorld) -> None:
        h = world(device("A"))
        resp, _root = call(h, "A", type="keygen", user="admin", password="nope")
        assert resp.status == 403
        assert (
            resp.body
            == "<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>"
        )

    def test_bad_key_is_invalid_credentials(self, world: MakeWorld) -> None:
        h = world(device("A"))
        resp, root = call(h, "A", type="op", cmd="<show><system><info/></system></show>", key="LUFRPTnope")
        assert resp.status == 403 and root is not None
        assert root.findtext("result/msg") == "Invalid credentials."

    def test_key_from_the_x_pan_key_header(self, world: MakeWorld) -> None:
        h = world(device("A"))
        k = key(h, "A")
        dev = h.world.device("A")
        assert dev is not None
        resp = XmlApi(h.world).handle(
            dev, ApiRequest("GET", "/api/", {"type": "op", "cmd": "<show><clock/></show>"}, {"x-pan-key": k})
        )
        assert resp.status == 200 and 'status="success"' in resp.body

    def test_a_key_of_one_firewall_does_not_open_another(self, world: MakeWorld) -> None:
        h = world(device("A"), device("B"))
        resp, _ = call(h, "B", type="op", cmd="<show><clock/></show>", key=key(h, "A"))
        assert resp.status == 403


class TestResponses:
    def test_unknown_command_is_code_17(self, world: MakeWorld) -> None:
        h = world(device("A"))
        _resp, root = call(h, "A", type="op", cmd="<show><foo/></show>", key=key(h, "A"))
        assert root is not None and root.get("status") == "error" and root.get("code") == "17"
        assert root.findtext("msg/line") == " show -> foo  is unexpected"
        assert h.events("api_error", "A")

    def test_malformed_command(self, world: MakeWorld) -> None:
        h = world(device("A"))
        _resp, root = call(h, "A", type="op", cmd="<show><system>", key=key(h, "A"))
        assert root is not None and root.get("code") == "18"

    def test_download_answers_code_19_with_the_job(self, world: MakeWorld) -> None:
        h = world(device("A"))
        k = key(h, "A")
        call(
            h, "A", type="op", cmd="<request><system><software><check/></software></system></request>", key=k
        )
        _, root = call(h, "A", type="op", cmd='request system software download version "10.2.13"', key=k)
        assert root is not None and root.get("code") == "19"
        job = root.findtext("result/job")
        assert root.findtext("result/msg/line") == f"Download job enqueued with jobid {job}"

    def test_rebooting_device_answers_503_then_403(self, world: MakeWorld) -> None:
        h = world(device("A"))
        fw = h.fw("A")
        k = key(h, "A")
        fw.request_restart(0.0)
        h.run_until(lambda: fw.phase is Phase.WEB_STARTING)
        resp, _ = call(h, "A", type="op", cmd="<show><clock/></show>", key=k)
        assert resp.status == 503
        h.run_until(lambda: fw.phase is Phase.AUTH_STARTING)
        resp, root = call(h, "A", type="op", cmd="<show><clock/></show>", key=k)
        assert (
            resp.status == 403 and root is not None and root.findtext("result/msg") == "Invalid credentials."
        )

    def test_type_version(self, world: MakeWorld) -> None:
        h = world(device("A", "11.1.6-h1"))
        _, root = call(h, "A", type="version", key=key(h, "A"))
        assert root is not None and root.findtext("result/sw-version") == "11.1.6-h1"

    def test_export_configuration_is_a_config_document(self, world: MakeWorld) -> None:
        h = world(device("A"))
        _resp, root = call(h, "A", type="export", category="configuration", key=key(h, "A"))
        assert root is not None and root.tag == "config" and root.get("version")
        assert root.findtext(".//deviceconfig/system/hostname") == "fw-A"

    def test_config_get_by_xpath(self, world: MakeWorld) -> None:
        h = world(device("A"))
        xpath = "/config/devices/entry[@name='localhost.localdomain']/deviceconfig/system/hostname"
        _, root = call(h, "A", type="config", action="get", xpath=xpath, key=key(h, "A"))
        assert root is not None and root.findtext("result/hostname") == "fw-A"
        _, missing = call(h, "A", type="config", action="get", xpath="/config/nothing", key=key(h, "A"))
        assert missing is not None and missing.get("code") == "7"


class TestPanorama:
    def test_show_devices_lists_ha_members_with_their_peer(self, world: MakeWorld) -> None:
        h = world(*ha_pair("A", "B"), device("C", device_group="dmz"))
        pano = h.world.panorama.serial
        _, root = call(h, pano, type="op", cmd="<show><devices><all/></devices></show>", key=key(h, pano))
        assert root is not None
        entries = {e.get("name"): e for e in root.findall("result/devices/entry")}
        assert set(entries) == {"A", "B", "C"}
        assert entries["A"].findtext("ha/state") == "active"
        assert entries["A"].findtext("ha/peer/serial") == "B"
        assert entries["C"].find("ha") is None
        assert entries["C"].findtext("vsys/entry/display-name") == "vsys1"

    def test_target_proxies_to_the_firewall_until_it_reboots(self, world: MakeWorld) -> None:
        h = world(device("A"))
        pano = h.world.panorama.serial
        k = key(h, pano)
        _, root = call(h, pano, type="op", cmd="<show><system><info/></system></show>", target="A", key=k)
        assert root is not None and root.findtext("result/system/serial") == "A"
        h.fw("A").request_restart(0.0)
        h.run_until(lambda: h.fw("A").phase is Phase.DOWN)
        _, root = call(h, pano, type="op", cmd="<show><system><info/></system></show>", target="A", key=k)
        assert root is not None and root.findtext("msg/line") == "A not connected"

    def test_api_event_of_a_forwarded_request_names_the_firewall(self, world: MakeWorld) -> None:
        h = world(device("A"))
        h.world.api_events = True
        pano = h.world.panorama.serial
        k = key(h, pano)
        call(h, pano, type="op", cmd="<show><system><info/></system></show>", target="A", key=k)
        call(h, pano, type="op", cmd="<show><system><info/></system></show>", key=k)
        api = [
            (e["serial"], e.get("target")) for e in h.events("api") if e["request"] == "op:show system info"
        ]
        assert api == [(pano, "A"), (pano, None)]

    def test_firewall_cut_off_from_panorama_shows_disconnected(self, world: MakeWorld) -> None:
        h = world(device("A"))
        h.fw("A").inject(Fault.create("panorama_unreachable"), 0.0)
        pano = h.world.panorama.serial
        _, root = call(
            h, pano, type="op", cmd="<show><devices><connected/></devices></show>", key=key(h, pano)
        )
        assert root is not None and root.findall("result/devices/entry") == []
        _, status = call(h, "A", type="op", cmd="<show><panorama-status/></show>", key=key(h, "A"))
        assert status is not None and "Connected     : no" in (status.findtext("result") or "")


def test_show_jobs_all_may_list_a_job_without_an_id(world: MakeWorld) -> None:
    h = world(*[device(f"J{n}") for n in range(20)])
    with_idless = [fw for fw in h.world.firewalls.values() if fw.idless_job is not None]
    assert 0 < len(with_idless) < 20
    serial = with_idless[0].serial
    _, root = call(h, serial, type="op", cmd="<show><jobs><all/></jobs></show>", key=key(h, serial))
    assert root is not None
    ids = [job.findtext("id") for job in root.findall("result/job")]
    assert "" in ids and ids.count("") == 1
