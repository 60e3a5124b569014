"""Discovery: Panorama's device list and device groups, then each firewall directly for system info and HA.

Panorama says which firewalls exist; each firewall is then asked itself (bounded parallel workers), because
only the firewall knows its HA state for sure. Unreachable firewalls are kept with ``device_type`` unknown and
the error, never dropped. HA pairs are only recorded as pairs when both members name each other.

A probe that fails never erases what was known: given the previous inventory, a firewall that cannot be asked
keeps its last known facts (version, HA type, state and peer, group), marked ``stale`` with the error, so one
failed probe (or a wrong firewall password for all of them) never turns a known HA pair into two unknowns
that a later plan would treat as standalone units.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from reconciler.core.desired import DesiredState, group_connections
from reconciler.core.errors import DeviceError
from reconciler.core.inventory import HA_STATES, Device, Inventory
from reconciler.device.client import (
    FirewallClient,
    FirewallClientFactory,
    PanoramaClient,
    RetryPolicy,
    panorama_from_config,
)
from reconciler.device.parsers import HaState, PanoramaDevice, SystemInfo, panorama_role, valid_serial
from reconciler.workdir import logs
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

# The logger keeps the name it had before the package move: operators filter logs on it.
log = logs.get("reconciler.discovery")

FirewallFactory = Callable[..., FirewallClient]
"""(mgmt_ip, serial[, connection]) -> a client for that firewall (``connection``: its group's override)."""

CANCEL_CHECK = 0.2  # seconds between looks at ``cancel`` while probes run


class Cancelled(Exception):
    """A discovery given up on request (``run``'s ``cancel``): nothing was returned, nothing written."""


@dataclass(frozen=True)
class Probe:
    """What one firewall said about itself (or why it could not say)."""

    serial: str
    info: SystemInfo | None = None
    ha: HaState | None = None
    error: str = ""
    kind: str = ""
    """The DeviceError kind of a failed probe (``auth`` for refused credentials)."""


@dataclass(frozen=True)
class Discovery:
    """A discovery's inventory and the probes that failed (by serial)."""

    inventory: Inventory
    failed: Mapping[str, Probe] = field(default_factory=dict)

    @property
    def auth_failed(self) -> list[str]:
        """Serials whose firewall refused the configured credentials."""
        return sorted(s for s, p in self.failed.items() if p.kind == "auth")

    @property
    def stale(self) -> list[str]:
        """Serials kept with their last known facts because their probe failed."""
        return sorted(d.serial for d in self.inventory if d.stale)


def connect(
    cfg: Config, work: WorkPaths | None, previous: Inventory | None
) -> tuple[PanoramaClient, FirewallClientFactory]:
    """The clients of a discovery: Panorama at ``panorama.host``, or at its HA peer's address (as
    ``previous`` recorded it) when that one does not answer; the firewalls as ``firewall.connection`` says,
    through whichever Panorama member answers, with ``auto``'s remembered fallbacks (``work``'s
    ``status/firewall-paths.json``) shared with the engine."""
    members = [(p.mgmt_ip, p.serial) for p in previous.panoramas] if previous is not None else []
    panorama = panorama_from_config(cfg, members=[host for host, _ in members])
    return panorama, FirewallClientFactory(cfg, work=work, panoramas=lambda: members)


def by_group(desired: DesiredState | None) -> Callable[[Inventory], Mapping[str, str]] | None:
    """``run``'s ``connections`` for ``desired`` (None when no group overrides ``firewall.connection``)."""
    if desired is None or not any(g.connection for g in desired.groups):
        return None
    return lambda inventory: group_connections(desired, inventory)


def discover(
    panorama: PanoramaClient,
    firewall: FirewallFactory,
    *,
    workers: int,
    retry_attempts: int,
    now: str,
    progress: Callable[[int, int], None] | None = None,
    previous: Inventory | None = None,
) -> Inventory:
    """Build a fresh inventory. Panorama errors propagate (nothing to discover without it)."""
    return run(
        panorama,
        firewall,
        workers=workers,
        retry_attempts=retry_attempts,
        now=now,
        progress=progress,
        previous=previous,
    ).inventory


def run(
    panorama: PanoramaClient,
    firewall: FirewallFactory,
    *,
    workers: int,
    retry_attempts: int,
    now: str,
    progress: Callable[[int, int], None] | None = None,
    previous: Inventory | None = None,
    cancel: threading.Event | None = None,
    connections: Callable[[Inventory], Mapping[str, str]] | None = None,
) -> Discovery:
    """``discover`` with the failed probes. A firewall whose probe fails keeps what ``previous`` knew of it
    (marked stale). Panorama errors propagate. Once ``cancel`` is set, probes not yet started are dropped and
    ``Cancelled`` is raised (after the probes already asking a firewall end, each within its timeouts).

    ``connections``: serial -> the ``connection`` of its group in the desired state (``group_connections``),
    computed from what Panorama lists (serial, hostname, model, device group, HA peer: what the selectors
    match on). Each firewall is then probed as its group reaches it, the others as ``firewall.connection``
    says; Panorama's device groups are then asked before the probes start instead of meanwhile."""
    listed = _usable(panorama.connected_devices())
    total = len(listed)
    probes: dict[str, Probe] = {}
    retry = RetryPolicy(attempts=retry_attempts, initial_wait=0.5, max_wait=5.0)
    early: dict[str, str] | None = None
    via: Mapping[str, str] = {}
    if connections is not None:
        early = panorama.device_groups()
        via = connections(_as_listed(listed, early, now))
    # Each probe hands itself to this queue when it ends, so the loop below takes them one by one: waiting
    # on the set of pending futures instead (``concurrent.futures.wait``) hooks a waiter onto every pending
    # future at each call, quadratic in the fleet (2,000 firewalls: ~2 million lock operations, seconds of
    # CPU on the thread that should only collect answers).
    ended: queue.SimpleQueue[Future[Probe]] = queue.SimpleQueue()
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="discover") as pool:
        # The firewalls are probed as soon as the list is known; Panorama is asked for the device groups
        # meanwhile (issue 18.6). Its error still ends the discovery, dropping the probes not yet started.
        futures = [
            pool.submit(_probe, firewall, dev, retry, via.get(dev.serial)) for dev in listed if dev.mgmt_ip
        ]
        for fut in futures:
            fut.add_done_callback(ended.put)
        try:
            groups = early if early is not None else panorama.device_groups()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        for dev in listed:
            if not dev.mgmt_ip:
                probes[dev.serial] = Probe(dev.serial, error="Panorama reports no management IP")
        done = len(probes)
        pending = len(futures)
        while pending:  # each probe ends within its calls' timeouts and retries
            if cancel is not None and cancel.is_set():
                pool.shutdown(wait=False, cancel_futures=True)
                raise Cancelled(f"discovery cancelled with {pending} of {total} firewalls not yet answered")
            try:
                fut = ended.get(timeout=CANCEL_CHECK)
            except queue.Empty:
                continue
            pending -= 1
            probe = fut.result()
            probes[probe.serial] = probe
            done += 1
            if progress is not None:
                progress(done, total)
    known = previous.devices if previous is not None else {}
    devices = [
        _record(dev, groups.get(dev.serial, ""), probes[dev.serial], now, known.get(dev.serial))
        for dev in listed
    ]
    version, peer_version, panoramas = _panorama_facts(panorama, now, previous)
    inventory = Inventory.of(
        _pair_up(devices),
        discovered_at=now,
        panorama=panorama.name.removeprefix("panorama "),
        panorama_version=version,
        panorama_peer_version=peer_version,
        panoramas=panoramas,
    )
    failed = {s: p for s, p in probes.items() if p.info is None or p.ha is None}
    return Discovery(inventory, failed)


