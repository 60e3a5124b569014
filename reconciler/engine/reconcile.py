"""One reconcile pass: inputs -> plan -> start. Desired state + inventory + the engine's records -> work.

Level-triggered: a pass never asks what changed. It re-reads the desired state (keeping the last valid one
when the files are invalid), the inventory and the engine's records, plans with the pure planner, starts
the devices the plan says may start (within ``workers.max``), and lets resting devices continue to their
next hop when nothing blocks them. What it did goes to the ``Publisher`` (``events.py``: metrics and
webhook events) in one call at the end of the pass, and every transition the executor persists reaches it
through ``on_transition``. Everything that waits is a requeue in the executor; the loop only wakes up,
passes, and pumps.

Start order: the plan's (``_start_order``): wave, then the longest remaining path first. ``workers.max``
bounds the devices doing work (``Executor.slots_in_use``): an HA pair takes one slot, as its members work one
after the other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from reconciler.core import plan as P
from reconciler.core import planner
from reconciler.core.desired import PANORAMA_GROUP, DesiredState, Group
from reconciler.core.errors import DeviceError, InputFileError, StoreError, UserError
from reconciler.core.inventory import Inventory
from reconciler.core.observed import Observed
from reconciler.core.progress import DeviceProgress
from reconciler.core.upgrade_path import parse_upgrade_paths_text
from reconciler.core.version import PanOsVersion
from reconciler.device.client import FirewallClient
from reconciler.engine import suspension
from reconciler.engine.events import GroupTrack, Publisher, sync_of
from reconciler.engine.executor import Executor
from reconciler.engine.metrics import Metrics
from reconciler.engine.webhooks import Notifier
from reconciler.machine import DEFAULT_READINESS_CHECKS, MachineSettings
from reconciler.machine import observations as o
from reconciler.machine.pair import PairStage, new_pair
from reconciler.machine.plan_view import observed_of, progress_of, unusable
from reconciler.machine.records import TERMINAL_PHASES, DeviceRecord, Mode, Phase, new_record
from reconciler.workdir import logs, record_store, suspensions
from reconciler.workdir.config import Config
from reconciler.workdir.desired_load import git_revision
from reconciler.workdir.desired_load import load as load_desired
from reconciler.workdir.inventory_store import load as load_inventory
from reconciler.workdir.layout import WorkPaths

log = logs.get(__name__)

# Reasons that only mean "not yet": the rollout is still moving while they hold.
WAITING_REASONS = frozenset({P.SOAK})
# Reasons that only set the pace of a rollout (waves, soak): a dry run previews those devices anyway.
PACE_REASONS = frozenset({P.WAVE_PENDING, P.SOAK})
PROBE_INTERVAL = 600.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class PassResult:
    plan: P.Plan | None
    started: list[str] = field(default_factory=list)
    continued: list[str] = field(default_factory=list)
    error: str = ""


class Reconciler:
    def __init__(
        self,
        paths: WorkPaths,
        config: Config,
        executor: Executor,
        *,
        client_for: Callable[[str], FirewallClient],
        metrics: Metrics | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = utc_now,
        desired_path: Path,
        dry_run: bool = False,
        only: Iterable[str] | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.paths = paths
        self.config = config
        self.executor = executor
        self.client_for = client_for
        self.clock = clock
        self.desired_path = desired_path
        self.dry_run = dry_run
        self.only = set(only) if only is not None else None
        self.rehearsed: set[str] = set()  # a dry run rehearses each device once
        self.hold_starts = False  # a preview: plan (and probe image lists) but start nothing
        self.time_scale = time_scale
        self.desired: DesiredState | None = None
        self.desired_error = ""
        self.desired_loaded_at: float | None = None
        self.inventory = Inventory()
        self.last_plan: P.Plan | None = None
        # Devices whose status file could not be used when it was loaded (serial -> why): left alone (the
        # plan blocks them as held) until the file is repaired or removed.
        self.unusable: dict[str, str] = {}
        self.max_in_flight = int(config.get("workers.max"))
        self.events = Publisher(
            executor,
            metrics,
            notifier or Notifier([]),
            max_in_flight=self.max_in_flight,
            rehearsal=dry_run,
            time_scale=time_scale,
        )
        self._probes: dict[str, Future[Observed | None]] = {}
        self._probed_at: dict[str, float] = {}
        self._probed: dict[str, Observed] = {}
        self._probe_failed: set[str] = set()
        # Per-pass work is kept proportional to what changed: inputs derived from a record (or a file) are
        # cached against the record object (records are immutable) or the file's identity. A pass over
        # 1,000 devices otherwise costs more than the executor's whole work between passes.
        self._inventory_key: tuple[int, int, int] | None = None
        self._derived: dict[str, tuple[DeviceRecord, Observed | None, Observed, DeviceProgress]] = {}
        # The planner's memo: a pass re-plans the devices whose record changed and their groups only.
        self._plan_memo = planner.PlanMemo()
        self._probe_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="probe")
        self._base_settings = MachineSettings.from_config(config)
        if time_scale != 1.0:
            self._base_settings = self._base_settings.scaled(1.0 / time_scale)
        self.dirty = threading.Event()

    # -- inputs ------------------------------------------------------------------------------------------------

    def reload_desired(self) -> bool:
        """Load the desired state; on failure keep the last valid one. Returns whether this load was valid."""
        now = time.time()
        if not self.desired_path.exists():
            return self._no_desired_state(now)
        try:
            desired = load_desired(
                self.desired_path,
                upgrade_paths=self.paths.upgrade_paths_file,
                revision=git_revision(self.desired_path),
            )
        except (InputFileError, UserError, OSError) as exc:
            errors = getattr(exc, "errors", [str(exc)])
            error = "; ".join(errors[:5])
            if error != self.desired_error:
                log.error("desired state rejected (last valid state stays in force): %s", error)
            self.desired_error = error
            self.events.desired_rejected(now)
            return False
        if self.desired is None or desired.digest != self.desired.digest:
            log.info("desired state loaded: revision %s digest %s", desired.revision, desired.digest)
        self.desired = desired
        self.desired_error = ""
        self.desired_loaded_at = now
        self.events.desired_loaded(now, desired.revision or "", desired.digest)
        return True

    def _no_desired_state(self, now: float) -> bool:
        """No desired-state path at all: nothing is managed declaratively; the imperative interface (jobs,
        commands) still works, with the original tool's ``config/upgrade_paths.json``."""
        try:
            table = (
                parse_upgrade_paths_text(
                    self.paths.upgrade_paths_file.read_text(encoding="utf-8"),
                    str(self.paths.upgrade_paths_file),
                )
                if self.paths.upgrade_paths_file.exists()
                else {}
            )
        except InputFileError as exc:
            error = "; ".join(exc.errors[:5])
            if error != self.desired_error:
                log.error("upgrade paths rejected: %s", error)
            self.desired_error = error
            return False
        if self.desired is None or self.desired.groups or self.desired.upgrade_paths != table:
            log.info("no desired state at %s: only jobs and commands are acted on", self.desired_path)
        self.desired = DesiredState(groups=(), upgrade_paths=table)
        self.desired_error = ""
        self.desired_loaded_at = now
        self.events.desired_loaded(now, "none", self.desired.digest)
        return True

    def load_records(self) -> list[str]:
        """Adopt every status file (a restarted engine resumes working devices). Returns unusable files."""
        if self.desired is None:
            # Before the first pass: without the desired state, resumed devices would get the default
            # settings instead of their group's (margins, disk, readiness checks) for the rest of the hop.
            self.reload_desired()
        loaded = record_store.load_all(self.paths)
        self.unusable = dict(loaded.broken)
        for record in loaded.records.values():
            self.executor.put(record, self.settings_of(record), resume=True)
        for pair in record_store.load_pairs(self.paths).values():
            if all(m in loaded.records for m in pair.members):
                group = loaded.records[pair.members[0]].group
                self.executor.put_pair(pair, self.settings_for(group), resume=True)
        return sorted(loaded.broken)

    def settings_of(self, record: DeviceRecord) -> MachineSettings:
        """A device's settings: its group's with its hardware model (from the inventory), and for HA members
        without the ``ha`` readiness check (the pair coordinator checks the pair's health itself, and
        suspends a member on purpose)."""
        settings = self.settings_for(record.group, record.mode)
        device = self.inventory.get(record.serial)
        if device is not None and device.model:
            settings = replace(settings, model=device.model)  # its model's reboot window (machine.expect)
        if record.ha_peer:
            settings = replace(
                settings, readiness_checks=tuple(c for c in settings.readiness_checks if c != "ha")
            )
        return settings

    def settings_for(self, group_name: str, mode: Mode = Mode.UPGRADE) -> MachineSettings:
        group = self._group(group_name)
        if group is None:
            return self._base_settings
        v = group.validation
        overrides: dict[str, object] = {"report_only": v.report_only}
        for name in ("tcp_session_margin", "route_margin", "arp_margin", "min_disk_gb"):
            value = getattr(v, name)
            if value is not None:
                overrides[name] = float(value)
        overrides["readiness_checks"] = (
            tuple(group.readiness_checks) if group.readiness_checks is not None else DEFAULT_READINESS_CHECKS
        )
        overrides["image_cleanup"] = group.image_cleanup.enabled
        overrides["keep_previous_image"] = group.image_cleanup.keep_previous
        return replace(self._base_settings, **overrides)  # type: ignore[arg-type]

    def _group_digest(self, name: str) -> str | None:
        group = self._group(name)
        return self.desired.group_digest(group) if self.desired is not None and group is not None else None

    def _group(self, name: str) -> Group | None:
        if self.desired is None:
            return None
        return self.desired.group(name)

    def observed(self) -> dict[str, Observed]:
        out: dict[str, Observed] = dict(self._probed)
        for serial, rec in self.executor.records.items():
            out[serial] = self._derive(rec)[0]
        return out

    def _views(self) -> tuple[dict[str, Observed], dict[str, DeviceProgress]]:
        """The planner's inputs from the engine: every device's observation (the records', else the image
        lists fetched) and progress (the records', and held for an unusable status file). One loop over the
        records, each recomputed only when it changed (``_derive``)."""
        observed: dict[str, Observed] = dict(self._probed)
        progress = {s: unusable(s, why) for s, why in self.unusable.items()}
        derived, probed = self._derived, self._probed
        for serial, dev in self.executor.devices.items():
            rec = dev.record
            cached = derived.get(serial)
            if cached is None or cached[0] is not rec or cached[1] is not probed.get(serial):
                observed[serial], progress[serial] = self._derive(rec)
            else:
                observed[serial], progress[serial] = cached[2], cached[3]
        return observed, progress

    def _derive(self, rec: DeviceRecord) -> tuple[Observed, DeviceProgress]:
        """The planner's view of one record (its observation and its progress), recomputed only when the
        record or the device's probed image list changed."""
        seen = self._probed.get(rec.serial)
        cached = self._derived.get(rec.serial)
        if cached is not None and cached[0] is rec and cached[1] is seen:
            return cached[2], cached[3]
        observed = observed_of(rec)
        if seen is not None and seen.available:
            observed = replace(observed, available=tuple(sorted(set(seen.available))))
        progress = progress_of(rec)
        self._derived[rec.serial] = (rec, seen, observed, progress)
        return observed, progress

    def _load_inventory(self) -> Inventory:
        """``inventory.json``, parsed and validated again only when the file was replaced or changed."""
        try:
            st = self.paths.inventory_file.stat()
        except OSError:
            self._inventory_key = None
            return load_inventory(self.paths)
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._inventory_key:
            self.inventory = load_inventory(self.paths)
            self._inventory_key = key
        return self.inventory

    # -- the pass ----------------------------------------------------------------------------------------------

    def pass_(self) -> PassResult:
        """Read the inputs (the desired state, else the last valid one; the inventory), then plan and start."""
        self.dirty.clear()
        self.reload_desired()
        if self.desired is None:
            return PassResult(None, error=f"no valid desired state: {self.desired_error}")
        try:
            self.inventory = self._load_inventory()
        except UserError as exc:
            return PassResult(None, error=str(exc))
        self.reread_unusable()
        return self.plan_and_start(self.desired, self.inventory)

    def reread_unusable(self) -> None:
        """A status file the engine could not use, repaired since (its record is adopted, as at start-up)
        or removed (the device is free again); one still unusable keeps its device alone."""
        for serial in list(self.unusable):
            file = self.paths.device_status_file(serial)
            if not file.exists():
                del self.unusable[serial]
                continue
            try:
                record = record_store.load(file)
            except (StoreError, ValueError):
                continue
            del self.unusable[serial]
            self.executor.put(record, self.settings_of(record), resume=True)

    def plan_and_start(self, desired: DesiredState, inventory: Inventory) -> PassResult:
        """A pass over inputs already read: plan from them, the engine's records and the image lists fetched
        so far; start and continue what the plan lets start; publish. (``pass_`` reads the inputs from the
        work directory; the unit tests hand them over in memory.)"""
        self.desired, self.inventory = desired, inventory
        self._collect_probes()
        observed, progress = self._views()
        now = self.clock()
        suspended = suspensions.details(self.paths)  # groups an operator suspended (group suspend)
        plan = planner.plan(
            desired, inventory, observed, progress, now, suspended=suspended, memo=self._plan_memo
        )
        self.last_plan = plan
        result = PassResult(plan)
        self._probe_unknown(plan)
        if not self.hold_starts:
            if not self.dry_run:  # a rehearsal never drives records it does not own
                suspension.enforce(self.executor, suspended)
            self._start_and_continue(plan, result)
        self.events.after_pass(plan, desired, result.started)
        return result

    def _selected(self, serial: str) -> bool:
        return self.only is None or serial in self.only

    def _rehearse(self, plan: P.Plan, result: PassResult) -> None:
        """A dry run: every device the plan would touch is rehearsed once, each HA pair once as a unit,
        ignoring the pace of the rollout (``maxParallel`` batches, waves, soak: a rehearsal changes nothing)
        but within ``workers.max`` devices at a time. Devices the plan blocks for any other reason (window,
        pause, budget, hold, no path, ...) are not touched, as a real run would not touch them."""
        in_flight = self.executor.slots_in_use()
        devices, pairs = _start_order(plan)

        def wanted(d: P.DevicePlan) -> bool:
            return (
                self._selected(d.serial)
                and d.serial not in self.rehearsed
                and bool(d.hops)
                and (
                    (d.action in P.CHANGE_ACTIONS and not d.reason)
                    or (d.action == P.BLOCKED and d.reason in PACE_REASONS)
                )
            )

        for dp in devices:
            if not wanted(dp):
                continue
            if dp.ha_pair:
                members = pairs.get(dp.ha_pair, [])
                if len(members) != 2 or dp is not members[0] or not all(wanted(m) for m in members):
                    continue
                if in_flight < self.max_in_flight and self._start_pair(members, result, rehearsal=True):
                    in_flight += 1  # one slot: the members take turns
                    self.rehearsed.update(m.serial for m in members)
                continue
            rec = self.executor.record(dp.serial)
            if rec is not None and rec.phase not in TERMINAL_PHASES and rec.phase is not Phase.PENDING:
                continue
            if in_flight >= self.max_in_flight:
                continue  # a pair further on may not fit either; the next pass tries again
            record = self._new_record(dp, rec)
            if self.start_device(record):
                in_flight += 1
                self.rehearsed.add(dp.serial)
                result.started.append(dp.serial)

    def _start_and_continue(self, plan: P.Plan, result: PassResult) -> None:
        assert self.desired is not None
        if self.dry_run:
            self._rehearse(plan, result)
            return
        in_flight = self.executor.slots_in_use()
        # Only devices the plan lets go can start or continue (a pair starts when both members may): the
        # others are left out before sorting, a pass over 10,000 devices sorts the few that may move.
        movable = tuple(
            d for d in plan.devices if d.action in P.CHANGE_ACTIONS and not d.reason and not d.queued
        )
        devices, pairs = _start_order(replace(plan, devices=movable))
        for dp in devices:
            if not self._selected(dp.serial):
                continue
            if dp.ha_pair:
                members = pairs.get(dp.ha_pair, [])
                first = len(members) == 2 and dp is members[0]
                if first and in_flight < self.max_in_flight and self._start_pair(members, result):
                    in_flight += 1  # one slot: the members take turns
                continue
            rec = self.executor.record(dp.serial)
            if dp.action not in P.CHANGE_ACTIONS or dp.reason or dp.queued:
                continue
            if (
                rec is not None
                and rec.phase in (Phase.NEXT_HOP, Phase.PENDING)
                and rec.started_at is not None
            ):
                if self.executor.accepts(dp.serial, o.Begin) and self.executor.request(dp.serial, o.Begin()):
                    result.continued.append(dp.serial)
                continue
            if rec is not None and rec.phase not in TERMINAL_PHASES and rec.phase is not Phase.PENDING:
                continue
            if self.dry_run and rec is not None and rec.phase is Phase.DRY_RUN_COMPLETE:
                continue  # rehearsed once in this run; a dry run never loops
            if in_flight >= self.max_in_flight:
                # No room for a new start, but a device further on may rest between hops (less work left
                # sorts it after units not started yet): it still continues.
                continue
            record = self._new_record(dp, rec)
            if self.start_device(record):
                in_flight += 1
                result.started.append(dp.serial)

    def _start_pair(
        self, members: list[P.DevicePlan], result: PassResult, *, rehearsal: bool = False
    ) -> bool:
        """Start an HA pair as one unit when both members may start; the coordinator drives it from there.
        A ``rehearsal`` (dry run) was checked by ``_rehearse`` and ignores the rollout's pace."""
        if any(not self._selected(d.serial) for d in members):
            return False
        if not rehearsal and any(d.action not in P.CHANGE_ACTIONS or d.reason or d.queued for d in members):
            return False
        pair_id = members[0].ha_pair or ""
        current = self.executor.pair(pair_id)
        if current is not None and current.stage not in (PairStage.DONE, PairStage.BLOCKED):
            return False
        recs = [self.executor.record(d.serial) for d in members]
        if any(
            r is not None and r.phase not in TERMINAL_PHASES and r.phase is not Phase.PENDING for r in recs
        ):
            return False
        new = [self._new_record(d, r) for d, r in zip(members, recs, strict=True)]
        if new[0].upgrade_path != new[1].upgrade_path:
            log.warning("HA pair %s: members planned on different paths; not started", pair_id)
            return False
        try:
            if not self.start_pair(new[0], new[1]):
                return False
        except ValueError as exc:
            log.warning("HA pair %s not started: %s", pair_id, exc)
            return False
        result.started.extend(d.serial for d in members)
        return True

    def start_device(self, record: DeviceRecord) -> bool:
        """Start a device from its new record, for the reconcile pass and for jobs alike: the record goes to
        the executor with its settings and the machine begins. Returns whether it began."""
        self.executor.put(record, self.settings_of(record))
        return self.executor.request(record.serial, o.Begin())

    def start_pair(self, first: DeviceRecord, second: DeviceRecord, now: datetime | None = None) -> bool:
        """Start an HA pair from its members' new records, for the reconcile pass and for jobs alike: each
        member learns its peer, both and the pair's coordinator record go to the executor with their
        settings, and the coordinator begins. Raises ValueError (nothing put) when the two records cannot
        be one pair; returns whether the coordinator began."""
        pair = new_pair(first, second, now or self.clock())
        for record in (first, second):
            member = record.with_changes(ha_peer=pair.peer_of(record.serial))
            self.executor.put(member, self.settings_of(member))
        self.executor.put_pair(pair, self.settings_for(first.group))
        return self.executor.pair_request(pair.pair_id, o.PairBegin())

    def _new_record(self, dp: P.DevicePlan, previous: DeviceRecord | None) -> DeviceRecord:
        assert self.desired is not None and dp.target is not None and dp.group is not None
        mode = (
            Mode.DRY_RUN
            if self.dry_run
            else (Mode.DOWNLOAD_ONLY if dp.action == P.DOWNLOAD else Mode.UPGRADE)
        )
        record = new_record(
            serial=dp.serial,
            starting_version=dp.current,
            target_version=dp.target,
            hops=dp.hops,
            now=self.clock(),
            mode=mode,
            hostname=dp.hostname,
            group=dp.group,
            desired_revision=self.desired.identity,
            group_digest=self._group_digest(dp.group),
        )
        if previous is not None:
            record = record.with_changes(attempt=previous.attempt + 1)
        return record

    # -- images of devices whose path needs intermediate releases ------------------------------------------------

    def preview(self, timeout: float = 300.0) -> PassResult:
        """A pass that starts nothing, repeated once the image lists of devices whose path depends on them
        have been fetched (so that the plan shown before ``apply`` is the plan that will run)."""
        self.hold_starts = True
        try:
            result = self.pass_()
            deadline = time.monotonic() + timeout
            if self._probes:
                while self._probes and time.monotonic() < deadline:
                    if all(f.done() for f in self._probes.values()):
                        break
                    time.sleep(0.05)
                result = self.pass_()
            return result
        finally:
            self.hold_starts = False

    def _probe_unknown(self, plan: P.Plan) -> None:
        now = time.monotonic()
        for dp in plan.devices:
            if dp.reason != P.IMAGES_UNKNOWN or not self._selected(dp.serial) or dp.serial in self._probes:
                continue
            if now - self._probed_at.get(dp.serial, -1e9) < PROBE_INTERVAL * self.time_scale:
                continue
            self._probed_at[dp.serial] = now
            self._probes[dp.serial] = self._probe_pool.submit(self._probe, dp.serial)

    def _probe(self, serial: str) -> Observed | None:
        try:
            client = self.client_for(serial)
            images = client.software_check(timeout=self._base_settings.software_check_timeout)
        except DeviceError as exc:
            log.warning("image list of %s unavailable: %s", serial, exc, extra={"serial": serial})
            return None
        finally:
            self.dirty.set()
        return Observed(
            version=next((i.version for i in images if i.current), None),
            available=tuple(sorted(i.version for i in images)),
            downloaded=tuple(sorted(i.version for i in images if i.downloaded)),
            observed_at=self.clock(),
        )

    def _collect_probes(self) -> None:
        for serial, fut in list(self._probes.items()):
            if fut.done():
                del self._probes[serial]
                seen = fut.result()
                if seen is not None:
                    self._probed[serial] = seen
                    self._probe_failed.discard(serial)
                else:
                    self._probe_failed.add(serial)

    def offered_images(self, serial: str) -> tuple[str, tuple[PanOsVersion, ...] | None]:
        """The versions ``serial`` offers, for a job whose path needs intermediate releases:
        ``("known", versions)``; ``("fetching", None)`` while its image list is being fetched (a pass wakes
        when it arrives); ``("failed", None)`` once after the device did not give it (asked again next time).
        """
        seen = self._probed.get(serial)
        if seen is not None and seen.available:
            return "known", seen.available
        if serial in self._probes:
            return "fetching", None
        if serial in self._probe_failed:
            self._probe_failed.discard(serial)
            return "failed", None
        self._probed_at[serial] = time.monotonic()
        self._probes[serial] = self._probe_pool.submit(self._probe, serial)
        return "fetching", None

    @property
    def probing(self) -> bool:
        return bool(self._probes)

    # -- what the executor persists -----------------------------------------------------------------------------

    def on_transition(self, old: DeviceRecord | None, new: DeviceRecord) -> None:
        """Executor hook: a replan when it matters, and the transition to the publisher (metrics, events)."""
        # A record just created pending (by a pass starting it, or a job intake that asks for its own pass)
        # needs no replan: only devices coming to rest, finishing or released back do.
        if (old is None or old.phase is not new.phase) and (
            new.phase in TERMINAL_PHASES
            or new.phase in (Phase.NEXT_HOP, Phase.HELD)
            or (new.phase is Phase.PENDING and old is not None)
        ):
            self.dirty.set()
        self.events.transition(old, new)

    def close(self) -> None:
        self._probe_pool.shutdown(wait=False, cancel_futures=True)


