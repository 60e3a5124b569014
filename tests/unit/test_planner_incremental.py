"""Incremental planning (issue 18.5): ``plan(..., memo=PlanMemo())`` re-plans only what changed since the
last call with the same memo, and its plan is the plan a call without a memo gives, whatever changed in
between (devices' progress and observations, time, suspensions, the desired state)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.desired import DesiredState
from reconciler.core.inventory import Device, Inventory
from reconciler.core.observed import Observed
from reconciler.core.planner import PlanMemo, plan
from reconciler.core.progress import DeviceProgress
from tests.unit.test_planner import CATALOG, NOW, V, desired, fleets, fw, group, run

WEEKEND = {"days": ["sat", "sun"], "start": "01:00", "end": "05:00", "timezone": "Europe/Berlin"}
FREEZE = {"name": "freeze", "from": "2026-11-29", "until": "2026-11-30", "timezone": "UTC"}


def state(target: str = "11.1.6-h1", paused: bool = False, canary: str = "30%") -> DesiredState:
    return desired(
        group(
            "br",
            target=target,
            waves={"canary": canary, "soak": "2h"},
            maxParallel=2,
            maintenanceWindows=["weekend"],
        ),
        group("dc", failureBudget=2, maxParallel=1),
        group("dl", stage="downloaded"),
        windows={"weekend": WEEKEND},
        denyWindows=[FREEZE],
        paused=paused,
    )


progress_kinds = st.sampled_from(["idle", "in_progress", "done", "failed", "held", "cancelled", None])
observations = st.sampled_from(["10.1.14-h9", "10.2.9", "11.0.6", "11.1.4", "11.1.6-h1", "11.2.7", None])


@st.composite
def changes(draw: st.DrawFn, serials: list[str]) -> list[tuple[str, Any]]:
    """What happens between two passes: devices progress or are seen anew, time passes, a group is
    suspended or resumed, the desired state is reloaded unchanged or changed."""
    out: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["progress", "observed", "time", "suspend", "reload", "desired"]))
        if kind in ("progress", "observed") and not serials:
            kind = "reload"
        if kind in ("progress", "observed"):
            serial = draw(st.sampled_from(serials))
            value = draw(progress_kinds if kind == "progress" else observations)
            out.append((kind, (serial, value, draw(st.integers(-6, 6)), draw(st.booleans()))))
        elif kind == "time":
            out.append((kind, draw(st.integers(0, 60 * 30))))
        elif kind == "suspend":
            out.append((kind, draw(st.sampled_from(["br", "dc", None]))))
        elif kind == "desired":
            out.append((kind, draw(st.sampled_from(["11.1.6-h1", "11.2.7"])), draw(st.booleans())))
        else:
            out.append((kind, None))
    return out


def progress(serial: str, kind: str, hours: int) -> DeviceProgress:
    return DeviceProgress(
        serial,
        kind,
        target=V("11.1.6-h1"),
        finished_at=NOW + timedelta(hours=hours) if kind == "done" else None,
        reason="bench" if kind == "failed" else "",
    )


@settings(max_examples=200, deadline=None)
@given(fleets(), st.data())
def test_incremental_planning_gives_the_full_plan(
    fleet: tuple[list[Device], dict[str, DeviceProgress], dict[str, Observed]], data: st.DataObject
) -> None:
    devices, status, observed = fleet
    inventory = Inventory.of(devices)
    serials = [d.serial for d in devices]
    memo = PlanMemo()
    current = state()
    now = NOW + timedelta(hours=data.draw(st.integers(-30, 30)))
    suspended: dict[str, str] = {}
    for _ in range(data.draw(st.integers(1, 6))):
        incremental = plan(current, inventory, observed, status, now, suspended=suspended, memo=memo)
        assert incremental == plan(current, inventory, observed, status, now, suspended=suspended)
        # Only what changes gets new objects, as the engine's records do.
        status, observed = dict(status), dict(observed)
        for change in data.draw(changes(serials)):
            kind = change[0]
            if kind == "progress":
                serial, value, hours, _ = change[1]
                if value is None:
                    status.pop(serial, None)
                else:
                    status[serial] = progress(serial, value, hours)
            elif kind == "observed":
                serial, value, _, reachable = change[1]
                observed[serial] = Observed.of(value, available=CATALOG, reachable=reachable)
            elif kind == "time":
                now += timedelta(minutes=change[1])
            elif kind == "suspend":
                suspended = {change[1]: "an operator"} if change[1] else {}
            elif kind == "reload":
                current = state(str(current.groups[0].target), current.paused)
            else:
                current = state(change[1], paused=change[2])
    assert plan(current, inventory, observed, status, now, suspended=suspended, memo=memo) == plan(
        current, inventory, observed, status, now, suspended=suspended
    )


def test_a_pass_with_one_change_decides_only_that_device_and_gates_only_its_group() -> None:
    """The memo keeps every other device's decision and every other group's gating (the objects of the
    last plan are reused as they are)."""
    devices = [fw(f"A{i}", dg="br") for i in range(5)] + [fw(f"B{i}", dg="dc") for i in range(5)]
    inventory = Inventory.of(devices)
    memo = PlanMemo()
    status: dict[str, DeviceProgress] = {}
    first = plan(state(), inventory, {}, status, NOW, memo=memo)
    second = plan(state(), inventory, {}, {"A0": progress("A0", "in_progress", 0)}, NOW, memo=memo)
    assert second == run(state(), devices, {}, {"A0": progress("A0", "in_progress", 0)}, NOW)
    dc_first = [d for d in first.devices if d.group == "dc"]
    dc_second = [d for d in second.devices if d.group == "dc"]
    assert all(a is b for a, b in zip(dc_first, dc_second, strict=True))
    assert first.group("dc") is second.group("dc")
    assert second.device("A0") != first.device("A0")
