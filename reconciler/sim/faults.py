"""Injectable faults: what can go wrong on one device, with its parameters.

A fault is attached to a device (from the fleet file, ``panos-upgrade sim fault`` or the Python API) and
stays until cleared, or until it has fired ``count`` times when a count is given. Each kind is observable
by an unmodified client, which is what the test suite checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.sim.bad_xml import MODES as BAD_XML_MODES
from reconciler.sim.version import Version


@dataclass(frozen=True)
class FaultKind:
    name: str
    description: str
    params: Mapping[str, type] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)


_KINDS = (
    FaultKind("download_fail", "software download jobs finish FAIL", {"version": str, "count": int}),
    FaultKind(
        "download_stall",
        "software download jobs stop progressing at at_percent and never finish",
        {"version": str, "at_percent": int},
        {"at_percent": 40},
    ),
    FaultKind("install_fail", "software install jobs finish FAIL", {"version": str, "count": int}),
    FaultKind("reboot_hang", "a reboot never comes back (until the fault is cleared)"),
    FaultKind("reboot_old_version", "a reboot comes back on the old version", {"count": int}),
    FaultKind("disk_small", "/opt/panrepo has only free_mb free", {"free_mb": int}, {"free_mb": 900}),
    FaultKind(
        "routes_missing", "after an upgrade reboot, a fraction of routes never come back", {"fraction": float},
        {"fraction": 0.5},
    ),
    FaultKind(
        "arp_missing", "after an upgrade reboot, a fraction of ARP entries never come back", {"fraction": float},
        {"fraction": 0.5},
    ),
    FaultKind("http_500", "answer HTTP 500 at the given rate", {"rate": float}, {"rate": 1.0}),
    FaultKind("drop_connection", "close the connection without answering at the given rate", {"rate": float},
              {"rate": 1.0}),
    FaultKind("slow", "delay answers by delay_ms (real milliseconds) at the given rate",
              {"rate": float, "delay_ms": int}, {"rate": 1.0, "delay_ms": 2000}),
    FaultKind("wrong_credentials", "keygen and every API key are refused with 403"),
    # Panorama's web server under concurrent API load answers 502 Bad Gateway (pan-python issue #43,
    # github.com/kevinsteves/pan-python/issues/43: random 502s on "show jobs id" polling when several
    # clients query one Panorama at once).
    FaultKind(
        "overload_502",
        "each answer takes delay_ms (real milliseconds); a request arriving while max_concurrent are in "
        "flight answers HTTP 502 Bad Gateway",
        {"max_concurrent": int, "delay_ms": int},
        {"max_concurrent": 4, "delay_ms": 200},
    ),
    FaultKind(
        "panorama_unreachable",
        "on Panorama: its API listener is closed; on a firewall: it loses its Panorama connection",
    ),
    # A management address the controller cannot reach (another network, a firewall in between) while
    # Panorama still manages the firewall: only requests proxied by Panorama (``target=SERIAL``) get in.
    FaultKind("direct_unreachable", "on a firewall: its own API listener is closed; Panorama still reaches it"),
    FaultKind("update_server_unreachable", "software/content checks and support checks fail"),
    # After a boot, HA stays ``initial`` while session synchronisation with the peer does not complete
    # (PAN-OS keeps a member in ``initial`` until it has heard from its peer and synchronised; the
    # ``initial`` hold is bounded only by configuration). Default: half an hour of simulated time.
    FaultKind(
        "ha_initial_stuck",
        "after a boot an HA member stays initial for seconds (sim seconds) before settling",
        {"seconds": float, "count": int},
        {"seconds": 1800.0},
    ),
    # The auto-commit PAN-OS runs after every boot (job type AutoCom) fails, e.g. a configuration the new
    # release no longer accepts; readiness tools wait for AutoCom OK (panos-upgrade-assurance, pan-os-python's
    # ``is_ready``), so a failure must be seen, not waited on forever.
    FaultKind("autocommit_fail", "the AutoCom job after a boot finishes FAIL", {"count": int}),
    # ``request license info``: licences expired (``expired`` yes, an expiry date in the past) or absent (no
    # entries), what panos-upgrade-assurance's expired-licenses check and pan-os-upgrade's licence check read.
    FaultKind("licenses", "licences are expired or absent (state)", {"state": str}, {"state": "expired"}),
    FaultKind(
        "bad_xml",
        "answer operational commands (those starting with command, else all) with malformed or unexpected XML",
        {"mode": str, "command": str, "rate": float, "count": int},
        {"mode": "truncated", "rate": 1.0},
    ),
)  # fmt: skip

KINDS: dict[str, FaultKind] = {k.name: k for k in _KINDS}
LICENSE_STATES = ("expired", "absent")


@dataclass(frozen=True)
class Fault:
    """One active fault. ``params`` holds validated values with defaults filled in."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, kind: str, **params: Any) -> Fault:
        """Validate ``kind`` and ``params``; raise ``ValueError`` naming what is wrong."""
        spec = KINDS.get(kind)
        if spec is None:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(KINDS))}")
        values: dict[str, Any] = dict(spec.defaults)
        for name, raw in params.items():
            if raw is None:
                continue
            want = spec.params.get(name)
            if want is None:
                allowed = ", ".join(sorted(spec.params)) or "none"
                raise ValueError(f"fault {kind}: unknown parameter {name!r} (allowed: {allowed})")
            values[name] = _coerce(kind, name, raw, want)
        return cls(kind, values)

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def matches_version(self, version: Version) -> bool:
        wanted = self.params.get("version")
        return wanted is None or Version.parse(wanted) == version

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        params = {k: v for k, v in data.items() if k != "kind"}
        return cls.create(str(data["kind"]), **params)


