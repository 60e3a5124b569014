"""A plan as data: what each device should do next and why, each group's state, and what it was computed
from. Produced by ``reconciler.core.planner.plan``; its JSON form (``to_json``/``from_json``, ``format_version``)
is ``schemas/plan.schema.json``. ``staleness`` says why a saved plan must not be applied any more.

Actions: ``none`` (``reason`` ``converged`` or ``unmanaged``), ``download``, ``upgrade``, ``blocked``
(``reason`` one of ``BLOCK_REASONS``, ``detail`` for people; decisions never parse ``detail``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from reconciler.core.observed import format_time, parse_time
from reconciler.core.upgrade_path import PathHop
from reconciler.core.version import PanOsVersion
from reconciler.core.windows import CHANGE_FREEZE, OUTSIDE_WINDOW

FORMAT_VERSION = 1
# Nominal cost of the device's own work, to start the units with the longest remaining path first: an
# install with its reboot takes about three times as long as an image download.
HOP_WORK = 3
IMAGE_WORK = 1

NONE = "none"
DOWNLOAD = "download"
UPGRADE = "upgrade"
BLOCKED = "blocked"
ACTIONS = (NONE, DOWNLOAD, UPGRADE, BLOCKED)
CHANGE_ACTIONS = (DOWNLOAD, UPGRADE)

CONVERGED = "converged"
UNMANAGED = "unmanaged"
CONFLICT = "conflict"
HELD_REASON = "held"
FAILED_REASON = "failed"
UNKNOWN_VERSION = "unknown-version"
UNREACHABLE = "unreachable"
NO_PATH = "no-path"
DOWNGRADE_REFUSED = "downgrade-refused"
IMAGES_UNKNOWN = "images-unknown"
HA_PEER_UNHEALTHY = "ha-peer-unhealthy"
PAUSED = "paused"
SUSPENDED = "suspended"  # the group is suspended at run time by an operator (``group suspend``)
FAILURE_BUDGET = "failure-budget"
WAVE_PENDING = "wave-pending"
SOAK = "soak"
PLAN_ERROR = "plan-error"
PANORAMA_TOO_OLD = "panorama-too-old"  # a hop would put the firewall past what its Panorama manages
# ... and the desired state's ``panorama`` target would manage it: waiting for Panorama's own upgrade
PANORAMA_UPGRADE_PENDING = "panorama-upgrade-pending"
BLOCK_REASONS = (
    CONFLICT,
    UNMANAGED,
    HELD_REASON,
    FAILED_REASON,
    UNKNOWN_VERSION,
    NO_PATH,
    DOWNGRADE_REFUSED,
    IMAGES_UNKNOWN,
    UNREACHABLE,
    HA_PEER_UNHEALTHY,
    PANORAMA_TOO_OLD,
    PANORAMA_UPGRADE_PENDING,
    PAUSED,
    SUSPENDED,
    CHANGE_FREEZE,
    OUTSIDE_WINDOW,
    FAILURE_BUDGET,
    WAVE_PENDING,
    SOAK,
    PLAN_ERROR,
)
"""Reasons a device is blocked; ``unmanaged`` only for a device still in progress when no group selects it."""

WAVE_STATES = ("done", "active", "pending", "soaking")


@dataclass(frozen=True)
class DevicePlan:
    """The plan for one device. ``current`` is the version the plan was computed from (text as seen);
    ``target`` None for devices outside every group. ``missing_images``: images of ``hops`` not known to be
    downloaded (all of them when the device's downloads are unknown). ``wave``/``order`` number the
    device's unit in its group (``order`` is the start order); ``work`` is the unit's remaining work in
    nominal units (per hop an install with its reboot ``HOP_WORK``, per image still to download
    ``IMAGE_WORK``; an HA pair: both members' work, done one after the other), by which units start, the
    longest first within a wave; ``ha_pair`` is ``"SERIAL1+SERIAL2"`` (sorted) and ``ha_member`` 1 for the
    member upgraded first (passive), 2 for the other."""

    serial: str
    hostname: str
    group: str | None
    current: str
    target: str | None
    action: str
    hops: tuple[PathHop, ...] = ()
    missing_images: tuple[PanOsVersion, ...] = ()
    reason: str | None = None
    detail: str = ""
    wave: int | None = None
    order: int | None = None
    ha_pair: str | None = None
    ha_member: int | None = None
    in_progress: bool = False
    queued: bool = False
    path_source: str = ""
    work: int = 0

    @property
    def changes(self) -> bool:
        return self.action in CHANGE_ACTIONS

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "hostname": self.hostname,
            "group": self.group,
            "current": self.current,
            "target": self.target,
            "action": self.action,
            "hops": [h.to_json() for h in self.hops],
            "missing_images": [str(v) for v in self.missing_images],
            "reason": self.reason,
            "detail": self.detail,
            "wave": self.wave,
            "order": self.order,
            "ha_pair": self.ha_pair,
            "ha_member": self.ha_member,
            "in_progress": self.in_progress,
            "queued": self.queued,
            "path_source": self.path_source,
            "work": self.work,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DevicePlan:
        return cls(
            serial=data["serial"],
            hostname=data.get("hostname", ""),
            group=data.get("group"),
            current=data.get("current", ""),
            target=data.get("target"),
            action=data["action"],
            hops=tuple(PathHop.from_json(h) for h in data.get("hops", [])),
            missing_images=tuple(PanOsVersion.parse(v) for v in data.get("missing_images", [])),
            reason=data.get("reason"),
            detail=data.get("detail", ""),
            wave=data.get("wave"),
            order=data.get("order"),
            ha_pair=data.get("ha_pair"),
            ha_member=data.get("ha_member"),
            in_progress=bool(data.get("in_progress", False)),
            queued=bool(data.get("queued", False)),
            path_source=data.get("path_source", ""),
            work=int(data.get("work", 0)),
        )


@dataclass(frozen=True)
class WaveSummary:
    """One wave of a group: ``state`` done | active | pending (an earlier wave has not converged) |
    soaking (until ``soak_until``)."""

    number: int
    units: int
    converged: int
    state: str
    soak_until: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "units": self.units,
            "converged": self.converged,
            "state": self.state,
            "soak_until": format_time(self.soak_until),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WaveSummary:
        return cls(
            data["number"],
            data["units"],
            data["converged"],
            data["state"],
            parse_time(data.get("soak_until")),
        )


@dataclass(frozen=True)
class GroupSummary:
    """A group at plan time: its window, waves, failure budget and what its devices will do.
    ``suspended``: why an operator suspended it at run time (``group suspend``; empty when not)."""

    name: str
    target: str
    stage: str
    devices: int
    window_open: bool
    window_reason: str | None = None
    window_detail: str = ""
    next_window_change: datetime | None = None
    paused: bool = False
    waves: tuple[WaveSummary, ...] = ()
    failures: int = 0
    suspended: str = ""
    failure_budget: int = 1
    in_progress: int = 0
    max_parallel: int | None = None
    actions: Mapping[str, int] = field(default_factory=dict)
    blocked: Mapping[str, int] = field(default_factory=dict)

    @property
    def halted(self) -> bool:
        """The failure budget is used up: no new starts in this group."""
        return self.failures >= self.failure_budget

    @property
    def current_wave(self) -> int | None:
        return next((w.number for w in self.waves if w.state != "done"), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "stage": self.stage,
            "devices": self.devices,
            "window_open": self.window_open,
            "window_reason": self.window_reason,
            "window_detail": self.window_detail,
            "next_window_change": format_time(self.next_window_change),
            "paused": self.paused,
            "suspended": self.suspended or None,
            "waves": [w.to_json() for w in self.waves],
            "current_wave": self.current_wave,
            "failures": self.failures,
            "failure_budget": self.failure_budget,
            "halted": self.halted,
            "in_progress": self.in_progress,
            "max_parallel": self.max_parallel,
            "actions": dict(self.actions),
            "blocked": dict(self.blocked),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupSummary:
        return cls(
            name=data["name"],
            target=data["target"],
            stage=data["stage"],
            devices=data["devices"],
            window_open=data["window_open"],
            window_reason=data.get("window_reason"),
            window_detail=data.get("window_detail", ""),
            next_window_change=parse_time(data.get("next_window_change")),
            paused=bool(data.get("paused", False)),
            suspended=str(data.get("suspended") or ""),
            waves=tuple(WaveSummary.from_json(w) for w in data.get("waves", [])),
            failures=data.get("failures", 0),
            failure_budget=data.get("failure_budget", 1),
            in_progress=data.get("in_progress", 0),
            max_parallel=data.get("max_parallel"),
            actions=dict(data.get("actions", {})),
            blocked=dict(data.get("blocked", {})),
        )


@dataclass(frozen=True)
class Plan:
    """A whole plan: what it was computed from (digests, ``generated_at`` = the ``now`` given), each
    group's state and each device's plan. ``partial``: restricted with ``restricted_to`` (``targets``)."""

    generated_at: datetime
    desired_digest: str
    inventory_digest: str
    devices: tuple[DevicePlan, ...]
    groups: tuple[GroupSummary, ...] = ()
    desired_revision: str | None = None
    paused: bool = False
    partial: bool = False
    targets: tuple[str, ...] = ()
    format_version: int = FORMAT_VERSION

    @property
    def changes(self) -> bool:
        """True when some device would be downloaded to or upgraded (Terraform's "changes pending")."""
        return any(d.changes for d in self.devices)

    def device(self, serial: str) -> DevicePlan | None:
        return next((d for d in self.devices if d.serial == serial), None)

    def group(self, name: str) -> GroupSummary | None:
        return next((g for g in self.groups if g.name == name), None)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(ACTIONS, 0)
        for d in self.devices:
            out[d.action] += 1
        return out

    def blocked_reasons(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.devices:
            if d.action == BLOCKED and d.reason:
                out[d.reason] = out.get(d.reason, 0) + 1
        return dict(sorted(out.items()))

    def restricted_to(self, targets: Iterable[str]) -> Plan:
        """Only the devices whose serial or group is in ``targets``; ``ValueError`` names unknown ones."""
        wanted = tuple(dict.fromkeys(targets))
        serials = {d.serial for d in self.devices}
        groups = {g.name for g in self.groups}
        unknown = [t for t in wanted if t not in serials and t not in groups]
        if unknown:
            raise ValueError(f"--target {', '.join(unknown)}: not a serial in the inventory nor a group name")
        devices = tuple(d for d in self.devices if d.serial in wanted or d.group in wanted)
        kept = {d.group for d in devices}
        return replace(
            self,
            devices=devices,
            groups=tuple(g for g in self.groups if g.name in kept),
            partial=True,
            targets=wanted,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "generated_at": self.generated_at.isoformat(),
            "partial": self.partial,
            "targets": list(self.targets),
            "desired": {
                "digest": self.desired_digest,
                "revision": self.desired_revision,
                "paused": self.paused,
            },
            "inventory": {"digest": self.inventory_digest},
            "summary": {"changes": self.changes, "actions": self.counts(), "blocked": self.blocked_reasons()},
            "groups": [g.to_json() for g in self.groups],
            "devices": [d.to_json() for d in self.devices],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        """Read a saved plan; ``ValueError`` if its ``format_version`` is not one this code reads."""
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"plan format_version {data.get('format_version')!r} is not {FORMAT_VERSION}")
        generated = parse_time(data.get("generated_at"))
        if generated is None:
            raise ValueError("plan has no valid generated_at")
        return cls(
            generated_at=generated,
            desired_digest=data["desired"]["digest"],
            inventory_digest=data["inventory"]["digest"],
            devices=tuple(DevicePlan.from_json(d) for d in data.get("devices", [])),
            groups=tuple(GroupSummary.from_json(g) for g in data.get("groups", [])),
            desired_revision=data["desired"].get("revision"),
            paused=bool(data["desired"].get("paused", False)),
            partial=bool(data.get("partial", False)),
            targets=tuple(data.get("targets", [])),
        )


def staleness(
    plan: Plan,
    desired_digest: str,
    inventory_digest: str,
    observed_versions: Mapping[str, str | PanOsVersion | None],
) -> list[str]:
    """Why ``plan`` must not be applied any more ([] = still good): the desired state or the inventory
    changed, or a device with a planned change now runs another version than the plan saw.
    Devices missing from ``observed_versions`` (or mapped to None) are not checked."""
    reasons = []
    if plan.desired_digest != desired_digest:
        reasons.append(
            f"the desired state changed since the plan was made ({plan.desired_digest[:19]} -> {desired_digest[:19]})"
        )
    if plan.inventory_digest != inventory_digest:
        reasons.append(
            f"the inventory changed since the plan was made ({plan.inventory_digest[:19]} -> {inventory_digest[:19]})"
        )
    for d in plan.devices:
        now = observed_versions.get(d.serial)
        if not d.changes or now is None:
            continue
        if str(now) != d.current:
            reasons.append(
                f"{d.serial} ({d.hostname or 'no hostname'}) now runs {now}; the plan saw {d.current or 'nothing'}"
            )
    return reasons
