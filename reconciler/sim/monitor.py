"""The simulator's safety monitor: what the fleet itself sees as unsafe, logged as ``violation`` events.

The simulator is an independent model of PAN-OS, so this watches device state, not the client's intent:

- ``active-rebooted``: an HA member was asked to restart while it was the active member and its peer was
  running (any state but ``down``/``booting``, i.e. able to take over had it been made active first);
- ``both-down``: an HA member was asked to restart while its peer was itself rebooting (between its own
  restart request and its HA coming back, ``down`` or ``booting``), so no member could pass traffic.

Each is ``{"event": "violation", "kind": ..., "serial": ..., ...}`` with the states seen, and is counted in
``World.violations`` (shown by ``sim status``). A refused install is already an ``install_refused`` event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.sim import ha as ha_rules

if TYPE_CHECKING:
    from reconciler.sim.firewall import SimFirewall

ACTIVE_REBOOTED = "active-rebooted"
BOTH_DOWN = "both-down"


def ha_states(fw: SimFirewall) -> dict[str, Any]:
    """``ha_state`` and ``peer_state`` of an HA member right now (internal names: ``down``, ``booting``)."""
    if fw.ha is None:
        return {}
    peer = ha_rules.peer_of(fw)
    peer_state = peer.ha.state if peer is not None and peer.ha is not None else None
    return {"ha_state": fw.ha.state, "peer": fw.ha.peer, "peer_state": peer_state}


def peer_down(fw: SimFirewall) -> bool:
    """True while ``fw`` cannot pass traffic as an HA member: restart asked and HA not back yet."""
    if fw.ha is None:
        return fw.rebooting
    return fw.rebooting or not fw.ha.running


def reboot_requested(fw: SimFirewall, t: float) -> None:
    """Called when ``request restart system`` is accepted, before ``fw`` is marked rebooting."""
    if fw.ha is None:
        return
    peer = ha_rules.peer_of(fw)
    if peer is None or peer.ha is None:
        return
    details = {"peer": peer.serial, "ha_state": fw.ha.state, "peer_state": peer.ha.state}
    if peer_down(peer):
        _violation(fw, t, BOTH_DOWN, **details, peer_rebooting=peer.rebooting)
    elif fw.ha.state == "active":
        _violation(fw, t, ACTIVE_REBOOTED, **details)


def _violation(fw: SimFirewall, t: float, kind: str, **details: Any) -> None:
    fw.world.violations[kind] += 1
    fw.world.emit("violation", fw.serial, sim_time=t, kind=kind, **details)