def _coerce(kind: str, name: str, raw: Any, want: type) -> Any:
    try:
        if want is float:
            value: Any = float(raw)
            if name in ("rate", "fraction") and not 0.0 <= value <= 1.0:
                raise ValueError("must be between 0 and 1")
            if value < 0:
                raise ValueError("must not be negative")
        elif want is int:
            if isinstance(raw, bool):
                raise ValueError("must be an integer")
            value = int(raw)
            if value < 0:
                raise ValueError("must not be negative")
        else:
            value = str(raw)
            if name == "version":
                Version.parse(value)
            elif name == "mode" and value not in BAD_XML_MODES:
                raise ValueError(f"must be one of {', '.join(BAD_XML_MODES)}")
            elif name == "state" and value not in LICENSE_STATES:
                raise ValueError(f"must be one of {', '.join(LICENSE_STATES)}")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"fault {kind}: parameter {name}={raw!r}: {exc}") from None
    return value


class FaultSet:
    """The faults active on one device (at most one per kind; a new one replaces the old)."""

    def __init__(self, faults: tuple[Fault, ...] = ()) -> None:
        self._faults: dict[str, Fault] = {}
        self._fired: dict[str, int] = {}
        for f in faults:
            self.add(f)

    def add(self, fault: Fault) -> None:
        self._faults[fault.kind] = fault
        self._fired[fault.kind] = 0

    def clear(self, kind: str | None = None) -> list[str]:
        """Remove one kind (or all); return the kinds removed."""
        kinds = [kind] if kind is not None else list(self._faults)
        removed = [k for k in kinds if self._faults.pop(k, None) is not None]
        for k in removed:
            self._fired.pop(k, None)
        return removed

    def get(self, kind: str) -> Fault | None:
        return self._faults.get(kind)

    def fire(self, kind: str) -> Fault | None:
        """The fault of ``kind`` if active, counting one firing (and expiring it after ``count`` firings)."""
        fault = self._faults.get(kind)
        if fault is None:
            return None
        self._fired[kind] = self._fired.get(kind, 0) + 1
        count = fault.get("count")
        if count is not None and self._fired[kind] >= int(count):
            self._faults.pop(kind, None)
        return fault

    def active(self) -> list[Fault]:
        return list(self._faults.values())

    def __bool__(self) -> bool:
        return bool(self._faults)