def _panorama_facts(
    panorama: PanoramaClient, now: str, previous: Inventory | None = None
) -> tuple[str, str, tuple[Device, ...]]:
    """Panorama's version, its HA peer's ("" for one not known), and both as devices for the desired
    state's ``panorama`` block. Panorama answered the device list a moment ago, so an error of its own
    ``show system info`` propagates like any Panorama error; an HA answer it cannot read leaves the peer
    unknown (logged), and so does a peer that does not answer at its own address: Panorama is then recorded
    ``unknown`` with the error, and the planner starts no upgrade of it. The member that did not answer
    keeps what ``previous`` knew of it (its serial, address and version; marked stale and ``unknown`` too),
    so that its address stays known to the calls through Panorama and to an upgrade of it in progress (a
    member rebooting for its own upgrade). Panorama itself may be that member: ``panorama`` then answered
    at its HA peer's address (``PanoramaClient``'s ``members``)."""
    info = panorama.system_info()
    host = panorama.name.removeprefix("panorama ")
    local = Device(
        serial=info.serial,
        hostname=info.hostname,
        mgmt_ip=host,
        model=info.model,
        sw_version=info.sw_version,
        device_type="standalone",
        ha_state="standalone",
        discovered_at=now,
    )
    try:
        ha = panorama.ha()
    except DeviceError as exc:
        log.warning("discovery: Panorama's HA state unreadable: %s", exc)
        return info.sw_version, "", (_unknown_ha(local, f"HA state unreadable: {exc}"),)
    if not ha.enabled:
        return info.sw_version, "", (local,)
    local = local.with_changes(device_type="ha_pair", ha_state=_ha_role(ha.local_state))
    peer_info = None
    if ha.peer_address:
        try:
            client = panorama.peer(ha.peer_address)
            peer_info, peer_ha = client.system_info(), client.ha()
        except DeviceError as exc:
            log.warning("discovery: Panorama's HA peer at %s did not answer: %s", ha.peer_address, exc)
    if peer_info is None or not valid_serial(peer_info.serial):
        why = f"HA peer at {ha.peer_address or 'an unknown address'} could not be asked"
        known = [
            p.with_changes(device_type="unknown", ha_state="unknown", stale=True, error=why)
            for p in (previous.panoramas if previous is not None else ())
            if p.serial != local.serial and ha.peer_address and p.mgmt_ip == ha.peer_address
        ]
        return info.sw_version, ha.peer_version, (_unknown_ha(local, why), *known[:1])
    peer = Device(
        serial=peer_info.serial,
        hostname=peer_info.hostname,
        mgmt_ip=ha.peer_address,
        model=peer_info.model,
        sw_version=peer_info.sw_version,
        device_type="ha_pair",
        ha_state=_ha_role(peer_ha.local_state) if peer_ha.enabled else "unknown",
        peer_serial=local.serial,
        discovered_at=now,
    )
    local = local.with_changes(peer_serial=peer.serial)
    return info.sw_version, ha.peer_version or peer_info.sw_version, (local, peer)


