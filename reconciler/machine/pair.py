"""HA pair coordination, pure: which member may act next, and the pair-level commands. No I/O, no clock.

    pair_step(pair, members, observation, now, settings) -> PairStep(pair, commands, requeue_after)
    pair_resume(pair, members, now, settings) -> PairStep          (after a restart)

``members`` maps each member's serial to its current ``DeviceRecord`` (the member machines run as usual;
this module only decides when each may start a hop). Per hop, for an upgrade:

1. read both HA states (one member after the other); the pair must be healthy: one active, one passive,
   peers connected, state sync complete, running config synchronized;
2. start the passive member's hop (``StartMember``, downloads with sync-to-peer);
3. when it rests at the hop boundary, re-read roles until it is back functional with sync complete;
4. start the other member's hop;
5. both done and healthy: next hop (whichever member is passive then goes first).

The coordinator never suspends a member. Each member's own machine reads both roles right before its
reboot and suspends itself then (``reconciler.machine.ha_member``): from active that is the failover, from
passive it keeps preemption from handing it the active role while it restarts; after the reboot it makes
itself functional and waits for sync before its post-flight snapshot. So a member that changes no version
(already on the hop's version) is never suspended and no failover happens for nothing, and roles moved by
preemption between hops are read, not assumed. ``MakeFunctional`` is still sent to a member found
suspended after its hop is done (e.g. after a crash between its reboot and its own functional request).

Decisions are level-triggered: every decision re-reads both roles and looks at both member records, so a
restart (``pair_resume``), a released hold or a retried member simply leads to the right next action.
The coordinator only starts a member while the other one rests, so the two members are never both in
install, reboot, wait_ready or verify_version (the property tests check this over random runs).

Download-only and dry-run pairs run their members one after the other, passive first, without failover.

Contract with the executor: at most one device command (``ReadHaState`` / ``MakeFunctional``) is
outstanding (``pair.outstanding``); feed its answer (``HaStateObserved`` / ``HaActionDone`` /
``HaCommandFailed``) back. ``StartMember`` and ``FailMember`` are orchestration: feed ``Begin`` / ``Abort`` to
that member's machine, and feed ``MemberChanged`` whenever a member record changes. A step that emits no
commands leaves any scheduled command in place; otherwise the new commands replace it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from reconciler.core.errors import PanosUpgradeError
from reconciler.core.rules import DEFAULT_RULES, UpgradeRules
from reconciler.core.version import PanOsVersion
from reconciler.machine.commands import (
    Command,
    FailMember,
    MakeFunctional,
    ReadHaState,
    StartMember,
    command_from_json,
    command_to_json,
)
from reconciler.machine.observations import (
    HaActionDone,
    HaCommandFailed,
    HaStateObserved,
    MemberChanged,
    Observation,
    PairBegin,
)
from reconciler.machine.records import ACTIVE_PHASES, DeviceRecord, Instant, Mode, Phase, iso, to_instant
from reconciler.machine.settings import DEFAULT_SETTINGS, MachineSettings

FORMAT_VERSION = 1


class PairStage(StrEnum):
    NEW = "new"  # waiting for the scheduler (PairBegin)
    READ_ROLES = "read_roles"  # reading both members' HA state, then deciding
    MEMBER_RUNNING = "member_running"  # one member's machine is running its hop
    SUSPENDING = "suspending"  # earlier versions suspended the active member here; resumed by a re-read
    MAKING_FUNCTIONAL = "making_functional"  # MakeFunctional sent to a suspended member
    BLOCKED = "blocked"  # a member failed/held/cancelled, or the pair is unhealthy; see blocked_reason
    DONE = "done"


class PairReason(StrEnum):
    """Why a pair is blocked (and, for pair-level problems, why its resting members were failed)."""

    HA_PEER_UNHEALTHY = "ha-peer-unhealthy"
    HA_REJOIN_TIMEOUT = "ha-rejoin-timeout"
    FAILOVER_TIMEOUT = "failover-timeout"
    HA_ACTION_FAILED = "ha-action-failed"
    MEMBER_FAILED = "member-failed"
    MEMBER_HELD = "member-held"
    MEMBER_CANCELLED = "member-cancelled"


# A pair blocked for one of these waits for an operator to release or retry a member, nothing else.
_MEMBER_REASONS = frozenset({PairReason.MEMBER_FAILED, PairReason.MEMBER_HELD, PairReason.MEMBER_CANCELLED})
# What a wait is for, and which setting bounds it.
_WAIT_LIMIT = {
    "health": ("ha_health_timeout", PairReason.HA_PEER_UNHEALTHY),
    "rejoin": ("ha_rejoin_timeout", PairReason.HA_REJOIN_TIMEOUT),
}
_FUNCTIONAL = ("active", "passive")
# A member that failed or was held in one of these never started its install this hop.
_BEFORE_INSTALL = frozenset(
    {
        "pending",
        "next_hop",
        "preflight",
        "software_check",
        "content_update",
        "download_base",
        "download_target",
    }
)
_FINISHED_OK = frozenset({Phase.DONE, Phase.DOWNLOADED, Phase.DRY_RUN_COMPLETE, Phase.SKIPPED})


class IllegalPairTransition(PanosUpgradeError):
    """An observation the pair does not accept in its stage; the pair record is unchanged."""

    def __init__(self, pair: PairRecord, observation: Observation, why: str = "") -> None:
        detail = f": {why}" if why else ""
        super().__init__(
            f"pair {pair.pair_id}: {observation.name} not accepted in stage {pair.stage.value}{detail}"
        )
        self.pair = pair
        self.observation = observation


@dataclass(frozen=True)
class HaView:
    """One member's HA state as last read in the current round."""

    serial: str
    state: str
    peer_connected: bool
    state_sync_complete: bool
    running_sync_synchronized: bool
    version: str | None = None

    @classmethod
    def of(cls, obs: HaStateObserved) -> HaView:
        state = obs.state.lower() if obs.enabled else "standalone"
        return cls(
            obs.serial,
            state,
            obs.peer_connected,
            obs.state_sync_complete,
            obs.running_sync_synchronized,
            obs.version,
        )

    @property
    def functional(self) -> bool:
        """Active or passive, talking to its peer, state sync complete."""
        return self.state in _FUNCTIONAL and self.peer_connected and self.state_sync_complete

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "state": self.state,
            "peer_connected": self.peer_connected,
            "state_sync_complete": self.state_sync_complete,
            "running_sync_synchronized": self.running_sync_synchronized,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HaView:
        return cls(
            str(data["serial"]),
            str(data["state"]),
            bool(data["peer_connected"]),
            bool(data["state_sync_complete"]),
            bool(data["running_sync_synchronized"]),
            data.get("version"),
        )


