"""The shared safety oracle (tests/safety.py) on small hand-written event logs: every check fires on a bad
log and stays quiet on a good one."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.safety import UnsafeLog, assert_safe, check_events, counts, ha_pairs, read_events


class Log:
    """Builds an event log as the simulator writes it (seq, sim_time, wall_time = 1000 + sim_time)."""

    def __init__(self, pairs: tuple[tuple[str, str, str, str], ...] = (("A", "B", "active", "passive"),)):
        self.events: list[dict[str, Any]] = []
        self._seq = itertools.count(1)
        ha = {}
        for a, b, state_a, state_b in pairs:
            ha[a] = {"state": state_a, "peer": b, "priority": 100, "preemptive": True}
            ha[b] = {"state": state_b, "peer": a, "priority": 110, "preemptive": True}
        self.add(0, "", "sim_start", ha_pairs=[[a, b] for a, b, _, _ in pairs], ha=ha)

    def add(self, t: float, serial: str, event: str, **fields: Any) -> Log:
        self.events.append(
            {"seq": next(self._seq), "sim_time": t, "wall_time": 1000.0 + t, "serial": serial, "event": event}
            | fields
        )
        return self

    def ha(self, t: float, serial: str, old: str, new: str) -> Log:
        return self.add(t, serial, "ha_state", **{"from": old, "to": new, "reason": "test"})

    def install(
        self, t0: float, t1: float, serial: str, version: str, result: str = "OK", job: int = 5
    ) -> Log:
        self.add(t0, serial, "install_start", version=version, job=job, running="10.2.9")
        return self.add(t1, serial, "install_end", version=version, job=job, result=result)

    def reboot(self, t0: float, t1: float, serial: str, version: str, result: str = "upgraded") -> Log:
        self.add(t0, serial, "reboot_start", version="10.2.9", pending=version)
        return self.add(t1, serial, "reboot_end", version=version, previous="10.2.9", result=result)

    def member_reboot(self, t0: float, serial: str, version: str, back_as: str) -> Log:
        """An HA member's whole restart: down, booting, initial, then ``back_as`` (ends at t0 + 100)."""
        self.add(t0, serial, "reboot_start", version="10.2.9", pending=version)
        self.ha(t0 + 2, serial, "passive", "down")
        self.add(t0 + 60, serial, "reboot_end", version=version, previous="10.2.9", result="upgraded")
        self.ha(t0 + 60, serial, "down", "booting")
        self.ha(t0 + 80, serial, "booting", "initial")
        return self.ha(t0 + 100, serial, "initial", back_as)


def kinds(events: list[dict[str, Any]], **kw: Any) -> list[tuple[str, tuple[str, ...]]]:
    return [(v.kind, v.serials) for v in check_events(events, **kw)]


def good_pair_upgrade() -> Log:
    """Passive first, fail over by suspending the active one, upgrade it, make it functional."""
    log = Log()
    log.add(1, "B", "download_queued", version="11.0.6", job=3)
    log.add(1, "B", "download_start", version="11.0.6", job=3)
    log.add(50, "B", "download_end", version="11.0.6", job=3, result="OK")
    log.install(60, 160, "B", "11.0.6")
    log.member_reboot(170, "B", "11.0.6", "passive")
    log.add(300, "A", "ha_suspend_request")
    log.ha(300, "A", "active", "suspended").ha(300, "B", "passive", "active")
    log.install(310, 400, "A", "11.0.6")
    log.add(410, "A", "reboot_start", version="10.2.9", pending="11.0.6")
    log.ha(412, "A", "suspended", "down")
    log.add(470, "A", "reboot_end", version="11.0.6", previous="10.2.9", result="upgraded")
    log.ha(470, "A", "down", "booting").ha(490, "A", "booting", "initial").ha(
        510, "A", "initial", "suspended"
    )
    log.add(520, "A", "ha_functional_request")
    log.ha(520, "A", "suspended", "initial").ha(530, "A", "initial", "passive")
    return log


def test_a_good_ha_upgrade_is_quiet_with_every_context() -> None:
    events = good_pair_upgrade().events
    assert [] == check_events(
        events,
        max_in_flight=1,
        groups={"dc": (["A", "B"], 1)},
        managed={"A", "B"},
        change_allowed=lambda serial, wall: wall >= 1000,
    )
    assert_safe(events)
    assert [("A", "B")] == ha_pairs(events)


def test_simulator_violation_events_are_reported_as_they_are() -> None:
    log = Log().add(5, "A", "violation", kind="something-new", peer="B", ha_state="active")
    found = check_events(log.events)
    assert [("something-new", ("A", "B"), "simulator")] == [(v.kind, v.serials, v.source) for v in found]


