"""HA pair coordination: passive first, failover, functional again, health gates, restore on failure, resume."""

from __future__ import annotations

from dataclasses import replace

import pytest
from machine_world import FAST, T0, PairWorld, at, ha_pair, record, run_until

from reconciler.machine import step
from reconciler.machine.commands import (
    FunctionalSelf,
    MakeFunctional,
    ReadHaState,
    ReadPairRoles,
    Snapshot,
    StartMember,
    SuspendSelf,
)
from reconciler.machine.observations import (
    HaActionDone,
    HaCommandFailed,
    HaStateObserved,
    HoldRequest,
    MemberChanged,
    PairBegin,
    PairRoles,
    ReleaseRequest,
    RetryRequest,
    SelfHaDone,
)
from reconciler.machine.pair import (
    IllegalPairTransition,
    PairReason,
    PairRecord,
    PairStage,
    may_start,
    new_pair,
    pair_resume,
    pair_step,
)
from reconciler.machine.records import Mode, Phase


def started(world: PairWorld) -> PairWorld:
    world.pair_obs(PairBegin())
    return world


def first_member_running(world: PairWorld) -> PairWorld:
    """Started, and both roles read: the first member has been started."""
    started(world)
    world.tick()
    world.tick()
    assert world.pair.stage is PairStage.MEMBER_RUNNING
    return world


def test_a_healthy_pair_is_upgraded_passive_first_with_failover_per_hop() -> None:
    w = started(PairWorld.of(path=("11.0.3", "11.1.6")))
    w.run()
    assert w.pair.stage is PairStage.DONE and w.pair.finished_at is not None
    # hop 0: B (passive) then A; hop 1: A is passive after the failover, so it goes first
    assert w.pair.order == ("0:B", "0:A", "1:A", "1:B")
    for serial in "AB":
        assert w.recs[serial].phase is Phase.DONE and w.fws[serial].version == "11.1.6"
    assert sorted(w.fws[s].ha_state for s in "AB") == ["active", "passive"]


def test_the_active_member_suspends_itself_only_right_before_its_reboot() -> None:
    """Failover happens at the reboot of the active member, after its install, once the upgraded passive
    member is back in sync; after its reboot it makes itself functional again."""
    w = started(PairWorld.of())
    suspended_when = None
    for _ in range(2000):
        out = w.recs["A"].outstanding
        if isinstance(out, SuspendSelf) and w.ready()[0] == "A" and suspended_when is None:
            b = w.fws["B"]
            installed = w.fws["A"].installed
            suspended_when = (w.recs["A"].phase, installed, b.version, b.ha_state, b.sync_complete)
        if not w.tick():
            break
    assert suspended_when == (Phase.REBOOT, "11.0.3", "11.0.3", "passive", True)
    changes = [e[0] for e in w.fws["A"].executed]
    assert changes[-3:] == ["SuspendSelf", "Reboot", "FunctionalSelf"]
    assert "Suspend" not in changes and "MakeFunctional" not in changes
    assert w.pair.stage is PairStage.DONE


def test_the_passive_member_is_suspended_before_its_reboot_and_never_fails_over() -> None:
    w = started(PairWorld.of())
    w.run()
    changes = [e[0] for e in w.fws["B"].executed]
    assert changes[-3:] == ["SuspendSelf", "Reboot", "FunctionalSelf"]
    failovers_by_b = [e for e in w.fws["B"].executed if e[0] == "SuspendSelf"]
    assert len(failovers_by_b) == 1


@pytest.mark.parametrize("preemptive", ["A", "B", "AB"])
@pytest.mark.parametrize("path", [("11.0.3",), ("11.0.3", "11.1.6")])
def test_a_preemptive_member_is_never_rebooted_while_active(preemptive: str, path: tuple[str, ...]) -> None:
    """Preemption moves the active role back to the better-priority member between (and during) hops;
    roles are read before every reboot, so no member restarts while active (``check`` asserts it)."""
    w = started(PairWorld.of(path=path, preemptive=preemptive))
    w.run()
    assert w.pair.stage is PairStage.DONE, w.pair.message
    for serial in "AB":
        assert w.fws[serial].version == path[-1]
        assert w.fws[serial].active_reboots == []
        reboots = [e for e in w.fws[serial].executed if e[0] == "Reboot"]
        assert len(reboots) == len(path)