def _healthy(views: Mapping[str, HaView]) -> bool:
    """One active, one passive, both functional and with the running config synchronized."""
    states = sorted(v.state for v in views.values())
    return (
        states == ["active", "passive"]
        and all(v.functional for v in views.values())
        and all(v.running_sync_synchronized for v in views.values())
    )


@dataclass(frozen=True)
class PairRecord:
    """The coordination state of one HA pair. ``members`` is sorted; ``member`` is the one acted on;
    ``suspended`` the member this coordinator suspended (made functional again after its hop);
    ``order`` lists ``"<hop>:<serial>"`` for every member started, in order."""

    pair_id: str
    members: tuple[str, str]
    mode: Mode
    hop_versions: tuple[str, ...]
    hop_index: int = 0
    stage: PairStage = PairStage.NEW
    member: str | None = None
    suspended: str | None = None
    waiting: str | None = None
    wait_since: str | None = None
    poll_delay: float = 0.0
    outstanding: Command | None = None
    due_at: str | None = None
    views: tuple[HaView, ...] = ()
    retries: int = 0
    blocked_reason: str | None = None
    message: str = ""
    stage_started_at: str = ""
    updated_at: str = ""
    finished_at: str | None = None
    order: tuple[str, ...] = ()

    @property
    def hop_count(self) -> int:
        return len(self.hop_versions)

    def peer_of(self, serial: str) -> str:
        a, b = self.members
        return b if serial == a else a

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "pair_id": self.pair_id,
            "members": list(self.members),
            "mode": self.mode.value,
            "hop_versions": list(self.hop_versions),
            "hop_index": self.hop_index,
            "stage": self.stage.value,
            "member": self.member,
            "suspended": self.suspended,
            "waiting": self.waiting,
            "wait_since": self.wait_since,
            "poll_delay": self.poll_delay,
            "outstanding": command_to_json(self.outstanding) if self.outstanding else None,
            "due_at": self.due_at,
            "views": [v.to_json() for v in self.views],
            "retries": self.retries,
            "blocked_reason": self.blocked_reason,
            "message": self.message,
            "stage_started_at": self.stage_started_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "order": list(self.order),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PairRecord:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version: expected {FORMAT_VERSION}")
        a, b = data["members"]
        return cls(
            pair_id=str(data["pair_id"]),
            members=(str(a), str(b)),
            mode=Mode(data["mode"]),
            hop_versions=tuple(str(v) for v in data["hop_versions"]),
            hop_index=int(data["hop_index"]),
            stage=PairStage(data["stage"]),
            member=data.get("member"),
            suspended=data.get("suspended"),
            waiting=data.get("waiting"),
            wait_since=data.get("wait_since"),
            poll_delay=float(data.get("poll_delay", 0.0)),
            outstanding=command_from_json(data["outstanding"]) if data.get("outstanding") else None,
            due_at=data.get("due_at"),
            views=tuple(HaView.from_json(v) for v in data.get("views", [])),
            retries=int(data.get("retries", 0)),
            blocked_reason=data.get("blocked_reason"),
            message=str(data.get("message", "")),
            stage_started_at=str(data.get("stage_started_at", "")),
            updated_at=str(data.get("updated_at", "")),
            finished_at=data.get("finished_at"),
            order=tuple(str(o) for o in data.get("order", [])),
        )