def settled(reconciler: Reconciler, result: PassResult) -> bool:
    """Nothing in motion and nothing about to start: apply can stop here."""
    if reconciler.executor.busy() or reconciler.probing or result.started or result.continued:
        return False
    plan = result.plan
    if plan is None or reconciler.dry_run:
        return True  # a dry run waits for no soak: it rehearses every device at once
    return not any(d.reason in WAITING_REASONS and reconciler._selected(d.serial) for d in plan.devices)


def group_lines(
    reconciler: Reconciler, plan: P.Plan, records: Mapping[str, DeviceRecord]
) -> list[dict[str, object]]:
    """Per-group summary rows for the end of ``apply`` and the demo."""
    rows = []
    for summary in plan.groups:
        members = [d for d in plan.devices if d.group == summary.name and reconciler._selected(d.serial)]
        recs = [records[d.serial] for d in members if d.serial in records]
        track = reconciler.events.groups.get(summary.name, GroupTrack())
        duration = (
            (track.last_finish - track.first_start) / 1.0
            if track.first_start is not None and track.last_finish is not None
            else None
        )
        rows.append(
            {
                "group": summary.name,
                "target": summary.target,
                "devices": len(members),
                "converged": sum(1 for d in members if sync_of(d) == "Synced"),
                "failed": sum(1 for r in recs if r.phase is Phase.FAILED),
                "held": sum(1 for r in recs if r.phase is Phase.HELD),
                "blocked": sum(1 for d in members if d.action == P.BLOCKED and d.reason != P.FAILED_REASON),
                "duration_s": round(duration, 1) if duration is not None else None,
            }
        )
    return rows


def _start_order(plan: P.Plan) -> tuple[list[P.DevicePlan], dict[str, list[P.DevicePlan]]]:
    """The plan's devices in the order they start, and each HA pair's members in that order: Panorama's
    unit first (firewalls may wait for it; it must not wait for a ``workers.max`` slot behind them), then by
    wave, the unit's remaining work as the planner weighed it (the longest first, across groups too), the
    unit's order in its group (the planner's start order), passive member first."""
    devices = sorted(
        plan.devices,
        key=lambda d: (
            d.group != PANORAMA_GROUP,
            d.wave or 0,
            -d.work,
            d.order or 0,
            d.ha_member or 0,
            d.serial,
        ),
    )
    pairs: dict[str, list[P.DevicePlan]] = {}
    for dp in devices:
        if dp.ha_pair:
            pairs.setdefault(dp.ha_pair, []).append(dp)
    return devices, pairs
