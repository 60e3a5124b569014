"""Operator requests: the command files in ``commands/incoming/*.json`` (cancel, hold, release, retry), as
state-machine requests.

A command file (``schemas/command-file.schema.json``) comes from the web application or from the CLI
(``job cancel``, ``device hold|release|retry``). ``read_incoming`` turns each valid file into an
``OperatorRequest`` and moves it to ``commands/processed/``; a bad one (unreadable, off-schema, unknown
job or device) moves to ``commands/rejected/`` with a ``.reason`` and has no other effect. Who applies the
requests:

* the daemon (or a foreground ``apply``), which holds the work directory's lock: it feeds
  ``request.observation`` to each device's machine for the records ``request.applies_to``, and writes the
  outcome with ``write_outcome``;
* nobody running: ``apply_offline`` does the same on the status files directly (the CLI calls it at once
  while it holds the lock itself, so no daemon can start half-way).

What a command does to a device (the machine decides; an illegal request changes nothing and is reported):

* ``cancel_upgrade``: a device not started yet is cancelled; a working one is held at its next safe point
  (admin takeover; never mid-install). For a job, the job file moves to ``queue/cancelled`` so its devices
  that have not started never will, and only records *of that job* are touched. An HA member waiting for
  its turn in a pair that has started is *held*, not cancelled (``observation_for_record``): the pair stops
  as one unit, both members held, and no member is left waiting for a peer that will never go on.
* ``hold``: held now (or at the next safe point). A device with no status record (never upgraded) gets a
  *hold-only* record (``upgrade_status`` ``held``, no path), which the planner treats like any hold: the
  device is blocked (``held``) until released. This is what an operator expects from "hold this firewall".
* ``release``: a held device goes back to ``pending`` and starts over from a fresh pre-flight; a hold-only
  record is removed instead (the device is back to never-started). Releasing one member of an HA pair
  whose other member is held for the same work releases both (``acts_on``): the pair restarts as one unit
  from a fresh read of both roles.
* ``retry``: a failed or cancelled device goes back to ``pending`` as a new attempt.
* ``rollback`` (``device rollback``, ``group rollback``): the device (an HA pair: both members) goes back to
  the version it ran before its last hop, through the state machine (``reconciler.machine.rollback`` decides,
  the engine starts it: ``reconciler.engine.imperative``). A ``release`` of a device held after its rollback
  lifts that hold (``machine.rollback.released``), for both members of a pair;
* ``reconcile`` (``panos-upgrade reconcile now``): no device; the file itself wakes the daemon (it watches
  ``commands/incoming``), and its outcome (no devices) says when the daemon took it: the daemon's next pass
  (``status/daemon.json`` ``last_reconcile``) starts after that moment.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler import machine
from reconciler.core.errors import StoreError, UserError
from reconciler.core.inventory import Inventory
from reconciler.core.version import PanOsVersion
from reconciler.jobs import intake, job_status, queue
from reconciler.machine import DEFAULT_SETTINGS, IllegalTransition, MachineSettings
from reconciler.machine.observations import (
    CancelRequest,
    HoldRequest,
    Observation,
    ReleaseRequest,
    RetryRequest,
)
from reconciler.machine.records import DeviceRecord, Instant, Phase, iso, new_record
from reconciler.machine.rollback import released, rollback_holds
from reconciler.workdir import lock, record_store, schemas, store
from reconciler.workdir.inventory_store import load as load_inventory
from reconciler.workdir.layout import WorkPaths

SCHEMA = "command-file"
OUTCOME_SCHEMA = "command-outcome"
COMMANDS = ("cancel_upgrade", "hold", "release", "retry", "reconcile", "rollback")
RECONCILE = "reconcile"
# Runs on the engine (it changes the device's software): the daemon, or ``device rollback`` in the
# foreground when no daemon runs (``reconciler.engine.rollback``); ``apply_now`` leaves it in incoming.
ROLLBACK = "rollback"
DAEMON_TARGET = "daemon"  # the target of a reconcile request: no device
DEFAULT_BY = "operator"

# Per-device results in an outcome.
APPLIED = "applied"  # the record changed as asked
DEFERRED = "deferred"  # remembered: takes effect at the device's next safe point
CREATED = "created"  # a hold-only record was created (device never upgraded)
REMOVED = "removed"  # a hold-only record was released (device back to never-started)
REFUSED = "refused"  # not possible in the device's state (nothing changed)
NOT_APPLICABLE = "not-applicable"  # nothing to act on (no record, or the record belongs to other work)
NOT_STARTED = "not-started"  # a cancelled job's device that never started: it never will


@dataclass(frozen=True)
class OperatorRequest:
    """One accepted command file, resolved to devices.

    ``observation`` is what to feed ``machine.step`` (``CancelRequest``/``HoldRequest`` with ``by`` and
    ``reason``, ``ReleaseRequest``/``RetryRequest`` with ``by``; ``None`` for a reconcile request, which
    names no device, and for a rollback, which the engine decides with ``reconciler.machine.rollback``). ``serials`` are the devices named (for a job: the job file's devices). ``file`` is the command file's path in ``commands/processed/``.
    """

    command: str
    target: str
    serials: tuple[str, ...]
    observation: Observation | None
    file: Path
    job_id: str | None = None
    by: str = DEFAULT_BY
    reason: str = ""
    received_at: str = ""

    def applies_to(self, record: DeviceRecord | None) -> bool:
        """Whether this request may touch ``record``: a job's request touches only that job's records."""
        if record is None:
            return False
        return self.target != "job" or record.job_id == self.job_id

    @property
    def outcome_file(self) -> Path:
        """``commands/processed/<name>.outcome.json``."""
        return self.file.with_name(self.file.stem + ".outcome.json")

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "target": self.target,
            "job_id": self.job_id,
            "serials": list(self.serials),
            "by": self.by,
            "reason": self.reason,
            "received_at": self.received_at,
            "file": self.file.name,
        }


@dataclass(frozen=True)
class DeviceOutcome:
    """What a request did to one device: ``result`` is one of the module's result constants."""

    serial: str
    result: str
    message: str
    from_phase: str | None = None
    to_phase: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "result": self.result,
            "from_phase": self.from_phase,
            "to_phase": self.to_phase,
            "message": self.message,
        }