@dataclass(frozen=True)
class PairStep:
    pair: PairRecord
    commands: tuple[Command, ...] = ()
    requeue_after: float | None = None


def new_pair(
    a: DeviceRecord, b: DeviceRecord, now: Instant, rules: UpgradeRules = DEFAULT_RULES
) -> PairRecord:
    """A pair of two member records with the same mode and path; every hop must advance at most one
    feature release (PAN-OS suspends a peer two releases behind). Raise ``ValueError`` otherwise."""
    if a.serial == b.serial:
        raise ValueError("an HA pair needs two different members")
    if a.mode is not b.mode or a.upgrade_path != b.upgrade_path:
        raise ValueError(f"HA members {a.serial} and {b.serial} need the same mode and upgrade path")
    current = min(PanOsVersion.parse(a.starting_version), PanOsVersion.parse(b.starting_version))
    for hop in a.upgrade_path:
        target = PanOsVersion.parse(hop)
        if not rules.can_jump(current.feature_release, target.feature_release, ha=True):
            raise ValueError(f"HA pair hop {current} -> {target} skips a feature release")
        current = target
    members = tuple(sorted((a.serial, b.serial)))
    stamp = iso(now)
    return PairRecord(
        pair_id="+".join(members),
        members=(members[0], members[1]),
        mode=a.mode,
        hop_versions=a.upgrade_path,
        stage_started_at=stamp,
        updated_at=stamp,
        message="waiting to start",
    )


# -- building blocks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    pair: PairRecord
    members: Mapping[str, DeviceRecord]
    now_iso: str
    settings: MachineSettings

    def since(self, stamp: str | None) -> float:
        if not stamp:
            return 0.0
        return (to_instant(self.now_iso) - to_instant(stamp)).total_seconds()

    def at(self, pair: PairRecord) -> _Ctx:
        return replace(self, pair=pair)


def _go(
    ctx: _Ctx,
    stage: PairStage,
    command: Command | None = None,
    delay: float = 0.0,
    extra: tuple[Command, ...] = (),
    **changes: Any,
) -> PairStep:
    """Enter ``stage`` with ``command`` outstanding after ``delay``; ``extra`` are orchestration commands."""
    pair = ctx.pair
    due = iso(to_instant(ctx.now_iso) + timedelta(seconds=max(0.0, delay))) if command else None
    fields: dict[str, Any] = {
        "stage": stage,
        "stage_started_at": ctx.now_iso if stage is not pair.stage else pair.stage_started_at,
        "updated_at": ctx.now_iso,
        "outstanding": command,
        "due_at": due,
    }
    fields.update(changes)
    new = replace(pair, **fields)
    commands = (*extra, *((command,) if command else ()))
    return PairStep(new, commands, max(0.0, delay) if commands else None)