def test_a_pair_already_on_its_target_is_never_suspended() -> None:
    """No failover for nothing: members that change no version are not suspended."""
    w = started(PairWorld.of(path=("11.0.3",), version="11.0.3"))
    w.run()
    assert w.pair.stage is PairStage.DONE
    for serial in "AB":
        assert w.recs[serial].phase is Phase.DONE
        assert w.fws[serial].executed == []
    assert (w.fws["A"].ha_state, w.fws["B"].ha_state) == ("active", "passive")


def test_the_first_member_downloads_with_sync_to_peer_and_the_second_downloads_nothing() -> None:
    w = started(PairWorld.of())
    w.run()
    assert [e for e in w.fws["B"].executed if e[0] == "Download"] == [
        ("Download", "11.0.0"),
        ("Download", "11.0.3"),
    ]
    assert [e for e in w.fws["A"].executed if e[0] == "Download"] == []
    assert w.recs["A"].skipped_versions == ("11.0.0", "11.0.3")


def test_roles_are_read_before_each_member() -> None:
    w = started(PairWorld.of())
    starts: list[str] = []
    reads_before: list[int] = []
    reads = 0
    for _ in range(2000):
        out = w.pair.outstanding
        if isinstance(out, ReadHaState) and "pair" in w.ready() and w.ready()[0] == "pair":
            reads += 1
        before = len(w.pair.order)
        if not w.tick():
            break
        if len(w.pair.order) > before:
            starts.append(w.pair.order[-1])
            reads_before.append(reads)
            reads = 0
    assert starts == ["0:B", "0:A"]
    assert all(n >= 2 for n in reads_before)


def test_an_unhealthy_pair_is_waited_for_then_blocked_and_its_members_failed() -> None:
    w = PairWorld.of()
    w.fws["A"].sync_complete = False
    started(w)
    w.run()
    assert w.pair.stage is PairStage.BLOCKED and w.pair.blocked_reason == PairReason.HA_PEER_UNHEALTHY
    assert w.now >= FAST.ha_health_timeout
    for serial in "AB":
        rec = w.recs[serial]
        assert rec.phase is Phase.FAILED and rec.last_error is not None
        assert rec.last_error.reason == "ha-peer-unhealthy"
    assert all(fw.executed == [] for fw in w.fws.values())


def test_a_pair_that_becomes_healthy_while_waiting_proceeds() -> None:
    w = PairWorld.of()
    w.fws["A"].sync_complete = False
    started(w)
    for _ in range(6):
        w.tick()
    assert w.pair.waiting == "health" and w.pair.stage is PairStage.READ_ROLES
    w.fws["A"].sync_complete = True
    w.run()
    assert w.pair.stage is PairStage.DONE


def test_a_member_failing_before_install_is_never_suspended() -> None:
    w = started(PairWorld.of())
    # A fails its pre-flight (not enough disk): it was never suspended, so traffic never moved.
    w.fws["A"].disk_gb = 1.0
    w.run()
    assert w.recs["A"].phase is Phase.FAILED
    assert w.fws["A"].executed == []
    assert w.fws["A"].ha_state == "active"
    assert w.pair.stage is PairStage.BLOCKED and w.pair.blocked_reason == PairReason.MEMBER_FAILED


def test_a_member_failing_after_install_stays_suspended_for_an_admin() -> None:
    w = started(PairWorld.of())
    for _ in range(3000):
        if w.recs["A"].phase is Phase.REBOOT:
            break
        w.tick()
    w.fws["A"].installed = None  # the reboot will come back on the old version
    w.run()
    assert w.recs["A"].last_error is not None
    assert w.recs["A"].last_error.reason == "came-back-on-old-version"
    assert w.fws["A"].ha_state == "suspended"
    assert w.pair.stage is PairStage.BLOCKED


def test_the_first_member_failing_blocks_the_pair_and_leaves_the_other_untouched() -> None:
    w = PairWorld.of()
    w.fws["B"].available = ("10.2.9",)  # B cannot get its images
    started(w)
    w.run()
    assert w.recs["B"].phase is Phase.FAILED and w.recs["A"].phase is Phase.PENDING
    assert w.fws["A"].executed == [] and w.fws["A"].ha_state == "active"
    assert w.pair.blocked_reason == PairReason.MEMBER_FAILED


