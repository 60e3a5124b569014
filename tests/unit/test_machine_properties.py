"""Properties of the device state machine over random runs: faults, requests, crashes, clock jumps.

A driver plays executor against ``FakeFirewall``: each example draws a mode, a path and the device's
starting state, then a sequence of actions (answer, answer with a fault, operator request, crash and
resume — sometimes after the command reached the device but before its answer was recorded —, clock
jump, illegal observation). After every step it checks the invariants the executor and the operators
rely on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from machine_world import FAST, FAULTS, FakeFirewall, assert_valid, at, record

from reconciler.machine import TABLE, IllegalTransition, Step, accepts, resume, step
from reconciler.machine.commands import Command, Install, Reboot
from reconciler.machine.observations import (
    Abort,
    Begin,
    CancelRequest,
    ComparisonResult,
    HoldRequest,
    JobStatus,
    Observation,
    RebootIssued,
    ReleaseRequest,
    RetryRequest,
    SoftwareList,
)
from reconciler.machine.records import DeviceRecord, Hop, JobKind, Mode, Phase

PATHS = [("10.2.10",), ("11.0.3",), ("11.0.3", "11.1.6"), ("11.1.6",)]
REQUESTS: list[Observation] = [
    Begin(),
    CancelRequest("prop", "cancel"),
    HoldRequest("prop", "hold"),
    ReleaseRequest("prop"),
    RetryRequest("prop"),
    Abort("ha-peer-unhealthy", "from the pair"),
]
STRAYS: list[Observation] = [
    JobStatus("99999", True, True),
    RebootIssued(),
    ComparisonResult(True, "x"),
    SoftwareList(()),
]
ACTIONS = ["answer"] * 10 + ["fault"] * 3 + ["request", "crash", "crash-mid", "jump", "stray"]


@dataclass
class Run:
    """The driver's view: record, device, clock, and what the properties need to remember."""

    rec: DeviceRecord
    fw: FakeFirewall
    now: float = 0.0
    delay: float = 0.0
    ok_installs_floor: int = 0  # install jobs at or below this id belong to earlier attempts
    log: list[str] = field(default_factory=list)

    def check(self, before: DeviceRecord, obs: Observation | None, result: Step) -> None:
        rec = result.record
        assert_valid(rec)
        assert (result.requeue_after is None) == (result.commands == ())
        assert len(result.commands) <= 1
        if result.commands:
            assert result.commands == (rec.outstanding,)
        else:
            assert rec.outstanding is None
        if obs is not None:
            row = TABLE[(before.phase, type(obs))]
            assert rec.phase in row.targets, (before.phase, obs, rec.phase)
        if rec.mode is Mode.DRY_RUN:
            assert not any(c.changes_device for c in result.commands)
        if rec.phase in (Phase.INSTALL, Phase.REBOOT, Phase.WAIT_READY, Phase.VERIFY_VERSION):
            assert rec.hop is not None

    def execute(self, cmd: Command, fault: str | None) -> Observation:
        """Run a command on the device, checking the device-level safety properties first."""
        if isinstance(cmd, Install):
            assert not self.fw.active(JobKind.INSTALL), "install while another install is in flight"
        if isinstance(cmd, Reboot):
            assert self.fw.last_install_ok is True, "reboot without a successful install"
        if self.rec.mode is Mode.DRY_RUN:
            assert not cmd.changes_device
        obs = self.fw.run(cmd, self.now, fault)
        ok = [
            j
            for j in self.fw.jobs.values()
            if j.kind is JobKind.INSTALL and j.finished and j.ok and int(j.id) > self.ok_installs_floor
        ]
        versions = [j.version for j in ok]
        assert len(versions) == len(set(versions)), f"an image was installed twice: {versions}"
        return obs

    def apply(self, obs: Observation, *, stray: bool = False) -> None:
        """Feed ``obs``; it must be refused exactly when ``accepts`` excludes its type (a stray answer of
        an accepted type may still be refused: it answers another job)."""
        before = self.rec
        snapshot = before.to_json()
        try:
            result = step(before, obs, at(self.now), FAST)
        except IllegalTransition:
            assert stray or type(obs) not in accepts(before), f"{obs} refused in {before.phase}"
            assert before.to_json() == snapshot
            return
        assert type(obs) in accepts(before), f"{obs} accepted in {before.phase} though accepts() excludes it"
        self.check(before, obs, result)
        if isinstance(obs, RetryRequest | ReleaseRequest):
            self.ok_installs_floor = max([int(j) for j in self.fw.jobs] + [0])
        self.rec, self.delay = result.record, result.requeue_after or 0.0

    def crash(self, reachable: bool) -> None:
        before = DeviceRecord.from_json(self.rec.to_json())
        result = resume(before, self.fw.live(self.now, reachable), at(self.now), FAST)
        self.check(before, None, result)
        if before.phase not in (
            Phase.INSTALL,
            Phase.CONTENT_UPDATE,
            Phase.DOWNLOAD_BASE,
            Phase.DOWNLOAD_TARGET,
        ):
            # Outside job phases resume never submits anything itself.
            assert not any(isinstance(c, Install) for c in result.commands)
        self.rec, self.delay = result.record, result.requeue_after or 0.0