def _read_round(ctx: _Ctx, delay: float = 0.0, **changes: Any) -> PairStep:
    """Start a new round of HA reads (first member, then the second)."""
    first = ctx.pair.members[0]
    fields: dict[str, Any] = {"views": (), "retries": 0, "message": "reading HA roles", **changes}
    return _go(ctx, PairStage.READ_ROLES, ReadHaState(first), delay, **fields)


def _block(ctx: _Ctx, reason: str, message: str, *, fail_members: bool) -> PairStep:
    """Stop the pair. Pair-level problems also fail the resting members (so their status shows why)."""
    extra: tuple[Command, ...] = ()
    if fail_members:
        extra = tuple(
            FailMember(s, reason, message)
            for s in ctx.pair.members
            if ctx.members[s].phase in (Phase.PENDING, Phase.NEXT_HOP)
        )
    return _go(
        ctx,
        PairStage.BLOCKED,
        extra=extra,
        blocked_reason=reason,
        message=f"blocked ({reason}): {message}",
        waiting=None,
        wait_since=None,
        member=None,
    )


def _member_problem(ctx: _Ctx, only: str | None = None) -> tuple[str, str] | None:
    """Why a member (``only``, or either) stops the pair: failed, held or cancelled."""
    for serial in (only,) if only else ctx.pair.members:
        phase = ctx.members[serial].phase
        if phase is Phase.FAILED:
            return PairReason.MEMBER_FAILED, f"member {serial} failed"
        if phase is Phase.HELD:
            return PairReason.MEMBER_HELD, f"member {serial} is held"
        if phase is Phase.CANCELLED:
            return PairReason.MEMBER_CANCELLED, f"member {serial} was cancelled"
    return None


def _hop_done(rec: DeviceRecord, hop: int) -> bool:
    return rec.phase in (Phase.NEXT_HOP, *_FINISHED_OK) and (
        rec.current_path_index > hop or rec.phase in _FINISHED_OK
    )


def _untouched(rec: DeviceRecord) -> bool:
    """The member stopped before its install started this hop (so its software did not change)."""
    where = rec.last_error.phase if rec.last_error else (rec.hold.from_phase if rec.hold else "pending")
    return where in _BEFORE_INSTALL


def _wait(ctx: _Ctx, kind: str, why: str) -> PairStep:
    """Re-read roles later, with backoff, until the wait's deadline; then block."""
    pair, s = ctx.pair, ctx.settings
    since = pair.wait_since if pair.waiting == kind and pair.wait_since else ctx.now_iso
    limit_name, reason = _WAIT_LIMIT[kind]
    limit = float(getattr(s, limit_name))
    if ctx.since(since) >= limit:
        return _block(ctx, reason, f"{why} for {limit:g} s", fail_members=True)
    delay = pair.poll_delay * 2 if pair.waiting == kind and pair.poll_delay else s.ha_poll_interval
    delay = min(delay, s.ha_poll_max_interval)
    return _read_round(
        ctx, delay, waiting=kind, wait_since=since, poll_delay=delay, message=f"waiting: {why}"
    )


def _start(ctx: _Ctx, serial: str, *, sync_to_peer: bool = False, **changes: Any) -> PairStep:
    pair = ctx.pair
    return _go(
        ctx,
        PairStage.MEMBER_RUNNING,
        extra=(StartMember(serial, sync_to_peer),),
        member=serial,
        waiting=None,
        wait_since=None,
        poll_delay=0.0,
        order=(*pair.order, f"{pair.hop_index}:{serial}"),
        message=f"upgrading {serial} (hop {pair.hop_index + 1}/{pair.hop_count})",
        **changes,
    )


# -- decisions ---------------------------------------------------------------------------------------------------


