"""``device validate`` and ``device metrics``: one firewall's readiness and counters right now.

Everything goes through the device seam (``FirewallClient``). A failing step is a failed check with the
seam's message, never an exception: the operator sees every problem at once. Nothing here changes a device.

Readiness checks, in order: ``reachable`` (``show system info`` answers), ``identity`` (the address answers
with the inventory's serial), ``version`` (parseable; differs from the inventory only as a note), ``ha``
(pairs: HA enabled, local state active or passive, peer connected, state and config in sync; standalone: HA
off), ``disk`` (free space of the software repository >= ``validation.min_disk_gb``), ``jobs`` (no software
install, download or content install running), then panos-upgrade-assurance's readiness checks (the
state machine's ``DEFAULT_READINESS_CHECKS`` unless told otherwise), each as ``assurance:<name>``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from reconciler.core.errors import DeviceError
from reconciler.core.inventory import Device
from reconciler.core.snapshots import Snapshot
from reconciler.core.version import PanOsVersion
from reconciler.device.client import FirewallClient
from reconciler.device.observe import SNAPSHOT_AREAS, job_info
from reconciler.machine import DEFAULT_READINESS_CHECKS
from reconciler.machine.commands import JobKind

T = TypeVar("T")
BUSY_JOB_KINDS = (JobKind.INSTALL, JobKind.DOWNLOAD, JobKind.CONTENT_INSTALL, JobKind.CONTENT_DOWNLOAD)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class Readiness:
    serial: str
    hostname: str
    version: str | None
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "hostname": self.hostname,
            "version": self.version,
            "ready": self.ready,
            "checks": [c.to_json() for c in self.checks],
        }


def _attempt(name: str, fn: Callable[[], T]) -> tuple[T | None, Check | None]:
    """Run one device call; a ``DeviceError`` becomes a failed check named ``name``."""
    try:
        return fn(), None
    except DeviceError as exc:
        return None, Check(name, False, str(exc))


def validate(
    fw: FirewallClient,
    device: Device,
    *,
    min_disk_gb: float,
    readiness_checks: Sequence[str] = DEFAULT_READINESS_CHECKS,
) -> Readiness:
    """Check ``device`` (its inventory record) through ``fw``; see the module docstring for the checks."""
    info, failure = _attempt("reachable", fw.system_info)
    if info is None:
        assert failure is not None
        return Readiness(device.serial, device.hostname, None, (failure,))
    checks = [Check("reachable", True, f"{fw.endpoint.host} answers")]
    if info.serial and info.serial != device.serial:
        checks.append(
            Check(
                "identity",
                False,
                f"{fw.endpoint.host} answers as {info.serial}, not {device.serial}: the inventory is stale "
                "(run 'panos-upgrade device discover')",
            )
        )
    version = PanOsVersion.try_parse(info.sw_version)
    if version is None:
        checks.append(Check("version", False, f"unparseable version {info.sw_version!r}"))
    else:
        note = ""
        if device.sw_version and PanOsVersion.try_parse(device.sw_version) != version:
            note = f" (inventory says {device.sw_version}; re-run discovery to refresh it)"
        checks.append(Check("version", True, f"{version}{note}"))
    checks.append(_ha_check(fw, device))
    disk, failure = _attempt("disk", fw.free_disk_gb)
    if disk is None:
        assert failure is not None
        checks.append(failure)
    else:
        enough = disk >= min_disk_gb
        checks.append(Check("disk", enough, f"{disk:.1f} GB free, {min_disk_gb:.1f} GB required"))
    checks.append(_jobs_check(fw))
    checks.extend(_assurance_checks(fw, readiness_checks))
    return Readiness(
        device.serial, info.hostname or device.hostname, str(version) if version else None, tuple(checks)
    )


def _ha_check(fw: FirewallClient, device: Device) -> Check:
    ha, failure = _attempt("ha", fw.ha_state)
    if ha is None:
        assert failure is not None
        return failure
    if not device.is_ha:
        if ha.enabled:
            return Check(
                "ha",
                False,
                f"HA is enabled ({ha.local_state}) but the inventory says standalone: "
                "run 'panos-upgrade device discover'",
            )
        return Check("ha", True, "standalone (HA off)")
    problems = []
    if not ha.enabled:
        problems.append("HA is not enabled")
    else:
        if ha.local_state not in ("active", "passive"):
            problems.append(f"local state {ha.local_state}")
        if not ha.peer_connected:
            problems.append("peer not connected")
        if ha.state_sync.lower() != "complete":
            problems.append(f"state sync {ha.state_sync or 'unknown'}")
        if ha.running_sync.lower() != "synchronized":
            problems.append(f"running config {ha.running_sync or 'unknown'}")
        if ha.peer_serial and device.peer_serial and ha.peer_serial != device.peer_serial:
            problems.append(f"peer is {ha.peer_serial}, inventory says {device.peer_serial}")
    if problems:
        return Check("ha", False, "; ".join(problems))
    peer = f"{ha.peer_serial or device.peer_serial} {ha.peer_state}".strip()
    return Check("ha", True, f"{ha.local_state}, peer {peer}, in sync")


def _jobs_check(fw: FirewallClient) -> Check:
    found, failure = _attempt("jobs", fw.jobs)
    if found is None:
        assert failure is not None
        return failure
    running = [job_info(j) for j in found]
    busy = [j for j in running if not j.finished and j.kind in BUSY_JOB_KINDS]
    if busy:
        return Check("jobs", False, "running: " + ", ".join(f"{j.kind.value} job {j.job_id}" for j in busy))
    return Check("jobs", True, "no software or content job running")


def _assurance_checks(fw: FirewallClient, names: Sequence[str]) -> list[Check]:
    if not names:
        return []
    results, failure = _attempt("assurance", lambda: fw.readiness(list(names)))
    if results is None:
        assert failure is not None
        return [failure]
    out = []
    for name in names:
        res = results.get(name)
        if not isinstance(res, dict):
            out.append(Check(f"assurance:{name}", False, "not run"))
            continue
        passed = bool(res.get("state"))
        out.append(
            Check(f"assurance:{name}", passed, str(res.get("reason") or ("ok" if passed else "failed")))
        )
    return out


# -- metrics ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """Counters now; ``routes``/``arp`` are panos-upgrade-assurance's entry keys; ``errors`` name the
    parts that could not be read."""

    serial: str
    taken_at: str
    version: str | None
    disk_free_gb: float | None
    snapshot: Snapshot

    def to_json(self) -> dict[str, Any]:
        snap = self.snapshot.to_json()
        return {
            "serial": self.serial,
            "taken_at": self.taken_at,
            "version": self.version,
            "tcp_sessions": snap["tcp_sessions"],
            "active_sessions": snap["active_sessions"],
            "route_count": snap["route_count"],
            "arp_count": snap["arp_count"],
            "disk_free_gb": self.disk_free_gb,
            "routes": snap["routes"],
            "arp": snap["arp"],
            "errors": snap["errors"],
        }


def metrics(fw: FirewallClient, serial: str, taken_at: str) -> Metrics:
    """Sessions, routes, ARP (panos-upgrade-assurance snapshots, as the upgrade's validation takes them)
    and free disk. Raises ``DeviceError`` only when the device does not answer at all."""
    info = fw.system_info()
    raw, failure = _attempt("snapshots", lambda: fw.snapshot(SNAPSHOT_AREAS))
    if raw is None:
        assert failure is not None
        snap = Snapshot(taken_at, errors=(f"snapshots: {failure.detail}",))
    else:
        snap = Snapshot.from_assurance(raw, taken_at)
    disk, failure = _attempt("disk", fw.free_disk_gb)
    if failure is not None:
        snap = replace(snap, errors=(*snap.errors, f"disk: {failure.detail}"))
    version = PanOsVersion.try_parse(info.sw_version)
    return Metrics(serial, taken_at, str(version) if version else info.sw_version or None, disk, snap)
