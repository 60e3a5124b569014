"""The planner's inputs: Observed, DeviceProgress and its adapter from status files, work-dir sources."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.core.observed import Observed, parse_time
from reconciler.core.progress import CATEGORIES, DeviceProgress, category_of, progress_from_status
from reconciler.core.version import PanOsVersion
from reconciler.machine.records import ErrorInfo, HoldInfo, Mode, Phase, new_record
from reconciler.workdir import plan_inputs
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

V = PanOsVersion.parse
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "phase, category",
    [
        ("", "idle"),
        ("pending", "in_progress"),
        ("download_base", "in_progress"),
        ("Installing", "in_progress"),
        ("reboot", "in_progress"),
        ("something-new", "in_progress"),  # unknown phases never let new work start
        ("done", "done"),
        ("completed", "done"),
        ("downloaded", "done"),
        ("dry_run_complete", "idle"),
        ("skipped", "idle"),
        ("failed", "failed"),
        ("held", "held"),
        ("cancelled", "cancelled"),
        ("canceled", "cancelled"),
    ],
)
def test_category_of(phase: str, category: str) -> None:
    assert category_of(phase) == category


def test_adapter_reads_the_original_tool_style_fields_and_ignores_the_rest() -> None:
    p = progress_from_status(
        {
            "serial": "001",
            "upgrade_status": "failed",
            "target_version": "11.1.6-h1",
            "starting_version": "10.2.9",
            "desired_revision": "abc",
            "last_error": "install job 77 failed",
            "finished_at": "2026-11-28T01:00:00Z",
            "current_version": "10.2.9",
            "updated_at": "2026-11-28T01:00:00",
            "whatever": {"nested": True},
        }
    )
    assert p == DeviceProgress(
        "001",
        "failed",
        V("11.1.6-h1"),
        "abc",
        V("10.2.9"),
        "install job 77 failed",
        datetime(2026, 11, 28, 1, tzinfo=UTC),
        V("10.2.9"),
        datetime(2026, 11, 28, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "data, category, reason",
    [
        ({"upgrade_status": "install", "held": True, "hold_reason": "admin"}, "held", "admin"),
        ({"upgrade_status": "install", "cancelled": True}, "cancelled", ""),
        ({"category": "done"}, "done", ""),
        ({"phase_category": "bogus", "phase": "failed", "failed_reason": "x"}, "failed", "x"),
        ({"upgrade_status": "failed", "last_error": {"reason": "r", "message": "m"}}, "failed", "m"),
    ],
)
def test_adapter_variants(data: dict[str, object], category: str, reason: str) -> None:
    p = progress_from_status({"serial": "s", **data})
    assert (p.category, p.reason) == (category, reason)


def test_adapter_tolerates_garbage_values() -> None:
    p = progress_from_status(
        {"serial": "s", "target_version": 10.1, "finished_at": "yesterday", "starting_version": None}
    )
    assert p.target is None and p.finished_at is None and p.starting_version is None
    assert p.category == "idle"


def test_progress_refuses_unknown_categories_and_round_trips() -> None:
    with pytest.raises(ValueError, match="unknown progress category"):
        DeviceProgress("s", "running")
    for category in CATEGORIES:
        p = DeviceProgress("s", category, V("11.1.0"), "r", V("10.2.9"), "why", NOW, V("10.2.9"), NOW, True)
        assert DeviceProgress.from_json(p.to_json()) == p


# --- contract with the engine's device status record (reconciler.machine.records) -----------------------------


def record(**changes: object) -> dict[str, object]:
    base = new_record(
        serial="0111",
        starting_version="10.2.9",
        target_version="11.1.6-h1",
        hops=[],
        now=NOW,
        desired_revision="sha256:abc",
        mode=Mode(changes.pop("mode", Mode.UPGRADE)),
    )
    return base.with_changes(**changes).to_json()


def test_adapter_understands_the_engine_record() -> None:
    fresh = progress_from_status(record())
    assert (fresh.category, fresh.target, fresh.starting_version) == (
        "in_progress",
        V("11.1.6-h1"),
        V("10.2.9"),
    )
    assert fresh.desired_revision == "sha256:abc" and fresh.current_version == V("10.2.9")
    failed = progress_from_status(
        record(
            phase=Phase.FAILED,
            finished_at="2026-11-28T01:00:00.000Z",
            last_error=ErrorInfo(
                "install-failed", "install", "install job 12 failed", "2026-11-28T01:00:00.000Z"
            ),
        )
    )
    assert (failed.category, failed.reason) == ("failed", "install job 12 failed")
    assert failed.finished_at == datetime(2026, 11, 28, 1, tzinfo=UTC)
    held = progress_from_status(
        record(phase=Phase.HELD, hold=HoldInfo("admin", "takeover", "2026-11-28T01:00:00.000Z", "install"))
    )
    assert (held.category, held.reason) == ("held", "takeover")
    staged = progress_from_status(record(mode=Mode.DOWNLOAD_ONLY, phase=Phase.DOWNLOADED))
    assert (staged.category, staged.download_only) == ("done", True)


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


def test_load_status_skips_bad_files_and_reads_observations(tmp_path: Path) -> None:
    paths = WorkPaths(tmp_path)
    assert plan_inputs.load_status(paths).progress == {}
    paths.device_status_dir.mkdir(parents=True)
    (paths.device_status_dir / "A.json").write_text(json.dumps({"upgrade_status": "done"}))
    (paths.device_status_dir / "B.json").write_text(
        json.dumps({"serial": "B", "observed": Observed.of("11.1.4", reachable=False).to_json()})
    )
    (paths.device_status_dir / "C.json").write_text(
        json.dumps(record(downloaded_versions=("11.0.0", "11.1.0")))
    )
    (paths.device_status_dir / "D.json").write_text('{"serial": "D", "upgr')
    (paths.device_status_dir / "E.json").write_text("[1, 2]")
    snap = plan_inputs.load_status(paths)
    assert snap.progress["A"].category == "done"  # serial taken from the file name when absent
    assert snap.observed["B"].reachable is False
    assert snap.observed["0111"].downloaded == (V("11.0.0"), V("11.1.0"))
    assert sorted(Path(s.split(":")[0]).name for s in snap.skipped) == ["D.json", "E.json"]
