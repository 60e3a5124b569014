"""The executor: runs the state machines' commands on a bounded pool and feeds the answers back.

It decides nothing. For each device it holds the current ``DeviceRecord``; when the record's command is
due it runs it on a worker thread (``Runner.run``, the only I/O), then, on the loop thread, feeds the
observation to ``machine.step`` (or ``machine.resume`` after a restart), persists the new record *before*
anything else happens, and schedules the next command after ``requeue_after`` seconds. Waiting (for a job,
a reboot, a window) is a scheduled requeue, never a sleeping thread, so a small pool carries hundreds of
devices. One device's failure or exception never touches another's record.

Threading: ``pump()``, ``put()`` and ``request()`` are called from one loop thread; workers only run
commands and hand back observations through a queue.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime

from reconciler import machine
from reconciler.engine.runner import Runner
from reconciler.machine import IllegalTransition, MachineSettings, Step, expect
from reconciler.machine import observations as o
from reconciler.machine.commands import Command, FailMember, ObserveDevice, PollJob, StartMember
from reconciler.machine.pair import (
    IllegalPairTransition,
    PairRecord,
    PairStage,
    PairStep,
    pair_resume,
    pair_step,
)
from reconciler.machine.records import ACTIVE_PHASES, TERMINAL_PHASES, DeviceRecord, Phase
from reconciler.machine.watchdog import no_progress_limit, stalled_for
from reconciler.workdir import durations_store, logs, record_store, store
from reconciler.workdir.layout import WorkPaths

log = logs.get(__name__)

Transition = Callable[[DeviceRecord | None, DeviceRecord], None]
"""Called on the loop thread after every persisted change: (old record or None, new record)."""


@dataclass
class _Device:
    record: DeviceRecord
    settings: MachineSettings
    commands: tuple[Command, ...] = ()
    due: float | None = None
    running: Command | None = None
    requests: list[o.Observation] = field(default_factory=list)
    stuck: str = ""


@dataclass
class _Pair:
    record: PairRecord
    settings: MachineSettings
    command: Command | None = None
    due: float | None = None
    running: Command | None = None
    inbox: list[o.Observation] = field(default_factory=list)

    @property
    def key(self) -> str:
        return PAIR_KEY + self.record.pair_id


PAIR_KEY = "pair:"
# A guard against a coordination loop between a pair and its members (a bug, never normal operation).
_MAX_PAIR_EVENTS = 10_000


class Executor:
    def __init__(
        self,
        paths: WorkPaths,
        runner: Runner,
        *,
        threads: int,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        on_transition: Transition | None = None,
        reached: Callable[[str], str | None] | None = None,
    ) -> None:
        self.paths = paths
        self.runner = runner
        # serial -> how its last call reached it (``Runner.reached``): kept in its record (``reached``).
        self.reached = reached
        self.clock = clock
        self.monotonic = monotonic
        self.on_transition = on_transition
        self.devices: dict[str, _Device] = {}
        # Devices whose record is not in a terminal phase (working, resting between hops, held): the only
        # ones in flight, stalled or held, so that those questions cost what is moving, not the fleet.
        self._open: dict[str, None] = {}
        self.pairs: dict[str, _Pair] = {}
        self.pair_of: dict[str, str] = {}
        self._pair_events: deque[tuple[str, o.Observation]] = deque()
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._done: queue.Queue[tuple[str, str, Command, o.Observation]] = queue.Queue()
        self._threads = max(1, threads)
        self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="device")
        self._closed = False
        self._frozen = False
        # What this fleet's finished reboots took (status/durations.json): the machines poll by it.
        self._samples = durations_store.load(paths)
        # Device records are written on the writer's thread (the loop never waits for the disk); a command
        # runs only once the record that asked for it is on disk (``_work``).
        self._writer = record_store.RecordWriter(paths)
        self._expected = expect.expected(self._samples)

    # -- records -------------------------------------------------------------------------------------------

    @property
    def records(self) -> dict[str, DeviceRecord]:
        return {s: d.record for s, d in self.devices.items()}

    def record(self, serial: str) -> DeviceRecord | None:
        dev = self.devices.get(serial)
        return dev.record if dev else None

    def in_flight(self) -> list[DeviceRecord]:
        """Devices started and not finished (working, or resting between hops), and the members of a
        running HA pair still waiting for their turn: the pair took their slot when it started, and
        counting them only once they begin would let other devices take it (more than ``workers.max``).
        A member resting while its pair is blocked waits for an operator, not for a worker: no slot."""
        devices = self.devices
        return [
            d.record
            for s in self._open
            if (_in_flight((d := devices[s]).record) and not self._parked(s, d.record))
            or self._awaiting_turn(s, d.record)
        ]

    def unfinished(self) -> list[DeviceRecord]:
        """Records not in a terminal phase (working, resting, held), in the order they were put."""
        return [self.devices[s].record for s in self._open]

    def _track(self, record: DeviceRecord) -> None:
        if record.phase in TERMINAL_PHASES:
            self._open.pop(record.serial, None)
        else:
            self._open[record.serial] = None

    def slots_in_use(self) -> int:
        """The ``workers.max`` slots taken: one per device in flight, except that an HA pair in motion
        takes one per member doing work and at least one. Its coordinator starts a member only while the
        other one rests, so a pair holds one slot, kept between its members' turns (no other device takes
        it while the pair reads roles before the next member's hop)."""
        slots = 0
        working: dict[str, int] = {}
        for record in self.in_flight():
            pair_id = self.pair_of.get(record.serial, "")
            p = self.pairs.get(pair_id)
            if p is None or p.record.stage in (PairStage.DONE, PairStage.BLOCKED):
                slots += 1
                continue
            resting = record.phase in (Phase.PENDING, Phase.NEXT_HOP)
            working[pair_id] = working.get(pair_id, 0) + (0 if resting else 1)
        return slots + sum(max(1, n) for n in working.values())

    def _parked(self, serial: str, record: DeviceRecord) -> bool:
        if record.phase not in (Phase.NEXT_HOP, Phase.PENDING):
            return False
        p = self.pairs.get(self.pair_of.get(serial, ""))
        return p is not None and p.record.stage is PairStage.BLOCKED

    def _awaiting_turn(self, serial: str, record: DeviceRecord) -> bool:
        if record.phase is not Phase.PENDING or record.started_at is not None:
            return False
        p = self.pairs.get(self.pair_of.get(serial, ""))
        return p is not None and p.record.stage not in (PairStage.DONE, PairStage.BLOCKED)

    def stalled(self) -> list[tuple[DeviceRecord, float]]:
        """Working devices with no transition for longer than their settings allow (the watchdog), with
        the seconds since their last change."""
        now = self.clock()
        out = []
        for s in self._open:  # only a working device stalls
            d = self.devices[s]
            over = stalled_for(d.record, d.settings, now)
            if over is not None:
                out.append((d.record, over + no_progress_limit(d.settings)))
        return out

    def busy(self) -> bool:
        """True while any device has a command running or scheduled."""
        return any(d.running is not None or d.commands for d in self.devices.values()) or any(
            p.running is not None or p.command is not None for p in self.pairs.values()
        )

    def put(self, record: DeviceRecord, settings: MachineSettings, *, resume: bool = False) -> None:
        """Take a record under management (a new one, or one loaded from disk).

        ``resume``: the record comes from a previous run; a working device is re-observed first
        (``ObserveDevice`` -> ``machine.resume``) instead of blindly repeating its outstanding command.
        """
        old = self.devices.get(record.serial)
        if old is not None and (old.running is not None):
            raise RuntimeError(f"{record.serial}: replaced while a command runs")
        dev = _Device(record, settings)
        self.devices[record.serial] = dev
        self._track(record)
        if resume and record.phase in ACTIVE_PHASES:
            self._schedule(dev, (ObserveDevice(),), 0.0)
        elif old is None or old.record is not record:
            self._persist(old.record if old else None, record)

    def adopt(self, record: DeviceRecord, settings: MachineSettings) -> None:
        """Know ``record`` as it is, without persisting or scheduling anything for it: a read-only dry run
        plans with the records another engine (the daemon) owns, and never drives them."""
        if record.serial in self.devices:
            raise RuntimeError(f"{record.serial}: already under management")
        self.devices[record.serial] = _Device(record, settings)
        self._track(record)

    def forget(self, serial: str) -> None:
        """Stop managing ``serial`` and delete its status file (a hold-only record lifted): nothing of it
        stays in the executor's indexes, and no record still queued for the disk brings the file back."""
        dev = self.devices.get(serial)
        if dev is not None and dev.running is not None:
            raise RuntimeError(f"{serial}: forgotten while a command runs")
        self.devices.pop(serial, None)
        self._open.pop(serial, None)
        self._writer.discard(serial)

    def request(self, serial: str, observation: o.Observation) -> bool:
        """Feed an operator/scheduler request. Queued while a command of that device runs.
        Returns False (and changes nothing) when the machine does not accept it in the current phase."""
        dev = self.devices.get(serial)
        if dev is None:
            return False
        if dev.running is not None:
            dev.requests.append(observation)
            return True
        ok = self._feed(dev, observation)
        self._drain_pairs()
        return ok

    def accepts(self, serial: str, kind: type[o.Observation]) -> bool:
        dev = self.devices.get(serial)
        return dev is not None and dev.running is None and kind in machine.accepts(dev.record)

    # -- HA pairs ----------------------------------------------------------------------------------------------

    def pair(self, pair_id: str) -> PairRecord | None:
        p = self.pairs.get(pair_id)
        return p.record if p else None

    def put_pair(self, record: PairRecord, settings: MachineSettings, *, resume: bool = False) -> None:
        """Coordinate an HA pair whose two member records are already under management."""
        missing = [s for s in record.members if s not in self.devices]
        if missing:
            raise ValueError(f"pair {record.pair_id}: member record(s) missing: {', '.join(missing)}")
        p = _Pair(record, settings)
        self.pairs[record.pair_id] = p
        for serial in record.members:
            self.pair_of[serial] = record.pair_id
        if resume:
            self._apply_pair(p, pair_resume(record, self._members(record), self.clock(), settings))
        else:
            record_store.save_pair(self.paths, record)
        self._drain_pairs()

    def pair_request(self, pair_id: str, observation: o.Observation) -> bool:
        p = self.pairs.get(pair_id)
        if p is None:
            return False
        if p.running is not None:
            p.inbox.append(observation)
            return True
        ok = self._pair_step(p, observation)
        self._drain_pairs()
        return ok

    def _members(self, pair: PairRecord) -> dict[str, DeviceRecord]:
        return {s: self.devices[s].record for s in pair.members}

    def _pair_step(self, p: _Pair, observation: o.Observation) -> bool:
        try:
            result = pair_step(p.record, self._members(p.record), observation, self.clock(), p.settings)
        except IllegalPairTransition as exc:
            log.info("pair %s did not accept %s: %s", p.record.pair_id, observation.name, exc)
            return False
        self._apply_pair(p, result)
        return True

    def _apply_pair(self, p: _Pair, result: PairStep) -> None:
        p.record = result.pair
        record_store.save_pair(self.paths, result.pair)
        if not result.commands:
            return
        device_command = None
        for command in result.commands:
            if isinstance(command, StartMember):
                self._member(command.serial, o.Begin(sync_to_peer=command.sync_to_peer))
            elif isinstance(command, FailMember):
                self._member(command.serial, o.Abort(command.reason, command.message))
            else:
                device_command = command
        p.command = device_command
        if device_command is None:
            p.due = None
            return
        p.due = self.monotonic() + max(0.0, result.requeue_after or 0.0)
        heapq.heappush(self._heap, (p.due, next(self._seq), p.key))

    def _member(self, serial: str, observation: o.Observation) -> None:
        dev = self.devices.get(serial)
        if dev is None:
            log.error("pair asked for %s on unknown member %s", observation.name, serial)
            return
        if dev.running is not None:
            dev.requests.append(observation)
        else:
            self._feed(dev, observation)

    def _drain_pairs(self) -> None:
        for _ in range(_MAX_PAIR_EVENTS):
            if not self._pair_events:
                return
            pair_id, observation = self._pair_events.popleft()
            p = self.pairs.get(pair_id)
            if p is None:
                continue
            if p.running is not None:
                if observation not in p.inbox:
                    p.inbox.append(observation)
                continue
            self._pair_step(p, observation)
        log.error("pair coordination did not settle after %d events; dropping the rest", _MAX_PAIR_EVENTS)
        self._pair_events.clear()

    # -- the loop --------------------------------------------------------------------------------------------

    def next_due_in(self) -> float | None:
        self._drop_stale_heap()
        if not self._heap:
            return None
        return max(0.0, self._heap[0][0] - self.monotonic())

    def pump(self, max_wait: float) -> int:
        """Start every due command, wait up to ``max_wait`` (less if something falls due), apply finished
        commands. Returns how many observations were applied."""
        self._start_due()
        wait = max_wait
        nxt = self.next_due_in()
        if nxt is not None:
            wait = min(wait, nxt)
        applied = 0
        try:
            item = self._done.get(timeout=max(0.0, wait)) if wait > 0 else self._done.get_nowait()
        except queue.Empty:
            return 0
        while True:
            self._complete(*item)
            applied += 1
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                break
        self._start_due()
        return applied

    def freeze(self) -> None:
        """Start no more commands (a stopping daemon); running ones still complete and are persisted."""
        self._frozen = True

    def close(self, wait: bool = True) -> None:
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self._writer.close()

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every record persisted so far is on disk (readers of the status files in this
        process); whether it is."""
        return self._writer.flush(timeout)

    @property
    def threads(self) -> int:
        return self._threads

    def running_count(self) -> int:
        return sum(1 for d in self.devices.values() if d.running is not None)

    # -- internals ---------------------------------------------------------------------------------------------

    def _live(self, due: float, key: str) -> bool:
        if key.startswith(PAIR_KEY):
            p = self.pairs.get(key[len(PAIR_KEY) :])
            return p is not None and p.due == due and p.running is None and p.command is not None
        dev = self.devices.get(key)
        return dev is not None and dev.due == due and dev.running is None and bool(dev.commands)

    def _drop_stale_heap(self) -> None:
        while self._heap:
            due, _, key = self._heap[0]
            if not self._live(due, key):
                heapq.heappop(self._heap)
                continue
            return

    def _start_due(self) -> None:
        now = self.monotonic()
        while self._heap and self._heap[0][0] <= now and not (self._closed or self._frozen):
            due, _, serial = heapq.heappop(self._heap)
            if not self._live(due, serial):
                continue
            if serial.startswith(PAIR_KEY):
                self._start_pair(self.pairs[serial[len(PAIR_KEY) :]])
                continue
            dev = self.devices[serial]
            command = dev.commands[0]
            dev.commands = ()
            dev.due = None
            if dev.record.dry_run and command.changes_device:
                # Defence in depth: the machine never emits these in dry-run; refuse loudly if it ever did.
                log.error("refusing %s on %s in dry-run", command.name, serial, extra={"serial": serial})
                dev.stuck = f"dry-run refused {command.name}"
                continue
            dev.running = command
            if command.changes_device:
                store.audit(
                    self.paths.audit_file,
                    command.name,
                    serial=serial,
                    group=dev.record.group,
                    job_id=dev.record.job_id,
                    command={k: v for k, v in vars(command).items()},
                    hop=dev.record.hop.version if dev.record.hop else None,
                )
            self._pool.submit(self._work, serial, serial, command)

    def _start_pair(self, p: _Pair) -> None:
        command = p.command
        assert command is not None
        p.command = None
        p.due = None
        p.running = command
        if command.changes_device:
            store.audit(
                self.paths.audit_file,
                command.name,
                serial=getattr(command, "serial", ""),
                pair=p.record.pair_id,
            )
        self._pool.submit(self._work, p.key, getattr(command, "serial", p.record.members[0]), command)

    def _work(self, key: str, serial: str, command: Command) -> None:
        try:
            # Persist before acting: the record that asked for this command is on disk before it runs (a
            # record that could not be written fails the command, nothing is sent to the device).
            if key.startswith(PAIR_KEY):
                self._writer.flush()
            else:
                self._writer.settle(serial)
            obs = self.runner.run(serial, command)
        except Exception as exc:  # a bug or local I/O error: this device's failure, nobody else's
            log.exception("%s on %s raised", command.name, serial, extra={"serial": serial})
            obs = o.CommandFailed(
                command.name, temporary=False, kind="internal", message=f"{type(exc).__name__}: {exc}"
            )
        self._done.put((key, serial, command, obs))

    def _complete(self, key: str, serial: str, command: Command, obs: o.Observation) -> None:
        if key.startswith(PAIR_KEY):
            self._complete_pair(key[len(PAIR_KEY) :], command, obs)
            self._drain_pairs()
            return
        self._complete_device(serial, command, obs)
        self._drain_pairs()

    def _complete_pair(self, pair_id: str, command: Command, obs: o.Observation) -> None:
        p = self.pairs.get(pair_id)
        if p is None:
            return
        p.running = None
        if isinstance(obs, o.CommandFailed):  # a non-device error inside the runner
            obs = o.HaCommandFailed(
                getattr(command, "serial", ""), command.name, obs.temporary, obs.kind, obs.message
            )
        self._pair_step(p, obs)
        while p.inbox and p.running is None:
            self._pair_step(p, p.inbox.pop(0))

    def _complete_device(self, serial: str, command: Command, obs: o.Observation) -> None:
        dev = self.devices.get(serial)
        if dev is None:
            return
        dev.running = None
        now = self.clock()
        try:
            if isinstance(command, ObserveDevice):
                if not isinstance(obs, o.LiveDevice):
                    obs = o.LiveDevice(reachable=False)
                result = machine.resume(dev.record, obs, now, self._settings(dev))
            else:
                result = self._step_answer(dev, command, obs, now)
        except IllegalTransition as exc:
            dev.stuck = str(exc)
            log.error("state machine refused %s for %s: %s", obs.name, serial, exc, extra={"serial": serial})
            return
        job = dev.record.job
        path = self.reached(serial) if self.reached is not None else None
        if path and path != result.record.reached:
            result = replace(result, record=replace(result.record, reached=path))
        self._apply(dev, result)
        if (
            job is not None
            and isinstance(command, PollJob)
            and isinstance(obs, o.JobStatus)
            and obs.finished
            and obs.succeeded
            and obs.job_id == job.id
        ):
            sample = expect.job_sample(job, now, dev.settings.device_second)
            self._keep_samples([sample] if sample is not None else [])
        while dev.requests and dev.running is None:
            self._feed(dev, dev.requests.pop(0))

    def _step_answer(self, dev: _Device, command: Command, obs: o.Observation, now: datetime) -> Step:
        """Feed a command's answer. An answer the machine refuses (e.g. a malformed ``show jobs`` that names
        another job) is a bad answer to that command: it goes back as a failed command, so the machine's
        retries and deadlines apply and the device never waits on a command nobody will send again."""
        try:
            return machine.step(dev.record, obs, now, self._settings(dev))
        except IllegalTransition as exc:
            if isinstance(obs, o.CommandFailed) or dev.record.outstanding != command:
                raise
            log.warning(
                "%s: answer to %s not accepted (%s); treated as a malformed answer",
                dev.record.serial,
                command.name,
                exc,
                extra={"serial": dev.record.serial},
            )
            failed = o.CommandFailed(command.name, False, "bad-response", f"answer not accepted: {exc}")
            return machine.step(dev.record, failed, now, self._settings(dev))

    def _feed(self, dev: _Device, observation: o.Observation) -> bool:
        try:
            result = machine.step(dev.record, observation, self.clock(), self._settings(dev))
        except IllegalTransition as exc:
            log.info("%s not accepted for %s: %s", observation.name, dev.record.serial, exc)
            return False
        self._apply(dev, result)
        return True

    def _settings(self, dev: _Device) -> MachineSettings:
        """The device's settings with what the fleet's reboots taught (``machine.expect``)."""
        if dev.settings.expected is not self._expected:
            dev.settings = replace(dev.settings, expected=self._expected)
        return dev.settings

    def _learn(self, old: DeviceRecord, new: DeviceRecord, settings: MachineSettings) -> None:
        """Keep the durations a transition measured (a reboot's, from the device's uptime) and persist them."""
        self._keep_samples(expect.samples_from(old, new, settings.device_second, settings.model))

    def _keep_samples(self, got: list[tuple[str, float]]) -> None:
        """Add durations measured (reboots, our jobs that succeeded) to what was learned; persist them."""
        if not got:
            return
        for kind, seconds in got:
            if expect.known(self._samples, kind):
                self._samples[kind] = expect.add(self._samples.get(kind, ()), seconds)
        self._expected = expect.expected(self._samples)
        try:
            durations_store.save(self.paths, self._samples)
        except OSError as exc:  # learning is an optimisation: never a device's failure
            log.warning("could not save what the reboots and jobs took: %s", exc)

    def _apply(self, dev: _Device, result: Step) -> None:
        old = dev.record
        dev.record = result.record
        self._track(result.record)
        dev.stuck = ""
        self._persist(old, result.record)
        self._learn(old, result.record, dev.settings)
        if result.commands:
            self._schedule(dev, result.commands, result.requeue_after or 0.0)
        else:
            dev.commands = ()
            dev.due = None

    def _schedule(self, dev: _Device, commands: tuple[Command, ...], delay: float) -> None:
        dev.commands = commands
        dev.due = self.monotonic() + max(0.0, delay)
        heapq.heappush(self._heap, (dev.due, next(self._seq), dev.record.serial))

    def _persist(self, old: DeviceRecord | None, new: DeviceRecord) -> None:
        self._writer.save(new)
        pair_id = self.pair_of.get(new.serial)
        if pair_id is not None:
            self._pair_events.append((pair_id, o.MemberChanged(new.serial)))
        log_transition(old, new)
        if old is None or old.phase is not new.phase:
            # The device's timeline (``device history``): every phase change, with its hop, job and reason.
            hop = new.hop or (new.hops[-1] if new.hops else None)
            store.audit(
                self.paths.audit_file,
                "phase",
                serial=new.serial,
                group=new.group,
                job_id=new.job_id,
                hop=hop.version if hop is not None else None,
                from_phase=old.phase.value if old is not None else None,
                to_phase=new.phase.value,
                attempt=new.attempt,
                reason=new.last_error.reason if new.phase is Phase.FAILED and new.last_error else None,
                message=new.message,
                dry_run=new.dry_run,
            )
        if self.on_transition is not None:
            self.on_transition(old, new)


# How a device's arrival in a phase is logged: the event name and the level.
_ARRIVALS = {
    Phase.FAILED: ("failed", logging.WARNING),
    Phase.DONE: ("completed", logging.INFO),
    Phase.DOWNLOADED: ("completed", logging.INFO),
    Phase.DRY_RUN_COMPLETE: ("completed", logging.INFO),
    Phase.SKIPPED: ("completed", logging.INFO),
    Phase.CANCELLED: ("cancelled", logging.INFO),
    Phase.HELD: ("held", logging.INFO),
}


def log_transition(old: DeviceRecord | None, new: DeviceRecord) -> None:
    """One log line per phase change of a device (the original tool's ``tail -f logs/text/...`` view): its
    transition, a failure with its reason, or its completion. The JSON log carries ``serial``,
    ``hostname``, ``group``, ``hop``, ``phase`` (and ``from_phase``, ``event``, ``job_id``, ``attempt``,
    ``target``, ``reason`` for a failure) as fields."""
    if old is not None and old.phase is new.phase:
        return
    hop = new.hop or (new.hops[-1] if new.hops else None)
    hop_version = hop.version if hop is not None else None
    event, level = _ARRIVALS.get(new.phase, ("transition", logging.INFO))
    if old is None or (new.phase is Phase.PENDING and old.phase in TERMINAL_PHASES):
        event = "queued"
    fields: dict[str, object] = {
        "event": f"device_{event}",
        "serial": new.serial,
        "hostname": new.hostname,
        "group": new.group,
        "hop": hop_version,
        "phase": new.phase.value,
        "from_phase": old.phase.value if old is not None else None,
        "job_id": new.job_id,
        "attempt": new.attempt,
        "target": new.target_version,
    }
    who = f"{new.hostname or '-'} ({new.serial}) group {new.group or '-'}"
    where = f" hop {hop_version}" if hop_version else ""
    if new.dry_run:
        who += " [dry-run]"
    if new.phase is Phase.FAILED:
        error = new.last_error
        reason = error.reason if error is not None else "unknown"
        fields["reason"] = reason
        message = f"{who}{where}: failed in {error.phase if error else '?'}: {reason}"
        if error is not None and error.message:
            message += f": {error.message}"
    elif event == "completed":
        message = f"{who}: {new.phase.value}, on {new.current_version or '?'} (target {new.target_version})"
    else:
        before = old.phase.value if old is not None else "new"
        message = f"{who}{where}: {before} -> {new.phase.value}"
        if new.message and new.phase in (Phase.HELD, Phase.CANCELLED):
            message += f": {new.message}"
    log.log(level, "%s", message, extra=fields)


def _in_flight(record: DeviceRecord) -> bool:
    if record.phase in TERMINAL_PHASES or record.phase is Phase.HELD:
        return False
    return not (record.phase is Phase.PENDING and record.started_at is None)
