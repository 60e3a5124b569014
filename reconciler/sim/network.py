"""Sessions, routes and ARP of one firewall: a seeded base table with small noise.

During a reboot the tables are unavailable (the device does not answer); after boot the route table holds
only connected routes, ARP is empty and sessions ramp up until ``recover_at``. The ``routes_missing`` /
``arp_missing`` faults remove a fraction of entries for good after an upgrade reboot.
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass, field
from typing import Any

INTERFACES = ("ethernet1/1", "ethernet1/2", "ethernet1/3", "ethernet1/4")
Route = tuple[str, str, str, str, str, str]  # virtual-router, destination, nexthop, metric, flags, interface


@dataclass
class NetworkState:
    """Only the random draws are kept (bytes and arrays); every entry is derived from them and the device's
    index when asked. As dicts, the tables of 2,000 simulated firewalls took ~50 MB."""

    index: int
    static_octets: bytes  # per static route: the third octet of its 172.x.y.0/24 destination
    arp_macs: bytes  # per ARP entry: the last octet of its MAC address
    arp_ttls: array[int]  # per ARP entry: its base TTL
    sessions_base: int
    session_bytes: array[int]  # per sample session: its total-byte-count
    recover_at: float = float("-inf")
    booted_at: float = float("-inf")
    lost_routes: set[int] = field(default_factory=set)
    lost_arp: set[int] = field(default_factory=set)

    @classmethod
    def generate(cls, rng: random.Random, index: int) -> NetworkState:
        octets = bytes(rng.randint(0, 255) for _ in range(rng.randint(3, 18)))
        macs, ttls = bytearray(), array("H")
        for _ in range(rng.randint(4, 40)):
            macs.append(rng.randint(0, 255))
            ttls.append(rng.randint(100, 1800))
        sample = array("I", (rng.randint(500, 900000) for _ in range(rng.randint(3, 8))))
        return cls(index, octets, bytes(macs), ttls, rng.randint(200, 60000), sample)

    @property
    def site(self) -> int:
        return 10 + self.index % 200

    def routes(self) -> list[Route]:
        site = self.site
        routes: list[Route] = [
            ("default", "0.0.0.0/0", f"203.0.113.{1 + self.index % 250}", "10", "A S   ", "ethernet1/1")
        ]
        for n, iface in enumerate(INTERFACES[1:], start=1):
            routes.append(("default", f"10.{site}.{n}.0/24", "0.0.0.0", "0", "A C   ", iface))
            routes.append(("default", f"10.{site}.{n}.1/32", "0.0.0.0", "0", "A H   ", ""))
        for n, octet in enumerate(self.static_octets):
            dest = f"172.{16 + n % 16}.{octet}.0/24"
            routes.append(("default", dest, f"10.{site}.1.254", "10", "A S   ", "ethernet1/2"))
        routes.append(("vr-dmz", "0.0.0.0/0", f"10.{site}.3.1", "10", "A S   ", "ethernet1/3"))
        routes.append(("vr-dmz", f"192.168.{site}.0/24", "0.0.0.0", "0", "A C   ", "ethernet1/4"))
        return routes

    def boot(self, t: float, recovery: float) -> None:
        self.booted_at = t
        self.recover_at = t + recovery

    def lose(self, rng: random.Random, what: str, fraction: float) -> int:
        """Drop ``fraction`` of the routes (``what='routes'``) or ARP entries for good; return how many.
        Connected routes stay."""
        if what == "routes":
            lost = self.lost_routes
            candidates = [
                i for i, r in enumerate(self.routes()) if i not in lost and not r[4].startswith("A C")
            ]
        else:
            lost = self.lost_arp
            candidates = [i for i in range(len(self.arp_macs)) if i not in lost]
        count = round(len(candidates) * fraction)
        lost.update(rng.sample(candidates, count) if count else [])
        return count

    def recovered(self, now: float) -> bool:
        return now >= self.recover_at

    def virtual_routers(self) -> set[str]:
        return {route[0] for route in self.routes()}

    def route_table(self, now: float) -> list[dict[str, str]]:
        out = []
        recovered = self.recovered(now)
        for i, (vr, dest, nexthop, metric, flags, iface) in enumerate(self.routes()):
            if i in self.lost_routes:
                continue
            if not recovered and "C" not in flags and "H" not in flags:
                continue
            out.append(
                {
                    "virtual-router": vr,
                    "destination": dest,
                    "nexthop": nexthop,
                    "metric": metric,
                    "flags": flags,
                    "age": "",
                    "interface": iface,
                    "route-table": "unicast",
                }
            )
        return out

    def arp_table(self, now: float, rng: random.Random) -> list[dict[str, str]]:
        if not self.recovered(now):
            return []
        out = []
        site = self.site
        for n, (octet, ttl) in enumerate(zip(self.arp_macs, self.arp_ttls, strict=True)):
            if n in self.lost_arp:
                continue
            iface = INTERFACES[1 + n % 3]
            out.append(
                {
                    "status": "  c  ",
                    "ip": f"10.{site}.{1 + n % 3}.{10 + n}",
                    "mac": f"00:1b:17:{site:02x}:{n:02x}:{octet:02x}",
                    "ttl": str(max(1, ttl + rng.randint(-60, 60))),
                    "interface": iface,
                    "port": iface,
                }
            )
        return out

    def session_counts(self, now: float, rng: random.Random, *, active: bool) -> dict[str, Any]:
        ramp = 1.0
        if now < self.recover_at:
            span = max(self.recover_at - self.booted_at, 1.0)
            ramp = max(0.0, (now - self.booted_at) / span) * 0.5
        total = int(self.sessions_base * ramp * rng.uniform(0.97, 1.03))
        tcp = int(total * 0.8)
        udp = int(total * 0.17)
        return {
            "num-active": total,
            "num-tcp": tcp,
            "num-udp": udp,
            "num-icmp": max(0, total - tcp - udp),
            "cps": int(total / 40) if active else 0,
            "kbps": int(total * 3.1) if active else 0,
            "pps": int(total * 0.9) if active else 0,
        }

    def session_list(self, now: float) -> list[dict[str, str]]:
        if not self.recovered(now):
            return []
        site = self.site
        return [
            {
                "dst": f"10.{site}.2.{20 + n}",
                "xsource": f"10.{site}.1.{30 + n}",
                "source": f"10.{site}.1.{30 + n}",
                "xdst": f"10.{site}.2.{20 + n}",
                "xsport": str(40000 + n),
                "xdport": "443",
                "sport": str(40000 + n),
                "dport": "443",
                "proto": "6",
                "from": "trust",
                "to": "untrust",
                "start-time": "Mon Jan  6 10:00:00 2025",
                "nat": "False",
                "srcnat": "False",
                "dstnat": "False",
                "proxy": "False",
                "decrypt-mirror": "False",
                "state": "ACTIVE",
                "type": "FLOW",
                "total-byte-count": str(byte_count),
                "idx": str(1000 + n),
                "vsys-idx": "1",
                "vsys": "vsys1",
                "application": "ssl",
                "security-rule": "allow-outbound",
                "ingress": "ethernet1/2",
                "egress": "ethernet1/1",
                "flags": "",
            }
            for n, byte_count in enumerate(self.session_bytes)
        ]