def test_rebooting_the_active_member_with_its_peer_up_is_active_rebooted() -> None:
    log = Log().reboot(10, 70, "A", "11.0.6")
    assert [("active-rebooted", ("A", "B"))] == kinds(log.events)
    # The same restart flagged by the simulator too: one finding, both sources.
    log = Log().add(10, "A", "reboot_start", version="10.2.9", pending="11.0.6")
    log.add(10, "A", "violation", kind="active-rebooted", peer="B", ha_state="active", peer_state="passive")
    (only,) = check_events(log.events)
    assert ("active-rebooted", "log+simulator") == (only.kind, only.source)


def test_active_role_moved_back_by_preemption_is_followed_from_the_ha_state_events() -> None:
    log = Log()
    log.add(300, "A", "ha_suspend_request").ha(300, "A", "active", "suspended").ha(
        300, "B", "passive", "active"
    )
    log.add(320, "A", "ha_functional_request").ha(320, "A", "suspended", "initial")
    log.ha(330, "A", "initial", "passive").ha(390, "B", "active", "passive").ha(390, "A", "passive", "active")
    log.install(400, 500, "A", "11.0.6")
    log.reboot(510, 570, "A", "11.0.6")  # A is active again (preemption): rebooting it is unsafe
    found = kinds(log.events)
    assert ("active-rebooted", ("A", "B")) in found
    assert ("needless-suspend", ("A",)) in found  # suspended and made functional without a version change


def test_a_suspend_without_a_version_change_is_needless() -> None:
    quiet = good_pair_upgrade().events
    assert [] == kinds(quiet)
    made_functional = Log().add(10, "A", "ha_suspend_request").add(20, "A", "ha_functional_request")
    assert [("needless-suspend", ("A",))] == kinds(made_functional.events)
    left_suspended = Log().add(10, "B", "ha_suspend_request")
    assert [("needless-suspend", ("B",))] == kinds(left_suspended.events)
    same_version = Log().add(10, "B", "ha_suspend_request").reboot(20, 80, "B", "10.2.9", "same-version")
    same_version.add(90, "B", "ha_functional_request")
    assert [("needless-suspend", ("B",))] == kinds(same_version.events)


def test_both_members_down_at_once() -> None:
    overlap = Log().reboot(10, 70, "B", "11.0.6").reboot(30, 90, "A", "11.0.6")
    overlap.events.sort(key=lambda e: (e["sim_time"], e["seq"]))
    assert ("both-down", ("A", "B")) in kinds(overlap.events)
    # B answers again but its HA is not running yet (booting): A may not go down either.
    booting = Log().member_reboot(10, "B", "11.0.6", "passive")
    booting.events = [e for e in booting.events if e["sim_time"] <= 70]
    booting.reboot(75, 130, "A", "11.0.6")
    assert [("both-down", ("A", "B"))] == kinds(booting.events)
    # One after the other, the second once the first is HA-functional again: quiet.
    assert [] == kinds(good_pair_upgrade().events)


def test_both_members_installing_at_once() -> None:
    log = Log()
    log.add(10, "A", "install_start", version="11.0.6", job=4, running="10.2.9")
    log.install(20, 30, "B", "11.0.6")
    log.add(40, "A", "install_end", version="11.0.6", job=4, result="OK")
    assert [("both-installing", ("B", "A"))] == kinds(log.events)
    apart = Log().install(10, 20, "A", "11.0.6").install(20, 30, "B", "11.0.6")
    assert [] == kinds(apart.events)
    # An install cut short by a restart does not stay open.
    cut = Log().add(10, "B", "install_start", version="11.0.6", job=4, running="10.2.9")
    cut.member_reboot(20, "B", "10.2.9", "passive").install(200, 300, "A", "11.0.6")
    assert [] == [k for k in kinds(cut.events) if k[0] == "both-installing"]


def test_install_refused() -> None:
    log = Log().add(10, "C", "install_refused", version="11.1.0", reason="base image missing")
    assert [("install-refused", ("C",))] == kinds(log.events)


def test_an_image_installed_twice_for_one_hop() -> None:
    twice = Log().install(10, 20, "C", "11.0.6").install(30, 40, "C", "11.0.6", job=6)
    assert [("installed-twice", ("C",))] == kinds(twice.events)
    after_reboot = Log().install(10, 20, "C", "11.0.6").reboot(30, 90, "C", "11.0.6")
    after_reboot.install(100, 110, "C", "11.0.6", job=7)
    assert [("installed-twice", ("C",))] == kinds(after_reboot.events)
    # Legitimate: a failed install retried; a reboot that came back on the old version; a rollback.
    retried = Log().install(10, 20, "C", "11.0.6", result="FAIL").install(30, 40, "C", "11.0.6", job=6)
    old = Log().install(10, 20, "C", "11.0.6").reboot(30, 90, "C", "10.2.9", "old-version")
    old.install(100, 110, "C", "11.0.6", job=7)
    rollback = Log().install(10, 20, "C", "11.0.6").reboot(30, 90, "C", "11.0.6")
    rollback.install(100, 110, "C", "10.2.9", job=7).reboot(120, 180, "C", "10.2.9", "downgraded")
    rollback.install(200, 210, "C", "11.0.6", job=8)
    for log in (retried, old, rollback):
        assert [] == kinds(log.events)


