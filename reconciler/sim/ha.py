"""HA pairs: member states, failover, preemption and PAN-OS's peer-version rule.

States a member reports: ``active``, ``passive``, ``suspended``, ``initial``, ``non-functional``. Two more
are internal: ``down`` (rebooting: the device does not answer, its peer sees it as ``unknown`` with
``conn-status down``) and ``booting`` (the API answers but HA reports ``enabled=no``).

Rules (PANOS-NOTES.md "HA"):
- the active member going down or suspended fails over to a functional passive peer;
- a member coming back goes booting -> initial -> passive (peer active) or active (no active peer);
- with preemption on both members, a passive member with the better (lower) priority takes over after the
  preempt hold time;
- members two or more feature releases apart: the older one suspends ("Peer version too old") until the
  gap closes; one release apart is allowed (``build-compat`` Mismatch). The limit is
  ``reconciler.sim.rules.HA_MAX_GAP`` (source there).

Every transition is logged as an ``ha_state`` event; a takeover also as ``failover``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.sim import rules

if TYPE_CHECKING:
    from reconciler.sim.firewall import SimFirewall

FUNCTIONAL = ("active", "passive")
NOT_RUNNING = ("down", "booting")
PEER_TOO_OLD = "Peer version too old"


@dataclass
class HaMember:
    peer: str
    priority: int
    preemptive: bool
    state: str = "passive"
    admin_suspended: bool = False
    auto_reason: str = ""
    since: float = 0.0
    token: int = 0

    @property
    def running(self) -> bool:
        return self.state not in NOT_RUNNING

    @property
    def reported_state(self) -> str:
        return self.state if self.running else "unknown"


def peer_of(fw: SimFirewall) -> SimFirewall | None:
    if fw.ha is None:
        return None
    return fw.world.firewalls.get(fw.ha.peer)


def set_state(fw: SimFirewall, state: str, t: float, reason: str) -> None:
    ha = fw.ha
    assert ha is not None
    if ha.state == state:
        return
    old = ha.state
    ha.state = state
    ha.since = t
    ha.token += 1
    fw.world.emit("ha_state", fw.serial, sim_time=t, **{"from": old, "to": state, "reason": reason})


def initial_states(a: SimFirewall, b: SimFirewall) -> None:
    """At start: the better priority (lower number; fleet order on a tie) is active."""
    assert a.ha is not None and b.ha is not None
    first, second = (a, b) if a.ha.priority <= b.ha.priority else (b, a)
    first.ha.state, second.ha.state = "active", "passive"  # type: ignore[union-attr]


def member_down(fw: SimFirewall, t: float) -> None:
    """``fw`` stops answering (reboot): fail over to its peer if that peer is passive."""
    if fw.ha is None:
        return
    was_active = fw.ha.state == "active"
    set_state(fw, "down", t, "reboot")
    peer = peer_of(fw)
    if was_active and peer is not None and peer.ha is not None and peer.ha.state == "passive":
        _take_over(peer, fw, t, "peer down")
    evaluate(fw, t)


def member_booted(fw: SimFirewall, t: float) -> None:
    """The API answers again: HA reports ``enabled=no`` for a while, then ``initial``."""
    if fw.ha is None:
        return
    set_state(fw, "booting", t, "boot")
    token = fw.ha.token
    fw.world.scheduler.at(t + fw.draw("ha_boot"), lambda when: _enter_initial(fw, when, token))


def _enter_initial(fw: SimFirewall, t: float, token: int) -> None:
    if fw.ha is None or fw.ha.token != token:
        return
    set_state(fw, "initial", t, "HA starting")
    token = fw.ha.token
    hold = fw.draw("ha_initial")
    stuck = fw.faults.fire("ha_initial_stuck")
    if stuck is not None:
        hold = float(stuck.get("seconds"))
        fw.world.emit("fault_fired", fw.serial, sim_time=t, fault="ha_initial_stuck", seconds=hold)
    fw.world.scheduler.at(t + hold, lambda when: _settle(fw, when, token))


def _settle(fw: SimFirewall, t: float, token: int) -> None:
    """Leave ``initial``: suspended if the admin asked for it, passive if the peer is active, else active."""
    ha = fw.ha
    if ha is None or ha.token != token:
        return
    peer = peer_of(fw)
    if ha.admin_suspended or ha.auto_reason:
        set_state(fw, "suspended", t, ha.auto_reason or "admin suspended")
    elif peer is not None and peer.ha is not None and peer.ha.state == "active":
        set_state(fw, "passive", t, "peer is active")
        _maybe_preempt(fw, t)
    else:
        set_state(fw, "active", t, "no active peer")
    evaluate(fw, t)


def suspend(fw: SimFirewall, t: float) -> None:
    """``request high-availability state suspend``."""
    ha = fw.ha
    assert ha is not None
    ha.admin_suspended = True
    was_active = ha.state == "active"
    set_state(fw, "suspended", t, "admin suspended")
    peer = peer_of(fw)
    if was_active and peer is not None and peer.ha is not None and peer.ha.state == "passive":
        _take_over(peer, fw, t, "peer suspended")


def functional(fw: SimFirewall, t: float) -> None:
    """``request high-availability state functional``: leave suspended through ``initial``."""
    ha = fw.ha
    assert ha is not None
    ha.admin_suspended = False
    if ha.state != "suspended" or ha.auto_reason:
        return
    set_state(fw, "initial", t, "admin functional")
    token = ha.token
    fw.world.scheduler.at(t + fw.draw("ha_functional"), lambda when: _settle(fw, when, token))


def _take_over(new_active: SimFirewall, old: SimFirewall, t: float, reason: str) -> None:
    set_state(new_active, "active", t, reason)
    new_active.world.emit("failover", new_active.serial, sim_time=t, previous=old.serial, reason=reason)


def _maybe_preempt(fw: SimFirewall, t: float) -> None:
    ha = fw.ha
    peer = peer_of(fw)
    if ha is None or peer is None or peer.ha is None:
        return
    if not (ha.preemptive and peer.ha.preemptive and ha.priority < peer.ha.priority):
        return
    token, peer_token = ha.token, peer.ha.token

    def preempt(when: float) -> None:
        if fw.ha is None or peer.ha is None or fw.ha.token != token or peer.ha.token != peer_token:
            return
        if fw.ha.state == "passive" and peer.ha.state == "active":
            set_state(peer, "passive", when, "preempted")
            _take_over(fw, peer, when, "preemption")

    fw.world.scheduler.at(t + fw.draw("preempt_hold"), preempt)


def evaluate(fw: SimFirewall, t: float) -> None:
    """Apply the pair-wide rules after any change: version gap, and some member must be active."""
    peer = peer_of(fw)
    if fw.ha is None or peer is None or peer.ha is None:
        return
    members = {fw.serial: fw.ha, peer.serial: peer.ha}
    both_settled = all(m.running and m.state != "initial" for m in members.values())
    if both_settled:
        older, newer = (fw, peer) if fw.version < peer.version else (peer, fw)
        gap = _gap(older, newer)
        old_ha, new_ha = members[older.serial], members[newer.serial]
        if gap > rules.HA_MAX_GAP and not old_ha.auto_reason:
            old_ha.auto_reason = PEER_TOO_OLD
            was_active = old_ha.state == "active"
            set_state(older, "suspended", t, PEER_TOO_OLD)
            if was_active and new_ha.state == "passive":
                _take_over(newer, older, t, PEER_TOO_OLD)
        for member, other in ((fw, peer), (peer, fw)):
            ha, other_ha = members[member.serial], members[other.serial]
            if ha.auto_reason and gap <= rules.HA_MAX_GAP:
                ha.auto_reason = ""
                if ha.state == "suspended" and not ha.admin_suspended:
                    set_state(
                        member, "passive" if other_ha.state == "active" else "active", t, "peer version ok"
                    )
    if fw.ha.state != "active" and peer.ha.state != "active":
        if fw.ha.state == "passive":
            _take_over(fw, peer, t, "no active member")
        elif peer.ha.state == "passive":
            _take_over(peer, fw, t, "no active member")


def _gap(older: SimFirewall, newer: SimFirewall) -> int:
    """Feature releases between the members (0 when either runs a release the rules do not know)."""
    if not (rules.knows(older.version.feature_release) and rules.knows(newer.version.feature_release)):
        return 0
    return rules.ha_gap(older.version, newer.version)