@dataclass(frozen=True)
class Outcome:
    """What one command file did; written next to it as ``<name>.outcome.json``."""

    request: OperatorRequest
    devices: tuple[DeviceOutcome, ...]
    applied_at: str
    applied_by: str
    job_state: str | None = None  # the job's queue state after a job cancel

    @property
    def changed(self) -> bool:
        return any(d.result in (APPLIED, DEFERRED, CREATED, REMOVED) for d in self.devices)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": 1,
            "request": self.request.to_json(),
            "applied_at": self.applied_at,
            "applied_by": self.applied_by,
            "job_state": self.job_state,
            "devices": [d.to_json() for d in self.devices],
        }


# -- reading ---------------------------------------------------------------------------------------------


def read_incoming(
    paths: WorkPaths,
    *,
    inventory: Inventory | None = None,
    now: Instant | None = None,
    leave: Iterable[str] = (),
) -> list[OperatorRequest]:
    """Every valid command in ``commands/incoming`` (oldest first) as a request, its file moved to
    ``commands/processed``; invalid ones moved to ``commands/rejected`` with a ``.reason``.

    Invalid: anything ``intake.read`` refuses (symlinks, foreign owner, size, not JSON, off-schema), both
    ``serial`` and ``device_serial`` given and different, a device target with no serial, a serial neither
    in the inventory nor with a status file, a job id in no queue folder. Valid commands named in ``leave``
    stay in ``commands/incoming`` for someone else (``apply_now`` leaves rollbacks to the engine).
    """
    inv = inventory if inventory is not None else load_inventory(paths, required=False)
    stamp = iso(now if now is not None else datetime.now(UTC))
    out = []
    for path in intake.pending_files(paths.commands("incoming")):
        try:
            data = intake.read(path, SCHEMA).data
            resolved = _resolve(paths, inv, data, path.name)
            if resolved.command in leave:
                continue
        except intake.Rejected as exc:
            intake.reject(path, paths.commands("rejected"), str(exc))
            continue
        except UserError as exc:  # an id or serial unfit for a file name (the schema lets '\n' through)
            intake.reject(path, paths.commands("rejected"), f"{path.name}: {exc}")
            continue
        dest = intake.move(path, paths.commands("processed"))
        out.append(replace(resolved, file=dest, received_at=stamp))
    return out


