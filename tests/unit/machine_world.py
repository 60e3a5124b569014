"""A pure, in-memory stand-in for a firewall and an executor, to drive the state machines in unit tests.

``FakeFirewall`` answers every command the machines emit the way PAN-OS would (jobs with progress,
reboots that go down and come back, images, HA states), with optional faults per command. It keeps the
ground truth the properties are checked against: which install jobs ran, whether the last install
succeeded, every device-changing command executed. No sockets, no sleeps, no clock: time is a float the
driver advances by each step's ``requeue_after``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from reconciler.machine import MachineSettings, Step, resume, step
from reconciler.machine.commands import (
    Backup,
    CheckVersion,
    Command,
    CompareSnapshots,
    ContentDownload,
    ContentInstall,
    DeleteImage,
    Download,
    FailMember,
    FunctionalSelf,
    Install,
    JobKind,
    ListJobs,
    MakeFunctional,
    PollJob,
    PollReady,
    Preflight,
    ReadHaState,
    ReadPairRoles,
    Reboot,
    Snapshot,
    SoftwareCheck,
    SoftwareInfo,
    StartMember,
    Suspend,
    SuspendSelf,
)
from reconciler.machine.observations import (
    Abort,
    BackupTaken,
    Begin,
    CommandFailed,
    ComparisonResult,
    DeviceAnswered,
    HaActionDone,
    HaCommandFailed,
    HaStateObserved,
    ImageDeleted,
    ImageInfo,
    JobInfo,
    JobsListed,
    JobStarted,
    JobStatus,
    LiveDevice,
    MemberChanged,
    Observation,
    PairRoles,
    PreflightResult,
    RebootIssued,
    SelfHaDone,
    SnapshotTaken,
    SoftwareList,
    VersionObserved,
)
from reconciler.machine.pair import PairRecord, PairStep, new_pair, pair_resume, pair_step
from reconciler.machine.records import (
    DISRUPTIVE_PHASES,
    DeviceRecord,
    Hop,
    Mode,
    Phase,
    new_record,
    to_instant,
)
from reconciler.workdir import schemas

T0 = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)

# Settings with small, round numbers so tests read easily.
FAST = MachineSettings(
    job_stall_timeout=600.0,
    reboot_timeout=1200.0,
    max_reboot_poll_interval=120.0,
    reboot_poll_initial=15.0,
    reboot_start_grace=300.0,
    install_retry_delay=60.0,
    install_max_attempts=4,
    job_poll_interval=5.0,
    job_poll_max_interval=60.0,
    command_retry_delay=10.0,
    command_retry_max_delay=120.0,
    command_max_attempts=4,
    download_max_attempts=3,
    min_disk_gb=5.0,
    ha_health_timeout=600.0,
    ha_rejoin_timeout=900.0,
    failover_timeout=300.0,
    ha_poll_interval=10.0,
    ha_poll_max_interval=60.0,
)

FAULTS = ("temp", "perm", "lost", "busy", "jobfail", "stall", "oldversion", "breach")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def reboot_issued(rec: DeviceRecord) -> float:
    """When the record's reboot was requested, on the tests' clock (seconds after ``T0``)."""
    assert rec.reboot is not None
    return (to_instant(rec.reboot.issued_at) - T0).total_seconds()


def record(
    start: str = "10.2.9",
    path: tuple[str, ...] = ("11.0.3",),
    *,
    mode: Mode = Mode.UPGRADE,
    serial: str = "0001",
    hops: tuple[Hop, ...] | None = None,
    ha_peer: str | None = None,
) -> DeviceRecord:
    return new_record(
        serial=serial,
        starting_version=start,
        target_version=path[-1] if path else start,
        hops=Hop.for_path(start, path) if hops is None else hops,
        now=T0,
        mode=mode,
        hostname=f"fw-{serial}",
        group="branches",
        job_id="job-1",
        ha_peer=ha_peer,
    )


def assert_valid(rec: DeviceRecord) -> None:
    """The record validates against the published schema and survives a JSON round trip."""
    data = rec.to_json()
    problems = schemas.errors("device-status", data)
    assert problems == [], problems
    assert DeviceRecord.from_json(data) == rec


@dataclass
class FakeJob:
    id: str
    kind: JobKind
    version: str
    progress: int = 0
    finished: bool = False
    ok: bool = True
    doomed: bool = False  # finishes with FAIL
    stuck: bool = False  # never progresses

    def info(self) -> JobInfo:
        return JobInfo(self.id, self.kind, self.finished, self.finished and self.ok, self.progress)


@dataclass
class FakeFirewall:
    """One firewall's ground truth. ``run`` executes a command and returns the observation."""

    serial: str
    version: str
    available: tuple[str, ...] = ("10.2.9", "10.2.10", "11.0.0", "11.0.3", "11.1.0", "11.1.6")
    downloaded: set[str] = field(default_factory=set)
    content: str = "8700-8000"
    disk_gb: float = 40.0
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    next_job: int = 100
    installed: str | None = None  # installed, becomes the version at the next reboot
    last_install_ok: bool | None = None
    boot_at: float = -86400.0
    down_polls: int = 0
    reboots: int = 0
    executed: list[tuple[str, ...]] = field(default_factory=list)  # device-changing commands, in order
    ha_state: str = "standalone"
    ha_peer: FakeFirewall | None = field(default=None, repr=False)
    sync_complete: bool = True
    rejoin_reads: int = 0  # HA reads answered "initial" after a reboot
    preemptive: bool = False  # takes the active role back from an active peer once it is passive
    preempt_in: int = 0  # commands run on this firewall before a pending preemption happens
    active_reboots: list[str] = field(default_factory=list)  # ground truth: rebooted while active, peer up
    probe_reads_version: bool = True  # a ready PollReady answer carries version and uptime (as the runner's)

    # -- helpers ---------------------------------------------------------------------------------------

    def active(self, kind: JobKind) -> bool:
        return any(j.kind is kind and not j.finished for j in self.jobs.values())

    def _job(self, kind: JobKind, version: str, fault: str | None) -> str:
        job_id = str(self.next_job)
        self.next_job += 1
        self.jobs[job_id] = FakeJob(job_id, kind, version, doomed=fault == "jobfail", stuck=fault == "stall")
        return job_id

    def live(self, now: float, reachable: bool = True) -> LiveDevice:
        if not reachable or self.down_polls > 0:
            return LiveDevice(False)
        jobs = tuple(j.info() for j in self.jobs.values())
        return LiveDevice(True, self.version, True, self.uptime(now), jobs)

    def uptime(self, now: float) -> int:
        return max(0, int(now - self.boot_at))

    # -- the executor's side of each command -----------------------------------------------------------

    def run(self, cmd: Command, now: float, fault: str | None = None) -> Observation:
        """Execute ``cmd`` (unless the fault says it never arrived) and answer it."""
        name = cmd.name
        if fault == "temp":
            return CommandFailed(name, True, "unreachable", "connection refused")
        if fault == "perm" and not isinstance(cmd, PollReady | CheckVersion):
            return CommandFailed(name, False, "api", "refused by PAN-OS")
        if fault == "busy" and isinstance(cmd, Install):
            return CommandFailed(name, True, "busy", "The software manager is currently in use")
        self._maybe_preempt()
        answer = self._execute(cmd, now, fault)
        if fault == "lost" and not isinstance(cmd, PollReady | CheckVersion):
            return CommandFailed(name, True, "timeout", "read timed out")
        return answer

    def _execute(self, cmd: Command, now: float, fault: str | None) -> Observation:
        if cmd.changes_device:
            self.executed.append((cmd.name, getattr(cmd, "version", "")))
        if isinstance(cmd, Preflight):
            jobs = tuple(j.info() for j in self.jobs.values())
            return PreflightResult(self.version, self.disk_gb, self.content, jobs)
        if isinstance(cmd, Snapshot):
            return SnapshotTaken(cmd.kind, f"validation/{self.serial}/{cmd.kind}-{cmd.hop_index}.json")
        if isinstance(cmd, Backup):
            return BackupTaken(f"backups/{self.serial}/running-{cmd.hop_index}.xml")
        if isinstance(cmd, SoftwareCheck | SoftwareInfo):
            return SoftwareList(tuple(ImageInfo(v, v in self.downloaded, 600) for v in self.available))
        if isinstance(cmd, DeleteImage):
            # PAN-OS refuses the running image and images that are not there; a delete frees the space.
            if cmd.version not in self.downloaded or cmd.version == self.version:
                return CommandFailed(cmd.name, False, "api", f"cannot delete {cmd.version}")
            self.downloaded.discard(cmd.version)
            self.disk_gb += 600 / 1024
            return ImageDeleted(cmd.version, self.disk_gb)
        if isinstance(cmd, Download):
            job = self._job(JobKind.DOWNLOAD, cmd.version, fault)
            if cmd.sync_to_peer and self.ha_peer is not None:
                self.ha_peer.downloaded.add(cmd.version)
            return JobStarted(job)
        if isinstance(cmd, ContentDownload):
            return JobStarted(self._job(JobKind.CONTENT_DOWNLOAD, "", fault))
        if isinstance(cmd, ContentInstall):
            return JobStarted(self._job(JobKind.CONTENT_INSTALL, "", fault))
        if isinstance(cmd, Install):
            if self.active(JobKind.INSTALL):
                return CommandFailed(cmd.name, True, "busy", "The software manager is currently in use")
            doomed = fault == "jobfail" or cmd.version not in self.downloaded
            job = self._job(JobKind.INSTALL, cmd.version, "jobfail" if doomed else fault)
            return JobStarted(job)
        if isinstance(cmd, PollJob):
            return self._poll(cmd, fault)
        if isinstance(cmd, ListJobs):
            return JobsListed(tuple(j.info() for j in self.jobs.values()))
        if isinstance(cmd, ReadPairRoles):
            if self.down_polls > 0:
                return CommandFailed(cmd.name, True, "unreachable", "connection refused")
            peer = self.ha_peer
            asked = cmd.with_peer and peer is not None and peer.down_polls == 0
            peer_view = peer.ha(now) if asked and peer is not None else None
            return PairRoles(self.ha(now), peer_view)
        if isinstance(cmd, SuspendSelf):
            self.suspend()
            return SelfHaDone(cmd.name)
        if isinstance(cmd, FunctionalSelf):
            self.functional()
            return SelfHaDone(cmd.name)
        if isinstance(cmd, Reboot):
            peer_up = self.ha_peer is not None and self.ha_peer.down_polls == 0
            if self.ha_state == "active" and peer_up:
                self.active_reboots.append(self.version)
            self.reboots += 1
            self._ha_reboot()
            if self.installed is not None and fault != "oldversion":
                self.version = self.installed
            self.installed = None
            self.boot_at = now + 60  # uptime counts from the end of the boot
            self.down_polls = 2
            return RebootIssued()
        if isinstance(cmd, PollReady):
            if self.down_polls > 0:
                self.down_polls -= 1
                return CommandFailed(cmd.name, True, "unreachable", "connection refused")
            if not self.probe_reads_version:
                return DeviceAnswered(True)
            return DeviceAnswered(True, self.version, self.uptime(now))
        if isinstance(cmd, CheckVersion):
            if self.down_polls > 0:
                return CommandFailed(cmd.name, True, "unreachable", "connection refused")
            return VersionObserved(self.version, self.uptime(now))
        if isinstance(cmd, CompareSnapshots):
            return ComparisonResult(
                fault != "breach", f"validation/{self.serial}/compare-{cmd.hop_index}.json"
            )
        raise AssertionError(f"unexpected command {cmd}")

    def _poll(self, cmd: PollJob, fault: str | None) -> Observation:
        job = self.jobs.get(cmd.job_id)
        if job is None:
            return CommandFailed(cmd.name, False, "api", f"job {cmd.job_id} not found")
        if job.finished:
            return JobStatus(job.id, True, job.ok, job.progress)
        if job.stuck or fault == "stall":
            return JobStatus(job.id, False, False, job.progress)
        job.progress = min(100, job.progress + 50)
        if job.progress == 100:
            job.finished = True
            job.ok = not (job.doomed or fault == "jobfail")
            self._complete(job)
        return JobStatus(job.id, job.finished, job.finished and job.ok, job.progress)

    def _complete(self, job: FakeJob) -> None:
        if not job.ok:
            if job.kind is JobKind.INSTALL:
                self.last_install_ok = False
            return
        if job.kind is JobKind.DOWNLOAD:
            self.downloaded.add(job.version)
        elif job.kind is JobKind.INSTALL:
            self.installed = job.version
            self.last_install_ok = True
        elif job.kind is JobKind.CONTENT_INSTALL:
            self.content = "9900-9000"

    # -- HA --------------------------------------------------------------------------------------------

    def _ha_reboot(self) -> None:
        peer = self.ha_peer
        if peer is None:
            return
        if self.ha_state == "active" and peer.ha_state == "passive":
            peer.ha_state = "active"  # the peer takes over while this one restarts
        if self.ha_state != "suspended":
            self.ha_state = "initial"
            self.rejoin_reads = 2
            self.sync_complete = False

    def _maybe_preempt(self) -> None:
        """Preemption (PAN-OS "Device Priority and Preemption"): a preemptive member that is passive
        while its peer is active takes the active role back a little later (``preempt_in`` commands)."""
        peer = self.ha_peer
        if not self.preemptive or peer is None or self.ha_state != "passive" or peer.ha_state != "active":
            return
        if self.preempt_in > 0:
            self.preempt_in -= 1
            return
        self.ha_state, peer.ha_state = "active", "passive"

    def _became_passive(self) -> None:
        self.ha_state = "passive"
        self.preempt_in = 2

    def suspend(self) -> None:
        self.ha_state = "suspended"
        if self.ha_peer is not None and self.ha_peer.ha_state == "passive":
            self.ha_peer.ha_state = "active"

    def functional(self) -> None:
        if self.ha_state == "suspended":
            peer_active = self.ha_peer is not None and self.ha_peer.ha_state == "active"
            if peer_active:
                self._became_passive()
            else:
                self.ha_state = "active"

    def ha(self, now: float) -> HaStateObserved:
        peer = self.ha_peer
        if self.ha_state == "initial":
            self.rejoin_reads -= 1
            if self.rejoin_reads <= 0:
                if peer is not None and peer.ha_state == "active":
                    self._became_passive()
                else:
                    self.ha_state = "active"
                self.sync_complete = True
        connected = peer is not None and peer.down_polls == 0
        return HaStateObserved(
            self.serial,
            True,
            self.ha_state,
            peer_connected=connected,
            state_sync_complete=self.sync_complete,
            running_sync_synchronized=self.sync_complete,
            version=self.version,
            peer_state=peer.ha_state if connected and peer is not None else "",
        )

    def run_ha(self, cmd: Command, now: float, fault: str | None = None) -> Observation:
        if fault == "temp":
            return HaCommandFailed(self.serial, cmd.name, True, "unreachable", "connection refused")
        if isinstance(cmd, ReadHaState):
            if self.down_polls > 0:
                return HaCommandFailed(self.serial, cmd.name, True, "unreachable", "connection refused")
            return self.ha(now)
        self.executed.append((cmd.name, ""))
        if isinstance(cmd, Suspend):
            self.suspend()
            return HaActionDone(self.serial, cmd.name)
        if isinstance(cmd, MakeFunctional):
            self.functional()
            return HaActionDone(self.serial, cmd.name)
        raise AssertionError(f"unexpected HA command {cmd}")