def test_a_retried_member_unblocks_the_pair() -> None:
    w = PairWorld.of()
    w.fws["B"].available = ("10.2.9",)
    started(w)
    w.run()
    w.fws["B"].available = ("10.2.9", "11.0.0", "11.0.3")
    w.member("B", RetryRequest("ops"))
    w.run()
    assert w.pair.stage is PairStage.DONE
    assert all(w.recs[s].phase is Phase.DONE for s in "AB")


def test_a_held_pair_released_while_no_engine_ran_restarts_from_a_fresh_read_of_both_roles() -> None:
    w = PairWorld.of()
    started(w)
    w.member("A", HoldRequest("ops", "admin takeover"))  # resting: held at once
    w.run()
    assert w.pair.blocked_reason == PairReason.MEMBER_HELD
    # Released on the status files (no engine running): no MemberChanged reaches the coordinator.
    for serial in "AB":
        if w.recs[serial].phase is Phase.HELD:
            w.recs[serial] = step(w.recs[serial], ReleaseRequest("ops"), at(w.now), w.settings).record
    w.restart()
    assert w.pair.stage is PairStage.READ_ROLES and w.pair.blocked_reason is None
    w.run()
    assert w.pair.stage is PairStage.DONE
    assert all(w.recs[s].phase is Phase.DONE for s in "AB")


def test_a_pair_blocked_for_a_held_member_stays_blocked_on_restart_while_it_is_held() -> None:
    w = PairWorld.of()
    started(w)
    w.member("A", HoldRequest("ops"))
    w.run()
    w.restart()
    assert (PairStage.BLOCKED, PairReason.MEMBER_HELD) == (w.pair.stage, w.pair.blocked_reason)


def run_until_outstanding(w: PairWorld, serial: str, kind: type) -> None:
    for _ in range(3000):
        if isinstance(w.recs[serial].outstanding, kind) and w.ready() and w.ready()[0] == serial:
            return
        w.tick()
    raise AssertionError(f"{serial} never had {kind.__name__} outstanding")


def test_failover_that_does_not_happen_restores_the_suspended_member() -> None:
    w = started(PairWorld.of())
    run_until_outstanding(w, "A", SuspendSelf)
    w.tick("A")  # A suspends itself; B takes over in the fake...
    w.fws["B"].ha_state = "passive"  # ...but not on this device: B never becomes active
    w.run()
    rec = w.recs["A"]
    assert rec.phase is Phase.FAILED and rec.last_error is not None
    assert rec.last_error.reason == "ha-peer-unhealthy"
    assert w.now >= FAST.ha_health_timeout
    assert [e[0] for e in w.fws["A"].executed][-2:] == ["SuspendSelf", "FunctionalSelf"]
    assert w.fws["A"].ha_state in ("active", "passive") and w.fws["A"].reboots == 0
    assert w.pair.stage is PairStage.BLOCKED


@pytest.mark.parametrize("serial", ["A", "B"])
def test_an_unclear_answer_to_a_suspend_is_looked_up_not_failed(serial: str) -> None:
    """The suspend was carried out but its answer was lost: the roles show it; nothing is repeated."""
    w = started(PairWorld.of())
    run_until_outstanding(w, serial, SuspendSelf)
    w.tick(serial, "lost")
    w.run()
    assert w.pair.stage is PairStage.DONE, w.pair.message
    assert [e for e in w.fws[serial].executed if e[0] == "SuspendSelf"] == [("SuspendSelf", "")]
    assert all(w.fws[s].version == "11.0.3" for s in "AB")


def test_an_unclear_answer_to_functional_is_looked_up_not_failed() -> None:
    w = started(PairWorld.of())
    run_until_outstanding(w, "B", FunctionalSelf)
    w.tick("B", "lost")
    w.run()
    assert w.pair.stage is PairStage.DONE, w.pair.message
    assert w.fws["B"].ha_state in ("active", "passive")
    assert [e for e in w.fws["B"].executed if e[0] == "FunctionalSelf"] == [("FunctionalSelf", "")]