def _resolve(paths: WorkPaths, inv: Inventory, data: Mapping[str, Any], name: str) -> OperatorRequest:
    command = data["command"]
    target = data.get("target", "device")
    by = str(data.get("submitted_by") or DEFAULT_BY)
    reason = str(data.get("reason", ""))
    job_id: str | None = None
    if command == RECONCILE:
        return OperatorRequest(RECONCILE, DAEMON_TARGET, (), None, Path(name), by=by, reason=reason)
    if target == "job":
        job_id = data["job_id"]
        job = queue.find(paths, job_id)
        if job is None:
            raise intake.Rejected(f"{name}: unknown job id {job_id!r} (no such file in any queue folder)")
        if job.spec is None:
            raise intake.Rejected(f"{name}: job {job_id} cannot be read ({job.reason or 'damaged file'})")
        serials = job.spec.devices
    else:
        serial, legacy = data.get("serial", ""), data.get("device_serial", "")
        if serial and legacy and serial != legacy:
            raise intake.Rejected(f"{name}: 'serial' {serial!r} and 'device_serial' {legacy!r} disagree")
        serial = serial or legacy
        if not serial:
            raise intake.Rejected(f"{name}: 'serial' is required for a device command")
        if serial not in inv and not paths.device_status_file(serial).exists():
            raise intake.Rejected(
                f"{name}: unknown serial {serial!r}: not in the inventory and no status file "
                "(run 'panos-upgrade device discover')"
            )
        serials = (serial,)
    return OperatorRequest(
        command=command,
        target=target,
        serials=tuple(serials),
        observation=None if command == ROLLBACK else observation_for(command, by, reason),
        file=Path(name),
        job_id=job_id,
        by=by,
        reason=reason,
    )


def observation_for(command: str, by: str, reason: str) -> Observation:
    """The machine request for a command name."""
    if command == "cancel_upgrade":
        return CancelRequest(by=by, reason=reason)
    if command == "hold":
        return HoldRequest(by=by, reason=reason)
    if command == "release":
        return ReleaseRequest(by=by)
    if command == "retry":
        return RetryRequest(by=by)
    raise ValueError(f"unknown command {command!r}")


# -- deciding (pure) -------------------------------------------------------------------------------------


def _same_work(record: DeviceRecord, peer: DeviceRecord | None) -> bool:
    """``peer`` is ``record``'s HA peer, working on the same thing (the same job, or the desired state)."""
    return (
        peer is not None
        and record.ha_peer == peer.serial
        and peer.ha_peer == record.serial
        and peer.job_id == record.job_id
        and not is_hold_only(peer)
    )


def observation_for_record(
    request: OperatorRequest, record: DeviceRecord, peer: DeviceRecord | None
) -> Observation:
    """What ``request`` feeds to ``record``'s machine. A cancel of an HA member that waits for its turn in a
    pair that has started (either member began) holds it instead of cancelling it: the pair stops as one
    unit, the working member at its next safe point and this one at once, both held until released."""
    obs = request.observation
    if obs is None:
        raise ValueError(f"a {request.command} request acts on no device")
    if (
        isinstance(obs, CancelRequest)
        and record.phase is Phase.PENDING
        and _same_work(record, peer)
        and (record.started_at is not None or (peer is not None and peer.started_at is not None))
    ):
        return HoldRequest(by=obs.by, reason=obs.reason)
    return obs


