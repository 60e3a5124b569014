"""Operational commands the simulated Panorama answers (its inventory of managed firewalls)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.sim import config_xml, responses
from reconciler.sim.commands import Command
from reconciler.sim.firewall import OpError, SimFirewall
from reconciler.sim.jobs import panos_time
from reconciler.sim.panorama import SimPanorama, can_manage
from reconciler.sim.version import Version
from reconciler.sim.xmltext import Raw, cdata, entries, error, fields, leaf, node, success

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


# [DEVICES-ALL] Layout of a ``show devices all`` entry: Panorama answers kept as test fixtures by the
# pan-os-upgrade tool (github.com/cdot65/pan-os-upgrade, tests/test_flatten_xml_to_dict.py: PA-VMs on
# 10.1.x) and in a public Panorama client's docstrings (a PA-5260 on 10.0.8, an HA member). After
# ``global-protect-client-package-version`` come ``prev-app-version``, ``prev-av-version``,
# ``prev-threat-version``, ``prev-wildfire-version``, ``prev-device-dictionary-version`` ("0" when
# nothing was installed before), then ``domain``, ``slot-count``, ``type``, ``tag``, then
# ``plugin_versions`` with one ``<entry name="vm_series" version="2.1.9"><pkginfo>vm_series-2.1.9</pkginfo>
# </entry>`` per plugin (present on the VMs; the hardware capture has no ``plugin_versions`` element),
# then ``ha``.
VM_SERIES_PLUGIN = {9: "2.0.7", 10: "2.1.9"}  # 9.1 and 10.1 captures; later releases inferred below
VM_SERIES_PLUGIN_LATER = "5.1.1"  # *(inferred)*: no capture of 11.x or later


def _plugins(fw: SimFirewall, version: Version) -> list[tuple[str, str]]:
    """The plugins a firewall reports to Panorama: the VM-Series plugin on a PA-VM, none on hardware."""
    if not fw.hw.virtual:
        return []
    return [("vm_series", VM_SERIES_PLUGIN.get(version.major, VM_SERIES_PLUGIN_LATER))]


def _device_entry(pano: SimPanorama, fw: SimFirewall, now: float) -> str:
    unsupported = not can_manage(pano.version, fw.version)
    connected = fw.panorama_connected(now) and not unsupported
    if connected:
        fw.world.extras.setdefault("panorama_seen", {})[fw.serial] = (
            str(fw.version),
            fw.content_version,
            fw.previous_content,
        )
    version, content, prev_content = fw.world.extras.get("panorama_seen", {}).get(
        fw.serial, (str(fw.spec.version), fw.spec.content_version, None)
    )
    if unsupported and fw.api_up:
        # [PANCOMPAT] the firewall still reaches Panorama and reports the version Panorama cannot manage
        # (inferred: Panorama lists it as unsupported rather than with a stale version).
        version = str(fw.version)
    values: dict[str, object] = {
        "serial": fw.serial,
        "connected": "yes" if connected else "no",
        "unsupported-version": "yes" if unsupported else "no",
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
        # [DEVICES-ALL] the content releases installed before the current ones, "0" when there was none;
        # apps and threats are one package here, antivirus and WildFire are not modelled.
        "prev-app-version": prev_content or "0",
        "prev-av-version": "0",
        "prev-threat-version": prev_content or "0",
        "prev-wildfire-version": "0",
        "prev-device-dictionary-version": "158-500",
        "domain": "",
        "slot-count": "0",
        "type": "",
        "tag": "",
    }
    plugins = _plugins(fw, Version.parse(version))
    if plugins:
        values["plugin_versions"] = Raw(
            "".join(
                node("entry", leaf("pkginfo", f"{name}-{ver}"), attrs={"name": name, "version": ver})
                for name, ver in plugins
            )
        )
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
            if only_connected and not (
                fw.panorama_connected(ctx.now) and can_manage(ctx.pano.version, fw.version)
            ):
                continue
            rows.append(_device_entry(ctx.pano, fw, ctx.now))
        return success(node("devices", *rows))

    return handler


def _devicegroups(ctx: PanoramaContext) -> str:
    groups = []
    for name, serials in sorted(ctx.pano.device_groups.items()):
        members = []
        for serial in serials:
            fw = ctx.world.firewalls[serial]
            unsupported = not can_manage(ctx.pano.version, fw.version)
            connected = fw.panorama_connected(ctx.now) and not unsupported
            members.append(
                node(
                    "entry",
                    fields(
                        {
                            "serial": serial,
                            "connected": "yes" if connected else "no",
                            "unsupported-version": "yes" if unsupported else "no",
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


def _version_param(ctx: PanoramaContext) -> Version:
    raw = ctx.cmd.get("version")
    version = Version.try_parse(raw)
    if version is None:
        raise OpError(f"Invalid version: {raw!r}" if raw else "Missing version.", code="18")
    return version


def _software_list(pano: SimPanorama) -> str:
    """``request system software check|info`` on Panorama: the firewall's shape [PANSW]."""
    listed = pano.software_list()
    latest = max((img.version for img, _, _ in listed), default=pano.version)
    rows = [
        {
            "version": str(img.version),
            "filename": pano.filename(img.version),
            "size": img.size_mb,
            "size-kb": img.size_mb * 1024,
            "released-on": img.released_on,
            "release-notes": "",
            "downloaded": "yes" if downloaded else "no",
            "current": "yes" if current else "no",
            "latest": "yes" if img.version == latest else "no",
            "uploaded": "no",
        }
        for img, downloaded, current in listed
    ]
    checked = panos_time(pano.world.clock.wall())
    return node(
        "sw-updates", node("msg"), node("versions", entries(rows)), attrs={"last-updated-at": checked}
    )


