"""An HA member's own safety steps around its reboot: roles are read, never assumed.

Before every reboot of an HA member (upgrade mode), in phase ``reboot``:

1. ``ReadPairRoles``: this member's and its peer's HA state, read now;
2. this member ``suspended`` and its peer ``active``: reboot;
3. this member ``passive`` and its peer ``active``, or this member ``active`` and its peer ``passive``
   with state sync complete: ``SuspendSelf`` (from active this is the failover), then read again;
4. anything else (peer down, initial, suspended, not answering; sync incomplete): read again with backoff
   until ``ha_health_timeout`` from the start of the phase, then fail ``ha-peer-unhealthy``.
   A member that is suspended while its peer is not functional is made functional again first
   (``FunctionalSelf``): a suspended member must never leave the pair without an active member. A peer
   whose own API did not answer but which this member sees connected and active over the HA links is
   not such a loss (a management-plane error, e.g. an HTTP 5xx): the roles are read again.

A suspended member cannot become active, so preemption (the better-priority member taking the active role
back after it returns) cannot move the active role onto the member about to restart: the suspend pins the
roles for exactly the reboot. This is the choice documented in docs/state-machine.md; PAN-OS's other
documented way, turning preemption off in the configuration for the whole upgrade, needs config commits
on the customer's devices.

After the reboot and the version check, in phase ``postflight`` before the post snapshot:

5. ``ReadPairRoles`` of this member only (``with_peer`` false: nothing here depends on the peer's own answer,
   this member's view of it over the HA links says connected and in sync); ``suspended`` -> ``FunctionalSelf``; ``active``/``passive`` with its peer connected and
   state sync complete -> the post snapshot (taken on a member that carries traffic state again, like the
   pre snapshot); otherwise read again with backoff until ``ha_rejoin_timeout``, then ``ha-rejoin-timeout``.

An unclear answer to ``SuspendSelf`` / ``FunctionalSelf`` is not a failure: the outcome is unknown until the
next ``ReadPairRoles`` shows it, and the decision is taken again from what the device says.
"""

from __future__ import annotations

from typing import Any

from reconciler.machine.commands import FunctionalSelf, ReadPairRoles, Reboot, Snapshot, SuspendSelf
from reconciler.machine.moves import Ctx, Reason, Step, fail, move
from reconciler.machine.observations import CommandFailed, HaStateObserved, PairRoles, SelfHaDone
from reconciler.machine.records import Mode, Phase

_FUNCTIONAL = ("active", "passive")


def guarded(ctx: Ctx) -> bool:
    """Does this record's reboot go through the HA steps? (HA members being upgraded.)"""
    rec = ctx.record
    return rec.ha_peer is not None and rec.mode is Mode.UPGRADE


def start_reboot(ctx: Ctx, message: str, **changes: Any) -> Step:
    """Enter ``reboot``: standalone devices reboot; HA members read both roles first."""
    rec = ctx.record
    if not guarded(ctx):
        return move(ctx, Phase.REBOOT, Reboot(), message=message, **changes)
    assert rec.ha_peer is not None
    return move(
        ctx,
        Phase.REBOOT,
        ReadPairRoles(rec.ha_peer),
        message=f"{message}: reading HA roles first",
        **changes,
    )


def restore_ha(ctx: Ctx, **changes: Any) -> Step:
    """Enter ``postflight`` (HA members): back to functional before the post snapshot."""
    rec = ctx.record
    assert rec.ha_peer is not None
    return move(
        ctx,
        Phase.POSTFLIGHT,
        ReadPairRoles(rec.ha_peer, with_peer=False),
        message="checking HA after the reboot",
        **changes,
    )


def is_ha_step(command: object) -> bool:
    """Is ``command`` one of these HA steps? (Never a safe point: roles are being changed.)"""
    return isinstance(command, ReadPairRoles | SuspendSelf | FunctionalSelf)


def _state(view: HaStateObserved | None) -> str:
    if view is None:
        return "not answering"
    return view.state.lower() if view.enabled else "HA off"


def _synced(view: HaStateObserved | None) -> bool:
    return view is not None and view.peer_connected and view.state_sync_complete


def _peer_seen_active(obs: PairRoles) -> bool:
    """The peer did not answer its own API, but this member sees it connected and active over the HA links.

    Then the pair has an active member carrying traffic and the unanswered request was the management
    plane's (an HTTP 5xx, a dropped connection): read again rather than undo the suspend, which would be a
    needless failover and back. A peer this member sees disconnected or not active is a real loss."""
    return obs.peer is None and obs.local.peer_connected and obs.local.peer_state == "active"


def _describe(ctx: Ctx, obs: PairRoles) -> str:
    rec = ctx.record
    if rec.phase is not Phase.REBOOT and obs.peer is None:  # after the reboot the peer is not asked
        over_ha = obs.local.peer_state or "not connected"
        return f"{rec.serial} is {_state(obs.local)}, peer {rec.ha_peer} seen {over_ha} over HA"
    seen = f" (seen {obs.local.peer_state} over HA)" if obs.peer is None and obs.local.peer_state else ""
    return f"{rec.serial} is {_state(obs.local)}, peer {rec.ha_peer} is {_state(obs.peer)}{seen}"