def answer_all(
    rec: DeviceRecord,
    fw: FakeFirewall,
    settings: MachineSettings = FAST,
    *,
    now: float = 0.0,
    next_hop: bool = True,
    max_steps: int = 400,
) -> tuple[DeviceRecord, float, list[Step]]:
    """Run the machine against ``fw`` without faults until it rests, feeding ``Begin`` at pending (and at
    next_hop unless ``next_hop`` is false). Returns the record, the clock and every step."""
    steps: list[Step] = []
    for _ in range(max_steps):
        if rec.outstanding is None:
            if rec.phase is Phase.PENDING or (next_hop and rec.phase is Phase.NEXT_HOP):
                result = step(rec, Begin(), at(now), settings)
            else:
                return rec, now, steps
        else:
            cmd = rec.outstanding
            delay = steps[-1].requeue_after if steps and steps[-1].requeue_after else 0.0
            now += delay
            result = step(rec, fw.run(cmd, now), at(now), settings)
        assert_valid(result.record)
        steps.append(result)
        rec = result.record
    raise AssertionError(f"no rest after {max_steps} steps: {rec.phase}")


def run_until(
    rec: DeviceRecord,
    fw: FakeFirewall,
    until: type[Command] | Phase,
    settings: MachineSettings = FAST,
    *,
    now: float = 0.0,
    max_steps: int = 400,
) -> tuple[DeviceRecord, float]:
    """Answer commands without faults until ``until`` (a command type) is outstanding or the record is in
    phase ``until``. Returns the record (command not yet run) and the clock at which it is due."""
    delay = 0.0
    for _ in range(max_steps):
        if isinstance(until, Phase) and rec.phase is until:
            return rec, now + delay
        if isinstance(until, type) and isinstance(rec.outstanding, until):
            return rec, now + delay
        now += delay
        if rec.outstanding is None:
            assert rec.phase in (Phase.PENDING, Phase.NEXT_HOP), f"stuck in {rec.phase}"
            result = step(rec, Begin(), at(now), settings)
        else:
            result = step(rec, fw.run(rec.outstanding, now), at(now), settings)
        assert_valid(result.record)
        rec, delay = result.record, result.requeue_after or 0.0
    raise AssertionError(f"{until} not reached; last phase {rec.phase}")