def test_a_peer_that_goes_down_before_the_reboot_is_waited_for_then_the_member_fails_unsuspended() -> None:
    w = started(PairWorld.of())
    run_until_outstanding(w, "A", ReadPairRoles)
    w.fws["B"].down_polls = 10**6  # B stops answering before A's reboot
    for _ in range(400):
        if not w.tick("A"):
            break
        if w.recs["A"].phase is Phase.FAILED:
            break
    rec = w.recs["A"]
    assert rec.phase is Phase.FAILED and rec.last_error is not None
    assert rec.last_error.reason == "ha-peer-unhealthy"
    assert w.fws["A"].reboots == 0 and w.fws["A"].ha_state == "active"


def test_download_only_pair_runs_members_one_after_the_other_with_sync() -> None:
    w = started(PairWorld.of(path=("11.0.3", "11.1.6"), mode=Mode.DOWNLOAD_ONLY))
    w.run()
    assert w.pair.stage is PairStage.DONE
    assert all(w.recs[s].phase is Phase.DOWNLOADED for s in "AB")
    assert w.fws["A"].executed == []  # everything came over with sync-to-peer
    assert not any(e[0] in ("Suspend", "Install") for fw in w.fws.values() for e in fw.executed)


def test_dry_run_pair_changes_nothing() -> None:
    w = started(PairWorld.of(mode=Mode.DRY_RUN))
    w.run()
    assert w.pair.stage is PairStage.DONE
    assert all(w.recs[s].phase is Phase.DRY_RUN_COMPLETE for s in "AB")
    assert all(fw.executed == [] for fw in w.fws.values())


# -- resume ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ticks", [5, 30, 60, 90, 120, 150, 180, 210])
def test_a_restart_at_any_point_converges_without_repeating_changes(ticks: int) -> None:
    w = started(PairWorld.of())
    for _ in range(ticks):
        w.tick()
    w.restart()
    w.run()
    assert w.pair.stage is PairStage.DONE
    for fw in w.fws.values():
        installs = [e for e in fw.executed if e[0] == "Install"]
        assert installs == [("Install", "11.0.3")]


def test_restart_between_start_member_and_begin_starts_the_member() -> None:
    pair = first_member_running(PairWorld.of()).pair
    fresh = {s: record(serial=s, ha_peer="B" if s == "A" else "A") for s in "AB"}
    result = pair_resume(pair, fresh, at(10), FAST)
    assert result.commands == (StartMember("B", True),)


def test_restart_after_suspend_was_sent_continues_with_the_suspended_member() -> None:
    w = started(PairWorld.of())
    run_until_outstanding(w, "A", SuspendSelf)
    w.fws["A"].run(SuspendSelf(), w.now)  # reached the device; the daemon died before recording it
    w.restart()
    w.run()
    assert w.pair.stage is PairStage.DONE
    assert [e for e in w.fws["A"].executed if e[0] == "SuspendSelf"] == [("SuspendSelf", "")]


# -- contract -------------------------------------------------------------------------------------------------


def test_new_pair_refuses_a_hop_that_skips_a_feature_release() -> None:
    a = record(serial="A", path=("11.1.6",))
    b = record(serial="B", path=("11.1.6",))
    with pytest.raises(ValueError, match="skips a feature release"):
        new_pair(a, b, T0)


def test_new_pair_refuses_members_with_different_paths() -> None:
    with pytest.raises(ValueError, match="same mode and upgrade path"):
        new_pair(record(serial="A", path=("11.0.3",)), record(serial="B", path=("10.2.10",)), T0)


def test_illegal_pair_observations_raise_and_change_nothing() -> None:
    w = PairWorld.of()
    pair = w.pair
    for obs in (
        HaStateObserved("A", True, "active"),
        HaActionDone("A", "Suspend"),
        HaCommandFailed("A", "ReadHaState", True),
    ):
        with pytest.raises(IllegalPairTransition):
            pair_step(pair, w.recs, obs, at(0), FAST)
    started_pair = pair_step(pair, w.recs, PairBegin(), at(0), FAST).pair
    assert started_pair.outstanding == ReadHaState("A")
    with pytest.raises(IllegalPairTransition, match="nothing outstanding for B"):
        pair_step(started_pair, w.recs, HaStateObserved("B", True, "passive"), at(0), FAST)
    with pytest.raises(IllegalPairTransition):
        pair_step(started_pair, w.recs, PairBegin(), at(0), FAST)
    with pytest.raises(IllegalPairTransition, match="not a member"):
        pair_step(started_pair, w.recs, MemberChanged("Z"), at(0), FAST)
    assert w.pair == pair


