"""The reconcile pass with in-memory inputs (issue 17.5): a desired state, an inventory and the engine's
records in, started units and published events out. No simulator, no socket: the executor's runner and the
device clients are plain functions that fail the test if a pass ever calls them (a pass plans and starts;
only the executor's pump runs commands)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.core import planner
from reconciler.core.desired import DesiredState, build
from reconciler.core.inventory import Device, Inventory
from reconciler.engine.executor import Executor
from reconciler.engine.metrics import Metrics
from reconciler.engine.reconcile import Reconciler
from reconciler.engine.webhooks import Notifier
from reconciler.machine.plan_view import observed_of, progress_of
from reconciler.machine.records import ErrorInfo, Hop, Mode, Phase, iso, new_record
from reconciler.workdir import record_store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
TARGET = "11.1.6-h1"


class Events(Notifier):
    """A notifier that keeps what it is given (no thread, no URL)."""

    def __init__(self) -> None:
        super().__init__([])
        self.sent: list[dict[str, Any]] = []

    def emit(self, event: str, **fields: Any) -> None:
        self.sent.append({"event": event, **fields})

    def kinds(self) -> list[str]:
        return [e["event"] for e in self.sent]


def no_device(*args: object) -> Any:
    raise AssertionError(f"a reconcile pass contacted a device: {args}")


class NoRunner:
    """The executor's runner: a pass never runs a command (the loop's pump does)."""

    def run(self, serial: str, command: object) -> Any:
        no_device(serial, command)


@dataclass
class World:
    reconciler: Reconciler
    executor: Executor
    events: Events
    metrics: Metrics

    def pass_over(self, desired: DesiredState, devices: list[Device]) -> tuple[list[str], planner.Plan]:
        result = self.reconciler.plan_and_start(desired, Inventory.of(devices))
        assert result.plan is not None and not result.error
        return sorted(result.started), result.plan


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path)


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, dry_run=True)


def _world(tmp_path: Path, dry_run: bool = False) -> Iterator[World]:
    paths = WorkPaths(tmp_path)
    paths.device_status_dir.mkdir(parents=True)
    config = Config({"workers.max": 10})
    executor = Executor(paths, NoRunner(), threads=1, clock=lambda: NOW)  # type: ignore[arg-type]
    events, metrics = Events(), Metrics()
    reconciler = Reconciler(
        paths,
        config,
        executor,
        client_for=no_device,
        metrics=metrics,
        notifier=events,
        clock=lambda: NOW,
        desired_path=tmp_path / "desired",
        dry_run=dry_run,
    )
    executor.on_transition = reconciler.on_transition
    try:
        yield World(reconciler, executor, events, metrics)
    finally:
        reconciler.close()
        executor.close(wait=False)


def desired(*groups: dict[str, Any]) -> DesiredState:
    return build([{"apiVersion": "panos-upgrade/v1", "groups": list(groups)}])


def group(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "select": {"deviceGroups": [name]}, "target": TARGET, **kw}


def fw(serial: str, dg: str = "br", version: str = "11.1.4") -> Device:
    return Device(
        serial,
        f"fw-{serial}",
        sw_version=version,
        device_group=dg,
        device_type="standalone",
        ha_state="standalone",
    )


def ha(a: str, b: str, dg: str = "dc") -> list[Device]:
    return [
        Device(
            s,
            f"fw-{s}",
            sw_version="11.1.4",
            device_group=dg,
            device_type="ha_pair",
            ha_state="active" if s == a else "passive",
            peer_serial=p,
        )
        for s, p in ((a, b), (b, a))
    ]


def finished(world: World, serial: str, phase: Phase = Phase.DONE, error: ErrorInfo | None = None) -> None:
    """The executor reports ``serial`` at rest in ``phase`` (as it would after running its commands)."""
    record = world.executor.record(serial)
    assert record is not None
    done = record.with_changes(
        phase=phase,
        outstanding=None,
        due_at=None,
        current_version=TARGET if phase is Phase.DONE else record.current_version,
        current_path_index=len(record.hops) if phase is Phase.DONE else record.current_path_index,
        finished_at=iso(NOW),
        last_error=error,
    )
    world.executor.put(done, world.reconciler.settings_of(done))


def test_a_pass_starts_what_the_plan_lets_start_and_leaves_the_rest(world: World) -> None:
    state = desired(group("br"), group("lab", paused=True))
    devices = [fw("A"), fw("B"), fw("C", version=TARGET), fw("L", dg="lab"), fw("U", dg="elsewhere")]
    started, plan = world.pass_over(state, devices)
    assert ["A", "B"] == started, "at the target, paused, or in no group: not started"
    assert {"A", "B"} == set(world.executor.records)
    a = world.executor.record("A")
    assert a is not None
    assert ("br", TARGET, "11.1.4", Mode.UPGRADE) == (a.group, a.target_version, a.starting_version, a.mode)
    assert (TARGET,) == a.upgrade_path and a.group_digest == state.group_digest(state.groups[0])
    assert a.phase is not Phase.PENDING, "begun: its first command is scheduled in the executor"
    assert [("group_started", "br", TARGET)] == [
        (e["event"], e["group"], e["target"]) for e in world.events.sent
    ]
    assert {"A": "upgrade", "C": "none", "L": "blocked", "U": "none"}.items() <= {
        d.serial: d.action for d in plan.devices
    }.items()


def test_the_pass_plans_from_the_records_as_plan_does(world: World) -> None:
    """One truth: the pass's plan is the planner's over the same records seen through ``plan_view``, the
    view ``plan`` and ``group status`` use for the status files."""
    state = desired(group("br", maxParallel=1))
    devices = [fw("A"), fw("B"), fw("C")]
    world.pass_over(state, devices)
    finished(
        world, "A", Phase.FAILED, ErrorInfo("install-failed", "install", "install job 3 failed", iso(NOW))
    )
    _, plan = world.pass_over(state, devices)
    records = world.executor.records
    offline = planner.plan(
        state,
        Inventory.of(devices),
        {s: observed_of(r) for s, r in records.items()},
        {s: progress_of(r) for s, r in records.items()},
        NOW,
    )
    assert offline.to_json() == plan.to_json()
    assert ("blocked", "failed", "install job 3 failed") == (
        plan.device("A").action,
        plan.device("A").reason,
        plan.device("A").detail,
    )


def test_max_parallel_paces_starts_and_group_started_is_sent_once(world: World) -> None:
    state = desired(group("br", maxParallel=1))
    devices = [fw("A"), fw("B")]
    assert ["A"] == world.pass_over(state, devices)[0]
    assert [] == world.pass_over(state, devices)[0], "B waits for A's slot"
    finished(world, "A")
    assert ["B"] == world.pass_over(state, devices)[0]
    assert ["group_started"] == world.events.kinds(), "one generation of the group: one group_started"
    finished(world, "B")
    started, plan = world.pass_over(state, devices)
    assert [] == started and {"none"} == {d.action for d in plan.devices}
    assert ["group_started", "converged"] == world.events.kinds()


def test_a_failure_over_budget_halts_the_group_and_starts_nothing_more(world: World) -> None:
    state = desired(group("br", maxParallel=1, failureBudget=1))
    devices = [fw("A"), fw("B"), fw("C")]
    world.pass_over(state, devices)
    error = ErrorInfo("install-failed", "install", "install job 3 failed", iso(NOW))
    finished(world, "A", Phase.FAILED, error)
    started, plan = world.pass_over(state, devices)
    assert [] == started
    assert plan.groups[0].halted
    assert [
        ("group_started", {"group": "br", "target": TARGET}),
        ("device_failed", {"group": "br", "serial": "A", "reason": "install-failed", "phase": "install"}),
        ("group_halted", {"group": "br", "failures": 1}),
    ] == [(e["event"], {k: v for k, v in e.items() if k != "event"}) for e in world.events.sent]
    world.pass_over(state, devices)
    assert 3 == len(world.events.sent), "a halted group is announced once"


def test_an_ha_pair_starts_as_one_unit(world: World) -> None:
    state = desired(group("dc"))
    started, _ = world.pass_over(state, ha("H1", "H2"))
    assert ["H1", "H2"] == started
    pair = world.executor.pair("H1+H2")
    assert pair is not None and ("H1", "H2") == tuple(sorted(pair.members))
    peers = {s: r.ha_peer for s, r in world.executor.records.items()}
    assert {"H1": "H2", "H2": "H1"} == peers
    assert ["group_started"] == world.events.kinds()
    assert [] == world.pass_over(state, ha("H1", "H2"))[0], "a running pair is not started again"


def test_workers_max_bounds_what_one_pass_starts(world: World) -> None:
    world.reconciler.max_in_flight = 2
    started, _ = world.pass_over(desired(group("br")), [fw(s) for s in "ABCDE"])
    assert ["A", "B"] == started


def test_a_dry_run_rehearses_each_device_once_and_announces_no_rollout(rehearsal: World) -> None:
    state = desired(group("br", maxParallel=1))
    devices = [fw("A"), fw("B")]
    started, _ = rehearsal.pass_over(state, devices)
    assert ["A", "B"] == started, "a rehearsal ignores the rollout's pace"
    assert {Mode.DRY_RUN} == {r.mode for r in rehearsal.executor.records.values()}
    assert [] == rehearsal.pass_over(state, devices)[0], "rehearsed once per run"
    assert [] == rehearsal.events.kinds()


def test_a_resting_device_continues_to_its_next_hop(world: World) -> None:
    state = desired(group("br"))
    record = new_record(
        serial="A",
        starting_version="11.0.6",
        target_version=TARGET,
        hops=(Hop("11.1.4", ("11.1.0", "11.1.4")), Hop(TARGET, (TARGET,))),
        now=NOW,
        group="br",
        group_digest=state.group_digest(state.groups[0]),
    ).with_changes(phase=Phase.NEXT_HOP, current_path_index=1, current_version="11.1.4", started_at=iso(NOW))
    world.executor.put(record, world.reconciler.settings_of(record))
    result = world.reconciler.plan_and_start(state, Inventory.of([fw("A")]))
    assert ([], ["A"]) == (result.started, result.continued)
    resumed = world.executor.record("A")
    assert resumed is not None and resumed.phase is not Phase.NEXT_HOP and 1 == resumed.current_path_index
    assert [] == world.events.kinds(), "continuing is not starting a group"


def test_a_device_whose_status_file_is_unusable_is_left_alone_until_it_is_repaired_or_removed(
    world: World, tmp_path: Path
) -> None:
    state, devices = desired(group("br")), [fw("A"), fw("B")]
    torn = WorkPaths(tmp_path).device_status_file("A")
    torn.write_text('{"serial": "A", "upgr')
    assert ["A"] == world.reconciler.load_records()
    started, plan = world.pass_over(state, devices)
    assert ["B"] == started and ("blocked", "held") == (plan.device("A").action, plan.device("A").reason)
    assert "status file unusable" in plan.device("A").detail
    assert '{"serial": "A", "upgr' == torn.read_text(), "never overwritten"
    torn.unlink()
    world.reconciler.reread_unusable()
    assert ["A"] == world.pass_over(state, devices)[0], "removed by an operator: the device is free again"


def test_a_repaired_status_file_is_adopted(world: World, tmp_path: Path) -> None:
    state, devices = desired(group("br")), [fw("A")]
    paths = WorkPaths(tmp_path)
    paths.device_status_file("A").write_text("{")
    world.reconciler.load_records()
    assert [] == world.pass_over(state, devices)[0]
    failed = new_record(
        serial="A", starting_version="11.1.4", target_version=TARGET, hops=(), now=NOW, group="br"
    ).with_changes(phase=Phase.FAILED, last_error=ErrorInfo("install-failed", "install", "boom", iso(NOW)))
    record_store.save(paths, failed)
    world.reconciler.reread_unusable()
    started, plan = world.pass_over(state, devices)
    assert [] == started and ("blocked", "failed") == (plan.device("A").action, plan.device("A").reason)
    assert world.executor.record("A") == failed


def test_a_started_device_runs_with_its_model_so_its_models_reboot_window_applies(world: World) -> None:
    device = replace(fw("0001", version="11.0.3"), model="PA-3220")
    started, _ = world.pass_over(desired(group("br")), [device, fw("0002", version="11.0.3")])
    assert ["0001", "0002"] == started
    assert "PA-3220" == world.executor.devices["0001"].settings.model
    assert "" == world.executor.devices["0002"].settings.model  # no model known: the fleet's window