def acts_on(request: OperatorRequest, lookup: Callable[[str], DeviceRecord | None]) -> dict[str, str | None]:
    """The devices ``request`` acts on, each with the serial it was added for (``None``: named in the
    request). A release of a held HA member also releases its peer when the peer is held for the same work:
    a pair is released as one unit and restarts from a fresh read of both roles (releasing one member alone
    would leave the other waiting for ever, and the pair with it)."""
    out: dict[str, str | None] = dict.fromkeys(request.serials)
    if not isinstance(request.observation, ReleaseRequest):
        return out
    for serial in request.serials:
        record = lookup(serial)
        if rollback_holds(record) and record is not None and record.ha_peer and record.ha_peer not in out:
            peer = lookup(record.ha_peer)
            if rollback_holds(peer) and peer is not None and peer.ha_peer == serial:
                out[peer.serial] = serial  # a pair rolled back together is released together
            continue
        if record is None or record.phase is not Phase.HELD or not record.ha_peer:
            continue
        if not request.applies_to(record) or is_hold_only(record) or record.ha_peer in out:
            continue
        peer = lookup(record.ha_peer)
        if peer is not None and peer.phase is Phase.HELD and _same_work(record, peer):
            out[peer.serial] = serial
    return out


def with_peer_note(outcome: DeviceOutcome, named: str | None) -> DeviceOutcome:
    """The outcome of a device that ``acts_on`` added for the HA member ``named`` (unchanged if None)."""
    if named is None:
        return outcome
    return replace(outcome, message=f"{outcome.message} (together with its HA peer {named})")


def is_hold_only(record: DeviceRecord) -> bool:
    """A record created only to hold a device that was never upgraded (no path, never started)."""
    return (
        not record.hops
        and record.started_at is None
        and not record.history
        and not record.job_id
        and record.starting_version == record.target_version
    )


def hold_only_record(
    serial: str, inventory: Inventory, request: OperatorRequest, now: Instant, settings: MachineSettings
) -> DeviceRecord | None:
    """A held record for a device with no status file, or ``None`` when its version is unknown."""
    dev = inventory.get(serial)
    version = PanOsVersion.try_parse(dev.sw_version) if dev is not None else None
    if dev is None or version is None:
        return None
    base = new_record(
        serial=serial,
        starting_version=str(version),
        target_version=str(version),
        hops=(),
        now=now,
        hostname=dev.hostname,
        ha_peer=dev.peer_serial or None,
    )
    if request.observation is None:
        return None
    held = machine.step(base, request.observation, now, settings).record
    return replace(held, message=held.message + " (no upgrade in progress)")


@dataclass(frozen=True)
class Decision:
    """What to do with one device: ``record`` is the new record to save (``None``: leave the file as it
    is, unless ``remove``)."""

    outcome: DeviceOutcome
    record: DeviceRecord | None = None
    remove: bool = False


def decide(
    request: OperatorRequest,
    serial: str,
    record: DeviceRecord | None,
    inventory: Inventory,
    now: Instant,
    settings: MachineSettings = DEFAULT_SETTINGS,
    peer: DeviceRecord | None = None,
) -> Decision:
    """The effect of ``request`` on one device whose current record is ``record`` (pure); ``peer`` is the
    record of its HA peer, if any (see ``observation_for_record``)."""
    if record is None:
        return _decide_without_record(request, serial, inventory, now, settings)
    before = record.phase.value
    if not request.applies_to(record):
        owner = f"job {record.job_id}" if record.job_id else f"group {record.group or '(none)'}"
        return Decision(
            DeviceOutcome(
                serial,
                NOT_APPLICABLE,
                f"its current work belongs to {owner}, not to this job",
                before,
                before,
            )
        )
    if isinstance(request.observation, ReleaseRequest) and rollback_holds(record):
        text = f"rollback hold released by {request.by}; the desired state plans it again"
        return Decision(
            DeviceOutcome(serial, APPLIED, text, before, before), released(record, request.by, now)
        )
    if request.command == ROLLBACK:
        # Decided and started by the engine (``reconciler.engine.imperative``); never by editing files.
        return Decision(
            DeviceOutcome(
                serial, REFUSED, "a rollback runs on the engine, not on the status file", before, before
            )
        )
    if (
        isinstance(request.observation, ReleaseRequest)
        and record.phase is Phase.HELD
        and is_hold_only(record)
    ):
        return Decision(
            DeviceOutcome(serial, REMOVED, f"released by {request.by}; no upgrade in progress", before, None),
            remove=True,
        )
    try:
        new = machine.step(record, observation_for_record(request, record, peer), now, settings).record
    except IllegalTransition:
        return Decision(DeviceOutcome(serial, REFUSED, _refusal(request.command, record), before, before))
    if new.phase is record.phase and new.pending_request is not None:
        text = f"{new.pending_request.kind} recorded; takes effect at the next safe point"
        return Decision(DeviceOutcome(serial, DEFERRED, text, before, before), new)
    return Decision(DeviceOutcome(serial, APPLIED, new.message, before, new.phase.value), new)


