"""Parsers of PAN-OS XML responses, on the shapes documented in PANOS-NOTES.md."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.version import PanOsVersion
from reconciler.device import parsers as px


def x(text: str) -> ET.Element:
    return ET.fromstring(text)


def test_system_info() -> None:
    info = px.system_info(
        x(
            "<response status='success'><result><system><hostname>fw1</hostname><ip-address>127.0.0.5</ip-address>"
            "<model>PA-440</model><serial>0123</serial><sw-version>10.2.9-h1</sw-version>"
            "<app-version>8799-8509</app-version><uptime>3 days, 1:02:03</uptime></system></result></response>"
        )
    )
    assert (
        px.SystemInfo("0123", "fw1", "PA-440", "10.2.9-h1", "127.0.0.5", "8799-8509", "3 days, 1:02:03")
        == info
    )


def test_system_info_without_serial_is_a_format_error() -> None:
    with pytest.raises(px.ResponseFormatError, match="serial"):
        px.system_info(x("<response><result><system><hostname>a</hostname></system></result></response>"))


def test_ha_disabled() -> None:
    ha = px.ha_state(
        x(
            "<response status='success'><result><enabled>no</enabled><group><local-info>"
            "<ha1-encrypt-imported>no</ha1-encrypt-imported></local-info></group></result></response>"
        )
    )
    assert (False, "standalone", False) == (ha.enabled, ha.local_state, ha.healthy_pair)


def test_ha_enabled_healthy() -> None:
    ha = px.ha_state(
        x(
            "<response status='success'><result><enabled>yes</enabled><group><mode>Active-Passive</mode>"
            "<local-info><state>passive</state><build-rel>10.2.9</build-rel><state-sync>Complete</state-sync>"
            "</local-info><peer-info><state>active</state><conn-status>up</conn-status><build-rel>10.2.9</build-rel>"
            "<serial-num>0002</serial-num><mgmt-ip>127.0.0.9/24</mgmt-ip></peer-info>"
            "<running-sync>synchronized</running-sync><running-sync-enabled>yes</running-sync-enabled>"
            "</group></result></response>"
        )
    )
    assert ("passive", "active", "0002", True) == (
        ha.local_state,
        ha.peer_state,
        ha.peer_serial,
        ha.healthy_pair,
    )


def test_panorama_devices_and_groups() -> None:
    devices = px.panorama_devices(
        x(
            "<response status='success'><result><devices>"
            "<entry name='A1'><serial>A1</serial><connected>yes</connected><hostname>fw-a</hostname>"
            "<ip-address>127.0.0.2</ip-address><model>PA-3220</model><sw-version>10.1.14</sw-version>"
            "<ha><state>active</state><peer><serial>A2</serial></peer></ha></entry>"
            "<entry name='B1'><serial>B1</serial><connected>no</connected><hostname>fw-b</hostname>"
            "<ip-address>127.0.0.3</ip-address><model>PA-440</model><sw-version>11.1.2</sw-version></entry>"
            "</devices></result></response>"
        )
    )
    assert [("A1", True, "active", "A2"), ("B1", False, "", "")] == [
        (d.serial, d.connected, d.ha_state, d.peer_serial) for d in devices
    ]
    groups = px.device_groups(
        x(
            "<response status='success'><result><devicegroups><entry name='branches'><devices>"
            "<entry name='B1'><serial>B1</serial></entry></devices></entry><entry name='dc'><devices>"
            "<entry name='A1'/></devices></entry></devicegroups></result></response>"
        )
    )
    assert {"B1": "branches", "A1": "dc"} == groups


def test_software_images_flags_and_unparseable_entries() -> None:
    images = px.software_images(
        x(
            "<response status='success'><result><sw-updates last-updated-at='x'><msg/><versions>"
            "<entry><version>11.1.0</version><filename>PanOS_vm-11.1.0</filename><size>540</size>"
            "<downloaded>yes</downloaded><current>no</current><latest>no</latest><uploaded>no</uploaded></entry>"
            "<entry><version>10.2.9-h1</version><downloaded>no</downloaded><current>yes</current></entry>"
            "<entry><version>weird-build</version></entry>"
            "</versions></sw-updates></result></response>"
        )
    )
    assert [
        (PanOsVersion.parse("11.1.0"), True, False, 540),
        (PanOsVersion.parse("10.2.9-h1"), False, True, 0),
    ] == [(i.version, i.downloaded, i.current, i.size_mb) for i in images]


def test_job_id_from_job_element_or_text() -> None:
    assert "912" == px.enqueued_job_id(
        x(
            "<response status='success' code='19'><result><msg><line>Download job enqueued with jobid 912"
            "</line></msg><job>912</job></result></response>"
        )
    )
    assert "77" == px.enqueued_job_id(
        x(
            "<response status='success'><result><msg><line>Software install job enqueued with jobid 77. "
            "Run 'show jobs id 77' to monitor its status.</line></msg></result></response>"
        )
    )


def test_job_states() -> None:
    running = px.job(
        x(
            "<response status='success'><result><job><id>5</id><type>Downld</type><status>ACT</status>"
            "<result>PEND</result><progress>42</progress><tfin></tfin></job></result></response>"
        )
    )
    assert (False, False, 42) == (running.finished, running.ok, running.progress)
    done = px.job(
        x(
            "<response status='success'><result><job><id>5</id><type>Downld</type><status>FIN</status>"
            "<result>OK</result><progress>08:32:10</progress><details><line>Successfully downloaded</line>"
            "</details></job></result></response>"
        )
    )
    assert (True, True, 100, ("Successfully downloaded",)) == (
        done.finished,
        done.ok,
        done.progress,
        done.details,
    )


def test_jobs_all_skips_a_job_without_id() -> None:
    jobs = px.jobs(
        x(
            "<response><result><job><id>1</id><type>AutoCom</type><status>FIN</status><result>OK</result></job>"
            "<job><type>weird</type></job></result></response>"
        )
    )
    assert ["1"] == [j.id for j in jobs]


def test_chassis_ready_and_disk_space() -> None:
    assert px.chassis_ready(x("<response><result><![CDATA[yes]]></result></response>"))
    assert not px.chassis_ready(x("<response><result><![CDATA[no]]></result></response>"))
    df = (
        "Filesystem      Size  Used Avail Use% Mounted on\n/dev/root       6.9G  4.9G  1.7G  75% /\n"
        "/dev/sda5        16G  7.1G  7.6G  49% /opt/pancfg\n/dev/sda6        24G   11G   12G  48% /opt/panrepo\n"
    )
    assert 12.0 == px.free_disk_gb(x(f"<response><result><![CDATA[{df}]]></result></response>"))
    with pytest.raises(px.ResponseFormatError, match="bad size"):
        px.free_disk_gb(x("<response><result>/dev/x 1G 1G zzG 5% /opt/panrepo</result></response>"))


@given(st.text())
def test_parsers_never_fail_with_anything_but_format_errors(text: str) -> None:
    """Arbitrary text inside a result never escapes as an unexpected exception type."""
    root = ET.Element("response")
    ET.SubElement(root, "result").text = text
    for parser in (
        px.system_info,
        px.ha_state,
        px.software_images,
        px.job,
        px.enqueued_job_id,
        px.free_disk_gb,
    ):
        with contextlib.suppress(px.ResponseFormatError):
            parser(root)
    assert isinstance(px.panorama_devices(root), list)
    assert isinstance(px.device_groups(root), dict)