def _ha_role(state: str) -> str:
    role = panorama_role(state)
    return role if role in HA_STATES else "unknown"


def _unknown_ha(device: Device, why: str) -> Device:
    return device.with_changes(device_type="unknown", ha_state="unknown", error=why)


def _usable(listed: list[PanoramaDevice]) -> list[PanoramaDevice]:
    """Panorama's entries whose serial can be one (``valid_serial``): any other is skipped with a warning,
    so one bad entry never keeps the inventory of the rest from being written; a bad HA peer serial is
    dropped (the member is then not taken for a confirmed pair)."""
    out = []
    for dev in listed:
        if not valid_serial(dev.serial):
            log.warning("discovery: Panorama entry skipped: serial %s is not a serial", _shown(dev.serial))
            continue
        if dev.peer_serial and not valid_serial(dev.peer_serial):
            log.warning(
                "discovery: %s: HA peer serial %s ignored: not a serial", dev.serial, _shown(dev.peer_serial)
            )
            dev = replace(dev, peer_serial="")
        out.append(dev)
    return out


def _shown(text: str) -> str:
    """A device-supplied value for a log line: quoted, escaped (no newline), cut short."""
    shown = ascii(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _as_listed(listed: list[PanoramaDevice], groups: Mapping[str, str], now: str) -> Inventory:
    """What Panorama lists, as an inventory for the selectors (before any firewall was asked)."""
    return Inventory.of(
        [
            Device(
                serial=d.serial,
                hostname=d.hostname,
                mgmt_ip=d.mgmt_ip,
                model=d.model,
                sw_version=d.sw_version,
                device_group=groups.get(d.serial, ""),
                device_type="ha_pair" if d.peer_serial else "standalone",
                peer_serial=d.peer_serial,
                discovered_at=now,
            )
            for d in listed
        ]
    )


def _probe(
    firewall: FirewallFactory, dev: PanoramaDevice, retry: RetryPolicy, connection: str | None = None
) -> Probe:
    try:
        client = (
            firewall(dev.mgmt_ip, dev.serial, connection) if connection else firewall(dev.mgmt_ip, dev.serial)
        )
        info = client.system_info(retry=retry)
        if info.serial != dev.serial:
            return Probe(dev.serial, error=f"{dev.mgmt_ip} answers as serial {info.serial}, not {dev.serial}")
        ha = client.ha_state(retry=retry)
    except DeviceError as exc:
        log.warning(
            "discovery: %s (%s) unreachable: %s", dev.serial, dev.mgmt_ip, exc, extra={"serial": dev.serial}
        )
        return Probe(dev.serial, error=str(exc), kind=exc.kind)
    return Probe(dev.serial, info=info, ha=ha)


def _record(dev: PanoramaDevice, group: str, probe: Probe, now: str, known: Device | None = None) -> Device:
    base = Device(
        serial=dev.serial,
        hostname=dev.hostname,
        mgmt_ip=dev.mgmt_ip,
        model=dev.model,
        sw_version=dev.sw_version,
        device_group=group,
        connected=dev.connected,
        discovered_at=now,
    )
    if probe.info is None or probe.ha is None:
        if known is not None and known.device_type != "unknown":
            return _stale(base, known, probe.error)
        return base.with_changes(device_type="unknown", ha_state="unknown", error=probe.error)
    info, ha = probe.info, probe.ha
    fields = {
        "hostname": info.hostname or dev.hostname,
        "model": info.model or dev.model,
        "sw_version": info.sw_version,
    }
    if not ha.enabled:
        if dev.peer_serial:
            # Panorama lists an HA peer, the firewall says HA is off: a member right after a reboot reports
            # "enabled: no" for a while. Taking it for standalone would let it be upgraded alone, past its
            # peer's feature release (found by the reliability suite, under periodic re-discovery).
            return base.with_changes(
                device_type="unknown",
                ha_state="unknown",
                error=f"reports HA disabled, but Panorama lists HA peer {dev.peer_serial}; discover again",
                **fields,
            )
        return base.with_changes(device_type="standalone", ha_state="standalone", **fields)
    peer = ha.peer_serial or dev.peer_serial
    if not valid_serial(peer):  # a firewall's own answer is no more trusted than Panorama's
        peer = ""
    return base.with_changes(
        device_type="ha_pair", ha_state=_ha_state(ha.local_state), peer_serial=peer, **fields
    )


def _stale(base: Device, known: Device, error: str) -> Device:
    """The last known facts of a firewall that could not be asked now: what Panorama says today (address,
    connection, group) over what the firewall said when it last answered (its version, HA type, state and
    peer), marked stale with the error, dated when those facts were true."""
    return base.with_changes(
        hostname=known.hostname or base.hostname,
        model=known.model or base.model,
        sw_version=known.sw_version or base.sw_version,
        device_group=base.device_group or known.device_group,
        device_type=known.device_type,
        ha_state=known.ha_state,
        peer_serial=known.peer_serial,
        discovered_at=known.discovered_at,
        stale=True,
        error=error,
    )


def _ha_state(state: str) -> str:
    state = state.lower()
    known = ("active", "passive", "suspended", "initial", "non-functional")
    return state if state in known else "unknown"


def _pair_up(devices: list[Device]) -> list[Device]:
    """Keep a pair only when both members name each other; otherwise mark the member unknown with why."""
    by_serial: Mapping[str, Device] = {d.serial: d for d in devices}
    out = []
    for dev in devices:
        if dev.device_type != "ha_pair":
            out.append(dev)
            continue
        peer = by_serial.get(dev.peer_serial)
        if dev.stale and peer is not None:
            # Last known facts of a member that could not be asked: the pair stays as it was known (its
            # error says why it is stale); one failed probe never splits a pair.
            out.append(dev)
        elif not dev.peer_serial:
            out.append(dev.with_changes(device_type="unknown", error="HA enabled but peer serial unknown"))
        elif peer is None:
            out.append(
                dev.with_changes(device_type="unknown", error=f"HA peer {dev.peer_serial} not in Panorama")
            )
        elif peer.device_type == "unknown" and peer.error:
            # The peer could not be asked; keep the claim but say the pair is unconfirmed.
            out.append(dev.with_changes(error=f"HA peer {peer.serial} unreachable: pair unconfirmed"))
        elif peer.peer_serial != dev.serial:
            out.append(
                dev.with_changes(
                    device_type="unknown",
                    error=f"HA peer mismatch: {dev.peer_serial} names {peer.peer_serial or 'no peer'}",
                )
            )
        else:
            out.append(dev)
    return out


@dataclass(frozen=True)
class InventoryDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def lines(self) -> list[str]:
        out = [f"+ {s}" for s in self.added]
        out += [f"- {s}" for s in self.removed]
        out += [f"~ {s}: {', '.join(fields)}" for s, fields in sorted(self.changed.items())]
        return out


_COMPARED = (
    "hostname",
    "mgmt_ip",
    "model",
    "sw_version",
    "device_group",
    "device_type",
    "ha_state",
    "peer_serial",
    "stale",
)


def diff(old: Inventory, new: Inventory) -> InventoryDiff:
    """Devices added, removed and changed (with the changed fields as 'field: old -> new')."""
    added = sorted(s for s in new.devices if s not in old.devices)
    removed = sorted(s for s in old.devices if s not in new.devices)
    changed: dict[str, list[str]] = {}
    for serial in sorted(set(old.devices) & set(new.devices)):
        a, b = old.devices[serial], new.devices[serial]
        fields = [
            f"{f}: {getattr(a, f)} -> {getattr(b, f)}" for f in _COMPARED if getattr(a, f) != getattr(b, f)
        ]
        if fields:
            changed[serial] = fields
    return InventoryDiff(added, removed, changed)
