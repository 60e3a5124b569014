"""Pre/post-flight evidence: snapshots of sessions, routes and ARP, and their comparison with margins. Pure.

A margin is the largest tolerated *drop*, in percent of the pre-flight count (growth is never a breach):
``validation.tcp_session_margin`` for TCP sessions, ``validation.route_margin`` for routes and
``validation.arp_margin`` for ARP entries. Route and ARP entries that disappeared are listed (the first
``MAX_LISTED``) so an operator can see what changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_LISTED = 20


@dataclass(frozen=True)
class Snapshot:
    taken_at: str
    tcp_sessions: int | None = None
    active_sessions: int | None = None
    routes: frozenset[str] = field(default_factory=frozenset)
    arp: frozenset[str] = field(default_factory=frozenset)
    errors: tuple[str, ...] = ()

    @classmethod
    def from_assurance(cls, raw: Mapping[str, Any], taken_at: str) -> Snapshot:
        """Build from panos-upgrade-assurance ``run_snapshots(["session_stats", "routes", "arp_table"])``."""
        errors = []

        def part(name: str) -> Mapping[str, Any] | None:
            entry = raw.get(name)
            if not isinstance(entry, Mapping):
                errors.append(f"{name}: missing")
                return None
            if str(entry.get("status", "")).lower() not in ("success", "snapstatus.success"):
                errors.append(f"{name}: {entry.get('reason') or 'failed'}")
                return None
            snap = entry.get("snapshot")
            return snap if isinstance(snap, Mapping) else {}

        sessions = part("session_stats")
        routes = part("routes")
        arp = part("arp_table")
        return cls(
            taken_at=taken_at,
            tcp_sessions=_int(sessions, "num-tcp"),
            active_sessions=_int(sessions, "num-active"),
            routes=frozenset(routes or ()),
            arp=frozenset(arp or ()),
            errors=tuple(errors),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "taken_at": self.taken_at,
            "tcp_sessions": self.tcp_sessions,
            "active_sessions": self.active_sessions,
            "route_count": len(self.routes),
            "arp_count": len(self.arp),
            "routes": sorted(self.routes),
            "arp": sorted(self.arp),
            "errors": list(self.errors),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Snapshot:
        return cls(
            taken_at=data["taken_at"],
            tcp_sessions=data.get("tcp_sessions"),
            active_sessions=data.get("active_sessions"),
            routes=frozenset(data.get("routes", ())),
            arp=frozenset(data.get("arp", ())),
            errors=tuple(data.get("errors", ())),
        )


def _int(section: Mapping[str, Any] | None, key: str) -> int | None:
    if section is None:
        return None
    value = section.get(key)
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Margins:
    tcp_session_pct: float = 5.0
    route_pct: float = 0.0
    arp_pct: float = 0.0


@dataclass(frozen=True)
class Check:
    name: str
    before: int | None
    after: int | None
    allowed_drop_pct: float
    passed: bool
    detail: str = ""
    missing: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "allowed_drop_pct": self.allowed_drop_pct,
            "passed": self.passed,
            "detail": self.detail,
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class Comparison:
    passed: bool
    checks: tuple[Check, ...]

    @property
    def breaches(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "breaches": self.breaches,
            "checks": [c.to_json() for c in self.checks],
        }


def compare(pre: Snapshot, post: Snapshot, margins: Margins) -> Comparison:
    """Compare post-flight with pre-flight; a drop beyond a margin, or a snapshot error, is a breach."""
    checks = [
        _count_check("tcp_sessions", pre.tcp_sessions, post.tcp_sessions, margins.tcp_session_pct),
        _set_check("routes", pre.routes, post.routes, margins.route_pct),
        _set_check("arp", pre.arp, post.arp, margins.arp_pct),
    ]
    if post.errors:
        checks.append(Check("snapshot", None, None, 0.0, False, "; ".join(post.errors)))
    return Comparison(all(c.passed for c in checks), tuple(checks))


def _drop_pct(before: int, after: int) -> float:
    if before <= 0 or after >= before:
        return 0.0
    return (before - after) * 100.0 / before


def _count_check(name: str, before: int | None, after: int | None, allowed: float) -> Check:
    if before is None:
        return Check(name, before, after, allowed, True, "no pre-flight value; not compared")
    if after is None:
        return Check(name, before, after, allowed, False, "no post-flight value")
    drop = _drop_pct(before, after)
    ok = drop <= allowed + 1e-9
    return Check(
        name, before, after, allowed, ok, f"{before} -> {after} (drop {drop:.1f}%, allowed {allowed:g}%)"
    )


def _set_check(name: str, before: frozenset[str], after: frozenset[str], allowed: float) -> Check:
    gone = sorted(before - after)
    count = _count_check(name, len(before), len(after), allowed)
    # Entries that disappeared count even if others replaced them: compare by the entries themselves.
    lost_pct = len(gone) * 100.0 / len(before) if before else 0.0
    ok = count.passed and lost_pct <= allowed + 1e-9
    detail = count.detail + (f"; {len(gone)} entries gone" if gone else "")
    return Check(name, len(before), len(after), allowed, ok, detail, tuple(gone[:MAX_LISTED]))
