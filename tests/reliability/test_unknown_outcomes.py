"""Unclear answers to commands that change a device, and malformed answers to reads (issue "Reliability round
2", points 1 and 2), through the real client against the simulator's ``bad_xml`` fault.

PAN-OS carries the command out; only its answer is garbled. The outcome is unknown until observed, so the
engine looks it up (the job list, the device's uptime and version, the HA roles) and continues from what is
true: each device converges, nothing is done twice, no member stays suspended, and no device waits past a
deadline. The shared safety oracle (tests/safety.py) checks the event log of every run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from reconciler.machine.records import Phase
from reconciler.sim.fleet import FleetSpec, HaSpec
from tests.integration.fleet_env import fleet_env
from tests.integration.test_engine import dev, group, installs
from tests.reliability.conftest import block
from tests.reliability.figures import TestFigures
from tests.safety import assert_safe

TARGET = "11.1.6-h1"
# One device per device-changing command whose single answer is garbled (PAN-OS still carries it out).
ONCE = {
    "501": ("request system software install", "garbage"),
    "502": ("request system software download", "truncated"),
    "503": ("request restart system", "html"),
}


def test_a_single_garbled_answer_is_looked_up_and_the_device_converges(
    tmp_path: Path, figures: TestFigures
) -> None:
    fleet = FleetSpec(devices=tuple(dev(s, "11.1.2") for s in ONCE))
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        for serial, (command, mode) in ONCE.items():
            env.sim.inject_fault(serial, "bad_xml", mode=mode, command=command, count=1)
        figures.add("faults_injected", len(ONCE))
        env.write_desired(group(TARGET))
        _, records = env.converge(timeout=120)
        events = env.sim.events()
    fired = Counter(
        e["serial"] for e in events if e["event"] == "fault_fired" and e.get("fault") == "bad_xml"
    )
    assert {s: 1 for s in ONCE} == dict(fired), "every fault must have fired exactly once"
    for serial in ONCE:
        assert Phase.DONE is records[serial].phase, (
            serial,
            records[serial].message,
            records[serial].last_error,
        )
        assert [TARGET] == installs(events, serial), serial
    restarts = Counter(e["serial"] for e in events if e["event"] == "reboot_start")
    assert {s: 1 for s in ONCE} == dict(restarts)
    assert_safe(events, managed=set(ONCE))


def test_a_garbled_suspend_answer_leaves_no_member_suspended(tmp_path: Path, figures: TestFigures) -> None:
    """The suspend happened but its answer was unreadable: the member reads the roles, sees it is
    suspended, reboots, and makes itself functional afterwards (it used to stay suspended for good)."""
    fleet = FleetSpec(
        devices=(
            dev("601", "11.0.6", ha=HaSpec("602", priority=10)),
            dev("602", "11.0.6", ha=HaSpec("601", priority=20)),
        )
    )
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        for serial in ("601", "602"):
            env.sim.inject_fault(
                serial, "bad_xml", mode="garbage", command="request high-availability state", count=1
            )
        figures.add("faults_injected", 2)
        env.write_desired(group(TARGET))
        _, records = env.converge(timeout=120)
        events = env.sim.events()
        states = {s: env.sim.device(s).ha_state for s in ("601", "602")}
        versions = {env.sim.device(s).version for s in ("601", "602")}
    assert {TARGET} == {str(v) for v in versions}
    assert {Phase.DONE} == {records[s].phase for s in ("601", "602")}
    assert ["active", "passive"] == sorted(states.values())
    assert_safe(events, managed={"601", "602"})


def test_job_polls_that_never_make_sense_fail_the_device_by_its_deadline(
    tmp_path: Path, figures: TestFigures
) -> None:
    """Every ``show jobs`` answer is nonsense (job ids that do not exist): the machine refused the poll's
    answer and, before, never polled again (the device sat in download_target for good, holding its slot).
    Now a refused answer is a bad answer that is retried within the phase's deadline, and the device fails
    with a reason while the healthy one converges."""
    fleet = FleetSpec(devices=(dev("701", "11.1.2"), dev("702", "11.1.2")))
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.sim.inject_fault("701", "bad_xml", mode="bad_values", command="show jobs")
        figures.add("faults_injected", 1)
        # No readiness checks: the "jobs" check would fail pre-flight on this answer before any download.
        env.write_desired(group(TARGET, 'failureBudget: "100%"\nreadinessChecks: []'))
        _, records = env.converge(timeout=120)
    assert Phase.DONE is records["702"].phase
    rec = records["701"]
    assert Phase.FAILED is rec.phase and rec.last_error is not None
    assert rec.last_error.reason in ("job-stalled", "download-failed"), rec.last_error


def test_transient_errors_during_readiness_checks_and_snapshots_are_retried(
    tmp_path: Path, figures: TestFigures
) -> None:
    """HTTP 500s and dropped connections on 45 % of the calls, readiness checks and snapshots included
    (panos-upgrade-assurance makes those calls itself): retried like every other read, the device
    converges instead of failing its pre-flight or its snapshots."""
    fleet = FleetSpec(devices=(dev("901", "11.1.2"), dev("902", "11.1.2")))
    # Under this compression a reboot's polls meet the same error rate: give it room (as the faults suite).
    slow_reboot = {"firewall.reboot_timeout": 5400}
    with fleet_env(tmp_path, fleet, base_address=block(), **slow_reboot) as env:
        for serial in ("901", "902"):
            env.sim.inject_fault(serial, "http_500", rate=0.3)
            env.sim.inject_fault(serial, "drop_connection", rate=0.15)
        figures.add("faults_injected", 4)
        env.write_desired(group(TARGET))
        _, records = env.converge(timeout=180)
        events = env.sim.events()
    errors = [e for e in events if e["event"] == "api_error" and e["serial"] in ("901", "902")]
    assert errors, "the faults must have fired"
    for serial in ("901", "902"):
        rec = records[serial]
        assert Phase.DONE is rec.phase, (serial, rec.last_error)
        assert [TARGET] == installs(events, serial)


def test_a_few_garbled_job_lists_during_readiness_checks_are_retried(tmp_path: Path, figures: TestFigures) -> None:
    """Found by the chaos suite: two unreadable ``show jobs all`` answers (panos-upgrade-assurance's own
    parser raised ExpatError) failed an HA member's pre-flight for good, leaving its pair on two versions.
    An unreadable answer to a read is retried like a temporary error."""
    fleet = FleetSpec(devices=(dev("951", "11.1.2"),))
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.sim.inject_fault("951", "bad_xml", mode="bad_values", command="show jobs", count=2)
        figures.add("faults_injected", 1)
        env.write_desired(group(TARGET))
        _, records = env.converge(timeout=120)
        events = env.sim.events()
    fired = [e for e in events if e["event"] == "fault_fired" and e.get("fault") == "bad_xml"]
    assert 2 == len(fired)
    assert Phase.DONE is records["951"].phase, records["951"].last_error
