"""What an original-tool job does to each of its devices: a pure decision, made before any record exists.

    plan_job(spec, desired, inventory, records, offered) -> JobPlan

The engine's job intake (``reconciler.engine.imperative``) reads the job file, calls ``plan_job``, and acts on
the answer: refuse the job (``problem``), leave it pending while devices' offered images are fetched
(``needs_images``), or create the devices' records from ``starts``, ``targets`` and ``hops`` and fail the
ones in ``failures``. No I/O, no clock, no logging.

The rules (the original tool's meaning, kept):

- a device's version is its engine record's, else the inventory's; unknown refuses the job;
- the target is the job's, else the desired-state group's, else the end of the device's path in
  ``upgrade_paths.json``; a job naming another target than the group managing the device is refused, as is
  a job for a device busy with other work;
- a target no path leads to is never replaced by the current version: the device fails with the path's
  reason (``no-path``, naming both versions);
- a path that needs intermediate releases waits for the device's offered images (``offered``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from reconciler.core.desired import DesiredState
from reconciler.core.inventory import Inventory
from reconciler.core.selectors import assign
from reconciler.core.upgrade_path import IMAGES_UNKNOWN, find_path, table_target
from reconciler.core.version import PanOsVersion
from reconciler.machine.records import TERMINAL_PHASES, DeviceRecord, Hop, Phase


class JobRequest(Protocol):
    """What ``plan_job`` reads of a job file (``reconciler.jobs.queue.JobSpec`` is one)."""

    @property
    def devices(self) -> tuple[str, ...]: ...

    @property
    def target_version(self) -> str | None: ...

    @property
    def is_ha_pair(self) -> bool: ...


@dataclass(frozen=True)
class JobPlan:
    """What a job does per device. ``problem``: the job is refused with this reason (nothing else is set).
    ``needs_images``: devices whose path depends on their offered images, which ``offered`` did not give; the
    job waits. Otherwise each device has its start and target versions, and its hops or, in ``failures``,
    why it cannot go: ``(reason, message)``. ``groups``: each device's desired-state group (``""`` if none),
    whose settings the job runs with."""

    problem: str = ""
    needs_images: tuple[str, ...] = ()
    starts: dict[str, str] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)
    hops: dict[str, tuple[Hop, ...]] = field(default_factory=dict)
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """The job can start now (its devices' records can be created)."""
        return not self.problem and not self.needs_images


def plan_job(
    spec: JobRequest,
    desired: DesiredState | None,
    inventory: Inventory,
    records: Mapping[str, DeviceRecord],
    offered: Mapping[str, tuple[PanOsVersion, ...] | None] | None = None,
) -> JobPlan:
    """The plan of job ``spec`` (see the module docstring). ``records``: the engine's device records by
    serial. ``offered``: the versions a device offers, by serial, for the devices the previous answer
    listed in ``needs_images`` (None: the device did not give its list; its path's reason then says so)."""
    offered = offered or {}
    groups = desired.groups if desired is not None else ()
    managed = assign([(g.name, g.selection) for g in groups], inventory).group_of if groups else {}
    table = desired.upgrade_paths if desired is not None else {}
    plan = JobPlan()
    waiting: list[str] = []
    for serial in spec.devices:
        dev = inventory.get(serial)
        current = PanOsVersion.try_parse(dev.sw_version) if dev else None
        live = records.get(serial)
        if live is not None and live.current_version:
            current = PanOsVersion.try_parse(live.current_version) or current
        if current is None:
            return JobPlan(problem=f"{serial}: version unknown; run 'panos-upgrade device discover'")
        group = next((g for g in groups if g.name == managed.get(serial)), None)
        target = PanOsVersion.try_parse(spec.target_version) if spec.target_version else None
        if group is not None and target is not None and target != group.target:
            return JobPlan(
                problem=f"{serial} is managed by desired-state group {group.name!r} toward {group.target}, "
                f"not {target}: change the desired state instead"
            )
        if live is not None and live.phase not in TERMINAL_PHASES and not _idle(live):
            owner = live.job_id or live.group or "desired state"
            return JobPlan(problem=f"{serial} is busy ({live.phase.value}, {owner})")
        # A job runs with the settings of the device's desired-state group (margins, disk, readiness
        # checks), as that group's own run would; a dry run rehearses exactly that.
        plan.groups[serial] = group.name if group is not None else ""
        target = target or (group.target if group else None) or table_target(table, current)
        if target is None:
            return JobPlan(
                problem=f"{serial}: no target: give target_version, or add {current} to "
                "config/upgrade_paths.json"
            )
        # upgrade_paths.json is followed when it names the current version, else the path is computed.
        path = find_path(current, target, table=table, ha=spec.is_ha_pair)
        if path.reason == IMAGES_UNKNOWN:
            if serial not in offered:
                waiting.append(serial)
                continue
            images = offered[serial]
            if images is not None:
                path = find_path(current, target, table=table, ha=spec.is_ha_pair, available=images)
            else:
                path = replace(path, detail=f"{path.detail}; the device did not give its image list")
        plan.targets[serial] = str(target)
        plan.starts[serial] = str(current)
        if path.reason is not None:
            plan.failures[serial] = (
                path.reason,
                f"no upgrade path from {current} to {target}: {path.detail}",
            )
            continue
        plan.hops[serial] = tuple(Hop.of(h) for h in path.hops)
    if waiting:
        return replace(plan, needs_images=tuple(waiting))
    return plan


def _idle(record: DeviceRecord) -> bool:
    """A record created and never started (a job may take the device over)."""
    return record.phase is Phase.PENDING and record.started_at is None
