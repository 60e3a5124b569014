"""A firewall client keeps no answer once a call is over: pan-python holds each request's answer (its text
and its parsed tree) on the device's ``PanXapi`` until the next request, which at 2,000 firewalls was
~35 MB of the daemon's memory (issue 18.7). Real pan-os-python client, simulator over real sockets."""

from __future__ import annotations

from pathlib import Path

from reconciler.core.version import PanOsVersion
from reconciler.device.client import FirewallClientFactory
from reconciler.sim.fleet import DeviceSpec, FleetSpec
from tests.integration.fleet_env import fleet_env

ANSWER = ("xml_document", "text_document", "element_root", "element_result", "export_result")


def test_a_client_drops_each_answer_once_it_has_read_it(tmp_path: Path) -> None:
    version = PanOsVersion.parse("11.1.2")
    fleet = FleetSpec(devices=(DeviceSpec("301", "fw-301", version=version, device_group="dc"),))
    with fleet_env(tmp_path, fleet, base_address="127.97.0.0") as env:
        client = FirewallClientFactory(env.config)(env.sim.endpoint("301").address, "301")
        info = client.system_info()
        snapshot = client.snapshot(["routes"])
        xapi = client._dev.xapi
        assert {attr: None for attr in ANSWER} == {attr: getattr(xapi, attr) for attr in ANSWER}
        # What the calls returned is whole: the answers were read before they were dropped.
        assert ("301", str(version)) == (info.serial, info.sw_version)
        assert snapshot["routes"], snapshot
        assert info.sw_version == client.system_info().sw_version  # the next call works as before