def test_member_changes_in_a_stage_that_does_not_care_change_nothing() -> None:
    w = PairWorld.of()
    started_pair = pair_step(w.pair, w.recs, PairBegin(), at(0), FAST).pair
    result = pair_step(started_pair, w.recs, MemberChanged("A"), at(1), FAST)
    assert result.pair is started_pair and result.commands == ()


def test_may_start_names_only_the_running_member() -> None:
    w = first_member_running(PairWorld.of())
    assert may_start(w.pair) == "B"
    assert may_start(PairWorld.of().pair) is None


def test_pair_record_round_trips() -> None:
    w = started(PairWorld.of())
    for _ in range(40):
        w.tick()
        assert PairRecord.from_json(w.pair.to_json()) == w.pair


def test_a_member_that_does_not_answer_at_the_start_is_an_unhealthy_pair() -> None:
    w = PairWorld.of()
    w.fws["B"].down_polls = 10**6  # B's management plane never answers
    started(w)
    w.run()
    assert w.pair.blocked_reason == PairReason.HA_PEER_UNHEALTHY
    assert w.now >= FAST.ha_health_timeout
    assert all(w.recs[s].phase is Phase.FAILED for s in "AB")


def test_restart_while_making_functional_sends_it_again() -> None:
    w = started(PairWorld.of())
    run_until_outstanding(w, "B", FunctionalSelf)
    w.restart()
    assert w.recs["B"].outstanding == FunctionalSelf()
    w.run()
    assert w.pair.stage is PairStage.DONE and w.fws["B"].ha_state in ("active", "passive")


def done_member_found_suspended() -> PairWorld:
    """B finished its hop (post snapshot next), then someone suspended it: run until the pair sends
    ``MakeFunctional`` to it."""
    w = started(PairWorld.of())
    for _ in range(3000):
        if w.recs["B"].outstanding == Snapshot("post", 0, "11.0.3"):
            break
        w.tick()
    w.fws["B"].ha_state = "suspended"
    for _ in range(3000):
        if isinstance(w.pair.outstanding, MakeFunctional):
            break
        w.tick()
    return w


def test_a_done_member_found_suspended_is_made_functional_by_the_pair() -> None:
    """E.g. an operator suspended it after its hop: the coordinator puts it back before finishing."""
    w = done_member_found_suspended()
    assert w.pair.outstanding == MakeFunctional("B")
    resumed = pair_resume(PairRecord.from_json(w.pair.to_json()), w.recs, at(w.now), FAST)
    assert resumed.commands == (MakeFunctional("B"),)
    w.run()
    assert w.pair.stage is PairStage.DONE and w.fws["B"].ha_state in ("active", "passive")


def test_an_unclear_answer_to_make_functional_is_looked_up_not_blocked() -> None:
    """The request reached the member but its answer was garbled: the roles show what happened."""
    w = done_member_found_suspended()
    w.due.pop("pair")
    w.fws["B"].run_ha(MakeFunctional("B"), w.now)  # carried out...
    w.pair_obs(HaCommandFailed("B", "MakeFunctional", False, "bad-response", "ParseError"))  # ...unreadable
    assert w.pair.stage is not PairStage.BLOCKED
    w.run()
    assert w.pair.stage is PairStage.DONE and w.fws["B"].ha_state in ("active", "passive")


def test_a_suspended_member_with_an_active_peer_reboots_even_after_the_wait_deadline() -> None:
    """Found by the chaos suite: resumed after a kill past ha_health_timeout, a member already suspended
    (its peer active) was failed and left suspended instead of being rebooted."""
    w = started(PairWorld.of())
    run_until_outstanding(w, "B", SuspendSelf)
    w.tick("B")  # B suspends itself
    w.now += FAST.ha_health_timeout * 2  # the engine was away
    w.restart()
    w.run()
    assert w.pair.stage is PairStage.DONE, w.pair.message
    assert all(w.fws[s].version == "11.0.3" for s in "AB")
    assert w.fws["B"].ha_state in ("active", "passive")


