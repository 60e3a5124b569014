"""The planner: ``plan(desired, inventory, observed, status, now) -> Plan``. Pure: no I/O, no clock reads.

Per device the plan says what should happen next and why (DESIGN.md section 5):

- ``none``: converged (``reason="converged"``), or not managed by any group (``reason="unmanaged"``);
- ``download``: a ``stage: downloaded`` group still needs images on the device;
- ``upgrade``: install ``hops`` in order (each hop lists the images to have downloaded first);
- ``blocked``: nothing may start, ``reason`` says why (``BLOCK_REASONS``), ``detail`` says it for people.

How the decision is made, in order (the first rule that applies gives the reason):

1. Selection: a device matched by two groups, or an HA member whose peer is in another group (or none),
   is ``conflict``; one matched by no group is unmanaged.
2. Device: ``held`` (held or cancelled by an operator); ``failed`` (it failed toward this target while
   the group meant what it means now, ``DesiredState.group_digest``: a change of the group's meaning or a
   ``device retry`` clears it, a comment, a pacing setting or a new git revision does not);
   an operator's rollback (in progress, or done or failed while its hold lasts: the group's target is still
   the one rolled back from and nobody released it) is ``held``;
   ``unknown-version``; converged devices are ``none``; the path may give ``no-path``,
   ``downgrade-refused`` or ``images-unknown`` (a device in progress shows the hops its record still
   has instead of ``images-unknown``); ``panorama-too-old`` (a hop would put the firewall past what the
   discovered Panorama, the older of a Panorama HA pair, can manage: ``reconciler.core.panorama``; a device
   already in progress keeps going), or ``panorama-upgrade-pending`` when the desired state's ``panorama``
   target would manage that hop (see "Panorama" below); ``unreachable``.
3. HA pair: both members share one unit, passive member first (``ha_member`` 1, active 2). If a member is
   blocked, suspended/non-functional/initial, out of sync, or the two run releases more than one feature
   release apart, the other member is ``ha-peer-unhealthy``. A pair stopped half-way (one member held,
   cancelled or failed, the other resting in ``pending`` or ``next_hop``) is not in progress: the resting
   member is ``ha-peer-unhealthy`` with "waiting for HA peer <serial> (held|failed)".
4. Group gates, for units not yet started: ``suspended`` (an operator suspended the group at run time:
   ``suspended`` names the groups, with why), ``paused`` (global or group), ``change-freeze`` (a deny window
   is open), ``outside-window`` (no maintenance window open), ``failure-budget`` (the group's failures
   toward this target and group meaning reached its budget), ``wave-pending`` (an earlier wave has not
   converged), ``soak`` (the earlier waves converged less than ``soak`` ago).
   Units already in progress keep going through budget and wave gates (they were allowed to start), but
   ``suspended``, ``paused``, ``change-freeze`` and ``outside-window`` mark them ``blocked`` with ``in_progress=True``:
   the engine brings them to the next safe point and stops (never interrupting an install or reboot).
5. Parallelism: ready units beyond the group's ``max_parallel`` (minus units in progress) keep their
   action with ``queued=True``.

Waves: a group's units (HA pair = one unit) are ranked: units the engine worked on toward the target
(in progress, done or failed) first, then units with work to do, then units converged all along; within a
rank by hostname then serial. The first ``canary`` units are wave 1, the rest wave 2 (without ``waves``
everything is wave 1), so a canary stays a canary once started. ``order`` numbers units within the group in
the order they start: by wave, then the longest remaining path first (``work``: per hop an install with its
reboot, per image still to download; an HA pair adds up both members' work), then hostname and serial. The
``max_parallel`` slots go in that order too.

Panorama: with a ``panorama`` block (``DesiredState.panorama``, a group named ``panorama``), Panorama and
its HA peer (``Inventory.panoramas``) are planned first, as one unit of that group, by the same device, pair
and group rules (paths, windows, pause, suspension, budget); they come first in the plan. Firewall hops are
then checked against the Panorama version that manages them: the discovered one (the older of a pair)
until Panorama's unit has converged on its target (verified by the engine, or found there), then that
version. A hop past it waits as ``panorama-upgrade-pending`` while the target would manage it (the detail
says what Panorama is doing: planned, in progress, failed, blocked), and is ``panorama-too-old`` otherwise.
So firewalls start on their own once Panorama is verified on its new version, and a Panorama that failed
leaves them waiting.

The data it returns (``Plan``, ``DevicePlan``, ``GroupSummary``, the action and reason names) lives in
``reconciler.core.plan`` and is re-exported here.

The version a device runs is, in order: ``observed[serial].version``; the engine's recorded
``current_version`` when newer than the inventory; the inventory's ``sw_version``. That value is saved in
the plan (``current``) so ``staleness`` can refuse applying a plan the fleet has moved away from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from copy import copy
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from reconciler.core.desired import PANORAMA_GROUP, DesiredState, Group
from reconciler.core.inventory import Device, Inventory
from reconciler.core.observed import UNHEALTHY_HA_STATES, Observed, parse_time
from reconciler.core.panorama import can_manage, managing_version, too_old_detail
from reconciler.core.plan import (
    ACTIONS,
    BLOCK_REASONS,
    BLOCKED,
    CHANGE_ACTIONS,
    CONFLICT,
    CONVERGED,
    DOWNGRADE_REFUSED,
    DOWNLOAD,
    FAILED_REASON,
    FAILURE_BUDGET,
    FORMAT_VERSION,
    HA_PEER_UNHEALTHY,
    HELD_REASON,
    HOP_WORK,
    IMAGE_WORK,
    IMAGES_UNKNOWN,
    NO_PATH,
    NONE,
    PANORAMA_TOO_OLD,
    PANORAMA_UPGRADE_PENDING,
    PAUSED,
    PLAN_ERROR,
    SOAK,
    SUSPENDED,
    UNKNOWN_VERSION,
    UNMANAGED,
    UNREACHABLE,
    UPGRADE,
    WAVE_PENDING,
    DevicePlan,
    GroupSummary,
    Plan,
    WaveSummary,
    staleness,
)
from reconciler.core.progress import CANCELLED, DONE, FAILED, HELD, IN_PROGRESS, DeviceProgress
from reconciler.core.rules import DEFAULT_RULES, UpgradeRules
from reconciler.core.selectors import assign
from reconciler.core.upgrade_path import ImageOffer, PathHop, UpgradePath, find_path, resolve_path
from reconciler.core.version import PanOsVersion
from reconciler.core.windows import CHANGE_FREEZE, OUTSIDE_WINDOW, Schedule, WindowState

__all__ = [
    "ACTIONS",
    "BLOCKED",
    "BLOCK_REASONS",
    "CHANGE_ACTIONS",
    "CHANGE_FREEZE",
    "CONFLICT",
    "CONVERGED",
    "DOWNGRADE_REFUSED",
    "DOWNLOAD",
    "FAILED_REASON",
    "FAILURE_BUDGET",
    "FORMAT_VERSION",
    "HA_PEER_UNHEALTHY",
    "HELD_REASON",
    "IMAGES_UNKNOWN",
    "NONE",
    "NO_PATH",
    "OUTSIDE_WINDOW",
    "PANORAMA_TOO_OLD",
    "PANORAMA_UPGRADE_PENDING",
    "PAUSED",
    "SOAK",
    "SUSPENDED",
    "UNKNOWN_VERSION",
    "UNMANAGED",
    "UNREACHABLE",
    "UPGRADE",
    "WAVE_PENDING",
    "DevicePlan",
    "GroupSummary",
    "Plan",
    "PlanMemo",
    "WaveSummary",
    "plan",
    "staleness",
]


@dataclass
class _Work:
    """A device's plan while it is being decided (mutable only inside ``plan``)."""

    device: Device
    group: Group | None
    current: PanOsVersion | None
    current_text: str
    progress: DeviceProgress | None
    observed: Observed | None
    action: str = NONE
    reason: str | None = None
    detail: str = ""
    hops: tuple[PathHop, ...] = ()
    missing: tuple[PanOsVersion, ...] = ()
    in_progress: bool = False
    failed: bool = False
    path_source: str = ""
    wave: int | None = None
    order: int | None = None
    ha_pair: str | None = None
    ha_member: int | None = None
    queued: bool = False
    work: int = 0

    def block(self, reason: str, detail: str) -> None:
        self.action, self.reason, self.detail = BLOCKED, reason, detail

    @property
    def wants_change(self) -> bool:
        return self.action in CHANGE_ACTIONS

    @property
    def local_block(self) -> bool:
        return self.action == BLOCKED

    def frozen(self) -> DevicePlan:
        return DevicePlan(
            serial=self.device.serial,
            hostname=self.device.hostname,
            group=self.group.name if self.group else None,
            current=self.current_text,
            target=str(self.group.target) if self.group else None,
            action=self.action,
            hops=self.hops,
            missing_images=self.missing,
            reason=self.reason,
            detail=self.detail,
            wave=self.wave,
            order=self.order,
            ha_pair=self.ha_pair,
            ha_member=self.ha_member,
            in_progress=self.in_progress,
            queued=self.queued,
            path_source=self.path_source,
            work=self.work,
        )