@st.composite
def runs(draw: st.DrawFn) -> Run:
    mode = draw(st.sampled_from(list(Mode)))
    path = draw(st.sampled_from(PATHS))
    content = draw(st.sampled_from([None, "8600-1", "9999-1"]))
    hops = tuple(Hop(h.version, h.images, content) for h in Hop.for_path("10.2.9", path))
    rec = record(path=path, mode=mode, hops=hops)
    images = sorted({i for h in hops for i in h.images})
    downloaded = set(draw(st.lists(st.sampled_from(images), unique=True, max_size=len(images))))
    disk = draw(st.sampled_from([4.0, 6.0, 40.0]))
    return Run(rec, FakeFirewall("0001", "10.2.9", downloaded=downloaded, disk_gb=disk))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=runs(), data=st.data())
def test_random_runs_keep_every_invariant(run: Run, data: st.DataObject) -> None:
    for _ in range(150):
        action = data.draw(st.sampled_from(ACTIONS))
        run.log.append(action)
        if action == "jump":
            run.now += data.draw(st.sampled_from([30.0, 300.0, 900.0, 2000.0]))
        elif action == "request":
            run.apply(data.draw(st.sampled_from(REQUESTS)))
        elif action == "stray":
            run.apply(data.draw(st.sampled_from(STRAYS)), stray=True)
        elif action == "crash":
            run.crash(data.draw(st.booleans()))
        elif run.rec.outstanding is None:
            if run.rec.phase in (Phase.PENDING, Phase.NEXT_HOP):
                run.apply(Begin())
            elif run.rec.phase in (Phase.FAILED, Phase.HELD) and data.draw(st.booleans()):
                run.apply(ReleaseRequest() if run.rec.phase is Phase.HELD else RetryRequest())
        else:
            cmd = run.rec.outstanding
            run.now += run.delay
            fault = data.draw(st.sampled_from(FAULTS)) if action == "fault" else None
            obs = run.execute(cmd, fault)
            if action == "crash-mid":
                # The command reached the device; the daemon died before recording the answer.
                run.crash(True)
            else:
                run.apply(obs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=runs(), data=st.data())
def test_without_faults_every_run_ends_where_its_mode_says(run: Run, data: st.DataObject) -> None:
    to_stage = {i for h in run.rec.hops for i in h.images} - run.fw.downloaded
    for _ in range(400):
        if run.rec.outstanding is None:
            if run.rec.phase not in (Phase.PENDING, Phase.NEXT_HOP):
                break
            run.apply(Begin())
            continue
        run.now += run.delay
        obs = run.execute(run.rec.outstanding, None)
        if data.draw(st.integers(0, 9)) == 9:
            run.crash(True)  # a clean restart between two steps changes nothing in the outcome
        else:
            run.apply(obs)
    rec, fw = run.rec, run.fw
    if fw.disk_gb < FAST.min_disk_gb:
        assert rec.phase is Phase.FAILED and rec.last_error is not None
        assert rec.last_error.reason == "insufficient-disk"
        return
    if rec.mode is Mode.DOWNLOAD_ONLY and fw.disk_gb - len(to_stage) * 600 / 1024 < FAST.min_disk_gb:
        # Pre-staging must leave the minimum free: without room for every image it fails, staging nothing.
        assert rec.phase is Phase.FAILED and rec.last_error is not None
        assert rec.last_error.reason == "insufficient-disk" and not fw.executed
        return
    expected = {
        Mode.UPGRADE: Phase.DONE,
        Mode.DOWNLOAD_ONLY: Phase.DOWNLOADED,
        Mode.DRY_RUN: Phase.DRY_RUN_COMPLETE,
    }
    assert rec.phase is expected[rec.mode], (rec.phase, rec.message)
    if rec.mode is Mode.UPGRADE:
        assert fw.version == rec.target_version and len(rec.history) == len(rec.hops)
    else:
        assert fw.version == "10.2.9"
    if rec.mode is Mode.DRY_RUN:
        assert fw.executed == []