def test_a_suspended_member_whose_active_peer_misses_one_read_stays_suspended_and_reboots() -> None:
    """Found by the faults suite: one HTTP 500 on the peer's read made the suspended member functional
    again (a needless failover and back) although it saw its peer active over the HA links."""
    w = started(PairWorld.of())
    run_until_outstanding(w, "B", SuspendSelf)
    w.tick("B")  # B suspends itself; its peer A is active
    assert w.fws["B"].ha_state == "suspended" and isinstance(w.recs["B"].outstanding, ReadPairRoles)
    w.now += 10
    w.member("B", PairRoles(w.fws["B"].ha(w.now), None))  # A's own API did not answer this once
    assert isinstance(w.recs["B"].outstanding, ReadPairRoles), w.recs["B"].message
    assert w.fws["B"].ha_state == "suspended"
    w.run()
    assert w.pair.stage is PairStage.DONE, w.pair.message
    assert all(w.fws[s].version == "11.0.3" for s in "AB")


def test_a_suspended_member_that_sees_its_peer_gone_is_made_functional_at_once() -> None:
    w = started(PairWorld.of())
    run_until_outstanding(w, "B", SuspendSelf)
    w.tick("B")
    lost = replace(w.fws["B"].ha(w.now), peer_connected=False, peer_state="")
    w.member("B", PairRoles(lost, None))
    assert isinstance(w.recs["B"].outstanding, FunctionalSelf)


def test_past_the_deadline_a_suspended_member_whose_peer_misses_a_read_reads_again_then_reboots() -> None:
    """Found by the faults suite: the engine came back after ``ha_health_timeout`` (busy elsewhere), the
    first read missed the peer's answer, and the member was made functional instead of rebooted."""
    w = started(PairWorld.of())
    run_until_outstanding(w, "B", SuspendSelf)
    w.tick("B")
    w.now += FAST.ha_health_timeout * 2  # the engine was away
    w.member("B", PairRoles(w.fws["B"].ha(w.now), None))
    assert isinstance(w.recs["B"].outstanding, ReadPairRoles), w.recs["B"].message
    w.run()
    assert w.pair.stage is PairStage.DONE, w.pair.message
    assert all(w.fws[s].version == "11.0.3" for s in "AB")


def test_past_the_deadline_a_peer_that_never_answers_its_api_ends_the_wait_unsuspended() -> None:
    w = started(PairWorld.of())
    run_until_outstanding(w, "B", SuspendSelf)
    w.tick("B")
    w.now += FAST.ha_health_timeout * 2
    for _ in range(FAST.command_max_attempts + 1):
        if not isinstance(w.recs["B"].outstanding, ReadPairRoles):
            break
        w.now += FAST.ha_poll_max_interval
        w.member("B", PairRoles(w.fws["B"].ha(w.now), None))
    assert isinstance(w.recs["B"].outstanding, FunctionalSelf), w.recs["B"].message


def test_after_its_reboot_a_member_reads_only_its_own_ha_state_before_it_both_roles() -> None:
    """Before the reboot the peer's own answer decides (fresh, every read); after it the member's own state
    and its view of the peer over the HA links do, so the peer is not asked: one call per read, not two."""
    a, _ = ha_pair()
    rec, now = run_until(record(serial="A", ha_peer="B"), a, ReadPairRoles)
    assert rec.phase is Phase.REBOOT and rec.outstanding == ReadPairRoles("B", with_peer=True)
    rec, now = run_until(rec, a, Phase.POSTFLIGHT)
    assert rec.outstanding == ReadPairRoles("B", with_peer=False)
    settling = HaStateObserved("A", True, "initial", False, False, False, None)
    result = step(rec, PairRoles(settling, None), at(now), FAST)
    assert result.record.outstanding == ReadPairRoles("B", with_peer=False)
    assert "peer B seen not connected over HA" in result.record.message
    suspended = HaStateObserved("A", True, "suspended", True, True, True, None, "active")
    result = step(result.record, PairRoles(suspended, None), at(now + 30), FAST)
    assert isinstance(result.record.outstanding, FunctionalSelf)
    result = step(result.record, SelfHaDone("FunctionalSelf"), at(now + 31), FAST)
    assert result.record.outstanding == ReadPairRoles("B", with_peer=False)
    back = HaStateObserved("A", True, "passive", True, True, True, None, "active")
    result = step(result.record, PairRoles(back, None), at(now + 60), FAST)
    assert isinstance(result.record.outstanding, Snapshot) and result.record.outstanding.kind == "post"
    assert "peer B seen active over HA" in result.record.message