def _decide_without_record(
    request: OperatorRequest, serial: str, inventory: Inventory, now: Instant, settings: MachineSettings
) -> Decision:
    if isinstance(request.observation, HoldRequest) and request.target == "device":
        held = hold_only_record(serial, inventory, request, now, settings)
        if held is None:
            return Decision(
                DeviceOutcome(
                    serial,
                    REFUSED,
                    "cannot hold: current version unknown (run 'panos-upgrade device discover')",
                )
            )
        return Decision(DeviceOutcome(serial, CREATED, held.message, None, held.phase.value), held)
    if request.target == "job" and isinstance(request.observation, CancelRequest):
        return Decision(
            DeviceOutcome(serial, NOT_STARTED, "never started; the cancelled job will not start it")
        )
    nothing = {
        "rollback": "no upgrade recorded for this device: no previous version to return to",
        "cancel_upgrade": "nothing to cancel: no upgrade status for this device",
        "hold": "nothing to hold for this job: the device has not started",
        "release": "not held: no upgrade status for this device",
        "retry": "nothing to retry: no upgrade status for this device",
    }
    return Decision(DeviceOutcome(serial, NOT_APPLICABLE, nothing[request.command]))


def _refusal(command: str, record: DeviceRecord) -> str:
    phase = record.phase.value
    if command == "hold" and record.phase is Phase.HELD:
        return "already held"
    if command == "cancel_upgrade" and record.phase is Phase.HELD:
        return "already held (stopped); release it to continue, or leave it held"
    if command == "release":
        return f"not held (upgrade_status {phase})"
    if command == "retry":
        hint = "; release it first" if record.phase is Phase.HELD else ""
        return f"only a failed or cancelled device can be retried (upgrade_status {phase}){hint}"
    return f"not possible while upgrade_status is {phase}"


# -- applying without a daemon -------------------------------------------------------------------------


def apply_offline(
    paths: WorkPaths,
    requests: Sequence[OperatorRequest],
    now: Instant,
    settings: MachineSettings = DEFAULT_SETTINGS,
    *,
    inventory: Inventory | None = None,
    applied_by: str = "cli",
) -> list[Outcome]:
    """Apply ``requests`` to the status files directly. Only call this while holding the work directory's
    daemon lock (``reconciler.workdir.lock.DaemonLock``), i.e. when no daemon or ``apply`` runs.

    For each device: load its record, ``decide``, save the new record atomically (schema device-status) or
    remove a released hold-only record, and append an ``operator-<command>`` line to the audit log. A
    damaged status file is reported (``refused``) and left alone. A job cancel also moves the job file to
    ``queue/cancelled`` and rewrites ``status/jobs/<id>.json``. Each outcome is written next to its file.
    """
    inv = inventory if inventory is not None else load_inventory(paths, required=False)
    stamp = iso(now)
    outcomes = []
    for request in requests:
        results = []
        for serial, named in acts_on(request, lambda s: _load_quietly(paths, s)).items():
            results.append(with_peer_note(_apply_one(paths, request, serial, inv, now, settings), named))
        job_state = None
        if request.target == "job" and request.job_id and isinstance(request.observation, CancelRequest):
            job_state = _cancel_job(paths, request.job_id, inv, now)
        outcome = Outcome(request, tuple(results), stamp, applied_by, job_state)
        write_outcome(outcome)
        outcomes.append(outcome)
    return outcomes


