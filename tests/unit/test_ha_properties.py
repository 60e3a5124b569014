"""The HA invariants over random runs: never both members in install/reboot/wait/verify, never both down,
never a member rebooted while active with its peer up (with and without preemption).

Each example drives a pair (coordinator, two member machines, two fake firewalls) through a random
interleaving of due commands, faults on member and HA commands, operator requests on members, clock
jumps and daemon restarts. ``PairWorld.check`` asserts the invariant after every transition.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from machine_world import FAULTS, PairWorld

from reconciler.machine import IllegalTransition, accepts
from reconciler.machine.observations import (
    CancelRequest,
    HoldRequest,
    PairBegin,
    ReleaseRequest,
    RetryRequest,
)
from reconciler.machine.pair import PairStage
from reconciler.machine.records import Mode, Phase

REQUESTS = [HoldRequest("prop"), CancelRequest("prop"), ReleaseRequest("prop"), RetryRequest("prop")]
ACTIONS = ["tick"] * 12 + ["fault", "request", "restart", "jump", "any-order"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from([("10.2.10",), ("11.0.3",), ("11.0.3", "11.1.6")]),
    mode=st.sampled_from(list(Mode)),
    preemptive=st.sampled_from(["", "A", "B", "AB"]),
    data=st.data(),
)
def test_members_are_never_both_disruptive(
    path: tuple[str, ...], mode: Mode, preemptive: str, data: st.DataObject
) -> None:
    w = PairWorld.of(path=path, mode=mode, preemptive=preemptive)
    w.pair_obs(PairBegin())
    for _ in range(300):
        action = data.draw(st.sampled_from(ACTIONS))
        ready = w.ready()
        if action == "jump":
            w.now += data.draw(st.sampled_from([60.0, 600.0, 1800.0]))
        elif action == "restart":
            w.restart()
        elif action == "request":
            serial = data.draw(st.sampled_from(["A", "B"]))
            obs = data.draw(st.sampled_from(REQUESTS))
            if type(obs) in accepts(w.recs[serial]):
                w.member(serial, obs)
            else:
                try:
                    w.member(serial, obs)
                except IllegalTransition:
                    pass
                else:
                    raise AssertionError(f"{obs} accepted in {w.recs[serial].phase}")
        elif not ready:
            if all(w.recs[s].phase not in (Phase.HELD, Phase.FAILED, Phase.CANCELLED) for s in "AB"):
                break
        elif action == "fault":
            key = data.draw(st.sampled_from(ready))
            fault = "temp" if key == "pair" else data.draw(st.sampled_from(FAULTS))
            w.tick(key, fault)
        elif action == "any-order":
            w.tick(data.draw(st.sampled_from(ready)))
        else:
            w.tick()
    if w.pair.stage is PairStage.DONE:
        ends = {
            Mode.UPGRADE: Phase.DONE,
            Mode.DOWNLOAD_ONLY: Phase.DOWNLOADED,
            Mode.DRY_RUN: Phase.DRY_RUN_COMPLETE,
        }
        assert all(w.recs[s].phase is ends[mode] for s in "AB")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from([("11.0.3",), ("11.0.3", "11.1.6")]),
    preemptive=st.sampled_from(["", "A", "B", "AB"]),
    data=st.data(),
)
def test_restarts_and_interleavings_alone_never_prevent_convergence(
    path: tuple[str, ...], preemptive: str, data: st.DataObject
) -> None:
    w = PairWorld.of(path=path, preemptive=preemptive)
    w.pair_obs(PairBegin())
    for _ in range(3000):
        ready = w.ready()
        if not ready:
            break
        if data.draw(st.integers(0, 30)) == 30:
            w.restart()
        else:
            w.tick(data.draw(st.sampled_from(ready)))
    assert w.pair.stage is PairStage.DONE, (w.pair.stage, w.pair.message)
    for serial in "AB":
        assert w.fws[serial].version == path[-1]
        installs = [e for e in w.fws[serial].executed if e[0] == "Install"]
        assert installs == [("Install", v) for v in path]