def _decide(ctx: _Ctx) -> PairStep:
    """Given both members' records and a fresh read of both HA states, say what happens next."""
    pair, members = ctx.pair, ctx.members
    problem = _member_problem(ctx)
    if problem is not None:
        return _block(ctx, problem[0], problem[1], fail_members=False)
    busy = [s for s in pair.members if members[s].phase in ACTIVE_PHASES]
    if busy:
        return _go(ctx, PairStage.MEMBER_RUNNING, member=busy[0], message=f"{busy[0]} is working")
    views = {v.serial: v for v in pair.views}
    if pair.mode is not Mode.UPGRADE:
        return _decide_sequential(ctx, views)
    hop = pair.hop_index
    done = [s for s in pair.members if _hop_done(members[s], hop)]
    for serial in done:
        if views[serial].state == "suspended":
            return _go(
                ctx,
                PairStage.MAKING_FUNCTIONAL,
                MakeFunctional(serial),
                member=serial,
                suspended=serial,
                retries=0,
                message=f"making {serial} functional",
            )
    if len(done) == 2:
        if _healthy(views):
            return _hop_complete(ctx)
        return _wait(ctx, "rejoin", "both members upgraded; waiting for the pair to be in sync")
    if not done:
        if not _healthy(views):
            return _wait(ctx, "health", _describe(views))
        passive = next(s for s in pair.members if views[s].state == "passive")
        return _start(ctx, passive, sync_to_peer=True)
    upgraded, other = done[0], pair.peer_of(done[0])
    u, o = views[upgraded], views[other]
    if u.functional and o.functional:
        # The upgraded member is back in sync: the other one's hop may start. Whatever its role, its own
        # machine reads both roles again right before its reboot and suspends itself then (from active,
        # that is the failover): no member is suspended before it is known to need a new version.
        return _start(ctx, other)
    if u.state == "active" and o.state == "suspended" and pair.suspended == other:
        # A pair record of an earlier version that suspended the member before starting it.
        return _start(ctx, other)
    return _wait(ctx, "rejoin", f"{upgraded} is {u.state}, {other} is {o.state}")


def _describe(views: Mapping[str, HaView]) -> str:
    parts = []
    for v in views.values():
        sync = "sync complete" if v.state_sync_complete else "sync incomplete"
        peer = "peer up" if v.peer_connected else "peer down"
        config = "config synchronized" if v.running_sync_synchronized else "config not synchronized"
        parts.append(f"{v.serial} {v.state} ({peer}, {sync}, {config})")
    return "; ".join(parts)


def _decide_sequential(ctx: _Ctx, views: Mapping[str, HaView]) -> PairStep:
    """Download-only and dry-run: one member after the other, passive first, nothing to fail over."""
    pair, members = ctx.pair, ctx.members
    pending = [s for s in pair.members if members[s].phase not in _FINISHED_OK]
    if not pending:
        return _go(ctx, PairStage.DONE, finished_at=ctx.now_iso, member=None, message="both members finished")
    if pair.mode is Mode.DRY_RUN and len(pending) == 2 and not _healthy(views):
        return _block(ctx, PairReason.HA_PEER_UNHEALTHY, _describe(views), fail_members=True)
    pending.sort(key=lambda s: views[s].state != "passive")
    first = pending[0]
    sync = pair.mode is Mode.DOWNLOAD_ONLY and len(pending) == 2 and views[first].peer_connected
    return _start(ctx, first, sync_to_peer=sync)


def _hop_complete(ctx: _Ctx) -> PairStep:
    pair = ctx.pair
    nxt = pair.hop_index + 1
    if nxt >= pair.hop_count:
        return _go(
            ctx,
            PairStage.DONE,
            hop_index=nxt,
            member=None,
            suspended=None,
            waiting=None,
            wait_since=None,
            finished_at=ctx.now_iso,
            message="both members upgraded and in sync",
        )
    # The roles were just read: decide the next hop's first member from the same round.
    return _decide(ctx.at(replace(pair, hop_index=nxt, suspended=None, waiting=None, wait_since=None)))


# -- handlers ------------------------------------------------------------------------------------------------


def _on_begin(ctx: _Ctx, obs: PairBegin) -> PairStep:
    return _read_round(ctx)


def _on_ha_state(ctx: _Ctx, obs: HaStateObserved) -> PairStep:
    pair = ctx.pair
    views = (*pair.views, HaView.of(obs))
    ctx = ctx.at(replace(pair, views=views, retries=0))
    if len(views) < 2:
        return _go(ctx, PairStage.READ_ROLES, ReadHaState(pair.members[1]))
    return _decide(ctx)