def _apply_one(
    paths: WorkPaths,
    request: OperatorRequest,
    serial: str,
    inventory: Inventory,
    now: Instant,
    settings: MachineSettings,
) -> DeviceOutcome:
    file = paths.device_status_file(serial)
    try:
        record = record_store.load(file) if file.exists() else None
    except StoreError as exc:
        return DeviceOutcome(serial, REFUSED, f"status file unusable, left alone: {exc}")
    peer = _load_quietly(paths, record.ha_peer) if record is not None and record.ha_peer else None
    decision = decide(request, serial, record, inventory, now, settings, peer)
    if decision.remove:
        file.unlink(missing_ok=True)
    elif decision.record is not None:
        record_store.save(paths, decision.record)
    out = decision.outcome
    store.audit(
        paths.audit_file,
        f"operator-{request.command}",
        actor=request.by,
        serial=serial,
        job_id=request.job_id,
        result=out.result,
        from_phase=out.from_phase,
        to_phase=out.to_phase,
        reason=request.reason,
        message=out.message,
        command_file=request.file.name,
    )
    return out


def _cancel_job(paths: WorkPaths, job_id: str, inventory: Inventory, now: Instant) -> str | None:
    try:
        moved = queue.mark_cancelled(paths, job_id)
    except UserError:
        return None
    job = queue.find(paths, job_id)
    if job is None or job.spec is None or moved is None:
        # Already finished: its devices' records were offered the cancel, nothing else changes.
        return job.state if job is not None else None
    records = {s: _load_quietly(paths, s) for s in job.spec.devices}
    old = _status_quietly(paths, job_id)
    status = job_status.build(
        job.spec,
        job.state,
        records,
        now,
        inventory=inventory,
        started_at=old.started_at if old else None,
        reason=old.reason if old and old.reason else "cancelled by operator",
    )
    if status.finished_at is None and job_status.finished_state(status.device_status, cancel_requested=True):
        status = replace(status, finished_at=iso(now))
    job_status.write(paths, status)
    return job.state


def _load_quietly(paths: WorkPaths, serial: str) -> DeviceRecord | None:
    file = paths.device_status_file(serial)
    try:
        return record_store.load(file) if file.exists() else None
    except StoreError:
        return None


def _status_quietly(paths: WorkPaths, job_id: str) -> job_status.JobStatus | None:
    try:
        return job_status.read(paths, job_id)
    except (StoreError, ValueError, KeyError):
        return None


def write_outcome(outcome: Outcome) -> Path:
    """Write ``<command file>.outcome.json`` next to the processed command file."""
    path = outcome.request.outcome_file
    store.atomic_write_json(path, outcome.to_json(), mode=0o640, schema=OUTCOME_SCHEMA)
    return path


def unfinished(paths: WorkPaths, *, inventory: Inventory | None = None) -> list[OperatorRequest]:
    """Processed command files without an outcome (read but not applied when a process stopped): the
    daemon re-applies them on start (requests are idempotent: a repeated one is refused, not re-done)."""
    inv = inventory if inventory is not None else load_inventory(paths, required=False)
    out = []
    for path in sorted(paths.commands("processed").glob("*.json")):
        if path.name.endswith(".outcome.json") or path.with_name(path.stem + ".outcome.json").exists():
            continue
        try:
            data = intake.read(path, SCHEMA)
            request = _resolve(paths, inv, data.data, path.name)
        except (intake.Rejected, UserError):
            continue
        out.append(replace(request, file=path))
    return out


def summary_lines(outcomes: Iterable[Outcome]) -> list[str]:
    """One line per device and outcome, for the CLI."""
    lines = []
    for outcome in outcomes:
        lines += _device_lines(outcome.devices, outcome.request.job_id, outcome.job_state)
    return lines


def _device_lines(devices: Iterable[DeviceOutcome], job_id: str | None, job_state: str | None) -> list[str]:
    lines = []
    for dev in devices:
        change = ""
        if dev.from_phase != dev.to_phase and (dev.from_phase or dev.to_phase):
            change = f" ({dev.from_phase or 'no record'} -> {dev.to_phase or 'no record'})"
        lines.append(f"{dev.serial}: {dev.result}{change}: {dev.message}")
    if job_state:
        lines.append(f"job {job_id}: {job_state}")
    return lines