@dataclass
class _Unit:
    """Devices upgraded as one: a standalone firewall, or an HA pair (passive member first)."""

    members: list[_Work]
    key: tuple[str, str]
    pair_id: str | None = None
    wave: int = 1

    @property
    def converged(self) -> bool:
        return all(m.action == NONE for m in self.members)

    @property
    def in_progress(self) -> bool:
        return any(m.in_progress for m in self.members)

    @property
    def work(self) -> int:
        """The unit's remaining work (``DevicePlan.work``): its members' hops and missing images; an HA
        pair's members work one after the other, so their work adds up."""
        return sum(_member_work(m) for m in self.members)

    @property
    def ready(self) -> bool:
        """Needs work, nothing blocks it yet, and it has not started."""
        return (
            not self.in_progress
            and any(m.wants_change for m in self.members)
            and not any(m.local_block for m in self.members)
        )


class _PathCache:
    """Paths depend only on a few values that many devices share; compute each combination once."""

    def __init__(self, desired: DesiredState, rules: UpgradeRules) -> None:
        self.desired = desired
        self.rules = rules
        self.paths: dict[tuple[Any, ...], UpgradePath] = {}
        self.offers: dict[tuple[Any, Any], ImageOffer] = {}
        self.by_available: dict[tuple[PanOsVersion, ...], tuple[frozenset[PanOsVersion], ImageOffer]] = {}

    def offer(self, observed: Observed | None) -> ImageOffer:
        if observed is not None and observed.available is not None:
            # Devices offer the same list with different images downloaded, nearly always among the offered
            # ones: then the offer is the list's (one per list, not one per combination).
            seen = self.by_available.get(observed.available)
            if seen is None:
                offer = ImageOffer.of(observed.available)
                seen = self.by_available[observed.available] = (frozenset(observed.available), offer)
            if all(v in seen[0] for v in observed.downloaded or ()):
                return seen[1]
        key = (observed.available, observed.downloaded) if observed is not None else (None, None)
        cached = self.offers.get(key)
        if cached is None:
            cached = self.offers[key] = ImageOffer.of(observed.offered() if observed is not None else None)
        return cached

    def find(self, group: Group, current: PanOsVersion, offer: ImageOffer, ha: bool) -> UpgradePath:
        key = (group.target, group.path, group.allow_downgrade, current, offer, ha)
        path = self.paths.get(key)
        if path is None:
            path = self.paths[key] = find_path(
                current,
                group.target,
                spec=group.path,
                table=self.desired.upgrade_paths,
                available=offer,
                ha=ha,
                allow_downgrade=group.allow_downgrade,
                rules=self.rules,
            )
        return path


