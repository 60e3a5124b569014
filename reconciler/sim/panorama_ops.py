"""Operational commands the simulated Panorama answers (its inventory of managed firewalls)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.sim import config_xml, responses
from reconciler.sim.commands import Command
from reconciler.sim.firewall import SimFirewall
from reconciler.sim.panorama import SimPanorama
from reconciler.sim.xmltext import Raw, error, fields, leaf, node, success

if TYPE_CHECKING:
    from reconciler.sim.world import World


@dataclass(frozen=True)
class PanoramaContext:
    world: World
    pano: SimPanorama
    cmd: Command
    now: float
    user: str


Handler = Callable[[PanoramaContext], str]


def _device_entry(fw: SimFirewall, now: float) -> str:
    connected = fw.panorama_connected(now)
    if connected:
        fw.world.extras.setdefault("panorama_seen", {})[fw.serial] = (str(fw.version), fw.content_version)
    version, content = fw.world.extras.get("panorama_seen", {}).get(
        fw.serial, (str(fw.spec.version), fw.spec.content_version)
    )
    values: dict[str, object] = {
        "serial": fw.serial,
        "connected": "yes" if connected else "no",
        "unsupported-version": "no",
        "wildfire-rt": "no",
        "deactivated": "no",
        "hostname": fw.hostname,
        "ip-address": fw.address,
        "ipv6-address": "unknown",
        "mac-addr": "",
        "uptime": responses.uptime_text(fw.uptime(now)) if connected else "",
        "family": fw.family,
        "model": fw.spec.model,
        "sw-version": version,
        "app-version": content,
        "av-version": "4981-5500",
        "device-dictionary-version": "159-502",
        "wildfire-version": "0",
        "threat-version": content,
        "url-db": "paloaltonetworks",
        "url-filtering-version": "20241126.20245",
        "logdb-version": f"{version.rsplit('.', 1)[0]}.0",
        "vpnclient-package-version": "",
        "global-protect-client-package-version": "0.0.0",
        "domain": "",
        "slot-count": "0",
        "type": "",
        "tag": "",
        "plugin_versions": "",
    }
    if fw.ha is not None:
        values["ha"] = Raw(leaf("state", fw.ha.reported_state) + node("peer", leaf("serial", fw.ha.peer)))
    values.update(
        {
            "vpn-disable-mode": "no",
            "operational-mode": "normal",
            "certificate-status": "",
            "certificate-subject-name": fw.serial,
            "certificate-expiry": "2035/01/01 00:00:00",
            "connected-at": "",
            "custom-certificate-usage": "no",
            "multi-vsys": "no",
            "vsys": Raw(
                node(
                    "entry",
                    fields({"display-name": "vsys1", "shared-policy-status": "", "shared-policy-md5sum": ""}),
                    attrs={"name": "vsys1"},
                )
            ),
            "last-masterkey-push-status": "Unknown",
            "last-masterkey-push-timestamp": "",
            "express-mode": "no",
            "device-cert-present": "None",
            "device-cert-expiry-date": "N/A",
        }
    )
    return node("entry", fields(values), attrs={"name": fw.serial})


def _devices(only_connected: bool) -> Handler:
    def handler(ctx: PanoramaContext) -> str:
        rows = []
        for fw in ctx.world.firewalls.values():
            if only_connected and not fw.panorama_connected(ctx.now):
                continue
            rows.append(_device_entry(fw, ctx.now))
        return success(node("devices", *rows))

    return handler


def _devicegroups(ctx: PanoramaContext) -> str:
    groups = []
    for name, serials in sorted(ctx.pano.device_groups.items()):
        members = []
        for serial in serials:
            fw = ctx.world.firewalls[serial]
            connected = fw.panorama_connected(ctx.now)
            members.append(
                node(
                    "entry",
                    fields(
                        {
                            "serial": serial,
                            "connected": "yes" if connected else "no",
                            "unsupported-version": "no",
                            "hostname": fw.hostname,
                            "ip-address": fw.address,
                            "model": fw.spec.model,
                            "sw-version": str(fw.version) if connected else "",
                            "shared-policy-status": "In Sync",
                            "shared-policy-md5sum": "",
                        }
                    ),
                    attrs={"name": serial},
                )
            )
        groups.append(
            node("entry", leaf("shared-policy-md5sum", ""), node("devices", *members), attrs={"name": name})
        )
    return success(node("devicegroups", *groups))


def _system_info(ctx: PanoramaContext) -> str:
    pano = ctx.pano
    return success(
        node(
            "system",
            fields(
                {
                    "hostname": pano.hostname,
                    "ip-address": pano.address,
                    "netmask": "255.0.0.0",
                    "default-gateway": "127.0.0.1",
                    "mac-address": "00:86:9c:ff:00:01",
                    "uptime": responses.uptime_text(ctx.now - pano.booted_at),
                    "devicename": pano.hostname,
                    "family": "m",
                    "model": pano.spec.model,
                    "serial": pano.serial,
                    "sw-version": str(pano.version),
                    "app-version": ctx.world.catalog.latest_content().version,
                    "av-version": "4981-5500",
                    "threat-version": ctx.world.catalog.latest_content().version,
                    "system-mode": "panorama",
                    "operational-mode": "normal",
                    "licensed-device-capacity": "5000",
                    "device-certificate-status": "Valid",
                    "multi-vsys": "off",
                }
            ),
        )
    )


PANORAMA_OPS: dict[str, Handler] = {
    "show system info": _system_info,
    "show devices connected": _devices(True),
    "show devices all": _devices(False),
    "show devicegroups": _devicegroups,
    "show high-availability state": lambda c: success(leaf("enabled", "no")),
    "show jobs all": lambda c: success(""),
    "show jobs": lambda c: error(f"job {c.cmd.get('id')} not found"),
    "show clock": lambda c: success(responses.clock_text(c.world.clock.wall()) + " "),
    "check pending-changes": lambda c: success("no"),
    "show config running": lambda c: success(config_xml.panorama_config(c.pano)),
}
