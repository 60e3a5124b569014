"""The simulator's safety monitor: what the fleet itself sees as unsafe, logged as ``violation`` events.

The simulator is an independent model of PAN-OS, so this watches device state, not the client's intent:

- ``active-rebooted``: an HA member was asked to restart while it was the active member and its peer was
  running (any state but ``down``/``booting``, i.e. able to take over had it been made active first);
- ``both-down``: an HA member was asked to restart while its peer was itself rebooting (between its own
  restart request and its HA coming back, ``down`` or ``booting``), so no member could pass traffic;
- ``install-refused``: an install PAN-OS refuses (``reconciler.sim.rules``: path, base images, downgrade
  floor, content), alongside the ``install_refused`` event: the client should have known better;
- ``reboot-without-install``: ``request restart system`` on a firewall with no installed image waiting for
  the reboot (none installed, or its install still running). PAN-OS restarts for other reasons too, so
  this is not unsafe as such, but in this project nobody restarts a firewall except to activate an image:
  a test that means to can ``allow`` the kind;
- ``ha-version-gap``: an HA member accepted an install that leaves it more than one feature release away
  from its peer's running version. PAN-OS does not refuse it (the simulator neither), but after the reboot
  the older member suspends with "Peer version too old" and the pair loses its redundancy: HA members go
  one feature release at a time ("Upgrade an HA Firewall Pair", PAN-OS Upgrade Guide);
- ``past-panorama``: a firewall accepted an install of a release a Panorama of the fleet cannot manage
  (``reconciler.sim.panorama.can_manage``, the compatibility matrix's rule). PAN-OS installs it; after the
  reboot Panorama lists the firewall ``unsupported-version`` and disconnected: upgrade Panorama first;
- ``foreign-api-key``: a request to one device carrying the API key another device generated (every
  device has its own key, as every PAN-OS box derives keys from its own master key); PAN-OS answers
  403 ``Invalid credentials.`` and so does the simulator: a client mixing up its keys.

Restarts of a Panorama HA pair's members are judged by the first two rules (``panorama_reboot_requested``).

Each is ``{"event": "violation", "kind": ..., "serial": ..., ...}`` with the states seen, and is counted in
``World.violations`` (shown by ``sim status``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.sim import ha as ha_rules
from reconciler.sim import rules

if TYPE_CHECKING:
    from reconciler.sim.firewall import SimFirewall
    from reconciler.sim.panorama import SimPanorama
    from reconciler.sim.version import Version
    from reconciler.sim.world import Device

ACTIVE_REBOOTED = "active-rebooted"
BOTH_DOWN = "both-down"
INSTALL_REFUSED = "install-refused"
REBOOT_WITHOUT_INSTALL = "reboot-without-install"
FOREIGN_API_KEY = "foreign-api-key"
HA_VERSION_GAP = "ha-version-gap"
PAST_PANORAMA = "past-panorama"
KINDS = (
    ACTIVE_REBOOTED,
    BOTH_DOWN,
    INSTALL_REFUSED,
    REBOOT_WITHOUT_INSTALL,
    FOREIGN_API_KEY,
    HA_VERSION_GAP,
    PAST_PANORAMA,
)


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
    _ha_reboot(fw, t)
    if fw.pending is None:
        installing = fw.active_install is not None
        _violation(fw, t, REBOOT_WITHOUT_INSTALL, version=str(fw.version), install_running=installing)


def _ha_reboot(fw: SimFirewall, t: float) -> None:
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


def panorama_reboot_requested(pano: SimPanorama, t: float) -> None:
    """A member of a Panorama HA pair asked to restart: the two rules of a firewall pair (a Panorama pair is
    upgraded with the same care: passive first, suspend the active before its restart, never both down)."""
    peer = pano.peer()
    if pano.ha_state is None or peer is None:
        return
    details = {"peer": peer.serial, "ha_state": pano.ha_state, "peer_state": peer.ha_state}
    if peer.rebooting or peer.ha_state == "down":
        _violation(pano, t, BOTH_DOWN, **details, peer_rebooting=peer.rebooting)
    elif pano.ha_state == "active":
        _violation(pano, t, ACTIVE_REBOOTED, **details)


def install_refused(fw: SimFirewall, t: float, *, version: str, reason: str) -> None:
    """Called when an install request is refused by PAN-OS's rules (not for "software manager busy")."""
    _violation(fw, t, INSTALL_REFUSED, version=version, reason=reason, running=str(fw.version))


def install_accepted(fw: SimFirewall, t: float, version: Version) -> None:
    """Called when an install is accepted: a firewall about to run a release its Panorama cannot manage
    (``past-panorama``), an HA member about to be too far from its peer (``ha-version-gap``)."""
    from reconciler.sim.panorama import can_manage  # panorama imports firewall, which imports this module

    too_old = [p for p in fw.world.panoramas if not can_manage(p.version, version)]
    if too_old:
        _violation(
            fw,
            t,
            PAST_PANORAMA,
            version=str(version),
            panorama=too_old[0].serial,
            panorama_version=str(too_old[0].version),
        )
    peer = ha_rules.peer_of(fw)
    if fw.ha is None or peer is None:
        return
    trains = (version.feature_release, peer.version.feature_release)
    if not all(rules.knows(train) for train in trains):
        return
    gap = rules.ha_gap(version, peer.version)
    if gap > rules.HA_MAX_GAP:
        _violation(
            fw,
            t,
            HA_VERSION_GAP,
            version=str(version),
            peer=peer.serial,
            peer_version=str(peer.version),
            gap=gap,
        )


def foreign_key(device: Device, t: float, owner: str) -> None:
    """A request to ``device`` carried the key of ``owner`` (another device); it is answered 403."""
    _violation(device, t, FOREIGN_API_KEY, key_of=owner)


def _violation(fw: SimFirewall | Device, t: float, kind: str, **details: Any) -> None:
    fw.world.violations[kind] += 1
    fw.world.emit("violation", fw.serial, sim_time=t, kind=kind, **details)
