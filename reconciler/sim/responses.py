"""The ``<result>`` bodies of a firewall's read-only commands (shapes: PANOS-NOTES.md and the parsers of
pan-os-python and panos-upgrade-assurance)."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

from reconciler.sim import ha as ha_rules
from reconciler.sim.catalog import image_filename
from reconciler.sim.jobs import panos_time
from reconciler.sim.xmltext import Raw, cdata, entries, fields, leaf, node

if TYPE_CHECKING:
    from reconciler.sim.firewall import SimFirewall
    from reconciler.sim.panorama import SimPanorama


def uptime_text(seconds: float) -> str:
    s = int(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days} days, {hours}:{minutes:02d}:{secs:02d}"


def clock_text(wall: float) -> str:
    """``show clock``: ``Wed Feb 15 08:57:14 UTC 2023`` (day padded with a space, like date(1))."""
    t = time.gmtime(wall)
    return time.strftime("%a %b ", t) + f"{t.tm_mday:2d}" + time.strftime(" %H:%M:%S UTC %Y", t)


def system_time_text(wall: float) -> str:
    """``show system info`` ``time``: ``Wed Jan  5 11:30:17 2022`` then a newline."""
    t = time.gmtime(wall)
    return time.strftime("%a %b ", t) + f"{t.tm_mday:2d}" + time.strftime(" %H:%M:%S %Y", t) + "\n"


def mac_of(index: int, salt: int = 0) -> str:
    n = (index * 7919 + salt) & 0xFFFFFF
    return f"00:86:9c:{n >> 16:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}"


def system_info(fw: SimFirewall, now: float) -> str:
    wall = fw.world.clock.wall()
    return node(
        "system",
        fields(
            {
                "hostname": fw.hostname,
                "ip-address": fw.address,
                "public-ip-address": "unknown",
                "netmask": "255.0.0.0",
                "default-gateway": "127.0.0.1",
                "is-dhcp": "no",
                "ipv6-address": "unknown",
                "ipv6-link-local-address": "fe80::286:9cff:fe00:1/64",
                "mac-address": mac_of(fw.index),
                # ctime(3) layout (day padded with a space) and a trailing newline, as in a 9.1 capture
                # (``<time>Wed Jan 19 11:30:17 2022\n</time>``; see ``_ha_local``'s source).
                "time": system_time_text(wall),
                "uptime": uptime_text(fw.uptime(now)),
                "devicename": fw.hostname,
                "family": fw.family,
                "model": fw.spec.model,
                "serial": fw.serial,
                "cloud-mode": "non-cloud",
                "sw-version": str(fw.version),
                "global-protect-client-package-version": "0.0.0",
                "device-dictionary-version": "159-502",
                "device-dictionary-release-date": "2024/11/26 17:47:05 PST",
                "app-version": fw.content_version,
                "app-release-date": "2024/11/25 18:02:37 PST",
                "av-version": "4981-5500",
                "av-release-date": "2024/11/26 07:41:53 PST",
                "threat-version": fw.content_version,
                "threat-release-date": "2024/11/25 18:02:37 PST",
                "wf-private-version": "0",
                "wf-private-release-date": "unknown",
                "url-db": "paloaltonetworks",
                "wildfire-version": "0",
                "wildfire-release-date": "",
                "wildfire-rt": "Disabled",
                "url-filtering-version": "20241126.20245",
                "global-protect-datafile-version": "unknown",
                "global-protect-datafile-release-date": "unknown",
                "global-protect-clientless-vpn-version": "0",
                "logdb-version": f"{fw.version.feature_release}.0",
                "platform-family": fw.family,
                "vpn-disable-mode": "off",
                "multi-vsys": "off",
                "ZTP": "Disabled",
                "operational-mode": "normal",
                "advanced-routing": "off",
                "device-certificate-status": "Valid",
            }
        ),
    )


# Layout of ``show high-availability state`` on a firewall: a PA-5250 answer (PAN-OS 9.1.11) kept as a test
# fixture by a public PAN-OS API client (Python package ``paloaltoapi``, its firewall unit test): local-info
# carries ``ha1-backup-*`` fields and an ``active-passive`` block, peer-info a ``conn-ha1-backup`` block, and
# the group ``link-monitoring`` (``fail-cond``, ``enabled``, ``groups/entry``) and ``path-monitoring``
# (``vwire``, ``fail-cond``, ``vlan``, ``enabled``, ``vrouter``) blocks, also without ``all``.
def _ha_local(fw: SimFirewall) -> dict[str, object]:
    ha = fw.ha
    assert ha is not None
    return {
        "version": "1",
        "state": ha.reported_state,
        "state-duration": int(max(0.0, fw.world.clock.now() - ha.since)),
        "mgmt-ip": f"{fw.address}/8",
        "mgmt-ipv6": "",
        "preemptive": "yes" if ha.preemptive else "no",
        "promotion-hold": "2000",
        "hello-interval": "8000",
        "heartbeat-interval": "2000",
        "preempt-hold": "1",
        "monitor-fail-holdup": "0",
        "addon-master-holdup": "500",
        "ha1-encrypt-imported": "no",
        "mode": "Active-Passive",
        "platform-model": fw.spec.model,
        "priority": ha.priority,
        "max-flaps": "3",
        "preempt-flap-cnt": "0",
        "nonfunc-flap-cnt": "0",
        "build-rel": str(fw.version),
        "app-version": fw.content_version,
        "av-version": "4981-5500",
        "threat-version": fw.content_version,
        "url-version": "20241126.20245",
        "ha1-ipaddr": f"169.254.{fw.index % 250}.1/30",
        "ha1-macaddr": mac_of(fw.index, 1),
        "ha1-port": "management",
        "ha1-backup-ipaddr": f"169.254.{fw.index % 250}.9/30",
        "ha1-backup-macaddr": mac_of(fw.index, 3),
        "ha1-backup-port": "ethernet1/7",
        "ha1-link-mon-intv": "3000",
        "ha1-encrypt-enable": "no",
        "active-passive": Raw(fields({"passive-link-state": "auto", "monitor-fail-holddown": "1"})),
        "ha2-ipaddr": f"169.254.{fw.index % 250}.5/30",
        "ha2-macaddr": mac_of(fw.index, 2),
        "ha2-port": "ethernet1/8",
        "state-sync": "",
        "state-sync-type": "ethernet",
    }


def ha_state(fw: SimFirewall, now: float, *, full: bool = False) -> str:
    """``show high-availability state`` (``full``: ``... all``; the simulator answers both alike)."""
    ha = fw.ha
    if ha is None or ha.state == "booting":
        return leaf("enabled", "no") + node("group", node("local-info", leaf("ha1-encrypt-imported", "no")))
    peer = ha_rules.peer_of(fw)
    local = _ha_local(fw)
    peer_up = peer is not None and peer.ha is not None and peer.api_up and peer.ha.running
    both_functional = peer_up and ha.state in ha_rules.FUNCTIONAL and peer.ha.state in ha_rules.FUNCTIONAL  # type: ignore[union-attr]
    local["state-sync"] = "Complete" if both_functional else "Incomplete"
    if peer is not None and peer_up:
        assert peer.ha is not None
        compat = {
            "build-compat": "Match" if peer.version == fw.version else "Mismatch",
            "app-compat": "Match" if peer.content_version == fw.content_version else "Mismatch",
            "av-compat": "Match",
            "threat-compat": "Match" if peer.content_version == fw.content_version else "Mismatch",
            "url-compat": "Match",
            "vpnclient-compat": "Match",
            "gpclient-compat": "Match",
        }
        peer_info = {
            "conn-ha1": Raw(
                fields({"conn-status": "up", "conn-primary": "yes", "conn-desc": "heartbeat status"})
            ),
            "conn-ha2": Raw(
                fields(
                    {
                        "conn-status": "up",
                        "conn-ka-enbled": "no",
                        "conn-primary": "yes",
                        "conn-desc": "link status",
                    }
                )
            ),
            "conn-status": "up",
            "version": "1",
            "state": peer.ha.reported_state,
            "state-duration": int(max(0.0, now - peer.ha.since)),
            "last-error-reason": ha_rules.PEER_TOO_OLD if ha.auto_reason else "User requested",
            "last-error-state": "suspended",
            "preemptive": "yes" if peer.ha.preemptive else "no",
            "mode": "Active-Passive",
            "platform-model": peer.spec.model,
            "priority": peer.ha.priority,
            "build-rel": str(peer.version),
            "app-version": peer.content_version,
            "av-version": "4981-5500",
            "threat-version": peer.content_version,
            "url-version": "20241126.20245",
            "mgmt-ip": f"{peer.address}/8",
            "ha1-ipaddr": f"169.254.{fw.index % 250}.2",
            "ha1-macaddr": mac_of(peer.index, 1),
            "ha2-ipaddr": f"169.254.{fw.index % 250}.6",
            "ha2-macaddr": mac_of(peer.index, 2),
            "ha1-backup-ipaddr": f"169.254.{fw.index % 250}.10",
            "ha1-backup-macaddr": mac_of(peer.index, 3),
            "conn-ha1-backup": Raw(fields({"conn-status": "up", "conn-desc": "heartbeat status"})),
        }
        local.update(compat)
    else:
        peer_info = {
            "conn-ha1": Raw(
                fields({"conn-status": "down", "conn-primary": "yes", "conn-desc": "heartbeat status"})
            ),
            "conn-ha2": Raw(
                fields(
                    {
                        "conn-status": "down",
                        "conn-ka-enbled": "no",
                        "conn-primary": "yes",
                        "conn-desc": "link status",
                    }
                )
            ),
            "conn-status": "down",
            "version": "1",
            "state": "unknown",
            "mode": "Active-Passive",
        }
    group = [
        leaf("mode", "Active-Passive"),
        node("local-info", fields(local)),
        node("peer-info", fields(peer_info)),
        node(
            "link-monitoring",
            fields({"fail-cond": "any", "enabled": "yes"}),
            node(
                "groups",
                node(
                    "entry",
                    fields({"interface": "", "fail-cond": "any", "enabled": "yes", "name": "uplinks"}),
                ),
            ),
        ),
        node(
            "path-monitoring",
            fields({"vwire": "", "fail-cond": "any", "vlan": "", "enabled": "yes", "vrouter": ""}),
        ),
    ]
    group.append(leaf("running-sync", "synchronized" if both_functional else "not synchronized"))
    group.append(leaf("running-sync-enabled", "yes"))
    return leaf("enabled", "yes") + node("group", *group)


def software_list(fw: SimFirewall) -> str:
    """``request system software check|info`` body."""
    latest = max((img.version for img, _, _ in fw.software_list()), default=fw.version)
    rows = []
    for img, downloaded, current in fw.software_list():
        rows.append(
            {
                "version": str(img.version),
                "filename": image_filename(fw.family, img.version),
                "size": img.size_mb,
                "size-kb": img.size_mb * 1024,
                "released-on": img.released_on,
                "release-notes": f"https://www.paloaltonetworks.com/documentation/{img.version.feature_release.replace('.', '-')}/pan-os/pan-os-release-notes",
                "downloaded": "yes" if downloaded else "no",
                "current": "yes" if current else "no",
                "latest": "yes" if img.version == latest else "no",
                "uploaded": "no",
            }
        )
    checked = panos_time(fw.last_check_wall) if fw.last_check_wall else ""
    return node(
        "sw-updates", node("msg"), node("versions", entries(rows)), attrs={"last-updated-at": checked}
    )


# Antivirus: the installed release is the one ``show system info`` reports; a check finds one newer release
# (downloading or installing antivirus is not modelled). Entry layout and ``features`` ``Virus`` (against
# ``Apps, Threats`` for the applications and threats package) as in an antivirus check answer kept as a
# test fixture by the Perl client Device::PaloAlto::Firewall (its check tests).
ANTIVIRUS_INSTALLED = ("4981-5500", "2024/11/26 07:41:53 PST")
ANTIVIRUS_NEWER = ("4982-5501", "2024/11/27 07:40:12 PST")  # *(inferred)* release


def antivirus_list(fw: SimFirewall) -> str:
    checked = fw.serial in fw.world.extras.get("antivirus_checked", set())
    releases = [ANTIVIRUS_NEWER, ANTIVIRUS_INSTALLED] if checked else [ANTIVIRUS_INSTALLED]
    rows = [
        {
            "version": version,
            "app-version": version,
            "filename": f"panup-all-antivirus-{version}",
            "size": 77,
            "size-kb": 79446,
            "released-on": released,
            "release-notes": f"https://proditpdownloads.paloaltonetworks.com/virus/{version}",
            "downloaded": "yes" if version == ANTIVIRUS_INSTALLED[0] else "no",
            "current": "yes" if version == ANTIVIRUS_INSTALLED[0] else "no",
            "previous": "no",
            "installing": "no",
            "features": "Virus",
            "update-type": "Full",
            "feature-desc": "Unknown",
            "sha256": hashlib.sha256(f"panup-all-antivirus-{version}".encode()).hexdigest(),
        }
        for version, released in releases
    ]
    return node(
        "content-updates", entries(rows), attrs={"last-updated-at": panos_time(fw.world.clock.wall())}
    )


def content_list(fw: SimFirewall) -> str:
    rows = []
    releases = fw.world.catalog.content if fw.content_known else ()
    known = {c.version: c for c in releases}
    for v in fw.content_downloaded | {fw.content_version}:
        release = fw.world.catalog.content_release(v)
        if release is not None:
            known.setdefault(v, release)
    for release in sorted(known.values(), key=lambda c: c.key, reverse=True):
        rows.append(
            {
                "version": release.version,
                "app-version": release.version,
                "filename": f"panupv2-all-contents-{release.version}",
                "size": release.size_mb,
                "size-kb": release.size_mb * 1024,
                "released-on": release.released_on,
                "release-notes": f"https://proditpdownloads.paloaltonetworks.com/content/{release.version}",
                "downloaded": "yes" if release.version in fw.content_downloaded else "no",
                "current": "yes" if release.version == fw.content_version else "no",
                "previous": "yes" if release.version == fw.previous_content else "no",
                "installing": "no",
                # A firewall's Applications and Threats package; ``sha256`` last (both as in a firewall's
                # ``request content upgrade check`` answer kept as a fixture by pan-ztp-patcher's tests).
                "features": "Apps, Threats",
                "update-type": "Full",
                "feature-desc": "Unknown",
                "sha256": hashlib.sha256(f"panupv2-all-contents-{release.version}".encode()).hexdigest(),
            }
        )
    return node(
        "content-updates", entries(rows), attrs={"last-updated-at": panos_time(fw.world.clock.wall())}
    )


def disk_space(fw: SimFirewall | SimPanorama) -> str:
    """``df -h`` text; /opt/panrepo shows the simulated free space (no trailing newline: parsers split)."""
    total = fw.disk_total_mb
    free = fw.free_disk_mb()
    used = max(total - free, 0)
    pct = round(100 * used / total) if total else 0

    def h(mb: float) -> str:
        return f"{mb / 1024:.1f}G" if mb >= 1024 else f"{int(mb)}M"

    rows = [
        ("Filesystem", "Size", "Used", "Avail", "Use%", "Mounted on"),
        ("/dev/root", "6.9G", "4.9G", "1.7G", "75%", "/"),
        ("none", "7.9G", "76K", "7.9G", "1%", "/dev"),
        ("/dev/sda5", "16G", "2.2G", "13G", "15%", "/opt/pancfg"),
        ("/dev/sda6", h(total), h(used), h(free), f"{pct}%", "/opt/panrepo"),
        ("tmpfs", "7.9G", "620M", "7.3G", "8%", "/dev/shm"),
        ("cgroup", "7.9G", "0", "7.9G", "0%", "/cgroup"),
        ("/dev/sda8", "21G", "8.5G", "12G", "43%", "/opt/panlogs"),
        ("/dev/loop0", "111M", "1.6M", "101M", "2%", "/opt/pancfg/mgmt/ssl/private"),
    ]
    text = "\n".join(f"{a:<15} {b:>5} {c:>5} {d:>5} {e:>4} {f}" for a, b, c, d, e, f in rows)
    return cdata(text)


def session_info(fw: SimFirewall, now: float) -> str:
    active = fw.ha is None or fw.ha.state == "active"
    counts = fw.net.session_counts(now, fw.noise(), active=active)
    values = {
        "tmo-sctpshutdown": 60,
        "tcp-nonsyn-rej": "True",
        "tmo-tcpinit": 5,
        "tmo-tcp": 3600,
        "pps": counts["pps"],
        "tmo-tcp-delayed-ack": 25,
        "num-max": 819200,
        "age-scan-thresh": 80,
        "tmo-tcphalfclosed": 120,
        "num-active": counts["num-active"],
        "tmo-sctp": 3600,
        "dis-def": 60,
        "num-mcast": 0,
        "icmp-unreachable-rate": 200,
        "tmo-tcptimewait": 15,
        "age-scan-ssf": 8,
        "tmo-udp": 30,
        "vardata-rate": 10485760,
        "age-scan-tmo": 10,
        "dis-sctp": 30,
        "dp": "*.dp0",
        "dis-tcp": 90,
        "tcp-reject-siw-thresh": 4,
        "num-udp": counts["num-udp"],
        "tmo-sctpcookie": 60,
        "tmo-icmp": 6,
        "max-pending-mcast": 0,
        "age-accel-thresh": 80,
        "tcp-diff-syn-rej": "True",
        "num-gtpc": 0,
        "oor-action": "drop",
        "tmo-def": 30,
        "num-predict": 0,
        "age-accel-en": "True",
        "age-accel-tsf": 2,
        "hw-offload": "True",
        "num-icmp": counts["num-icmp"],
        "num-gtpu-active": 0,
        "tmo-cp": 30,
        "tcp-strict-rst": "True",
        "tmo-sctpinit": 5,
        "strict-checksum": "True",
        "tmo-tcp-unverif-rst": 30,
        "num-bcast": 0,
        "ipv6-fw": "True",
        "cps": counts["cps"],
        "num-installed": counts["num-active"] * 7,
        "num-tcp": counts["num-tcp"],
        "dis-udp": 60,
        "num-sctp-assoc": 0,
        "num-sctp-sess": 0,
        "tcp-reject-siw-enable": "False",
        "tmo-tcphandshake": 10,
        "hw-udp-offload": "True",
        "kbps": counts["kbps"],
        "num-gtpu-pending": 0,
        "tmo-5gcdelete": 15,
        "tcp-cong-ctrl": 3,
        "num-http2-5gc": 0,
        "num-imsi": 0,
        "num-pfcpc": 0,
    }
    return fields(values)


def routes(fw: SimFirewall, now: float, vr: str | None = None) -> str:
    flags = leaf(
        "flags",
        "flags: A:active, ?:loose, C:connect, H:host, S:static, ~:internal, R:rip, O:ospf, B:bgp, "
        "Oi:ospf intra-area, Oo:ospf inter-area, O1:ospf ext-type-1, O2:ospf ext-type-2, E:ecmp, M:multicast",
    )
    return flags + entries(r for r in fw.net.route_table(now) if vr is None or r["virtual-router"] == vr)


def fib(fw: SimFirewall, now: float, vr: str | None = None) -> str:
    by_vr: dict[str, list[dict[str, str]]] = {}
    for r in fw.net.route_table(now):
        if vr is not None and r["virtual-router"] != vr:
            continue
        by_vr.setdefault(r["virtual-router"], []).append(r)
    vrs = []
    for i, (vr, rows) in enumerate(sorted(by_vr.items()), start=1):
        fib_rows = [
            {
                "id": n,
                "dst": r["destination"],
                "interface": r["interface"] or "loopback",
                "nh_type": "0" if "S" in r["flags"] else "3",
                "flags": "ug" if "S" in r["flags"] else "u",
                "nexthop": r["nexthop"],
                "mtu": "1500",
            }
            for n, r in enumerate(rows, start=1)
        ]
        vrs.append(
            node(
                "entry",
                fields({"id": i, "name": vr, "max": 2500, "nentries": len(fib_rows)}),
                node("entries", entries(fib_rows)),
            )
        )
    return leaf("total", len(vrs)) + node("fibs", *vrs)


def arp(fw: SimFirewall, now: float) -> str:
    rows = fw.net.arp_table(now, fw.noise())
    return fields({"max": 3000, "total": len(rows), "timeout": 1800, "dp": "dp0"}) + node(
        "entries", entries(rows)
    )


def interfaces_hardware(fw: SimFirewall) -> str:
    rows = []
    for n in range(1, 9):
        up = n <= 4 or n == 8
        rows.append(
            {
                "name": f"ethernet1/{n}",
                "duplex": "full" if up else "auto",
                "type": "0",
                "state": "up" if up else "down",
                "st": "1000/full/up" if up else "ukn/ukn/down(autoneg)",
                "mac": mac_of(fw.index, 10 + n),
                "mode": "(autoneg)",
                "speed": "1000" if up else "ukn",
                "id": str(15 + n),
            }
        )
    return node("hw", entries(rows))


def interface_mtu_state(fw: SimFirewall) -> str:
    parts = [
        f"'ethernet1/{n}': {{ 'hwaddr': {mac_of(fw.index, 10 + n)}, 'mtu': 1500, }}" for n in range(1, 9)
    ]
    parts += ["'ha1-a': { }", "'ha1-b': { }"]
    return cdata("sw.dev.interface.config: { " + ", ".join(parts) + ", }")


def licenses(fw: SimFirewall) -> str:
    """``request license info``; the ``licenses`` fault makes them expired (a date in the past, ``expired``
    yes) or absent (``<licenses/>``, no entry)."""
    fault = fw.faults.get("licenses")
    state = str(fault.get("state")) if fault is not None else "valid"
    if state == "absent":
        return node("licenses")
    expired = state == "expired"
    rows = []
    for feature, description in (
        ("Threat Prevention", "Threat Prevention"),
        ("PAN-DB URL Filtering", "Palo Alto Networks URL Filtering License"),
        ("WildFire License", "WildFire signature feed, integrated WildFire logs, WildFire API"),
        ("Premium", "24 x 7 phone support; advanced replacement hardware service"),
        ("GlobalProtect Gateway", "GlobalProtect Gateway License"),
    ):
        rows.append(
            {
                "feature": feature,
                "description": description,
                "serial": fw.serial,
                "issued": "January 06, 2022" if expired else "January 06, 2025",
                "expires": "January 06, 2025" if expired else "January 06, 2099",
                "expired": "yes" if expired else "no",
                "base-license-name": fw.spec.model,
                "authcode": "",
            }
        )
    return node("licenses", entries(rows))


def support_info() -> str:
    links = "".join(
        node("Link", leaf("Title", title), leaf("Url", url))
        for title, url in (
            ("Contact Us", "https://www.paloaltonetworks.com/company/contact-us.html"),
            ("Support Home", "https://www.paloaltonetworks.com/support/tabs/overview.html"),
        )
    )
    support = node(
        "Support",
        node("Contact", leaf("Contact", "Click the contact link at right.")),
        leaf("ExpiryDate", "December 31, 2099"),
        leaf("SupportLevel", "Premium"),
        leaf("SupportDescription", "24 x 7 phone support; advanced replacement hardware service"),
    )
    return node("SupportInfoResponse", node("Links", links), support)


def ntp(fw: SimFirewall, now: float) -> str:
    synced = now >= fw.ntp_synced_at
    return fields(
        {
            "synched": "0.pool.ntp.org" if synced else "LOCAL",
            "ntp-server-1": Raw(
                fields(
                    {
                        "status": "synched" if synced else "available",
                        "authentication-type": "none",
                        "reachable": "yes",
                        "name": "0.pool.ntp.org",
                    }
                )
            ),
            "ntp-server-2": Raw(
                fields(
                    {
                        "status": "available",
                        "authentication-type": "none",
                        "reachable": "yes",
                        "name": "1.pool.ntp.org",
                    }
                )
            ),
        }
    )


def panorama_status(fw: SimFirewall, now: float) -> str:
    connected = "yes" if fw.panorama_connected(now) else "no"
    text = (
        f"Panorama Server 1 : {fw.world.panorama.address}\n"
        f"    Connected     : {connected}\n"
        "    HA state      : disconnected\n"
    )
    return cdata(text)


def tunnels() -> str:
    ipsec = entries(
        [
            {
                "name": "tun-hq",
                "id": "1",
                "gwid": "1",
                "inner-if": "tunnel.1",
                "outer-if": "ethernet1/1",
                "localip": "0.0.0.0",
                "peerip": "198.51.100.1",
                "state": "active",
                "mon": "off",
                "owner": "1",
            }
        ]
    )
    return (
        node("IPSec", ipsec)
        + node("SSL-VPN")
        + node("GlobalProtect-Gateway")
        + node("GlobalProtect-site-to-site")
        + node("hop")
    )


def resource_monitor(minutes: int, fw: SimFirewall) -> str:
    rng = fw.noise()
    cores = []
    for core in range(2):
        values = ",".join(str(rng.randint(1, 12)) for _ in range(minutes))
        cores.append(node("entry", leaf("coreid", core), leaf("value", values)))
    minute = node(
        "minute",
        node("cpu-load-average", *cores),
        node("cpu-load-maximum", *cores),
        node("resource-utilization", node("entry", leaf("name", "session"), leaf("value", "1,1,1,1,1"))),
    )
    return node("resource-monitor", node("data-processors", node("dp0", minute)))


def mp_exports(fw: SimFirewall) -> str:
    load = fw.noise().randint(2, 15)
    return cdata(
        f"sys.monitor.s0.mp.exports: {{ 'cpu': {{ '1minavg': {load}, '5minavg': {load}, }}, 'disks': [ ], "
        "'mem': { 'pct_used': 52, }, 'slot': 0, }"
    )


def system_resources(fw: SimFirewall) -> str:
    used = 8155.2 + fw.noise().uniform(-200, 200)
    return cdata(
        "top - 10:31:52 up 12 days,  3:04,  0 users,  load average: 0.61, 0.55, 0.52\n"
        "Tasks: 231 total,   1 running, 230 sleeping,   0 stopped,   0 zombie\n"
        "%Cpu(s):  3.1 us,  1.5 sy,  0.0 ni, 95.1 id,  0.2 wa,  0.0 hi,  0.1 si,  0.0 st\n"
        f"MiB Mem :  15925.6 total,   2102.0 free,   {used:.1f} used,   5668.4 buff/cache\n"
        "MiB Swap:   2048.0 total,   2048.0 free,      0.0 used.   6873.1 avail Mem\n"
    )


def environmentals(fw: SimFirewall) -> str:
    if fw.hw.virtual:
        return ""

    def slot(rows: list[dict[str, object]]) -> str:
        return node("Slot1", entries(rows))

    return (
        node(
            "thermal",
            slot(
                [
                    {
                        "slot": 1,
                        "description": "Temperature near CPU",
                        "min": "5.0",
                        "max": "70.0",
                        "alarm": "False",
                        "DegreesC": "41.2",
                    }
                ]
            ),
        )
        + node(
            "fan",
            slot([{"slot": 1, "description": "Fan #1 RPM", "min": "1000", "alarm": "False", "RPMs": "3900"}]),
        )
        + node(
            "power",
            slot(
                [
                    {
                        "slot": 1,
                        "description": "Power: 1.0V",
                        "min": "0.9",
                        "max": "1.1",
                        "alarm": "False",
                        "Volts": "1.0",
                    }
                ]
            ),
        )
        + node(
            "power-supply",
            slot([{"slot": 1, "description": "Power Supply #1", "alarm": "False", "Inserted": "True"}]),
        )
    )