def _software_check(ctx: PanoramaContext) -> str:
    ctx.pano.check_software(ctx.now)
    return success(_software_list(ctx.pano))


def _enqueued(job_id: int, line: str) -> str:
    return success(node("msg", leaf("line", line)) + leaf("job", job_id), code="19")


def _download(ctx: PanoramaContext) -> str:
    job = ctx.pano.request_download(_version_param(ctx), user=ctx.user, t=ctx.now)
    return _enqueued(job.id, f"Download job enqueued with jobid {job.id}")


def _install(ctx: PanoramaContext) -> str:
    job = ctx.pano.request_install(_version_param(ctx), user=ctx.user, t=ctx.now)
    return _enqueued(
        job.id,
        f"Software install job enqueued with jobid {job.id}. Run 'show jobs id {job.id}' to monitor its status. "
        "Please reboot the device after the installation is done.",
    )


def _delete_software(ctx: PanoramaContext) -> str:
    version = _version_param(ctx)
    ctx.pano.delete_image(version, ctx.now)
    return success(f"Successfully deleted software version {version}.")


def _restart(ctx: PanoramaContext) -> str:
    # PAN-OS answers success before it goes down (issue 15; the connection may drop first).
    ctx.pano.request_restart(ctx.now)
    return success("")


def _show_job(ctx: PanoramaContext) -> str:
    raw = ctx.cmd.get("id")
    job = ctx.pano.jobs.get(int(raw)) if raw.isdigit() else None
    if job is None:
        return error(f"job {raw} not found")
    return success(job.xml(ctx.now))


def _show_jobs_all(ctx: PanoramaContext) -> str:
    return success("".join(j.xml(ctx.now) for j in sorted(ctx.pano.jobs.values(), key=lambda j: -j.id)))


def _ha_state(ctx: PanoramaContext) -> str:
    """Panorama's ``show high-availability state|all`` [PANHA]: no ``<group>`` wrapper, states prefixed with
    the HA priority (``primary-active``). Field set beyond ``enabled``/``local-info/state`` *(inferred)*."""
    pano = ctx.pano
    if pano.ha_state is None:
        return success(leaf("enabled", "no"))
    peer = pano.peer()
    local = fields(
        {
            "version": "1",
            "state": pano.reported_ha_state,
            "state-duration": "0",
            "mgmt-ip": f"{pano.address}/8",
            "preemptive": "no",
            "priority": pano.ha_priority,
            "build-rel": str(pano.version),
            "platform-model": pano.spec.model,
            "mode": "Active-Passive",
        }
    )
    peer_up = peer is not None and peer.api_up and peer.ha_state not in (None, "down")
    peer_info = fields(
        {
            "conn-status": "up" if peer_up else "down",
            "state": peer.reported_ha_state if peer is not None and peer_up else "unknown",
            "mgmt-ip": f"{peer.address}/8" if peer is not None else "",
            "priority": peer.ha_priority if peer is not None else "",
            "build-rel": str(peer.version) if peer is not None else "",
            "build-compat": "Match" if peer is not None and peer.version == pano.version else "Mismatch",
        }
    )
    synced = peer_up and peer is not None and peer.version == pano.version
    return success(
        leaf("enabled", "yes")
        + node("local-info", local)
        + node("peer-info", peer_info)
        + leaf("running-sync", "synchronized" if synced else "not synchronized")
        + leaf("running-sync-enabled", "yes")
    )


def _ha_suspend(ctx: PanoramaContext) -> str:
    ctx.pano.ha_suspend(ctx.now)
    return success("Successfully changed HA state to suspended")


def _ha_functional(ctx: PanoramaContext) -> str:
    ctx.pano.ha_functional(ctx.now)
    return success("Successfully changed HA state to functional")


PANORAMA_OPS: dict[str, Handler] = {
    "show system info": _system_info,
    "show devices connected": _devices(True),
    "show devices all": _devices(False),
    "show devicegroups": _devicegroups,
    "show high-availability state": _ha_state,
    "show high-availability all": _ha_state,
    "request high-availability state suspend": _ha_suspend,
    "request high-availability state functional": _ha_functional,
    "request system software check": _software_check,
    "request system software info": lambda c: success(_software_list(c.pano)),
    "request system software download": _download,
    "request system software install": _install,
    "delete software": _delete_software,
    "request restart system": _restart,
    "show chassis-ready": lambda c: success(cdata("yes")),
    # [PANSW] the same disk and configuration commands as a firewall (pre-flight and the backup).
    "show system disk-space": lambda c: success(responses.disk_space(c.pano)),
    "show config running": lambda c: success(config_xml.panorama_config(c.pano)),
    "show jobs all": _show_jobs_all,
    "show jobs": _show_job,
    "show clock": lambda c: success(responses.clock_text(c.world.clock.wall()) + " "),
}
