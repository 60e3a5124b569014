"""Post-flight: the post snapshot, the comparison with the margins (a gate unless report-only), hop done."""

from __future__ import annotations

from dataclasses import replace

from reconciler.machine.commands import CompareSnapshots, Snapshot
from reconciler.machine.moves import Ctx, Reason, Step, fail, finish, move
from reconciler.machine.observations import ComparisonResult, SnapshotTaken
from reconciler.machine.records import HopOutcome, HopResult, Phase


def on_post_snapshot(ctx: Ctx, obs: SnapshotTaken) -> Step:
    """Compare with the pre snapshot; a hop resumed without one is recorded as ``no-baseline``."""
    rec = replace(ctx.record, post_snapshot=obs.path)
    ctx = ctx.at(rec)
    if rec.pre_snapshot is None:
        return hop_done(ctx, HopOutcome.NO_BASELINE, None)
    s = ctx.settings
    command = CompareSnapshots(
        rec.pre_snapshot, obs.path, rec.current_path_index, s.tcp_session_margin, s.route_margin, s.arp_margin
    )
    return move(ctx, Phase.POSTFLIGHT, command, message="comparing snapshots")


def on_comparison(ctx: Ctx, obs: ComparisonResult) -> Step:
    """A breach inside the settle window re-takes the post snapshot (tables refill after a reboot); after it,
    a breach fails the device (and is recorded in the history) unless the group is report-only."""
    if obs.passed:
        return hop_done(ctx, HopOutcome.PASSED, obs.path)
    rec = ctx.record
    s = ctx.settings
    hop = rec.hop
    if (
        hop is not None
        and ctx.since(rec.phase_started_at) + s.postflight_retry_interval <= s.postflight_settle
    ):
        return move(
            ctx,
            Phase.POSTFLIGHT,
            Snapshot("post", rec.current_path_index, hop.version),
            s.postflight_retry_interval,
            message=f"post-flight outside the margins, waiting for the device to settle: {'; '.join(obs.breaches)[:200]}",
        )
    if s.report_only:
        return hop_done(ctx, HopOutcome.BREACH_REPORT_ONLY, obs.path)
    result = hop_result(ctx, HopOutcome.BREACH, obs.path)
    text = "; ".join(obs.breaches) or "outside the margins"
    return fail(ctx, Reason.POSTFLIGHT_BREACH, f"{text} (see {obs.path})", history=(*rec.history, result))


def hop_result(ctx: Ctx, outcome: HopOutcome, path: str | None) -> HopResult:
    """The history entry of the current hop."""
    rec = ctx.record
    hop = rec.hop
    assert hop is not None
    return HopResult(
        hop.version, rec.hop_started_at or rec.phase_started_at, ctx.iso, outcome, path, rec.backup
    )


def hop_done(ctx: Ctx, outcome: HopOutcome, path: str | None) -> Step:
    """Record the hop; the path is done, or the device rests in ``next_hop`` until the next ``Begin`` (the
    scheduler re-checks windows and budgets between hops; HA pairs interleave their members there)."""
    rec = ctx.record
    history = (*rec.history, hop_result(ctx, outcome, path))
    index = rec.current_path_index + 1
    if index >= len(rec.hops):
        return finish(
            ctx,
            Phase.DONE,
            f"upgraded to {rec.target_version}",
            history=history,
            current_path_index=index,
            progress=100,
        )
    nxt = rec.hops[index].version
    return move(
        ctx,
        Phase.NEXT_HOP,
        history=history,
        current_path_index=index,
        progress=100,
        message=f"hop {index}/{len(rec.hops)} done; next {nxt}",
    )