def test_changes_on_unmanaged_devices() -> None:
    log = Log(pairs=()).add(10, "C", "download_queued", version="11.0.6", job=2)
    log.add(10, "D", "software_check")  # reading is not changing
    assert [("unmanaged-change", ("C",))] == kinds(log.events, managed={"D"})
    assert [] == kinds(log.events, managed={"C", "D"})


def test_any_change_in_a_dry_run() -> None:
    changing = [
        "download_queued", "install_start", "reboot_start", "ha_suspend_request", "ha_functional_request",
        "content_download_start", "content_install_start",
    ]  # fmt: skip
    for event in changing:
        log = Log(pairs=()).add(10, "C", event, version="11.0.6", job=2)
        assert ("dry-run-change", ("C",)) in kinds(log.events, dry_run=True), event
    reads = Log(pairs=()).add(10, "C", "software_check").add(11, "C", "content_check").add(12, "C", "keygen")
    assert [] == kinds(reads.events, dry_run=True)


def test_changes_outside_the_window() -> None:
    log = Log(pairs=()).add(10, "C", "download_queued", version="11.0.6", job=2)
    log.add(500, "C", "install_start", version="11.0.6", job=3, running="10.2.9")
    window = lambda serial, wall: wall < 1100  # noqa: E731 -- open for the first 100 s
    assert [("outside-window", ("C",))] == kinds(log.events, change_allowed=window)
    assert [] == kinds(log.events, change_allowed=lambda s, w: True)


def test_more_devices_busy_than_workers_max_or_a_groups_max_parallel() -> None:
    log = Log()
    log.add(10, "C", "download_start", version="11.0.6", job=1)
    log.add(20, "D", "download_start", version="11.0.6", job=1)
    log.add(30, "C", "download_end", version="11.0.6", job=1, result="OK")
    log.add(30, "E", "content_install_start", version="9000-1", job=2)  # C ends as E starts: still two
    log.add(40, "D", "download_end", version="11.0.6", job=1, result="OK")
    log.add(50, "A", "download_start", version="11.0.6", job=1)
    log.add(50, "B", "download_start", version="11.0.6", job=1)
    assert [] == kinds(log.events, max_in_flight=3)
    assert [("over-max-in-flight", ("A", "B", "E"))] == kinds(log.events, max_in_flight=2)
    assert [("over-max-in-flight", ("C", "D"))] == kinds(log.events, max_in_flight=1)  # the first breach
    # maxParallel counts an HA pair as one unit; workers.max counts devices.
    assert [] == kinds(log.events, groups={"dc": (["A", "B", "E"], 2)})
    assert [("over-max-parallel", ("A", "B", "E"))] == kinds(log.events, groups={"dc": (["A", "B", "E"], 1)})
    # A reboot is busy until reboot_end; the jobs it aborts end with it.
    rb = Log(pairs=()).add(10, "C", "download_start", version="11.0.6", job=1).reboot(20, 80, "C", "11.0.6")
    rb.add(90, "D", "download_start", version="11.0.6", job=1)
    assert [] == kinds(rb.events, max_in_flight=1)
    rb.add(95, "C", "reboot_start", version="11.0.6", pending=None)
    assert [("over-max-in-flight", ("C", "D"))] == kinds(rb.events, max_in_flight=1)


def test_each_simulator_run_of_one_log_is_checked_on_its_own() -> None:
    first = Log().reboot(10, 70, "B", "11.0.6")  # B was passive: fine
    second = Log(pairs=(("A", "B", "passive", "active"),)).reboot(5, 60, "A", "11.0.6")
    assert [] == kinds(first.events + second.events)
    third = Log().reboot(5, 60, "A", "11.0.6")
    found = check_events(first.events + third.events)
    assert [("active-rebooted", 1)] == [(v.kind, v.run) for v in found]


def test_allow_and_the_readable_failure() -> None:
    log = Log().reboot(10, 70, "A", "11.0.6").add(80, "C", "install_refused", version="9", reason="no")
    assert [("install-refused", ("C",))] == kinds(log.events, allow=("active-rebooted",))
    with pytest.raises(UnsafeLog) as caught:
        assert_safe(log.events, label="demo")
    text = str(caught.value)
    assert "demo: 2 safety violation(s)" in text and "active-rebooted x1" in text
    assert "active-rebooted [A+B] at sim 10.0 s" in text and "install-refused [C]" in text
    assert {"active-rebooted": 1, "install-refused": 1, "both-down": 0} == {
        k: v
        for k, v in counts(caught.value.violations).items()
        if k in ("active-rebooted", "install-refused", "both-down")
    }


def test_read_events_ignores_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"seq": 1, "sim_time": 0, "serial": "", "event": "sim_start"}\n{"seq": 2, "sim_ti')
    assert ["sim_start"] == [e["event"] for e in read_events(path)]
