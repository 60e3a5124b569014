"""Requests: begin, cancel, hold, release, retry, abort; and the deferred cancel/hold at the next safe point."""

from __future__ import annotations

from dataclasses import replace

from reconciler.machine.moves import Ctx, Step, fail, finish, held, is_safe_point, move
from reconciler.machine.observations import (
    Abort,
    Begin,
    CancelRequest,
    HoldRequest,
    ReleaseRequest,
    RetryRequest,
)
from reconciler.machine.preflight import start_hop
from reconciler.machine.records import ACTIVE_PHASES, PendingRequest, Phase


def on_begin(ctx: Ctx, obs: Begin) -> Step:
    """Start the device (pending) or its next hop (next_hop): a fresh pre-flight either way."""
    rec = ctx.record
    return start_hop(ctx, started_at=rec.started_at or ctx.iso, sync_to_peer=obs.sync_to_peer)


def on_cancel_untouched(ctx: Ctx, obs: CancelRequest) -> Step:
    """A device never started is simply cancelled."""
    text = f"cancelled by {obs.by}" + (f": {obs.reason}" if obs.reason else "")
    return finish(ctx, Phase.CANCELLED, text)


def on_hold_now(ctx: Ctx, obs: HoldRequest | CancelRequest) -> Step:
    """Resting or finished devices are held at once."""
    return held(ctx, obs.by, obs.reason)


def on_stop_request(ctx: Ctx, obs: HoldRequest | CancelRequest) -> Step:
    """Cancel/hold while working: held now at a safe point, otherwise remembered for the next one."""
    rec = ctx.record
    if is_safe_point(rec):
        return held(ctx, obs.by, obs.reason)
    kind = "cancel" if isinstance(obs, CancelRequest) else "hold"
    request = PendingRequest(kind, obs.by, obs.reason, ctx.iso)
    delay = max(0.0, -ctx.since(rec.due_at)) if rec.due_at else 0.0
    new = replace(
        rec,
        pending_request=request,
        updated_at=ctx.iso,
        message=f"{kind} requested; stopping at next safe point",
    )
    assert rec.outstanding is not None  # active phases always have one
    return Step(new, (rec.outstanding,), delay)


def on_abort(ctx: Ctx, obs: Abort) -> Step:
    """A resting device fails for a reason found elsewhere (the pair coordinator's)."""
    return fail(ctx, obs.reason, obs.message or obs.reason)


def on_release(ctx: Ctx, obs: ReleaseRequest) -> Step:
    """Back to pending; the next ``Begin`` re-observes the device in a fresh pre-flight."""
    return move(
        ctx,
        Phase.PENDING,
        hold=None,
        last_error=None,
        finished_at=None,
        message=f"released by {obs.by}; waiting to start",
    )


def on_retry(ctx: Ctx, obs: RetryRequest) -> Step:
    """Back to pending as a new attempt; the path still follows ``starting_version``."""
    rec = ctx.record
    return move(
        ctx,
        Phase.PENDING,
        attempt=rec.attempt + 1,
        last_error=None,
        finished_at=None,
        message=f"retry requested by {obs.by}; waiting to start",
    )


def apply_pending_request(ctx: Ctx, result: Step) -> Step:
    """A cancel/hold received at an unsafe point takes effect at the first safe point: applied by ``step``
    to every handler's result, so no handler needs to remember it."""
    rec = result.record
    request = rec.pending_request
    if request is None or rec.phase not in ACTIVE_PHASES or not is_safe_point(rec):
        return result
    return held(ctx.at(rec), request.by, request.reason)