def _on_action_done(ctx: _Ctx, obs: HaActionDone) -> PairStep:
    pair = ctx.pair
    if pair.blocked_reason is not None:
        reason = pair.blocked_reason
        return _block(ctx.at(replace(pair, suspended=None)), reason, pair.message, fail_members=True)
    return _read_round(ctx, 0.0, suspended=None, waiting="rejoin", wait_since=ctx.now_iso)


def _on_command_failed(ctx: _Ctx, obs: HaCommandFailed) -> PairStep:
    pair, s = ctx.pair, ctx.settings
    cmd = pair.outstanding
    assert cmd is not None
    if isinstance(cmd, ReadHaState):
        # A member that does not answer is an unhealthy pair (or one still rejoining): wait, bounded.
        return _wait(
            ctx, pair.waiting or "health", f"{obs.serial} did not answer ({obs.message or obs.kind})"
        )
    if isinstance(cmd, MakeFunctional) and obs.kind not in ("api", "auth", "tls"):
        # Unclear answer (garbled, dropped): the request may have been carried out. Read the roles and
        # decide again from them (a member still suspended gets the request again), bounded by the wait.
        return _wait(
            ctx, "rejoin", f"{cmd.name} on {obs.serial}: outcome unknown ({obs.message or obs.kind})"
        )
    if obs.temporary and pair.retries + 1 < s.command_max_attempts:
        delay = min(s.ha_poll_interval * 2**pair.retries, s.ha_poll_max_interval)
        return _go(ctx, pair.stage, cmd, delay, retries=pair.retries + 1)
    text = f"{cmd.name} on {obs.serial} failed: {obs.message or obs.kind}"
    return _block(ctx, PairReason.HA_ACTION_FAILED, text, fail_members=True)


def _on_member_changed(ctx: _Ctx, obs: MemberChanged) -> PairStep:
    pair, members = ctx.pair, ctx.members
    if pair.stage is PairStage.MEMBER_RUNNING and pair.member is not None:
        rec = members[pair.member]
        if rec.phase in ACTIVE_PHASES:
            return PairStep(pair)
        problem = _member_problem(ctx, pair.member)
        if problem is None and not _hop_done(rec, pair.hop_index):
            # Not started yet (the executor has not fed Begin), or the other member changed meanwhile:
            # that one is looked at before the next member starts.
            return PairStep(pair)
        if problem is not None:
            if pair.suspended == pair.member and _untouched(rec):
                return _go(
                    ctx,
                    PairStage.MAKING_FUNCTIONAL,
                    MakeFunctional(pair.member),
                    blocked_reason=problem[0],
                    retries=0,
                    message=f"{problem[1]} before installing; making it functional again",
                )
            return _block(ctx, problem[0], problem[1], fail_members=False)
        if pair.mode is not Mode.UPGRADE:
            return _decide(ctx)
        if pair.suspended == pair.member:
            return _go(
                ctx,
                PairStage.MAKING_FUNCTIONAL,
                MakeFunctional(pair.member),
                retries=0,
                message=f"making {pair.member} functional",
            )
        return _read_round(ctx, waiting="rejoin", wait_since=ctx.now_iso, poll_delay=0.0)
    unfinished = any(members[s].phase not in _FINISHED_OK for s in pair.members)
    if (pair.stage is PairStage.BLOCKED and _member_problem(ctx) is None) or (
        pair.stage is PairStage.DONE and unfinished
    ):
        # Someone retried, released or re-held a member: look again, from the hop the members are at.
        if not unfinished and pair.mode is not Mode.UPGRADE:
            return _decide(ctx)
        hop = min(members[s].current_path_index for s in pair.members)
        return _read_round(
            ctx, blocked_reason=None, hop_index=hop, finished_at=None, suspended=pair.suspended
        )
    return PairStep(pair)


Handler = Any
_TABLE: dict[tuple[PairStage, type[Observation]], Handler] = {
    (PairStage.NEW, PairBegin): _on_begin,
    (PairStage.READ_ROLES, HaStateObserved): _on_ha_state,
    (PairStage.READ_ROLES, HaCommandFailed): _on_command_failed,
    (PairStage.MAKING_FUNCTIONAL, HaActionDone): _on_action_done,
    (PairStage.MAKING_FUNCTIONAL, HaCommandFailed): _on_command_failed,
}