def ha_pair(version: str = "10.2.9", **kw: object) -> tuple[FakeFirewall, FakeFirewall]:
    """Two linked firewalls: "A" active, "B" passive."""
    a = FakeFirewall("A", version, **kw)  # type: ignore[arg-type]
    b = FakeFirewall("B", version, **kw)  # type: ignore[arg-type]
    a.ha_peer, b.ha_peer = b, a
    a.ha_state, b.ha_state = "active", "passive"
    return a, b


@dataclass
class PairWorld:
    """An executor for one HA pair: the coordinator, both member machines and both fake firewalls.

    ``tick`` runs the earliest due command (member or pair) and feeds its answer back; member changes are
    passed to the coordinator as ``MemberChanged``; ``StartMember`` / ``FailMember`` become ``Begin`` /
    ``Abort`` on the member machine. ``check`` is called after every transition.
    """

    pair: PairRecord
    recs: dict[str, DeviceRecord]
    fws: dict[str, FakeFirewall]
    settings: MachineSettings = FAST
    now: float = 0.0
    due: dict[str, float] = field(default_factory=dict)
    transitions: int = 0

    @classmethod
    def of(
        cls,
        path: tuple[str, ...] = ("11.0.3",),
        mode: Mode = Mode.UPGRADE,
        preemptive: str = "",
        **kw: object,
    ) -> PairWorld:
        """``preemptive`` names the members with preemption on (e.g. "A": the member active at start
        takes the active role back whenever it is passive)."""
        a, b = ha_pair(**kw)
        a.preemptive, b.preemptive = "A" in preemptive, "B" in preemptive
        ra = record(path=path, mode=mode, serial="A", ha_peer="B")
        rb = record(path=path, mode=mode, serial="B", ha_peer="A")
        return cls(new_pair(ra, rb, T0), {"A": ra, "B": rb}, {"A": a, "B": b})

    def check(self) -> None:
        phases = [self.recs[s].phase for s in self.pair.members]
        assert not all(p in DISRUPTIVE_PHASES for p in phases), f"both members disruptive: {phases}"
        assert not all(self.fws[s].down_polls > 0 for s in self.pair.members), "both members down at once"
        for s in self.pair.members:
            assert not self.fws[s].active_reboots, f"{s} rebooted while active: {self.fws[s].active_reboots}"
        for rec in self.recs.values():
            assert_valid(rec)
        assert PairRecord.from_json(self.pair.to_json()) == self.pair
        self.transitions += 1

    def member(self, serial: str, obs: Observation) -> None:
        result = step(self.recs[serial], obs, at(self.now), self.settings)
        self.recs[serial] = result.record
        self._schedule(serial, result.commands, result.requeue_after)
        self.check()
        self.pair_obs(MemberChanged(serial))

    def pair_obs(self, obs: Observation) -> None:
        self.apply_pair(pair_step(self.pair, self.recs, obs, at(self.now), self.settings))

    def apply_pair(self, result: PairStep) -> None:
        self.pair = result.pair
        device_cmds = [c for c in result.commands if not isinstance(c, StartMember | FailMember)]
        if device_cmds:
            self._schedule("pair", tuple(device_cmds), result.requeue_after)
        self.check()
        for cmd in result.commands:
            if isinstance(cmd, StartMember):
                self.member(cmd.serial, Begin(cmd.sync_to_peer))
            elif isinstance(cmd, FailMember):
                self.member(cmd.serial, Abort(cmd.reason, cmd.message))

    def _schedule(self, key: str, commands: tuple[Command, ...], delay: float | None) -> None:
        if commands:
            self.due[key] = self.now + (delay or 0.0)
        elif key != "pair":
            self.due.pop(key, None)

    def ready(self) -> list[str]:
        """Keys with an outstanding command, earliest first."""
        keys = [k for k in self.due if self._outstanding(k) is not None]
        return sorted(keys, key=lambda k: (self.due[k], k))

    def _outstanding(self, key: str) -> Command | None:
        return self.pair.outstanding if key == "pair" else self.recs[key].outstanding

    def tick(self, key: str | None = None, fault: str | None = None) -> bool:
        """Run one command (``key``'s, else the earliest); False when nothing is left to run."""
        keys = self.ready()
        if not keys:
            return False
        key = key if key in keys else keys[0]
        self.now = max(self.now, self.due.pop(key))
        cmd = self._outstanding(key)
        assert cmd is not None
        if key == "pair":
            serial = cmd.serial
            self.pair_obs(self.fws[serial].run_ha(cmd, self.now, fault))
        else:
            self.member(key, self.fws[key].run(cmd, self.now, fault))
        return True

    def run(self, max_ticks: int = 2000) -> None:
        for _ in range(max_ticks):
            if not self.tick():
                return
        raise AssertionError("pair did not settle")

    def restart(self) -> None:
        """A daemon restart: every record read back from JSON, members resumed, then the pair."""
        self.pair = PairRecord.from_json(self.pair.to_json())
        self.due = {}
        for serial in self.pair.members:
            rec = DeviceRecord.from_json(self.recs[serial].to_json())
            result = resume(rec, self.fws[serial].live(self.now), at(self.now), self.settings)
            self.recs[serial] = result.record
            self._schedule(serial, result.commands, result.requeue_after)
            self.check()
        self.apply_pair(pair_resume(self.pair, self.recs, at(self.now), self.settings))
