"""Malformed or unexpected XML from a firewall (the simulator's ``bad_xml`` fault), through the real client
and the engine: the device fails with a reason naming the bad answer, nothing more is done to it, and the
healthy device next to it is upgraded as usual."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from reconciler.machine.records import Phase
from reconciler.sim.bad_xml import MODES
from reconciler.sim.fleet import FleetSpec
from tests.integration.fleet_env import fleet_env
from tests.integration.test_engine import dev, group
from tests.reliability.conftest import block
from tests.reliability.daemon_proc import MUTATING_EVENTS
from tests.reliability.figures import TestFigures

TARGET = "11.1.6-h1"
# One device per mode, every operational answer corrupted from the first call on.
FROM_START = {f"3{i:02d}": mode for i, mode in enumerate(MODES, start=1)}
# Corrupted answers to reads in the middle of an upgrade: (command prefix, mode, what the reason must say).
# A garbled answer to a command that changes the device is not a failure: its outcome is looked up
# (tests/reliability/test_unknown_outcomes.py).
MID_UPGRADE = {
    "401": ("show jobs", "unexpected", "jobs"),
    "403": ("show system info", "bad_values", "unparseable version"),
    "404": ("request system software", "no_result", "response has no <result>"),
}
PARSE_WORDS = (
    "ParseError",
    "unexpected response",
    "response element",
    "unparseable",
    "ExpatError",
    "not well-formed",
)


def test_bad_xml_fails_only_that_device_with_a_reason_and_does_nothing_more(
    tmp_path: Path, figures: TestFigures
) -> None:
    serials = ["300", *FROM_START, *MID_UPGRADE]
    fleet = FleetSpec(devices=tuple(dev(s, "11.1.2") for s in serials))
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        for serial, mode in FROM_START.items():
            env.sim.inject_fault(serial, "bad_xml", mode=mode)
        for serial, (command, mode, _) in MID_UPGRADE.items():
            env.sim.inject_fault(serial, "bad_xml", mode=mode, command=command)
        figures.add("faults_injected", len(FROM_START) + len(MID_UPGRADE))
        figures.add("bad_inputs", len(FROM_START) + len(MID_UPGRADE))
        env.write_desired(group(TARGET, 'failureBudget: "100%"'))
        _, records = env.converge(timeout=120)
        events = env.sim.events()
    problems = []
    assert TARGET == env.sim.device("300").version and Phase.DONE is records["300"].phase
    for serial, mode in FROM_START.items():
        rec = records[serial]
        error = rec.last_error
        if rec.phase is not Phase.FAILED or error is None or error.phase != "preflight":
            problems.append(f"{serial} ({mode}): {rec.phase.value}, {error}")
        elif not any(word in error.message for word in PARSE_WORDS):
            problems.append(f"{serial} ({mode}): reason does not name the bad answer: {error.message}")
        touched = [e["event"] for e in events if e["serial"] == serial and e["event"] in MUTATING_EVENTS]
        if touched:
            problems.append(f"{serial} ({mode}): changed although every answer was garbage: {touched}")
    for serial, (command, mode, words) in MID_UPGRADE.items():
        rec = records[serial]
        error = rec.last_error
        if rec.phase is not Phase.FAILED or error is None or words not in error.message:
            problems.append(f"{serial} ({command}/{mode}): {rec.phase.value}, {error}")
            continue
        failed_at = datetime.fromisoformat(error.at.replace("Z", "+00:00")).timestamp()
        later = [
            e["event"]
            for e in events
            if e["serial"] == serial and e["event"] in MUTATING_EVENTS and e["wall_time"] > failed_at + 0.5
        ]
        rebooted = [e for e in events if e["serial"] == serial and e["event"] == "reboot_start"]
        if later or rebooted:
            problems.append(
                f"{serial} ({command}/{mode}): acted on after the bad answer: {later or rebooted}"
            )
    figures.add("violations", len(problems))
    assert [] == problems
