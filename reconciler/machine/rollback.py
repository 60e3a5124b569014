"""An operator's rollback (``device rollback``, ``group rollback``), decided: pure, no I/O, no clock.

``plan_rollback(record, peer, ...)`` looks at a device's status record (and its HA peer's) and returns either
the new records that return the device (the pair) to the version it ran before its last hop, or why not.
The new records are ordinary upgrade records of one hop (``Hop(previous, (previous,))``) marked with a
``RollbackInfo``: they run through the same state machine as an upgrade (pre-flight with its readiness checks,
snapshot and configuration backup, software list, install, reboot, verify, post-flight comparison with the
group's margins), and an HA pair through the same pair coordinator (passive member first; each member
suspends itself before its reboot and is made functional after it).

How PAN-OS goes back: by installing the older image, which it keeps after an upgrade (the image the device ran
before is still in the software list, ``downloaded: yes``), with ``request system software install version``
and a reboot. This is the procedure of the PAN-OS Upgrade Guide, "Downgrade PAN-OS"
(docs.paloaltonetworks.com /pan-os/11-1/pan-os-upgrade/downgrade-pan-os: "Downgrade to a Previous
Maintenance Release" and "... Feature Release" both install the earlier image from Device > Software). The
other way, the CLI's ``debug swm revert``, is a debug command documented only in knowledge-base articles; it
starts no job to follow and offers no check before the reboot, so it is not used. Should the image be gone
(deleted since), the machine downloads it again like any hop image.

What may be rolled back (anything else is refused, with the reason, and nothing changes):

- a device whose last work was an upgrade (``mode`` upgrade, not download-only or a dry run) that changed its
  version: its record is ``done``, or ``failed``/``cancelled`` after at least one hop took effect (for
  example a post-flight breach). The version to return to is the one before the hop the device runs now;
- a rollback that failed or was cancelled is run again toward the same version;
- never a device in motion (working, resting between hops, or held mid-upgrade), nor one already rolled back
  (its record keeps no version before that);
- only downgrades PAN-OS supports (``UpgradeRules.downgrade_refusal``);
- an HA member only together with its peer, and only when the peer ran the same hop from the same version:
  the pair goes back as one unit;
- never Panorama (the group ``panorama``): its downgrade follows its own documented steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from reconciler.core.desired import PANORAMA_GROUP
from reconciler.core.rules import DEFAULT_RULES, UpgradeRules
from reconciler.core.version import PanOsVersion
from reconciler.machine.records import (
    TERMINAL_PHASES,
    DeviceRecord,
    Hop,
    Instant,
    Mode,
    Phase,
    RollbackInfo,
    iso,
    new_record,
)

_UNDOABLE = frozenset({Phase.DONE, Phase.FAILED, Phase.CANCELLED})


@dataclass(frozen=True)
class RollbackPlan:
    """The new records (one, or both members of an HA pair, pending) and what they do."""

    records: tuple[DeviceRecord, ...]
    from_version: str
    to_version: str

    @property
    def is_pair(self) -> bool:
        return len(self.records) == 2


@dataclass(frozen=True)
class Versions:
    """What one record says about a rollback: from which version back to which, and the target undone."""

    from_version: str
    to_version: str
    undone_target: str


def is_rollback(record: DeviceRecord | None) -> bool:
    return record is not None and record.rollback is not None


def rollback_holds(record: DeviceRecord | None) -> bool:
    """A finished rollback whose hold is in force: the desired state leaves the device alone (while its
    group's target is the one undone) until an operator releases it."""
    return (
        record is not None
        and record.rollback is not None
        and record.rollback.holds
        and record.phase in (Phase.DONE, Phase.FAILED)
    )


def released(record: DeviceRecord, by: str, now: Instant) -> DeviceRecord:
    """``record`` with its rollback hold released (the desired state plans the device again)."""
    assert record.rollback is not None
    info = replace(record.rollback, released_by=by, released_at=iso(now))
    return record.with_changes(
        rollback=info, message=f"{record.message}; hold released by {by}", updated_at=iso(now)
    )


def versions_of(record: DeviceRecord | None, rules: UpgradeRules = DEFAULT_RULES) -> Versions | str:
    """The rollback ``record`` allows, or why there is none (a sentence for the operator)."""
    if record is None:
        return "no upgrade recorded for this device: no previous version to return to"
    phase = record.phase.value
    if record.phase not in TERMINAL_PHASES:
        if record.phase is Phase.HELD:
            return (
                f"held mid-way (upgrade_status {phase}): release it and let it finish (or fail) first, "
                "so that the version it runs is known"
            )
        what = "a rollback" if record.rollback else "an upgrade"
        return (
            f"mid-upgrade: {what} is in progress (upgrade_status {phase}); wait for it to finish or cancel it"
        )
    if record.rollback is not None:
        if record.phase is Phase.DONE:
            return (
                f"already rolled back from {record.rollback.from_version} to {record.rollback.to_version}; "
                "no version before that is recorded"
            )
        if record.phase in (Phase.FAILED, Phase.CANCELLED):
            info = record.rollback
            return Versions(info.from_version, info.to_version, info.undone_target)
    if record.mode is not Mode.UPGRADE:
        return f"its last work was {record.mode.value.replace('_', '-')} only: nothing was installed"
    if record.phase not in _UNDOABLE:
        return f"its last upgrade changed nothing (upgrade_status {phase})"
    current = PanOsVersion.try_parse(record.current_version)
    if current is None:
        return "the version it runs is not recorded"
    hop = next((i for i, h in enumerate(record.hops) if PanOsVersion.parse(h.version) == current), None)
    if hop is None:
        return (
            f"it runs {current}, which no hop of its last upgrade installed "
            f"({record.starting_version} -> {' -> '.join(record.upgrade_path) or 'no hops'})"
        )
    previous = record.starting_version if hop == 0 else record.hops[hop - 1].version
    refusal = rules.downgrade_refusal(current, PanOsVersion.parse(previous))
    if refusal is not None:
        return f"downgrade from {current} to {previous} not allowed: {refusal}"
    return Versions(str(current), previous, record.target_version)


def plan_rollback(
    serial: str,
    record: DeviceRecord | None,
    *,
    peer_serial: str | None,
    peer: DeviceRecord | None,
    by: str,
    reason: str,
    now: Instant,
    rules: UpgradeRules = DEFAULT_RULES,
) -> RollbackPlan | str:
    """The records that roll ``serial`` back (with its HA peer ``peer_serial`` when it has one), or why not."""
    if record is not None and record.group == PANORAMA_GROUP:
        # Panorama's own downgrade has its own documentation and rules ("Downgrade from Panorama X" in the
        # Panorama Upgrade Guide, plugins and log formats included); not modelled here.
        return "Panorama is not rolled back by panos-upgrade: follow the Panorama Upgrade Guide's downgrade steps"
    mine = versions_of(record, rules)
    if isinstance(mine, str):
        return mine
    assert record is not None
    if not peer_serial:
        return RollbackPlan(
            (_record(record, mine, by, reason, now, None),), mine.from_version, mine.to_version
        )
    theirs = versions_of(peer, rules)
    if isinstance(theirs, str):
        return f"an HA pair goes back as one unit, and its peer {peer_serial} cannot: {theirs}"
    if (theirs.from_version, theirs.to_version) != (mine.from_version, mine.to_version):
        return (
            f"an HA pair goes back as one unit, and its peer {peer_serial} would go from "
            f"{theirs.from_version} to {theirs.to_version}, not from {mine.from_version} to {mine.to_version}"
        )
    assert peer is not None
    return RollbackPlan(
        (
            _record(record, mine, by, reason, now, peer_serial),
            _record(peer, theirs, by, reason, now, serial),
        ),
        mine.from_version,
        mine.to_version,
    )


def _record(
    old: DeviceRecord, v: Versions, by: str, reason: str, now: Instant, peer: str | None
) -> DeviceRecord:
    fresh = new_record(
        serial=old.serial,
        starting_version=v.from_version,
        target_version=v.to_version,
        hops=(Hop(v.to_version, (v.to_version,)),),
        now=now,
        mode=Mode.UPGRADE,
        hostname=old.hostname,
        group=old.group,
        desired_revision=old.desired_revision,
        group_digest=old.group_digest,
        ha_peer=peer,
    )
    info = RollbackInfo(v.from_version, v.to_version, v.undone_target, by, reason, iso(now))
    return fresh.with_changes(
        rollback=info,
        attempt=old.attempt + 1,
        message=f"rollback from {v.from_version} to {v.to_version} waiting to start",
    )


def group_candidates(records: Iterable[DeviceRecord], group: str, group_digest: str) -> list[str]:
    """The devices ``group rollback`` acts on: those of ``group`` whose upgrade finished (``done``, not
    download-only, not a dry run, not itself a rollback) while the group meant what it means now
    (``group_digest``, the desired state's definition of the revision a record belongs to). One serial per HA
    pair, the lower one: a pair goes back as one unit."""
    chosen = [
        r
        for r in records
        if r.group == group
        and r.phase is Phase.DONE
        and r.mode is Mode.UPGRADE
        and r.rollback is None
        and r.group_digest == group_digest
        and r.history
    ]
    serials = {r.serial for r in chosen}
    return sorted(
        r.serial for r in chosen if not (r.ha_peer and r.ha_peer in serials and r.ha_peer < r.serial)
    )