@dataclass(frozen=True)
class Reported:
    """What became of a command file applied by someone else (the daemon, or a foreground ``apply``): its
    outcome read back from ``commands/processed/<name>.outcome.json``, or the reason it was rejected."""

    devices: tuple[DeviceOutcome, ...] = ()
    job_id: str | None = None
    job_state: str | None = None
    rejected: str | None = None

    @property
    def changed(self) -> bool:
        """The same rule as ``Outcome.changed``, plus a job the cancel moved to ``cancelled``."""
        return self.rejected is None and (
            any(d.result in (APPLIED, DEFERRED, CREATED, REMOVED) for d in self.devices)
            or self.job_state == "cancelled"
        )

    def lines(self) -> list[str]:
        return _device_lines(self.devices, self.job_id, self.job_state)


def reported(paths: WorkPaths, name: str) -> Reported | None:
    """The outcome of the command file ``name`` once its applier wrote one (or rejected the file); None while
    it waits in ``commands/incoming`` or is being applied."""
    reason = paths.commands("rejected") / f"{name}.reason"
    if reason.exists():
        return Reported(rejected=reason.read_text(encoding="utf-8").strip() or "unknown reason")
    outcome = paths.commands("processed") / (Path(name).stem + ".outcome.json")
    try:
        data = store.read_json(outcome, schema=OUTCOME_SCHEMA)
    except FileNotFoundError:
        return None
    devices = tuple(
        DeviceOutcome(
            serial=d["serial"],
            result=d["result"],
            message=d.get("message", ""),
            from_phase=d.get("from_phase"),
            to_phase=d.get("to_phase"),
        )
        for d in data.get("devices", [])
    )
    request = data.get("request", {})
    return Reported(devices, request.get("job_id"), data.get("job_state"))


def wait_reported(
    paths: WorkPaths,
    name: str,
    timeout: float,
    *,
    poll: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Reported | None:
    """Poll ``reported`` until it answers or ``timeout`` seconds pass (None then)."""
    deadline = clock() + timeout
    while True:
        found = reported(paths, name)
        if found is not None or clock() >= deadline:
            return found
        sleep(poll)


# -- the CLI's side: drop a command file, apply it at once when nothing else runs ------------------------


def write_command(paths: WorkPaths, data: Mapping[str, Any], now: datetime) -> Path:
    """Validate ``data`` (command-file schema) and write it atomically into ``commands/incoming``."""
    problems = schemas.errors(SCHEMA, dict(data))
    if problems:
        raise UserError(f"invalid command: {problems[0]}")
    name = f"cmd-{now.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.json"
    path = paths.commands("incoming") / name
    store.atomic_write_json(path, dict(data), mode=0o640)
    return path


@dataclass(frozen=True)
class Applied:
    """What ``apply_now`` did: ``outcomes`` of every command it applied, or ``holder`` (pid, host...) of
    the lock when a daemon or ``apply`` runs and will apply the commands itself."""

    outcomes: tuple[Outcome, ...] = ()
    holder: Mapping[str, Any] | None = None

    def for_file(self, name: str) -> Outcome | None:
        """The outcome of the command file originally named ``name``."""
        for outcome in self.outcomes:
            if outcome.request.file.name == name:
                return outcome
        return None


def apply_now(
    paths: WorkPaths,
    now: Instant,
    settings: MachineSettings = DEFAULT_SETTINGS,
    *,
    inventory: Inventory | None = None,
) -> Applied:
    """When no daemon or ``apply`` holds the work directory's lock, take it, read every incoming command
    (but rollbacks, which need the engine) and ``apply_offline`` them; otherwise leave them for the lock's holder (reported in ``holder``)."""
    work_lock = lock.DaemonLock(paths.lock_file)
    try:
        work_lock.acquire()
    except lock.AlreadyRunning:
        return Applied(holder=lock.holder(paths.lock_file) or {})
    try:
        inv = inventory if inventory is not None else load_inventory(paths, required=False)
        requests = read_incoming(paths, inventory=inv, now=now, leave=(ROLLBACK,))
        return Applied(tuple(apply_offline(paths, requests, now, settings, inventory=inv)))
    finally:
        work_lock.release()
