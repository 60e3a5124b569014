"""The planner's inputs: Observed, DeviceProgress, the one way from an engine record to both, work-dir sources."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.core.observed import Observed, parse_time
from reconciler.core.progress import CATEGORIES, DeviceProgress
from reconciler.core.upgrade_path import PathHop
from reconciler.core.version import PanOsVersion
from reconciler.machine.plan_view import CATEGORY_OF_PHASE, observed_of, progress_of
from reconciler.machine.records import DeviceRecord, ErrorInfo, HoldInfo, Hop, Mode, Phase, new_record
from reconciler.workdir import plan_inputs, record_store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

V = PanOsVersion.parse
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "phase, category",
    [
        (Phase.PENDING, "in_progress"),
        (Phase.DOWNLOAD_BASE, "in_progress"),
        (Phase.INSTALL, "in_progress"),
        (Phase.REBOOT, "in_progress"),
        (Phase.NEXT_HOP, "in_progress"),
        (Phase.DONE, "done"),
        (Phase.DOWNLOADED, "done"),
        (Phase.DRY_RUN_COMPLETE, "idle"),
        (Phase.SKIPPED, "idle"),
        (Phase.FAILED, "failed"),
        (Phase.HELD, "held"),
        (Phase.CANCELLED, "cancelled"),
    ],
)
def test_category_of_each_phase(phase: Phase, category: str) -> None:
    assert category == progress_of(record(phase=phase)).category


def test_every_phase_has_a_category() -> None:
    assert set(Phase) == set(CATEGORY_OF_PHASE)
    assert set(CATEGORY_OF_PHASE.values()) <= set(CATEGORIES)


def test_progress_refuses_unknown_categories_and_round_trips() -> None:
    with pytest.raises(ValueError, match="unknown progress category"):
        DeviceProgress("s", "running")
    for category in CATEGORIES:
        p = DeviceProgress("s", category, V("11.1.0"), "r", V("10.2.9"), "why", NOW, V("10.2.9"), NOW, True)
        assert DeviceProgress.from_json(p.to_json()) == p


# --- the one way from the engine's record (reconciler.machine.records) to the planner's inputs -----------------


def record(**changes: object) -> DeviceRecord:
    base = new_record(
        serial="0111",
        starting_version="10.2.9",
        target_version="11.1.6-h1",
        hops=[Hop("11.1.0", ("11.1.0",)), Hop("11.1.6-h1", ("11.1.6-h1",))],
        now=NOW,
        desired_revision="sha256:abc",
        group_digest="g1",
        mode=Mode(changes.pop("mode", Mode.UPGRADE)),
    )
    return base.with_changes(**changes)


def test_progress_of_a_fresh_record() -> None:
    assert DeviceProgress(
        "0111",
        "in_progress",
        target=V("11.1.6-h1"),
        desired_revision="sha256:abc",
        starting_version=V("10.2.9"),
        current_version=V("10.2.9"),
        updated_at=NOW,
        resting=True,
        group_digest="g1",
        hops=(PathHop(V("11.1.0"), (V("11.1.0"),)), PathHop(V("11.1.6-h1"), (V("11.1.6-h1"),))),
    ) == progress_of(record())


def test_progress_of_failed_held_staged_and_half_done_records() -> None:
    error = ErrorInfo("install-failed", "install", "install job 12 failed", "2026-11-28T01:00:00.000Z")
    failed = progress_of(record(phase=Phase.FAILED, finished_at="2026-11-28T01:00:00.000Z", last_error=error))
    assert ("failed", "install job 12 failed", datetime(2026, 11, 28, 1, tzinfo=UTC), False) == (
        failed.category,
        failed.reason,
        failed.finished_at,
        failed.resting,
    )
    no_message = progress_of(
        record(phase=Phase.FAILED, last_error=ErrorInfo("reboot-timeout", "reboot", "", ""))
    )
    assert "reboot-timeout" == no_message.reason, "the reason code when the error has no message"
    hold = HoldInfo("admin", "takeover", "2026-11-28T01:00:00.000Z", "install")
    held = progress_of(record(phase=Phase.HELD, hold=hold))
    assert ("held", "takeover") == (held.category, held.reason)
    held_pending = progress_of(record(hold=hold))
    assert "held" == held_pending.category, "a hold record is a hold whatever the phase"
    staged = progress_of(record(mode=Mode.DOWNLOAD_ONLY, phase=Phase.DOWNLOADED))
    assert ("done", True) == (staged.category, staged.download_only)
    half = progress_of(record(phase=Phase.INSTALL, current_path_index=1))
    assert ((V("11.1.6-h1"),), False) == (tuple(h.version for h in half.hops), half.resting)


def test_a_dry_run_record_is_no_progress_but_its_hold_is_a_hold() -> None:
    error = ErrorInfo("preflight-failed", "preflight", "disk", "2026-11-28T01:00:00.000Z")
    rehearsal = record(mode=Mode.DRY_RUN, phase=Phase.FAILED, last_error=error, current_version="10.2.10")
    assert DeviceProgress("0111", current_version=V("10.2.10"), updated_at=NOW) == progress_of(rehearsal)
    hold = HoldInfo("admin", "takeover", "2026-11-28T01:00:00.000Z", "preflight")
    assert "held" == progress_of(record(mode=Mode.DRY_RUN, phase=Phase.HELD, hold=hold)).category


def test_observed_of_a_record() -> None:
    rec = record(current_version="11.1.0", downloaded_versions=("11.1.6-h1", "11.1.0"))
    assert Observed.of("11.1.0", downloaded=["11.1.0", "11.1.6-h1"]) == observed_of(rec)
    assert Observed(downloaded=()) == observed_of(record(current_version=""))


# --- Observed -------------------------------------------------------------------------------------------


def test_observed_round_trip_and_offered() -> None:
    obs = Observed.of(
        "11.1.4", available=["11.1.6-h1", "11.1.4", "junk"], downloaded=["11.1.5"], ha_state="passive"
    )
    assert obs.available == (V("11.1.4"), V("11.1.6-h1"))
    assert obs.offered() == (V("11.1.4"), V("11.1.5"), V("11.1.6-h1"))
    assert Observed.from_json(obs.to_json()) == obs
    assert Observed().offered() is None
    assert Observed.from_json({}) == Observed()


def test_parse_time() -> None:
    assert parse_time("2026-11-28T02:00:00Z") == NOW
    assert parse_time("2026-11-28T02:00:00") == NOW
    assert parse_time(datetime(2026, 11, 28, 2)) == NOW
    assert parse_time("") is None and parse_time(12) is None and parse_time("not a time") is None


# --- reading a work directory ---------------------------------------------------------------------------


def test_desired_path_order(tmp_path: Path) -> None:
    paths = WorkPaths(tmp_path)
    assert plan_inputs.desired_path(paths, Config({})) == tmp_path / "desired"
    assert (
        plan_inputs.desired_path(paths, Config({"desired.path": "gitops/fleet"})) == tmp_path / "gitops/fleet"
    )
    assert plan_inputs.desired_path(paths, Config({"desired.path": "/srv/desired"})) == Path("/srv/desired")
    assert plan_inputs.desired_path(paths, Config({"desired.path": "x"}), "flag.yaml") == Path("flag.yaml")


def test_load_status_reads_records_as_the_engine_does_and_holds_what_it_cannot_use(tmp_path: Path) -> None:
    paths = WorkPaths(tmp_path)
    assert plan_inputs.load_status(paths).progress == {}
    done = record(phase=Phase.DONE, current_version="11.1.6-h1", downloaded_versions=("11.1.6-h1",))
    record_store.save(paths, done)
    (paths.device_status_dir / "D.json").write_text('{"serial": "D", "upgr')
    (paths.device_status_dir / "E.json").write_text("[1, 2]")
    # Not the engine's record (an alias-only document, an ``observed`` key the schema forbids): skipped.
    (paths.device_status_dir / "F.json").write_text(
        json.dumps({"serial": "F", "upgrade_status": "done", "observed": Observed.of("11.1.4").to_json()})
    )
    snap = plan_inputs.load_status(paths)
    assert progress_of(done) == snap.progress["0111"]
    assert {"0111": observed_of(done)} == snap.observed
    held = {s: (p.category, p.reason.split(":")[0]) for s, p in snap.progress.items() if s != "0111"}
    assert dict.fromkeys("DEF", ("held", "status file unusable")) == held, "left alone, as the engine does"
    assert ["D.json", "E.json", "F.json"] == sorted(Path(s.split(":")[0]).name for s in snap.skipped)
