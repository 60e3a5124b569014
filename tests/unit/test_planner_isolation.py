"""One group whose planning fails (an unforeseen value, a defect) does not fail the plan of the others."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from reconciler.core.desired import Waves
from reconciler.core.observed import Observed
from reconciler.core.planner import BLOCKED, UPGRADE
from reconciler.core.progress import DeviceProgress
from reconciler.workdir import schemas
from tests.unit.test_planner import NOW, V, act, desired, fw, group, run


def test_a_group_whose_planning_raises_is_blocked_and_the_others_are_planned() -> None:
    state = desired(group("br", waves={"canary": 1, "soak": "1h"}), group("dc"))
    # A soak no loader lets through any more (bounded to 365 days): its arithmetic overflows the clock.
    br = replace(state.groups[0], waves=Waves(state.groups[0].waves.canary, timedelta.max))  # type: ignore[union-attr]
    state = replace(state, groups=(br, state.groups[1]))
    devices = [fw("A", "br"), fw("B", "br"), fw("C", "dc")]
    status = {"A": DeviceProgress("A", "done", target=V("11.1.6-h1"), finished_at=NOW - timedelta(hours=1))}
    p = run(state, devices, {"A": Observed.of("11.1.6-h1")}, status)
    assert (UPGRADE, None) == act(p, "C")
    assert (BLOCKED, "plan-error") == act(p, "B")
    assert "OverflowError" in (p.device("B").detail or "")  # type: ignore[union-attr]
    assert 1 == p.group("br").blocked.get("plan-error")  # type: ignore[union-attr]
    assert [] == schemas.errors("plan", p.to_json())