def plan(
    desired: DesiredState,
    inventory: Inventory,
    observed: Mapping[str, Observed],
    status: Mapping[str, DeviceProgress],
    now: datetime,
    *,
    rules: UpgradeRules = DEFAULT_RULES,
    suspended: Mapping[str, str] | None = None,
    memo: PlanMemo | None = None,
) -> Plan:
    """Plan every device of ``inventory`` against ``desired`` at ``now`` (timezone-aware).

    ``observed`` and ``status`` map serials to what was seen live and to the engine's progress; either
    may lack any device. ``suspended`` maps the names of groups an operator suspended to why (the desired
    state stays the source of truth for targets; a suspension only stops new work). Deterministic: the same
    inputs give the same plan. ``memo`` (a ``PlanMemo`` kept by the caller between calls) re-plans only
    what changed since the last call with it; the plan is the same as without it.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("plan(): now must be timezone-aware")
    ctx = (memo if memo is not None else PlanMemo())._context(
        desired, inventory, rules, keep=memo is not None
    )
    meant = ctx.desired  # ``desired`` itself, or an equal one the memo's decisions were made with
    panorama_works, panorama_summary, gate = _plan_panorama(
        meant, inventory, observed, status, now, ctx.cache, rules, suspended or {}
    )
    ctx.use_gate(gate)
    decided, works, groups = ctx.decided, ctx.works, ctx.groups
    changed: set[str | None] = set()  # groups (None: devices of no group) with a device decided again
    for device in inventory:
        serial = device.serial
        obs, prog = observed.get(serial), status.get(serial)
        seen = decided.get(serial)
        if seen is not None and seen[0] is obs and seen[1] is prog:
            continue
        group_name = ctx.group_of.get(serial)
        work = _start(device, groups.get(group_name) if group_name else None, observed, status)
        if serial in ctx.conflicts:
            names = ", ".join(repr(n) for n in ctx.conflicts[serial])
            work.block(CONFLICT, f"selected by groups {names}; a device may belong to one group only")
        elif work.group is None:
            _unmanaged(work)
        else:
            try:
                _decide_device(work, work.group, meant, inventory, ctx.cache, rules, gate)
            except Exception as exc:  # one device's planning never stops the others' (a value, below)
                _plan_error(work, exc)
        decided[serial] = (obs, prog)
        works[serial] = work
        changed.add(work.group.name if work.group is not None else None)
    summaries = []
    windows: dict[Schedule, WindowState] = {}
    for group in meant.groups:
        why = (suspended or {}).get(group.name, "")
        window = windows.get(group.schedule)
        if window is None:
            window = windows[group.schedule] = group.schedule.state(now)
        kept = ctx.gated.get(group.name)
        if kept is not None and group.name not in changed and kept.holds(why, window, now):
            summaries.append(kept.summary)
            continue
        members = [ctx.fresh(works[s]) for s in ctx.members.get(group.name, ())]
        units = _units({m.device.serial: m for m in members}, ctx.group_of, works).get(group.name, [])
        soak_edges: list[datetime] = []
        try:
            for unit in units:
                _check_pair(unit, rules)
            summary = _gate_group(group, units, meant, now, why, window=window, soak_edges=soak_edges)
        except Exception as exc:  # one group's planning never stops the others' (a value, below)
            summary = _broken_group(group, units, exc)
        ordered = tuple(sorted((m.frozen() for m in members), key=_in_group))
        ctx.gated[group.name] = _Gated(why, window, tuple((t, now < t) for t in soak_edges), summary, ordered)
        summaries.append(summary)
    if None in changed or ctx.loose is None:
        ctx.loose = tuple(sorted((works[s].frozen() for s in ctx.loose_serials), key=_in_group))
    # Panorama's unit comes first (firewalls may wait for it), then each group's devices in the group's
    # order, then devices of no group by serial.
    devices = sorted((w.frozen() for w in panorama_works), key=_in_group)
    for group in meant.groups:
        devices.extend(ctx.gated[group.name].devices)
    devices.extend(ctx.loose)
    if panorama_summary is not None:
        summaries.insert(0, panorama_summary)
    return Plan(
        generated_at=now,
        desired_digest=desired.digest,
        inventory_digest=ctx.inventory_digest,
        devices=tuple(devices),
        groups=tuple(summaries),
        desired_revision=desired.revision,
        paused=desired.paused,
    )


def _in_group(d: DevicePlan) -> tuple[int, int, str]:
    """A device's place within its group in the plan: its unit's order, passive member first."""
    return (d.order or 0, d.ha_member or 0, d.serial)


@dataclass(frozen=True)
class _Gated:
    """A group as the last call gated it, and what its gating read of ``now``: the window's state, and
    for each soak deadline whether ``now`` was before it."""

    why: str
    window: WindowState
    soak: tuple[tuple[datetime, bool], ...]
    summary: GroupSummary
    devices: tuple[DevicePlan, ...]

    def holds(self, why: str, window: WindowState, now: datetime) -> bool:
        """The same gating would come out again: same suspension, window state and soak answers."""
        return why == self.why and window == self.window and all((now < t) == b for t, b in self.soak)


class PlanMemo:
    """What ``plan`` keeps between calls so that a reconcile pass re-plans only what changed (issue 18.5).

    A device keeps its decision while its observation and its progress are the very objects of the last
    call (both immutable; the engine keeps a device's until its record changes). A group keeps its gating
    (waves, order, slots, gates) while none of its devices was decided again and its suspension, its
    window's state and its soak deadlines read the same at ``now``. Another inventory object, a desired
    state that is not equal, other rules or a change in what Panorama lets firewalls do start afresh.
    The plan is always the one a call without a memo gives (a property test compares the two).
    """

    def __init__(self) -> None:
        self._ctx: _Context | None = None

    def _context(
        self, desired: DesiredState, inventory: Inventory, rules: UpgradeRules, *, keep: bool
    ) -> _Context:
        ctx = self._ctx
        if (
            ctx is None
            or ctx.inventory is not inventory
            or ctx.rules is not rules
            or not (
                ctx.desired is desired or (ctx.desired.digest == desired.digest and ctx.desired == desired)
            )
        ):
            ctx = self._ctx = _Context(desired, inventory, rules, keep=keep)
        return ctx


class _Context:
    """One memo's decisions for one inventory, desired state and rules table."""

    def __init__(
        self, desired: DesiredState, inventory: Inventory, rules: UpgradeRules, *, keep: bool
    ) -> None:
        self.desired, self.inventory, self.rules, self.keep = desired, inventory, rules, keep
        assignment = assign([(g.name, g.selection) for g in desired.groups], inventory)
        self.group_of, self.conflicts = assignment.group_of, assignment.conflicts
        self.groups = {g.name: g for g in desired.groups}
        self.cache = _PathCache(desired, rules)
        self.members: dict[str, list[str]] = {}  # group -> its devices' serials, in inventory order
        self.loose_serials: list[str] = []  # devices of no group
        for device in inventory:
            name = self.group_of.get(device.serial)
            if name and name in self.groups:
                self.members.setdefault(name, []).append(device.serial)
            else:
                self.loose_serials.append(device.serial)
        self.decided: dict[str, tuple[Observed | None, DeviceProgress | None]] = {}
        self.works: dict[str, _Work] = {}  # each device as decided, before its group's gating
        self.gated: dict[str, _Gated] = {}
        self.loose: tuple[DevicePlan, ...] | None = None
        self.gate: _PanoramaGate | None = None
        self._inventory_digest = ""

    @property
    def inventory_digest(self) -> str:
        if not self._inventory_digest:
            self._inventory_digest = self.inventory.digest()
        return self._inventory_digest

    def use_gate(self, gate: _PanoramaGate) -> None:
        """Firewall decisions depend on what Panorama lets them do: a change decides every device again."""
        if gate != self.gate:
            self.decided.clear()
            self.gated.clear()
            self.gate = gate

    def fresh(self, work: _Work) -> _Work:
        """A device's decision to gate: a copy when it is kept for the next call (gating changes it)."""
        return copy(work) if self.keep else work


def _start(
    device: Device,
    group: Group | None,
    observed: Mapping[str, Observed],
    status: Mapping[str, DeviceProgress],
) -> _Work:
    obs = observed.get(device.serial)
    prog = status.get(device.serial)
    current = obs.version if obs is not None and obs.version is not None else None
    text = str(current) if current else ""
    if current is None and prog is not None and prog.current_version is not None:
        discovered = parse_time(device.discovered_at)
        if not device.sw_version or (
            prog.updated_at and (discovered is None or prog.updated_at > discovered)
        ):
            current, text = prog.current_version, str(prog.current_version)
    if current is None and not text:
        text = device.sw_version
        current = PanOsVersion.try_parse(device.sw_version)
    return _Work(device, group, current, text, prog, obs)


def _unmanaged(work: _Work) -> None:
    if work.progress is not None and work.progress.category == IN_PROGRESS:
        work.in_progress = True
        work.block(UNMANAGED, "no group selects this device any more; stop at the next safe point")
    else:
        work.action, work.reason = NONE, UNMANAGED


def _decide_device(
    work: _Work,
    group: Group,
    desired: DesiredState,
    inventory: Inventory,
    cache: _PathCache,
    rules: UpgradeRules,
    gate: _PanoramaGate | None = None,
) -> None:
    device, prog, obs = work.device, work.progress, work.observed
    if device.is_ha:
        peer = inventory.get(device.peer_serial)
        if peer is None:
            work.block(HA_PEER_UNHEALTHY, f"HA peer {device.peer_serial} is not in the inventory")
            return
        if peer.peer_serial != device.serial:
            named = peer.peer_serial or "no peer"
            work.block(
                HA_PEER_UNHEALTHY, f"HA peer {peer.serial} names {named} as its peer (re-run discovery)"
            )
            return
    if prog is not None and prog.category in (HELD, CANCELLED):
        work.block(
            HELD_REASON, f"{prog.category} by an operator" + (f": {prog.reason}" if prog.reason else "")
        )
        return
    if prog is not None and prog.rolled_back_from is not None and _rollback_blocks(work, prog, group):
        return
    if prog is not None and _failed_here(prog, group, desired):
        work.failed = True
        work.block(FAILED_REASON, prog.reason or "failed (no reason recorded)")
        return
    current = work.current
    if current is None:
        seen = f"reports {work.current_text!r}" if work.current_text else "has no known version"
        work.block(UNKNOWN_VERSION, f"the device {seen}")
        return
    work.in_progress = prog is not None and prog.category == IN_PROGRESS
    offer = cache.offer(obs)
    if work.in_progress and prog is not None and prog.starting_version and prog.starting_version != current:
        point = resolve_path(
            prog.starting_version,
            current,
            group.target,
            spec=group.path,
            table=desired.upgrade_paths,
            available=offer,
            ha=device.is_ha,
            allow_downgrade=group.allow_downgrade,
            rules=rules,
        )
        path = replace(point.path, current=current, hops=point.remaining)
    else:
        path = cache.find(group, current, offer, device.is_ha)
    if work.in_progress and prog is not None and path.reason == IMAGES_UNKNOWN and prog.hops:
        # The engine knew the device's images when it started: its recorded hops are the path it follows.
        path = UpgradePath(current, group.target, prog.hops, source="status")
    work.path_source = path.source
    if _converged(work, group, current, path):
        work.action, work.reason = NONE, CONVERGED
        return
    if not path.ok:
        reason = path.reason or NO_PATH
        work.block(reason, path.detail)
        return
    work.hops = path.hops
    downloaded = set(obs.downloaded) if obs is not None and obs.downloaded is not None else set()
    work.missing = tuple(i for i in path.images if i not in downloaded)
    work.action = DOWNLOAD if group.download_only else UPGRADE
    if work.in_progress:
        work.detail = "in progress" + (
            f" toward {prog.target}" if prog and prog.target and prog.target != group.target else ""
        )
        return
    if gate is not None and gate.blocks(work, path.hops):
        return
    if obs is not None and not obs.reachable:
        work.block(UNREACHABLE, "the device did not answer when last observed")
    elif not device.connected:
        work.block(UNREACHABLE, "Panorama reports it disconnected")
    elif device.error and obs is None:
        work.block(UNREACHABLE, f"discovery could not reach it: {device.error}")


@dataclass(frozen=True)
class _PanoramaGate:
    """What firewall hops are checked against: the Panorama version that manages them now (None: unknown,
    no guard), the ``panorama`` block's target (None: not declared) and, while Panorama is not there yet,
    what it is doing (for the detail)."""

    running: PanOsVersion | None
    target: PanOsVersion | None = None
    state: str = ""

    def blocks(self, work: _Work, hops: Sequence[PathHop]) -> bool:
        """Block ``work`` when a hop goes past the running Panorama; True when it did."""
        running = self.running
        if running is None:
            return False
        past = next((h.version for h in hops if not can_manage(running, h.version)), None)
        if past is None:
            return False
        detail = too_old_detail(running, past)
        if self.target is not None and can_manage(self.target, past):
            work.block(
                PANORAMA_UPGRADE_PENDING,
                f"{detail}; waiting for Panorama's upgrade to {self.target} ({self.state})",
            )
        elif self.target is not None:
            work.block(
                PANORAMA_TOO_OLD, f"{detail}; the panorama target {self.target} does not manage it either"
            )
        else:
            work.block(PANORAMA_TOO_OLD, detail)
        return True


def _plan_panorama(
    desired: DesiredState,
    inventory: Inventory,
    observed: Mapping[str, Observed],
    status: Mapping[str, DeviceProgress],
    now: datetime,
    cache: _PathCache,
    rules: UpgradeRules,
    suspended: Mapping[str, str],
) -> tuple[list[_Work], GroupSummary | None, _PanoramaGate]:
    """Panorama's own unit (the ``panorama`` block), and the gate firewall hops go through."""
    discovered = managing_version((inventory.panorama_version, inventory.panorama_peer_version))
    group = desired.panorama
    if group is None:
        return [], None, _PanoramaGate(discovered)
    own = Inventory.of(inventory.panoramas)  # Panorama's peer is looked up among Panorama's devices only
    works: dict[str, _Work] = {}
    for device in own:
        work = works[device.serial] = _start(device, group, observed, status)
        try:
            if device.device_type == "unknown":
                why = device.error or "Panorama's HA state is unknown"
                work.block(HA_PEER_UNHEALTHY, f"{why} (re-run 'panos-upgrade device discover')")
            else:
                _decide_device(work, group, desired, own, cache, rules)
        except Exception as exc:  # a value, as for a firewall
            _plan_error(work, exc)
    units = _units(works, dict.fromkeys(works, PANORAMA_GROUP)).get(PANORAMA_GROUP, [])
    try:
        for unit in units:
            _check_pair(unit, rules)
        summary = _gate_group(group, units, desired, now, suspended.get(PANORAMA_GROUP, ""))
    except Exception as exc:
        summary = _broken_group(group, units, exc)
    return list(works.values()), summary, _panorama_gate(group, list(works.values()), discovered)


def _panorama_gate(group: Group, works: Sequence[_Work], discovered: PanOsVersion | None) -> _PanoramaGate:
    if not works:
        return _PanoramaGate(
            discovered, group.target, "Panorama is not in the inventory: run 'panos-upgrade device discover'"
        )
    versions = [w.current for w in works if w.current is not None]
    if all(w.action == NONE for w in works) and len(versions) == len(works):
        return _PanoramaGate(min(versions), group.target)  # converged: verified on its version
    for w in works:
        if w.in_progress:
            return _PanoramaGate(discovered, group.target, f"Panorama {w.device.serial} in progress")
    for w in works:
        if w.action == BLOCKED:
            what = "failed" if w.reason == FAILED_REASON else f"blocked {w.reason}"
            return _PanoramaGate(discovered, group.target, f"Panorama {w.device.serial} {what}: {w.detail}")
    return _PanoramaGate(discovered, group.target, "Panorama's upgrade is planned")


def _plan_error(work: _Work, exc: Exception) -> None:
    """Planning this device raised: it is blocked with the error as its detail, nothing starts."""
    work.block(PLAN_ERROR, f"planning failed: {type(exc).__name__}: {exc}"[:300])


def _broken_group(group: Group, units: Sequence[_Unit], exc: Exception) -> GroupSummary:
    """Gating ``group`` raised: every member that wants a change is blocked, the other groups go on."""
    members = [m for u in units for m in u.members]
    for m in members:
        m.queued = False
        if m.wants_change or m.in_progress:
            _plan_error(m, exc)
    actions = dict.fromkeys(ACTIONS, 0)
    for m in members:
        actions[m.action] += 1
    blocked = sum(1 for m in members if m.reason == PLAN_ERROR)
    return GroupSummary(
        name=group.name,
        target=str(group.target),
        stage=group.stage,
        devices=len(members),
        window_open=False,
        window_detail=f"planning failed: {type(exc).__name__}",
        actions=actions,
        blocked={PLAN_ERROR: blocked} if blocked else {},
    )


def _rollback_blocks(work: _Work, prog: DeviceProgress, group: Group) -> bool:
    """An operator's rollback (``device rollback``) is not the desired state's to steer: in progress, the
    engine finishes it (nothing is planned toward the target meanwhile); done or failed, the device is held
    while its group's target is still the one rolled back from, until an operator releases it."""
    what = f"from {prog.rolled_back_from} to {prog.target}"
    if prog.category == IN_PROGRESS:
        work.in_progress = True
        work.block(HELD_REASON, f"rolling back {what} (an operator's rollback)")
        return True
    if prog.rollback_holds is None or prog.rollback_holds != group.target:
        return False
    release = f"until 'panos-upgrade device release {work.device.serial}' or the group's target changes"
    if prog.category == FAILED:
        work.block(
            HELD_REASON, f"rollback {what} failed: {prog.reason or 'no reason recorded'}; held {release}"
        )
    else:
        work.block(HELD_REASON, f"rolled back {what}; held {release}")
    return True


def _failed_here(prog: DeviceProgress, group: Group, desired: DesiredState) -> bool:
    """A failure counts (blocks the device, uses budget) while the group means what it meant when the
    device failed (same target, same ``group_digest``); a change of meaning retries it. The git revision
    plays no part: ``plan`` with any ``--revision`` (or none), ``apply`` and the daemon agree. A record
    older than group digests counts while the target is the same (only ``device retry`` clears it)."""
    if prog.category != FAILED or prog.target != group.target:
        return False
    return not prog.group_digest or prog.group_digest == desired.group_digest(group)


def _converged(work: _Work, group: Group, current: PanOsVersion, path: UpgradePath) -> bool:
    if current == group.target:
        return not work.in_progress or group.download_only
    if not group.download_only or work.in_progress:
        return False
    prog, obs = work.progress, work.observed
    if prog is not None and prog.category == DONE and prog.target == group.target:
        return True
    if path.ok and obs is not None and obs.downloaded is not None:
        return set(path.images) <= set(obs.downloaded)
    return False


def _units(
    works: Mapping[str, _Work], group_of: Mapping[str, str], peers: Mapping[str, _Work] | None = None
) -> dict[str, list[_Unit]]:
    """``works`` as units per group; an HA peer not among ``works`` is looked up in ``peers`` (read only)."""
    out: dict[str, list[_Unit]] = {}
    done: set[str] = set()
    paired: set[str] = set()
    for serial, work in works.items():
        if work.group is None or serial in done or work.reason == CONFLICT:
            continue
        device = work.device
        members = [work]
        peer_work = works.get(device.peer_serial) if device.is_ha else None
        if peer_work is None and device.is_ha and peers is not None:
            peer_work = peers.get(device.peer_serial)
        if peer_work is not None and (
            peer_work.device.peer_serial != serial or peer_work.device.serial in paired
        ):
            peer_work = None  # an inconsistent pair: already blocked in _decide_device
        if peer_work is not None:
            if group_of.get(peer_work.device.serial) != work.group.name:
                other = group_of.get(peer_work.device.serial)
                where = f"group {other!r}" if other else "no group"
                work.block(
                    CONFLICT,
                    f"HA peer {peer_work.device.serial} is in {where}; both members must be in one group",
                )
                done.add(serial)
                continue
            members = sorted([work, peer_work], key=_member_rank)
            paired.update(m.device.serial for m in members)
        done.update(m.device.serial for m in members)
        pair_id = "+".join(sorted(m.device.serial for m in members)) if len(members) == 2 else None
        for i, m in enumerate(members, 1):
            m.ha_pair, m.ha_member = (pair_id, i) if pair_id else (None, None)
        key = min((m.device.hostname.lower(), m.device.serial) for m in members)
        out.setdefault(work.group.name, []).append(_Unit(members, key, pair_id))
    for units in out.values():
        units.sort(key=lambda u: u.key)
    return out


def _ha_state(work: _Work) -> str:
    if work.observed is not None and work.observed.ha_state:
        return work.observed.ha_state
    return work.device.ha_state


def _member_rank(work: _Work) -> tuple[int, str]:
    """Passive first, then anything but active, then active; serial breaks ties."""
    state = _ha_state(work)
    return ({"passive": 0, "active": 2}.get(state, 1), work.device.serial)


def _check_pair(unit: _Unit, rules: UpgradeRules) -> None:
    """Block the members of an unhealthy pair that want a change; members blocked for their own reason
    keep it. A pair already in progress is the engine's to finish, unless it is stopped: a member resting
    (``pending``/``next_hop``) while the other one is held, cancelled or failed waits for an operator, not
    for the engine, so it is not in progress (it takes no ``maxParallel`` slot) and says what it waits for."""
    if len(unit.members) != 2:
        return
    for member, peer in (unit.members, unit.members[::-1]):
        resting = member.progress is not None and member.progress.resting
        if member.progress is not None and member.progress.rolled_back_from is not None:
            continue  # a pair rolling back says so itself (its coordinator waits for no plan)
        if member.in_progress and resting and peer.reason in (HELD_REASON, FAILED_REASON):
            member.in_progress = False
            member.block(HA_PEER_UNHEALTHY, f"waiting for HA peer {peer.device.serial} ({peer.reason})")
    if unit.converged or unit.in_progress:
        return
    problem = _pair_problem(unit.members[0], unit.members[1], rules)
    if problem:
        for m in unit.members:
            if m.wants_change:
                m.block(HA_PEER_UNHEALTHY, problem)


def _pair_problem(a: _Work, b: _Work, rules: UpgradeRules) -> str:
    for m in (a, b):
        if m.local_block:
            return f"HA peer {m.device.serial} is blocked ({m.reason}: {m.detail})"
    for m in (a, b):
        if _ha_state(m) in UNHEALTHY_HA_STATES:
            return f"HA member {m.device.serial} is {_ha_state(m)}"
        if m.observed is not None and m.observed.ha_synced is False:
            return f"HA member {m.device.serial} reports the pair not synchronized"
    if a.current and b.current:
        ta, tb = a.current.feature_release, b.current.feature_release
        if rules.knows(ta) and rules.knows(tb) and abs(rules.distance(ta, tb)) > 1:
            return f"HA members run {a.current} and {b.current}, more than one feature release apart"
    return ""


def _gate_group(
    group: Group,
    units: list[_Unit],
    desired: DesiredState,
    now: datetime,
    suspended: str = "",
    *,
    window: WindowState | None = None,
    soak_edges: list[datetime] | None = None,
) -> GroupSummary:
    """Gate, order and queue ``group``'s units at ``now`` (``window``: its schedule's state then, when
    already known); the soak deadlines compared with ``now`` are added to ``soak_edges``."""
    members = [m for u in units for m in u.members]
    if window is None:
        window = group.schedule.state(now)
    paused = desired.paused or group.paused
    failures = sum(1 for m in members if m.failed)
    budget = group.failure_budget.of(len(members))
    halted = failures >= budget
    canary = group.waves.canary.of(len(units)) if group.waves else len(units)
    # Canaries must stay canaries: units the engine worked on toward this target come first, then units
    # with work to do, and units that were converged all along last (they prove nothing about the rollout).
    for i, unit in enumerate(sorted(units, key=lambda u: (_wave_rank(u, group), u.key))):
        unit.wave = 1 if i < canary or group.waves is None else 2
    # Within a wave the longest remaining path starts first (a short unit started last ends early, a long
    # one started last makes the rollout wait for it); equal work keeps the hostname/serial order.
    work = {id(u): u.work for u in units}
    units.sort(key=lambda u: (u.wave, -work[id(u)], u.key))
    waves = _wave_summaries(group, units, now, soak_edges)
    gate_of_wave = {w.number: w for w in waves}

    def group_gate() -> tuple[str, str] | None:
        if suspended:
            return SUSPENDED, suspended
        if paused:
            return (
                PAUSED,
                "the desired state is paused" if desired.paused else f"group {group.name!r} is paused",
            )
        if not window.open and window.reason:
            return window.reason, _window_detail(window.detail, window.next_change)
        return None

    active = sum(1 for u in units if u.in_progress)
    slots: float = (group.max_parallel - active) if group.max_parallel is not None else math.inf
    for order, unit in enumerate(units, 1):
        for m in unit.members:
            m.wave, m.order, m.work = unit.wave, order, work[id(unit)]
        gate = group_gate()
        if unit.in_progress:
            if gate is not None:
                for m in unit.members:
                    if m.wants_change:
                        m.block(*gate)
            continue
        if not unit.ready:
            continue
        wave = gate_of_wave[unit.wave]
        if gate is None and halted:
            gate = FAILURE_BUDGET, f"{failures} failure(s) in this group reached its budget of {budget}"
        if gate is None and wave.state == "pending":
            before = [w for w in waves if w.number < unit.wave and w.state != "done"]
            gate = (
                WAVE_PENDING,
                "; ".join(f"wave {w.number}: {w.converged} of {w.units} units converged" for w in before),
            )
        if gate is None and wave.state == "soaking" and wave.soak_until is not None:
            gate = SOAK, f"earlier waves soak until {wave.soak_until.isoformat()}"
        if gate is not None:
            for m in unit.members:
                if m.wants_change:
                    m.block(*gate)
            continue
        queued = slots <= 0
        slots -= 1
        for m in unit.members:
            m.queued = queued and m.wants_change
    actions = dict.fromkeys(ACTIONS, 0)
    blocked: dict[str, int] = {}
    for m in members:
        actions[m.action] += 1
        if m.action == BLOCKED and m.reason:
            blocked[m.reason] = blocked.get(m.reason, 0) + 1
    return GroupSummary(
        name=group.name,
        target=str(group.target),
        stage=group.stage,
        devices=len(members),
        window_open=window.open,
        window_reason=window.reason,
        window_detail=window.detail,
        next_window_change=window.next_change,
        paused=paused,
        suspended=suspended,
        waves=tuple(waves),
        failures=failures,
        failure_budget=budget,
        in_progress=active,
        max_parallel=group.max_parallel,
        actions=actions,
        blocked=dict(sorted(blocked.items())),
    )


def _member_work(work: _Work) -> int:
    """One device's remaining work: each hop's install and reboot (none for a download-only group), and
    each image of its path not known to be on it yet."""
    if not work.hops:
        return 0
    installs = 0 if work.group is not None and work.group.download_only else len(work.hops)
    return installs * HOP_WORK + len(work.missing) * IMAGE_WORK


def _wave_rank(unit: _Unit, group: Group) -> int:
    touched = any(
        m.progress is not None
        and m.progress.target == group.target
        and m.progress.category in (IN_PROGRESS, DONE, FAILED)
        for m in unit.members
    )
    return 0 if touched else (2 if unit.converged else 1)


def _window_detail(detail: str, next_change: datetime | None) -> str:
    return f"{detail}; next change {next_change.isoformat()}" if next_change else detail


def _wave_summaries(
    group: Group, units: Sequence[_Unit], now: datetime, soak_edges: list[datetime] | None = None
) -> list[WaveSummary]:
    numbers = sorted({u.wave for u in units}) or [1]
    soak = group.waves.soak if group.waves else timedelta(0)
    out: list[WaveSummary] = []
    earlier_done = True
    finished: list[datetime] = []
    for n in numbers:
        in_wave = [u for u in units if u.wave == n]
        converged = sum(1 for u in in_wave if u.converged)
        soak_until = max(finished) + soak if finished and soak else None
        if soak_until is not None and soak_edges is not None:
            soak_edges.append(soak_until)
        if converged == len(in_wave):
            state = "done"
        elif not earlier_done:
            state = "pending"
        elif soak_until is not None and now < soak_until:
            state = "soaking"
        else:
            state = "active"
        out.append(WaveSummary(n, len(in_wave), converged, state, soak_until if state == "soaking" else None))
        earlier_done = earlier_done and converged == len(in_wave)
        finished.extend(
            m.progress.finished_at
            for u in in_wave
            for m in u.members
            if m.progress is not None and m.progress.finished_at is not None and m.progress.category == DONE
        )
    return out