def pair_step(
    pair: PairRecord,
    members: Mapping[str, DeviceRecord],
    observation: Observation,
    now: Instant,
    settings: MachineSettings = DEFAULT_SETTINGS,
) -> PairStep:
    """Apply one observation to the pair. ``MemberChanged`` is accepted in every stage (level-triggered);
    anything else must fit the stage and answer the outstanding command, or ``IllegalPairTransition``."""
    missing = [s for s in pair.members if s not in members]
    if missing:
        raise ValueError(f"pair {pair.pair_id}: no record for member(s) {', '.join(missing)}")
    ctx = _Ctx(pair, members, iso(now), settings)
    if isinstance(observation, MemberChanged):
        if observation.serial not in pair.members:
            raise IllegalPairTransition(pair, observation, f"{observation.serial} is not a member")
        return _on_member_changed(ctx, observation)
    handler = _TABLE.get((pair.stage, type(observation)))
    if handler is None:
        raise IllegalPairTransition(pair, observation)
    out = pair.outstanding
    if isinstance(observation, HaStateObserved | HaActionDone | HaCommandFailed):
        if out is None or getattr(out, "serial", None) != observation.serial:
            raise IllegalPairTransition(pair, observation, f"nothing outstanding for {observation.serial}")
        if isinstance(observation, HaCommandFailed) and observation.command != out.name:
            raise IllegalPairTransition(
                pair, observation, f"{out.name} is outstanding, not {observation.command}"
            )
        if isinstance(observation, HaActionDone) and observation.action != out.name:
            raise IllegalPairTransition(
                pair, observation, f"{out.name} is outstanding, not {observation.action}"
            )
    result: PairStep = handler(ctx, observation)
    return result


def pair_resume(
    pair: PairRecord,
    members: Mapping[str, DeviceRecord],
    now: Instant,
    settings: MachineSettings = DEFAULT_SETTINGS,
) -> PairStep:
    """After a restart: a pair that was reading or suspending re-reads both roles and decides afresh (HA
    states show whether the suspend happened); ``MakeFunctional`` is sent again (it is idempotent); a
    running member is left to its own machine's resume, or started if it never got its ``Begin``; a pair
    blocked by its members (held, cancelled, failed) whose members were released or retried meanwhile (with
    no engine running) restarts from a fresh read of both roles, as it would have at once with one; other
    new, blocked and done pairs are unchanged."""
    ctx = _Ctx(pair, members, iso(now), settings)
    if (
        pair.stage is PairStage.BLOCKED
        and pair.blocked_reason in _MEMBER_REASONS
        and _member_problem(ctx) is None
    ):
        return _on_member_changed(ctx, MemberChanged(pair.members[0]))
    if pair.stage in (PairStage.NEW, PairStage.BLOCKED, PairStage.DONE):
        return PairStep(pair)
    if pair.stage is PairStage.MEMBER_RUNNING and pair.member is not None:
        rec = members[pair.member]
        waiting_to_begin = rec.phase in (Phase.PENDING, Phase.NEXT_HOP) and not _hop_done(rec, pair.hop_index)
        if waiting_to_begin and _member_problem(ctx) is None:
            # The daemon stopped between StartMember and the member's Begin: start it (again).
            sync = pair.mode is not Mode.DRY_RUN and not _hop_done(
                members[pair.peer_of(pair.member)], pair.hop_index
            )
            return _go(ctx, PairStage.MEMBER_RUNNING, extra=(StartMember(pair.member, sync),))
        return _on_member_changed(ctx, MemberChanged(pair.member))
    if pair.stage is PairStage.MAKING_FUNCTIONAL and isinstance(pair.outstanding, MakeFunctional):
        return _go(ctx, PairStage.MAKING_FUNCTIONAL, pair.outstanding, retries=0)
    return _read_round(ctx, waiting=pair.waiting, wait_since=pair.wait_since)


def may_start(pair: PairRecord) -> str | None:
    """The member the coordinator currently lets work (``None`` when neither may)."""
    if pair.stage is PairStage.MEMBER_RUNNING:
        return pair.member
    return None


__all__ = [
    "HaView",
    "IllegalPairTransition",
    "PairReason",
    "PairRecord",
    "PairStage",
    "PairStep",
    "may_start",
    "new_pair",
    "pair_resume",
    "pair_step",
]
