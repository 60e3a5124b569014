"""The original tool's imperative interface on the engine: job files and operator command files.

Each daemon pass (and ``apply``) calls ``Imperative.tick()``:

- commands (``commands/incoming``): each request is fed to the device's state machine through the executor
  when the engine manages that record; otherwise ``operator_requests.decide`` works on the file (hold-only
  records, released holds); an outcome file says what happened to every device;
- jobs (``queue/pending``): each valid job starts at once when capacity allows (jobs are imperative: no
  window or wave applies), moves to ``active``, and its devices get records carrying ``job_id``; what a job
  does to each device (versions, hops, refusals, failures) is decided by ``reconciler.machine.job_plan``;
- job status (``status/jobs/<id>.json``) follows the device records; a finished job moves to completed,
  failed or cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from reconciler.core.errors import StoreError
from reconciler.core.inventory import Inventory
from reconciler.engine.reconcile import Reconciler, utc_now
from reconciler.jobs import job_status, operator_requests, queue
from reconciler.machine import observations as o
from reconciler.machine.job_plan import JobPlan, plan_job
from reconciler.machine.records import DeviceRecord, Phase, iso, new_record
from reconciler.machine.rollback import plan_rollback, rollback_holds
from reconciler.workdir import logs, record_store, store
from reconciler.workdir.layout import WorkPaths

log = logs.get(__name__)


@dataclass
class Imperative:
    reconciler: Reconciler
    started: dict[str, str] = field(default_factory=dict)  # job id -> started_at
    applied_by: str = "daemon"  # the outcome files' ``applied_by``: "cli" for a foreground rollback
    _recovered: bool = False

    @property
    def paths(self) -> WorkPaths:
        return self.reconciler.paths

    def tick(self) -> None:
        """Process commands, start pending jobs, refresh open jobs' status. Never raises on bad files."""
        rec = self.reconciler
        inventory = rec.inventory
        now = rec.clock()
        requests = []
        if not self._recovered:
            requests += operator_requests.unfinished(self.paths, inventory=inventory)
            self._recovered = True
        requests += operator_requests.read_incoming(self.paths, inventory=inventory, now=now)
        for request in requests:
            self.command(request, inventory, now)
        self._jobs(inventory, now)
        self.refresh(now)

    # -- commands -----------------------------------------------------------------------------------------------

    def command(
        self, request: operator_requests.OperatorRequest, inventory: Inventory, now: datetime
    ) -> operator_requests.Outcome:
        """Apply one operator request to the engine's devices; its outcome is written next to its file."""
        ex = self.reconciler.executor
        job_state = None
        if request.target == "job" and request.job_id and request.command == "cancel_upgrade":
            moved = queue.mark_cancelled(self.paths, request.job_id)
            job_state = "cancelled" if moved is not None else None
        outcomes = []
        lookup = lambda s: ex.record(s) or _load_quietly(self.paths, s)  # noqa: E731
        if request.command == operator_requests.ROLLBACK:
            outcomes = self._rollback(request, inventory, now)
        for serial, named in () if outcomes else operator_requests.acts_on(request, lookup).items():
            outcomes.append(
                operator_requests.with_peer_note(self._one(request, serial, inventory, now), named)
            )
        store.audit(
            self.paths.audit_file,
            f"operator-{request.command}",
            serials=[o.serial for o in outcomes],
            job_id=request.job_id,
            by=request.by,
            reason=request.reason,
        )
        outcome = operator_requests.Outcome(request, tuple(outcomes), iso(now), self.applied_by, job_state)
        operator_requests.write_outcome(outcome)
        self.reconciler.dirty.set()
        return outcome

    def _one(
        self, request: operator_requests.OperatorRequest, serial: str, inventory: Inventory, now: datetime
    ) -> operator_requests.DeviceOutcome:
        """One device's part of a request: fed to its machine when the engine manages its record, else
        decided on the status file (hold-only records, records of other work, no record)."""
        ex = self.reconciler.executor
        record = ex.record(serial)
        managed = (
            record is not None
            and request.applies_to(record)
            and not operator_requests.is_hold_only(record)
            # Lifting the hold after a rollback changes the record, not the machine (the file's decision).
            and not (isinstance(request.observation, o.ReleaseRequest) and rollback_holds(record))
        )
        if managed and record is not None:
            return self._feed(request, serial, record)
        if record is None:
            record = _load_quietly(self.paths, serial)
        settings = self.reconciler.settings_of(record) if record else self.reconciler.settings_for("")
        decision = operator_requests.decide(request, serial, record, inventory, now, settings)
        if decision.remove:
            ex.forget(serial)
        elif decision.record is not None:
            ex.put(decision.record, settings)
        return decision.outcome

    def _feed(
        self, request: operator_requests.OperatorRequest, serial: str, before: DeviceRecord
    ) -> operator_requests.DeviceOutcome:
        ex = self.reconciler.executor
        running = ex.devices[serial].running is not None
        peer = ex.record(before.ha_peer) if before.ha_peer else None
        if not ex.request(serial, operator_requests.observation_for_record(request, before, peer)):
            return operator_requests.DeviceOutcome(
                serial,
                operator_requests.REFUSED,
                f"not possible while {before.phase.value}",
                before.phase.value,
                before.phase.value,
            )
        after = ex.record(serial) or before
        if running:
            return operator_requests.DeviceOutcome(
                serial,
                operator_requests.DEFERRED,
                "queued until the device's running command answers",
                before.phase.value,
                before.phase.value,
            )
        if after.pending_request is not None and after.phase is before.phase:
            return operator_requests.DeviceOutcome(
                serial,
                operator_requests.DEFERRED,
                "takes effect at the next safe point",
                before.phase.value,
                after.phase.value,
            )
        return operator_requests.DeviceOutcome(
            serial, operator_requests.APPLIED, after.message, before.phase.value, after.phase.value
        )

    def _rollback(
        self, request: operator_requests.OperatorRequest, inventory: Inventory, now: datetime
    ) -> list[operator_requests.DeviceOutcome]:
        """Start a rollback (``reconciler.machine.rollback`` decides it): one device, or its HA pair as one
        unit through the pair coordinator. Refused with the reason when it may not be rolled back."""
        rec, ex = self.reconciler, self.reconciler.executor
        serial = request.serials[0]
        record = ex.record(serial) or _load_quietly(self.paths, serial)
        dev = inventory.get(serial)
        peer_serial = (dev.peer_serial if dev is not None and dev.is_ha else None) or (
            record.ha_peer if record is not None else None
        )
        peer = (ex.record(peer_serial) or _load_quietly(self.paths, peer_serial)) if peer_serial else None
        before = {r.serial: r.phase.value for r in (record, peer) if r is not None}
        planned = plan_rollback(
            serial, record, peer_serial=peer_serial, peer=peer, by=request.by, reason=request.reason, now=now
        )
        if isinstance(planned, str):
            phase = before.get(serial)
            return [operator_requests.DeviceOutcome(serial, operator_requests.REFUSED, planned, phase, phase)]
        if any(ex.devices[r.serial].running is not None for r in planned.records if r.serial in ex.devices):
            phase = before.get(serial)
            text = "a command is still running on it; try again in a moment"
            return [operator_requests.DeviceOutcome(serial, operator_requests.REFUSED, text, phase, phase)]
        if planned.is_pair:
            started = rec.start_pair(planned.records[0], planned.records[1], now)
        else:
            started = rec.start_device(planned.records[0])
        what = f"rollback from {planned.from_version} to {planned.to_version}"
        out = []
        for new in planned.records:
            after = ex.record(new.serial) or new
            result = operator_requests.APPLIED if started else operator_requests.REFUSED
            text = f"{what} started" if started else f"{what} did not start"
            if planned.is_pair:
                text += " (the HA pair goes back as one unit, passive member first)"
            out.append(
                operator_requests.DeviceOutcome(
                    new.serial, result, text, before.get(new.serial), after.phase.value
                )
            )
        return out

    # -- jobs ----------------------------------------------------------------------------------------------------

    def _jobs(self, inventory: Inventory, now: datetime) -> None:
        rec = self.reconciler
        if rec.desired is None and not inventory:
            return
        in_flight = rec.executor.slots_in_use()
        for spec in queue.read_pending(self.paths, inventory):
            need = 1 if spec.is_ha_pair else len(spec.devices)  # a pair's members take turns in one slot
            if in_flight + need > rec.max_in_flight:
                break  # stays pending; started when capacity frees up
            planned = self._plan_job(spec, inventory)
            if planned is None:
                continue  # stays pending until its devices' image lists are known
            if planned.problem:
                queue.reject(self.paths, spec.job_id, planned.problem)
                store.audit(self.paths.audit_file, "job-rejected", job_id=spec.job_id, reason=planned.problem)
                continue
            queue.move(self.paths, spec.job_id, "active")
            self.started[spec.job_id] = iso(now)
            store.audit(self.paths.audit_file, "job-started", job_id=spec.job_id, devices=list(spec.devices))
            self._start_job(spec, planned, inventory, now)
            in_flight += need

    def _plan_job(self, spec: queue.JobSpec, inventory: Inventory) -> JobPlan | None:
        """The job's plan (``plan_job`` decides; this fetches the image lists it asks for), or None while a
        device's image list is being fetched."""
        rec = self.reconciler
        records = rec.executor.records
        planned = plan_job(spec, rec.desired, inventory, records)
        if planned.needs_images:
            answers = {serial: rec.offered_images(serial) for serial in planned.needs_images}
            if any(state == "fetching" for state, _ in answers.values()):
                return None
            offered = {serial: images for serial, (_, images) in answers.items()}
            planned = plan_job(spec, rec.desired, inventory, records, offered)
        if planned.needs_images:
            return None
        for serial, (_, message) in planned.failures.items():
            log.warning("job %s: %s: %s", spec.job_id, serial, message)
        return planned

    def _start_job(self, spec: queue.JobSpec, planned: JobPlan, inventory: Inventory, now: datetime) -> None:
        rec = self.reconciler
        ex = rec.executor
        records = []
        for serial in spec.devices:
            dev = inventory.get(serial)
            assert dev is not None
            live = ex.record(serial)
            start = planned.starts.get(serial) or dev.sw_version
            path = planned.hops.get(serial, ())
            target = planned.targets.get(serial) or start
            record = new_record(
                serial=serial,
                starting_version=start,
                target_version=target,
                hops=path,
                now=now,
                mode=spec.mode,
                hostname=dev.hostname,
                group=planned.groups.get(serial, ""),
                job_id=spec.job_id,
            )
            if live is not None:
                record = record.with_changes(attempt=live.attempt + 1)
            records.append(record)
        if planned.failures:
            # No path for a device: it fails (and so does its HA peer: a pair is upgraded together).
            first = next(iter(planned.failures.items()))
            for record in records:
                reason, message = planned.failures.get(
                    record.serial, (first[1][0], f"HA peer {first[0]}: {first[1][1]}")
                )
                ex.put(record, rec.settings_of(record))
                ex.request(record.serial, o.Abort(reason, message))
            store.audit(
                self.paths.audit_file,
                "job-failed-no-path",
                job_id=spec.job_id,
                reasons={s: m for s, (_, m) in planned.failures.items()},
            )
            return
        if spec.is_ha_pair and len(records) == 2:
            try:
                rec.start_pair(records[0], records[1], now)
            except ValueError as exc:
                queue.move(self.paths, spec.job_id, "failed")
                log.warning("job %s: %s", spec.job_id, exc)
            return
        for record in records:
            rec.start_device(record)

    def continue_job_devices(self) -> None:
        """Standalone job devices resting between hops continue (jobs ignore windows and waves), and so do
        standalone rollbacks released or retried after a stop (the plan only holds them: they are an
        operator's; an HA pair's coordinator restarts its own members)."""
        ex = self.reconciler.executor
        for serial, record in list(ex.records.items()):
            resting = record.job_id and serial not in ex.pair_of and record.phase is Phase.NEXT_HOP
            resting = resting or (
                record.rollback is not None
                and serial not in ex.pair_of
                and record.started_at is not None
                and record.phase in (Phase.PENDING, Phase.NEXT_HOP)
            )
            if resting and ex.accepts(serial, o.Begin):
                ex.request(serial, o.Begin())

    # -- status ----------------------------------------------------------------------------------------------

    def refresh(self, now: datetime | None = None) -> None:
        now = now or utc_now()
        self.continue_job_devices()
        ex = self.reconciler.executor
        for queued in queue.queued(self.paths, ("active", "cancelled")):
            spec = queued.spec
            if spec is None:
                continue
            records = {
                s: ex.record(s) if (r := ex.record(s)) and r.job_id == spec.job_id else None
                for s in spec.devices
            }
            try:
                previous = job_status.read(self.paths, spec.job_id)
            except StoreError:
                previous = None
            started = self.started.get(spec.job_id) or (previous.started_at if previous else None) or iso(now)
            status = job_status.build(
                spec, queued.state, records, now, inventory=self.reconciler.inventory, started_at=started
            )
            if (
                queued.state == "cancelled"
                and previous is not None
                and previous.state == "cancelled"
                and previous.finished_at
                and previous.device_status == status.device_status
            ):
                # Written when it finished and unchanged since. A device of a cancelled job still moves
                # when it reaches its safe point or is released: the status follows its real phase.
                continue
            final = job_status.finished_state(
                status.device_status, cancel_requested=queued.state == "cancelled"
            )
            if final is not None:
                if queued.state != final:
                    queue.move(self.paths, spec.job_id, final)
                    store.audit(self.paths.audit_file, f"job-{final}", job_id=spec.job_id)
                status = job_status.build(
                    spec,
                    final,
                    records,
                    now,
                    inventory=self.reconciler.inventory,
                    started_at=started,
                    finished_at=iso(now),
                )
            job_status.write(self.paths, status)


def _load_quietly(paths: WorkPaths, serial: str) -> DeviceRecord | None:
    try:
        return record_store.load(paths.device_status_file(serial))
    except (FileNotFoundError, StoreError):
        return None