def _again(ctx: Ctx, text: str, *, first: bool = False, settling: bool = False) -> Step:
    """Read both roles again, with backoff (``retries`` counts the reads of this wait; ``first`` starts a
    new wait at the shortest interval). ``settling``: a member whose HA is still starting after its reboot
    (booting, initial) settles within a minute or two: read it every ``ha_settle_poll`` for
    ``ha_settle_expected``, then back off."""
    rec, s = ctx.record, ctx.settings
    assert rec.ha_peer is not None
    n = 0 if first else rec.retries
    delay = min(s.ha_poll_interval * 2 ** min(n, 16), s.ha_poll_max_interval)
    if settling and ctx.since(rec.phase_started_at) < s.ha_settle_expected:
        delay = s.ha_settle_poll
    # Before the reboot both roles decide; after it only this member's own answer does.
    read = ReadPairRoles(rec.ha_peer, with_peer=rec.phase is Phase.REBOOT)
    return move(ctx, rec.phase, read, delay, retries=n + 1, message=text)


def on_pair_roles(ctx: Ctx, obs: PairRoles) -> Step:
    """Decide from the roles just read (before the reboot in ``reboot``, after it in ``postflight``)."""
    if ctx.record.phase is Phase.REBOOT:
        return _before_reboot(ctx, obs)
    return _after_reboot(ctx, obs)


def _before_reboot(ctx: Ctx, obs: PairRoles) -> Step:
    rec, s = ctx.record, ctx.settings
    local, peer = _state(obs.local), _state(obs.peer)
    text = _describe(ctx, obs)
    peer_usable = obs.peer is not None and peer in _FUNCTIONAL
    if local == "suspended" and not peer_usable and not _peer_seen_active(obs):
        # Suspended with nobody to carry traffic: undo it before anything else.
        return move(
            ctx, Phase.REBOOT, FunctionalSelf(), message=f"{text}: making {rec.serial} functional again"
        )
    if local == "suspended" and peer == "active":
        # Whenever this is read, even past the deadline (e.g. resumed after the engine was away).
        return move(ctx, Phase.REBOOT, Reboot(), message=f"{text}; rebooting")
    # Past the deadline nothing new starts (no suspend/functional flapping on a pair that never fails
    # over): a suspended member is made functional, then the member fails.
    if ctx.since(rec.phase_started_at) >= s.ha_health_timeout:
        if local == "suspended" and _peer_seen_active(obs) and rec.retries < s.command_max_attempts:
            # The failover happened; only the peer's own answer is missing (the engine may have come back
            # after the deadline, as above): a few more reads before giving up on this reboot.
            return _again(ctx, f"waiting for the peer's own answer before the reboot: {text}")
        if local == "suspended":
            return move(
                ctx, Phase.REBOOT, FunctionalSelf(), message=f"{text}: no failover; making it functional"
            )
        return fail(
            ctx,
            Reason.HA_PEER_UNHEALTHY,
            f"not rebooted: {text} for {s.ha_health_timeout / 60:g} min (the new image stays installed)",
        )
    if (local == "passive" and peer == "active") or (
        local == "active" and peer == "passive" and _synced(obs.peer)
    ):
        why = "to fail over before the reboot" if local == "active" else "so it cannot become active"
        return move(ctx, Phase.REBOOT, SuspendSelf(), message=f"{text}; suspending {rec.serial} {why}")
    return _again(ctx, f"waiting before the reboot: {text}")


def _after_reboot(ctx: Ctx, obs: PairRoles) -> Step:
    rec, s = ctx.record, ctx.settings
    local = _state(obs.local)
    text = _describe(ctx, obs)
    if local in _FUNCTIONAL and _synced(obs.local):
        hop = rec.hop
        assert hop is not None
        return move(
            ctx,
            Phase.POSTFLIGHT,
            Snapshot("post", rec.current_path_index, hop.version),
            message=f"{text}; post-flight snapshot",
        )
    if ctx.since(rec.phase_started_at) >= s.ha_rejoin_timeout:
        return fail(
            ctx, Reason.HA_REJOIN_TIMEOUT, f"{text}: not back in sync within {s.ha_rejoin_timeout / 60:g} min"
        )
    if local == "suspended":
        return move(ctx, Phase.POSTFLIGHT, FunctionalSelf(), message=f"{text}; making it functional")
    settling = local not in (*_FUNCTIONAL, "suspended")
    return _again(ctx, f"waiting for HA to rejoin: {text}", settling=settling)


def on_self_ha_done(ctx: Ctx, obs: SelfHaDone) -> Step:
    """A suspend or functional request was accepted: read the roles to see it take effect."""
    return _again(ctx, f"{obs.action} accepted; reading HA roles", first=True)


def on_ha_step_failed(ctx: Ctx, obs: CommandFailed) -> Step:
    """A failed read is retried until the step's deadline; a suspend or functional request whose answer
    was unclear (garbled, dropped, an error) may still have been carried out: read the roles and decide
    again from what the device says, never assume."""
    rec, s = ctx.record, ctx.settings
    limit = s.ha_health_timeout if rec.phase is Phase.REBOOT else s.ha_rejoin_timeout
    text = f"{obs.command} failed: {obs.message or obs.kind}"
    if isinstance(rec.outstanding, ReadPairRoles) and ctx.since(rec.phase_started_at) >= limit:
        reason = Reason.UNREACHABLE if obs.unreachable else Reason.HA_PEER_UNHEALTHY
        if rec.phase is Phase.POSTFLIGHT:
            reason = Reason.HA_REJOIN_TIMEOUT
        return fail(ctx, reason, f"{text} for {limit / 60:g} min")
    return _again(ctx, f"{text}; reading HA roles to find out what happened")
