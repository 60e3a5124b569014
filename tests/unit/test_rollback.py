"""What may be rolled back and how (``reconciler.machine.rollback``), the hold afterwards as the planner sees
it, and its release (``operator_requests.decide``). No simulator: records are built as the engine leaves them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.core import plan as P
from reconciler.core.desired import build
from reconciler.core.inventory import Device, Inventory
from reconciler.core.planner import plan
from reconciler.jobs import operator_requests
from reconciler.machine.plan_view import observed_of, progress_of
from reconciler.machine.records import DeviceRecord, Hop, HopOutcome, HopResult, Mode, Phase, new_record
from reconciler.machine.rollback import group_candidates, plan_rollback, released, versions_of

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T = "2026-03-01T11:00:00.000Z"


def finished(
    serial: str = "001",
    start: str = "10.2.9",
    path: tuple[str, ...] = ("11.0.3", "11.1.4"),
    *,
    at: int | None = None,
    phase: Phase = Phase.DONE,
    peer: str | None = None,
    mode: Mode = Mode.UPGRADE,
) -> DeviceRecord:
    """A record whose upgrade ended in ``phase`` with the device on hop ``at`` (default: the last)."""
    hops = Hop.for_path(start, path)
    at = len(hops) if at is None else at
    rec = new_record(
        serial=serial,
        starting_version=start,
        target_version=path[-1],
        hops=hops,
        now=T,
        mode=mode,
        group="dc",
        group_digest="sha256:g",
        ha_peer=peer,
    )
    current = start if at == 0 else path[at - 1]
    history = tuple(HopResult(v, T, T, HopOutcome.PASSED) for v in path[:at])
    return rec.with_changes(
        phase=phase, current_version=current, current_path_index=at, history=history, started_at=T
    )


def test_the_version_before_the_last_hop_is_the_one_to_return_to() -> None:
    planned = plan_rollback("001", finished(), peer_serial=None, peer=None, by="ann", reason="why", now=NOW)
    assert not isinstance(planned, str)
    (rec,) = planned.records
    assert ("11.1.4", "11.0.3", ("11.0.3",)) == (rec.starting_version, rec.target_version, rec.upgrade_path)
    assert ("11.0.3",) == rec.hops[0].images  # the image PAN-OS kept; no base image on the way down
    assert rec.rollback is not None
    assert ("11.1.4", "11.0.3", "11.1.4", "ann", "why") == (
        rec.rollback.from_version,
        rec.rollback.to_version,
        rec.rollback.undone_target,
        rec.rollback.by,
        rec.rollback.reason,
    )
    assert (Phase.PENDING, Mode.UPGRADE, "dc", 2) == (rec.phase, rec.mode, rec.group, rec.attempt)
    assert rec == DeviceRecord.from_json(rec.to_json())


def test_a_failure_after_a_hop_took_effect_goes_back_from_the_version_the_device_runs() -> None:
    # Failed in the post-flight of hop 1 (a breach): the device runs 11.0.3, which it came to from 10.2.9.
    v = versions_of(finished(at=1, phase=Phase.FAILED))
    assert not isinstance(v, str)
    assert ("11.0.3", "10.2.9") == (v.from_version, v.to_version)


@pytest.mark.parametrize(
    "record, words",
    [
        (None, "no upgrade recorded"),
        (finished(phase=Phase.INSTALL), "mid-upgrade"),
        (finished(phase=Phase.NEXT_HOP, at=1), "mid-upgrade"),
        (finished(phase=Phase.HELD, at=1), "release it"),
        (finished(at=0, phase=Phase.FAILED), "no hop of its last upgrade installed"),
        (finished(mode=Mode.DOWNLOAD_ONLY, phase=Phase.DOWNLOADED), "download-only"),
        (finished(phase=Phase.SKIPPED, at=0), "changed nothing"),
        # 10.2 -> 10.1.2: below the documented floor; 10.2 -> 11.1 in one (standalone) hop: two releases back.
        (finished(start="10.1.2", path=("10.2.9",)), "only to 10.1.3 or later"),
        (finished(start="10.2.9", path=("11.1.4",)), "one feature release at a time"),
    ],
)
def test_refusals_say_why(record: DeviceRecord | None, words: str) -> None:
    refused = plan_rollback("001", record, peer_serial=None, peer=None, by="a", reason="", now=NOW)
    assert isinstance(refused, str) and words in refused, refused


def test_a_rollback_is_not_rolled_back_but_a_failed_one_runs_again() -> None:
    first = plan_rollback("001", finished(), peer_serial=None, peer=None, by="a", reason="", now=NOW)
    assert not isinstance(first, str)
    done = first.records[0].with_changes(phase=Phase.DONE, current_version="11.0.3")
    again = plan_rollback("001", done, peer_serial=None, peer=None, by="a", reason="", now=NOW)
    assert isinstance(again, str) and "already rolled back" in again
    failed = first.records[0].with_changes(phase=Phase.FAILED)
    retried = plan_rollback("001", failed, peer_serial=None, peer=None, by="a", reason="", now=NOW)
    assert not isinstance(retried, str)
    assert ("11.1.4", "11.0.3") == (retried.from_version, retried.to_version)


def test_an_ha_pair_goes_back_as_one_unit_or_not_at_all() -> None:
    a, b = finished("A", peer="B"), finished("B", peer="A")
    pair = plan_rollback("A", a, peer_serial="B", peer=b, by="a", reason="", now=NOW)
    assert not isinstance(pair, str) and pair.is_pair
    assert [("A", "B"), ("B", "A")] == [(r.serial, r.ha_peer) for r in pair.records]
    assert {("11.1.4", "11.0.3")} == {(r.starting_version, r.target_version) for r in pair.records}
    lonely = plan_rollback("A", a, peer_serial="B", peer=None, by="a", reason="", now=NOW)
    assert isinstance(lonely, str) and "its peer B cannot" in lonely
    apart = plan_rollback(
        "A", a, peer_serial="B", peer=finished("B", path=("11.0.3",), peer="A"), by="a", reason="", now=NOW
    )
    assert isinstance(apart, str) and "would go from 11.0.3 to 10.2.9" in apart


def test_group_candidates_are_finished_upgrades_of_the_group_one_per_pair() -> None:
    records = [
        finished("001"),
        finished("A", peer="B"),
        finished("B", peer="A"),
        finished("002", phase=Phase.FAILED),
        finished("003").with_changes(group_digest="sha256:older"),
        finished("004").with_changes(group="other"),
    ]
    assert ["001", "A"] == group_candidates(records, "dc", "sha256:g")


# -- the hold afterwards, as the planner sees it --------------------------------------------------------------


def _plan(record: DeviceRecord, target: str = "11.1.4") -> P.DevicePlan:
    group = {"name": "dc", "select": {"deviceGroups": ["dc"]}, "target": target}
    desired = build([{"apiVersion": "panos-upgrade/v1", "groups": [group]}])
    inv = Inventory.of(
        [
            Device(
                "001",
                "fw-001",
                sw_version=record.current_version,
                device_group="dc",
                device_type="standalone",
            )
        ]
    )
    result = plan(desired, inv, {"001": observed_of(record)}, {"001": progress_of(record)}, NOW)
    (device,) = result.devices
    return device


def _rolled_back(phase: Phase = Phase.DONE) -> DeviceRecord:
    planned = plan_rollback("001", finished(), peer_serial=None, peer=None, by="ann", reason="", now=NOW)
    assert not isinstance(planned, str)
    return planned.records[0].with_changes(phase=phase, current_version="11.0.3", started_at=T)


def test_the_plan_holds_a_device_rolled_back_until_released_or_the_target_changes() -> None:
    rec = _rolled_back()
    held = _plan(rec)
    assert (P.BLOCKED, P.HELD_REASON) == (held.action, held.reason)
    assert "rolled back from 11.1.4 to 11.0.3" in held.detail and "device release 001" in held.detail
    assert (P.UPGRADE, None) == (_plan(rec, "11.1.6-h1").action, _plan(rec, "11.1.6-h1").reason)
    assert (P.UPGRADE, None) == (
        _plan(released(rec, "ann", NOW)).action,
        _plan(released(rec, "ann", NOW)).reason,
    )


def test_a_rollback_in_progress_or_failed_is_not_steered_toward_the_target() -> None:
    moving = _plan(_rolled_back(Phase.INSTALL))
    assert (P.BLOCKED, P.HELD_REASON, True) == (moving.action, moving.reason, moving.in_progress)
    assert "rolling back from 11.1.4 to 11.0.3" in moving.detail
    failed = _plan(_rolled_back(Phase.FAILED).with_changes(current_version="11.1.4"))
    assert (P.BLOCKED, P.HELD_REASON) == (failed.action, failed.reason)
    assert "rollback from 11.1.4 to 11.0.3 failed" in failed.detail


def test_release_lifts_the_rollback_hold_on_the_status_file() -> None:
    rec = _rolled_back()
    request = operator_requests.OperatorRequest(
        "release",
        "device",
        ("001",),
        operator_requests.observation_for("release", "bob", ""),
        Path("cmd.json"),
        by="bob",
    )
    decision = operator_requests.decide(request, "001", rec, Inventory(), NOW)
    assert operator_requests.APPLIED == decision.outcome.result
    assert decision.record is not None and decision.record.rollback is not None
    assert ("bob", Phase.DONE) == (decision.record.rollback.released_by, decision.record.phase)
    again = operator_requests.decide(request, "001", decision.record, Inventory(), NOW)
    assert operator_requests.REFUSED == again.outcome.result


def test_panorama_is_not_rolled_back() -> None:
    refused = plan_rollback(
        "P",
        finished("P").with_changes(group="panorama"),
        peer_serial=None,
        peer=None,
        by="a",
        reason="",
        now=NOW,
    )
    assert isinstance(refused, str) and "Panorama is not rolled back" in refused
