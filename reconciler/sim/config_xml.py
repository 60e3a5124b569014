"""Running configurations (``show config running``, ``type=export``, ``type=config&action=get``).

Small but shaped like the real thing: the parts clients read are present (hostname, Panorama server,
update schedules, a certificate under ``shared`` for the certificate readiness check, device groups on
Panorama). ``get`` evaluates the request's XPath with ElementTree's XPath subset.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from reconciler.sim.xmltext import fields, leaf, node

if TYPE_CHECKING:
    from reconciler.sim.firewall import SimFirewall
    from reconciler.sim.panorama import SimPanorama


def _config_attrs(version: str) -> dict[str, str]:
    return {
        "version": f"{version.rsplit('.', 1)[0]}.0",
        "urldb": "paloaltonetworks",
        "detail-version": version,
    }


def firewall_config(fw: SimFirewall) -> str:
    pems = fw.world.extras.get("cert_pem", {})
    cert = pems.get(fw.address) or fw.world.extras.get("ca_pem", "")
    shared = node(
        "shared",
        node(
            "certificate",
            node(
                "entry",
                fields(
                    {
                        "common-name": fw.address,
                        "algorithm": "EC",
                        "ca": "no",
                        "issuer": "panos-upgrade simulator CA",
                        "subject": fw.address,
                        "not-valid-before": "Jan  1 00:00:00 2025 GMT",
                        "not-valid-after": "Jan  1 00:00:00 2035 GMT",
                        "expiry-epoch": "2051222400",
                        "public-key": cert,
                    }
                ),
                attrs={"name": "sim-device-cert"},
            ),
        ),
    )
    schedule = node(
        "update-schedule",
        node("threats", node("recurring", node("none"))),
        node("anti-virus", node("recurring", node("none"))),
    )
    system = node(
        "system",
        leaf("hostname", fw.hostname),
        leaf("ip-address", fw.address),
        leaf("netmask", "255.0.0.0"),
        node("panorama", node("local-panorama", leaf("panorama-server", fw.world.panorama.address))),
        node("ntp-servers", node("primary-ntp-server", leaf("ntp-server-address", "0.pool.ntp.org"))),
        schedule,
    )
    deviceconfig = node("deviceconfig", system)
    if fw.ha is not None:
        deviceconfig = node(
            "deviceconfig",
            system,
            node(
                "high-availability",
                leaf("enabled", "yes"),
                node(
                    "group",
                    leaf("group-id", "1"),
                    node(
                        "election-option",
                        leaf("device-priority", fw.ha.priority),
                        leaf("preemptive", "yes" if fw.ha.preemptive else "no"),
                    ),
                ),
            ),
        )
    vsys = node(
        "vsys",
        node(
            "entry",
            node(
                "rulebase",
                node(
                    "security",
                    node("rules", node("entry", leaf("action", "allow"), attrs={"name": "allow-outbound"})),
                ),
            ),
            attrs={"name": "vsys1"},
        ),
    )
    devices = node("devices", node("entry", deviceconfig, vsys, attrs={"name": "localhost.localdomain"}))
    mgt = node("mgt-config", node("users", node("entry", leaf("phash", "*"), attrs={"name": "admin"})))
    return node("config", mgt, shared, devices, attrs=_config_attrs(str(fw.version)))


def panorama_config(pano: SimPanorama) -> str:
    groups = []
    for name, serials in sorted(pano.device_groups.items()):
        members = "".join(node("entry", attrs={"name": s}) for s in serials)
        groups.append(node("entry", node("devices", members), attrs={"name": name}))
    devices = "".join(node("entry", attrs={"name": s}) for s in pano.world.firewalls)
    localhost = node(
        "entry",
        node(
            "deviceconfig", node("system", leaf("hostname", pano.hostname), leaf("ip-address", pano.address))
        ),
        node("device-group", *groups),
        attrs={"name": "localhost.localdomain"},
    )
    return node(
        "config",
        node("mgt-config", node("devices", devices)),
        node("devices", localhost),
        attrs=_config_attrs(str(pano.version)),
    )


_XPATH_OK = re.compile(r"^/config(/[A-Za-z0-9_.\-]+(\[@name='[^']*'\])?)*/?$")


def get(config_xml: str, xpath: str) -> tuple[str, int] | None:
    """The XML of the nodes at ``xpath`` and their count; None when the XPath is not one we can evaluate."""
    xpath = xpath.strip().replace('"', "'")
    if not _XPATH_OK.match(xpath):
        return None
    root = ET.fromstring(config_xml)
    rel = xpath.rstrip("/")[len("/config") :]
    found = [root] if not rel else root.findall("." + rel)
    return "".join(ET.tostring(el, encoding="unicode") for el in found), len(found)
