"""What the engine tells the world: Prometheus metrics and webhook events, published from one place.

The reconcile pass (``reconcile.py``) decides and starts work; this module only reports what happened. The
reconciler calls its ``Publisher`` at three moments, and nothing else emits a metric of the pass or an
event:

- ``desired_loaded`` / ``desired_rejected``: a load of the desired state (the ``desired_*`` metrics);
- ``after_pass(plan, desired, started)``: the end of every pass that planned: per-device gauges (phase,
  sync status, reachability), in-flight and stalled counts, per-group blocked reasons, window and
  generations, and the group events ``group_started`` (once per generation of a group, when a real run
  starts its first unit), ``converged``, ``group_halted`` and ``wave_promoted``;
- ``transition(old, new)``: every record the executor persists: step and attempt metrics, the device's
  gauges, and ``device_failed``.

Per-pass work stays proportional to what changed: a device's gauges are only re-set when their values
change (a pass over 1,000 devices would otherwise cost more than the executor's work between passes).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from reconciler.core import plan as P
from reconciler.core.desired import DesiredState
from reconciler.engine.executor import Executor
from reconciler.engine.metrics import Metrics
from reconciler.engine.webhooks import Notifier
from reconciler.machine.records import TERMINAL_PHASES, DeviceRecord, Phase

# A device only enters or leaves the in-flight count through one of these phases (counting is O(fleet)).
_ENTER_OR_LEAVE_FLIGHT = TERMINAL_PHASES | {Phase.PENDING, Phase.HELD}


@dataclass
class GroupTrack:
    """What the engine remembers about a group across passes (for generations, events and durations)."""

    definition: str = ""
    generation: int = 0
    observed_generation: int = 0
    started: bool = False
    wave: int | None = None
    halted: bool = False
    converged: bool = False
    first_start: float | None = None
    last_finish: float | None = None
    source: object = None  # the group whose ``definition`` this is (a reloaded equal group is hashed again)


class Publisher:
    """Publishes the engine's metrics (``metrics`` None: none) and webhook events (``notifier``).

    ``rehearsal``: a dry run; it starts no upgrade, so it sends no ``group_started``. ``time_scale``: the
    engine's clock scale (durations are published in simulated seconds)."""

    def __init__(
        self,
        executor: Executor,
        metrics: Metrics | None,
        notifier: Notifier,
        *,
        max_in_flight: int,
        rehearsal: bool = False,
        time_scale: float = 1.0,
    ) -> None:
        self.executor = executor
        self.metrics = metrics
        self.notifier = notifier
        self.max_in_flight = max_in_flight
        self.rehearsal = rehearsal
        self.time_scale = time_scale
        self.groups: dict[str, GroupTrack] = {}
        self._published: dict[str, tuple[str, str, str, bool | None]] = {}
        # What the last pass published from: per device its plan and record, per group its summary. The
        # planner's memo hands back the very objects of an unchanged device or group, which need nothing.
        self._gauged: dict[str, tuple[P.DevicePlan, DeviceRecord | None]] = {}
        self._summaries: dict[str, P.GroupSummary] = {}

    # -- the desired state ---------------------------------------------------------------------------------

    def desired_loaded(self, when: float, revision: str, digest: str) -> None:
        if self.metrics is not None:
            self.metrics.set_desired(ok=True, when=when, revision=revision, digest=digest)

    def desired_rejected(self, when: float) -> None:
        if self.metrics is not None:
            self.metrics.set_desired(ok=False, when=when)

    # -- a pass ----------------------------------------------------------------------------------------------

    def after_pass(self, plan: P.Plan, desired: DesiredState, started: Iterable[str]) -> None:
        """Publish what a pass planned and the units it ``started`` (serials)."""
        if self.metrics is not None:
            self._device_gauges(plan)
        groups = {g.name: g for g in desired.planned_groups}
        changed: set[str] = set()  # groups published again: a new summary or a new definition
        for summary in plan.groups:
            track = self.groups.setdefault(summary.name, GroupTrack())
            group = groups.get(summary.name)
            if group is None or group is not track.source:
                track.source = group
                definition = hashlib.sha256(repr(group).encode()).hexdigest() if group else ""
                if definition != track.definition:
                    track.definition = definition
                    track.generation += 1
                    track.started = False
                    track.converged = False
                    changed.add(summary.name)
            if self._summaries.get(summary.name) is not summary:
                changed.add(summary.name)
        self._started(plan, started)
        by_group: dict[str, list[P.DevicePlan]] = {}
        if changed:
            for dp in plan.devices:
                if dp.group in changed:
                    by_group.setdefault(dp.group, []).append(dp)
        for summary in plan.groups:
            if summary.name in changed:
                self._group(summary, self.groups[summary.name], by_group.get(summary.name, []))
        self._summaries = {g.name: g for g in plan.groups}

    def _started(self, plan: P.Plan, started: Iterable[str]) -> None:
        """``group_started`` once per generation of a group, when its first unit starts."""
        serials = set(started)
        if not serials:
            return
        for dp in plan.devices:
            if dp.serial not in serials or not dp.group:
                continue
            track = self.groups.setdefault(dp.group, GroupTrack())
            if track.first_start is None:
                track.first_start = time.monotonic()
            if not track.started:
                track.started = True
                if not self.rehearsal:
                    self.notifier.emit("group_started", group=dp.group, target=dp.target or "")

    def _group(self, summary: P.GroupSummary, track: GroupTrack, members: list[P.DevicePlan]) -> None:
        converged = bool(members) and all(sync_of(d) == "Synced" for d in members)
        if converged:
            track.observed_generation = track.generation
            if not track.converged:
                self.notifier.emit("converged", group=summary.name, target=summary.target)
        track.converged = converged
        if summary.halted and not track.halted:
            self.notifier.emit("group_halted", group=summary.name, failures=summary.failures)
        track.halted = summary.halted
        wave = summary.current_wave
        if wave is not None and track.wave is not None and wave > track.wave:
            self.notifier.emit("wave_promoted", group=summary.name, wave=wave)
        track.wave = wave
        if self.metrics is not None:
            blocked = {d.reason for d in members if d.reason and d.action == P.BLOCKED}
            if summary.halted:
                blocked.add(P.FAILURE_BUDGET)
            if summary.suspended:  # its working devices are held, so none may show the reason itself
                blocked.add(P.SUSPENDED)
            self.metrics.set_group(summary.name, blocked=blocked, window_open=summary.window_open)
            self.metrics.group_generation.labels(summary.name).set(track.generation)
            self.metrics.group_observed_generation.labels(summary.name).set(track.observed_generation)

    def _device_gauges(self, plan: P.Plan) -> None:
        assert self.metrics is not None
        devices = self.executor.devices
        self.metrics.in_flight.set(len(self.executor.in_flight()))
        self.metrics.max_in_flight.set(self.max_in_flight)
        self.metrics.devices_stalled.set(len(self.executor.stalled()))
        gauged = self._gauged
        for dp in plan.devices:
            dev = devices.get(dp.serial)
            rec = dev.record if dev is not None else None
            seen = gauged.get(dp.serial)
            if seen is not None and seen[0] is dp and seen[1] is rec:
                continue  # published from these very objects (a transition since changed the record)
            gauged[dp.serial] = (dp, rec)
            sync = sync_of(dp)
            phase = rec.phase.value if rec else ("done" if sync == "Synced" else "pending")
            self._set_device(dp.serial, dp.group or "unmanaged", phase, sync, dp.reason != P.UNREACHABLE)
        if len(self._published) == len(plan.devices):
            return  # every device of the plan is published and nothing else: none to drop
        serials = {d.serial for d in plan.devices}
        self.metrics.retain_devices(serials)
        for serial in [s for s in self._published if s not in serials]:
            del self._published[serial]
        for serial in [s for s in gauged if s not in serials]:
            del gauged[serial]

    # -- a transition ------------------------------------------------------------------------------------------

    def transition(self, old: DeviceRecord | None, new: DeviceRecord) -> None:
        """A record the executor persisted: ``device_failed``, step and attempt metrics, the device's gauges."""
        if old is None or old.phase is not new.phase:
            if new.phase is Phase.FAILED and new.last_error is not None:
                self.notifier.emit(
                    "device_failed",
                    group=new.group,
                    serial=new.serial,
                    reason=new.last_error.reason,
                    phase=new.last_error.phase,
                )
            if new.phase in TERMINAL_PHASES:
                self.groups.setdefault(new.group, GroupTrack()).last_finish = time.monotonic()
        if self.metrics is None:
            return
        if old is not None and old.phase is not new.phase and old.phase_started_at:
            elapsed = _seconds_between(old.phase_started_at, new.phase_started_at or new.updated_at)
            if elapsed is not None:
                self.metrics.step_duration.labels(old.phase.value).observe(elapsed / self.time_scale)
        if new.phase in TERMINAL_PHASES and (old is None or old.phase is not new.phase):
            self.metrics.attempts.labels(new.group, _attempt_result(new)).inc()
            if new.phase is Phase.FAILED and new.last_error is not None:
                self.metrics.failures.labels(new.group, new.last_error.reason).inc()
            if new.started_at and new.finished_at:
                elapsed = _seconds_between(new.started_at, new.finished_at)
                if elapsed is not None:
                    self.metrics.upgrade_duration.labels(new.mode.value).observe(elapsed / self.time_scale)
        sync = "Synced" if new.phase in (Phase.DONE, Phase.DOWNLOADED) else "OutOfSync"
        self._set_device(new.serial, new.group or "unmanaged", new.phase.value, sync, None)
        if old is None or {old.phase, new.phase} & _ENTER_OR_LEAVE_FLIGHT:
            self.metrics.in_flight.set(len(self.executor.in_flight()))

    def _set_device(self, serial: str, group: str, phase: str, sync: str, reachable: bool | None) -> None:
        """The device's one-hot gauges, touched only when a value changed (``reachable`` None: keep it)."""
        assert self.metrics is not None
        known = self._published.get(serial)
        if reachable is None and known is not None:
            reachable = known[3]
        value = (group, phase, sync, reachable)
        if value != known:
            self.metrics.set_device(serial, group, phase, sync, reachable=reachable)
            self._published[serial] = value


def sync_of(dp: P.DevicePlan) -> str:
    """A device's sync status as the metrics and the summaries say it: Synced, OutOfSync or Unknown."""
    if dp.reason in (P.UNREACHABLE, P.UNKNOWN_VERSION):
        return "Unknown"
    if dp.action == P.NONE:
        return "Synced"
    return "OutOfSync"


def _attempt_result(record: DeviceRecord) -> str:
    return {
        Phase.DONE: "succeeded",
        Phase.DOWNLOADED: "downloaded",
        Phase.DRY_RUN_COMPLETE: "dry_run",
        Phase.FAILED: "failed",
        Phase.CANCELLED: "cancelled",
        Phase.SKIPPED: "skipped",
    }.get(record.phase, "failed")


def _seconds_between(a: str, b: str) -> float | None:
    try:
        return max(0.0, (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds())
    except (TypeError, ValueError):
        return None
