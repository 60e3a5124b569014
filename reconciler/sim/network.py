"""Sessions, routes and ARP of one firewall: a seeded base table with small noise.

During a reboot the tables are unavailable (the device does not answer); after boot the route table holds
only connected routes, ARP is empty and sessions ramp up until ``recover_at``. The ``routes_missing`` /
``arp_missing`` faults remove a fraction of entries for good after an upgrade reboot.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class NetworkState:
    routes: list[dict[str, str]]
    arp: list[dict[str, str]]
    sessions_base: int
    sessions_sample: list[dict[str, str]]
    recover_at: float = float("-inf")
    booted_at: float = float("-inf")
    lost_routes: set[int] = field(default_factory=set)
    lost_arp: set[int] = field(default_factory=set)

    @classmethod
    def generate(cls, rng: random.Random, index: int) -> NetworkState:
        site = 10 + index % 200
        interfaces = ["ethernet1/1", "ethernet1/2", "ethernet1/3", "ethernet1/4"]
        routes: list[dict[str, str]] = []

        def add(vr: str, dest: str, nexthop: str, flags: str, iface: str, metric: str = "10") -> None:
            routes.append(
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

        add("default", "0.0.0.0/0", f"203.0.113.{1 + index % 250}", "A S   ", "ethernet1/1")
        for n, iface in enumerate(interfaces[1:], start=1):
            add("default", f"10.{site}.{n}.0/24", "0.0.0.0", "A C   ", iface, "0")
            add("default", f"10.{site}.{n}.1/32", "0.0.0.0", "A H   ", "", "0")
        for n in range(rng.randint(3, 18)):
            add(
                "default",
                f"172.{16 + n % 16}.{rng.randint(0, 255)}.0/24",
                f"10.{site}.1.254",
                "A S   ",
                "ethernet1/2",
            )
        add("vr-dmz", "0.0.0.0/0", f"10.{site}.3.1", "A S   ", "ethernet1/3")
        add("vr-dmz", f"192.168.{site}.0/24", "0.0.0.0", "A C   ", "ethernet1/4", "0")
        arp = []
        for n in range(rng.randint(4, 40)):
            iface = interfaces[1 + n % 3]
            arp.append(
                {
                    "status": "  c  ",
                    "ip": f"10.{site}.{1 + n % 3}.{10 + n}",
                    "mac": f"00:1b:17:{site:02x}:{n:02x}:{rng.randint(0, 255):02x}",
                    "ttl": str(rng.randint(100, 1800)),
                    "interface": iface,
                    "port": iface,
                }
            )
        sample = []
        for n in range(rng.randint(3, 8)):
            sample.append(
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
                    "total-byte-count": str(rng.randint(500, 900000)),
                    "idx": str(1000 + n),
                    "vsys-idx": "1",
                    "vsys": "vsys1",
                    "application": "ssl",
                    "security-rule": "allow-outbound",
                    "ingress": "ethernet1/2",
                    "egress": "ethernet1/1",
                    "flags": "",
                }
            )
        return cls(routes, arp, rng.randint(200, 60000), sample)

    def boot(self, t: float, recovery: float) -> None:
        self.booted_at = t
        self.recover_at = t + recovery

    def lose(self, rng: random.Random, what: str, fraction: float) -> int:
        """Drop ``fraction`` of the routes (``what='routes'``) or ARP entries for good; return how many."""
        table, lost = (self.routes, self.lost_routes) if what == "routes" else (self.arp, self.lost_arp)
        candidates = [
            i for i, r in enumerate(table) if i not in lost and not r.get("flags", "").startswith("A C")
        ]
        count = round(len(candidates) * fraction)
        lost.update(rng.sample(candidates, count) if count else [])
        return count

    def recovered(self, now: float) -> bool:
        return now >= self.recover_at

    def virtual_routers(self) -> set[str]:
        return {route["virtual-router"] for route in self.routes}

    def route_table(self, now: float) -> list[dict[str, str]]:
        out = []
        for i, route in enumerate(self.routes):
            if i in self.lost_routes:
                continue
            if not self.recovered(now) and "C" not in route["flags"] and "H" not in route["flags"]:
                continue
            r = dict(route)
            if "S" in r["flags"] or "C" in r["flags"]:
                r["age"] = ""
            out.append(r)
        return out

    def arp_table(self, now: float, rng: random.Random) -> list[dict[str, str]]:
        if not self.recovered(now):
            return []
        out = []
        for i, entry in enumerate(self.arp):
            if i in self.lost_arp:
                continue
            e = dict(entry)
            e["ttl"] = str(max(1, int(entry["ttl"]) + rng.randint(-60, 60)))
            out.append(e)
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
        return [] if not self.recovered(now) else [dict(s) for s in self.sessions_sample]
