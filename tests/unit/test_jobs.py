"""Job files: ids, the model, all-or-nothing submission, the engine's intake of pending files, the queue."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.core.errors import InputFileError, UserError
from reconciler.core.inventory import Device, Inventory
from reconciler.jobs import queue
from reconciler.machine.records import Mode
from reconciler.workdir import schemas
from reconciler.workdir.layout import QUEUE_STATES, WorkPaths

NOW = datetime(2025, 11, 21, 12, 0, 5, tzinfo=UTC)
INV = Inventory.of(
    [
        Device("001234567890", "fw-a", "127.0.0.1", "PA-440", "10.2.9", "edge", "standalone", "standalone"),
        Device("001234567891", "fw-b", "127.0.0.2", "PA-440", "11.1.4", "edge", "standalone", "standalone"),
        Device("007001", "dc-1", "127.0.0.3", "PA-3220", "10.2.9", "dc", "ha_pair", "active", "007002"),
        Device("007002", "dc-2", "127.0.0.4", "PA-3220", "10.2.9", "dc", "ha_pair", "passive", "007001"),
    ]
)


@pytest.fixture
def wp(tmp_path: Path) -> WorkPaths:
    paths = WorkPaths(tmp_path / "work")
    for d in paths.directories():
        d.mkdir(parents=True, exist_ok=True)
    return paths


def spec(job_id: str = "job-1", *devices: str, **kw: object) -> queue.JobSpec:
    devs = devices or ("001234567890",)
    kind = queue.HA_PAIR if len(devs) == 2 else queue.STANDALONE
    return queue.JobSpec(job_id=job_id, type=kind, devices=tuple(devs), **kw)  # type: ignore[arg-type]


def drop(wp: WorkPaths, name: str, data: object, state: str = "pending") -> Path:
    path = wp.queue(state) / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_generated_ids_are_safe_and_timestamped() -> None:
    assert "job-20251121-120005-abc123" == queue.new_job_id(NOW, "abc123")
    generated = queue.new_job_id(NOW)
    assert generated.startswith("job-20251121-120005-") and len(generated) == len("job-20251121-120005-") + 6
    assert generated == queue.check_job_id(generated)


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", ".hidden", "", "a..b", "x" * 129, "job id", "-x"])
def test_unsafe_job_ids_are_refused(bad: str) -> None:
    with pytest.raises(UserError, match="invalid job id"):
        queue.check_job_id(bad)


def test_spec_round_trip_and_the_original_tools_download_only_type() -> None:
    s = spec(
        "j", dry_run=True, target_version="11.1.6-h1", created_at="2025-11-21T12:00:00Z", submitted_by="me"
    )
    assert [] == schemas.errors("job-file", s.to_json())
    assert s == queue.JobSpec.from_json(s.to_json())
    assert Mode.DRY_RUN is s.mode
    legacy = {"job_id": "web-1", "type": "download_only", "devices": ["001234567890"], "ha_pair_name": ""}
    assert [] == schemas.errors("job-file", legacy)
    read = queue.JobSpec.from_json(legacy)
    assert (queue.STANDALONE, True, Mode.DOWNLOAD_ONLY) == (read.type, read.download_only, read.mode)
    assert "download-only" == read.kind_text


def test_submit_writes_schema_valid_files_and_no_temp_files(wp: WorkPaths) -> None:
    written = queue.submit(wp, [spec("job-1"), spec("job-2", "007002", "007001")], INV)
    assert [wp.queue("pending") / "job-1.json", wp.queue("pending") / "job-2.json"] == written
    for path in written:
        data = json.loads(path.read_text())
        assert [] == schemas.errors("job-file", data)
    assert ["job-1.json", "job-2.json"] == sorted(os.listdir(wp.queue("pending")))
    assert ("007002", "007001") == queue.find(wp, "job-2").spec.devices  # type: ignore[union-attr]


def test_submit_is_all_or_nothing_and_lists_every_problem(wp: WorkPaths) -> None:
    drop(wp, "old.json", spec("old", "001234567891").to_json(), "completed")
    drop(wp, "busy.json", spec("busy", "007001", "007002").to_json(), "active")
    batch = [
        spec("fine"),
        spec("old", "001234567890"),
        spec("pair", "007001", "007002"),
        spec("member", "007001"),
        spec("ghost", "404"),
        spec("notpair", "001234567890", "001234567891"),
        spec("down", "001234567891", target_version="10.2.9"),
        spec("again", "001234567890"),
    ]
    with pytest.raises(InputFileError) as info:
        queue.submit(wp, batch, INV)
    assert [
        "job old: job id already used (see 'panos-upgrade job show old')",
        "job old: serial '001234567890' is also in job fine",
        "job pair: serial '007001' is already in active job busy; wait for it or cancel it first "
        "('panos-upgrade job cancel busy')",
        "job member: serial '007001' is a member of an HA pair (peer 007002); both members are upgraded "
        "together: use 'panos-upgrade job submit --ha-pair 007001 007002'",
        "job member: serial '007001' is already in active job busy; wait for it or cancel it first "
        "('panos-upgrade job cancel busy')",
        "job member: serial '007001' is also in job pair",
        "job ghost: serial '404' is not in the inventory (run 'panos-upgrade device discover')",
        "job notpair: '001234567890' and '001234567891' are not an HA pair in the inventory "
        "(001234567890 is standalone, 001234567891 is standalone)",
        "job notpair: serial '001234567890' is also in job fine",
        "job down: target 10.2.9 is below 001234567891's current version 11.1.4 (downgrades are refused)",
        "job down: serial '001234567891' is also in job notpair",
        "job again: serial '001234567890' is also in job fine",
    ] == info.value.errors
    assert [] == os.listdir(wp.queue("pending")), "nothing written, not even temp files"


def test_submit_refuses_an_unsafe_or_duplicate_id(wp: WorkPaths) -> None:
    with pytest.raises(InputFileError, match=r"^invalid job id .\.\./x.*; nothing queued$"):
        queue.submit(wp, [spec("../x")], INV)
    queue.submit(wp, [spec("job-1")], INV)
    with pytest.raises(InputFileError) as info:
        queue.submit(wp, [spec("job-1", "001234567891")], INV)
    assert ["job job-1: job id already used (see 'panos-upgrade job show job-1')"] == info.value.errors


def test_queue_listing_moves_and_rejected_reasons(wp: WorkPaths) -> None:
    queue.submit(wp, [spec("a"), spec("b", "001234567891")], INV)
    assert wp.queue("active") / "a.json" == queue.move(wp, "a", "active")
    assert wp.queue("cancelled") / "a.json" == queue.mark_cancelled(wp, "a")
    assert queue.mark_cancelled(wp, "a") is None, "already finished"
    queue.reject(wp, "b", "refused: managed by the desired state toward 11.1.6")
    found = {j.job_id: j for j in queue.queued(wp)}
    assert {"a": "cancelled", "b": "rejected"} == {k: v.state for k, v in found.items()}
    assert "refused: managed by the desired state toward 11.1.6" == found["b"].reason
    assert found["b"].spec is not None
    with pytest.raises(UserError, match="no job 'zzz'"):
        queue.move(wp, "zzz", "active")
    with pytest.raises(UserError, match="invalid job id"):
        queue.find(wp, "../../etc/passwd")


def test_read_pending_accepts_good_files_and_rejects_the_rest_with_reasons(wp: WorkPaths) -> None:
    good = {"job_id": "web-job-123", "type": "standalone", "devices": ["001234567890"], "dry_run": False}
    drop(wp, "web-job-123.json", good)
    drop(wp, "misnamed.json", {**good, "job_id": "other-id", "devices": ["001234567891"]})
    drop(wp, "dup.json", {**good, "job_id": "dup", "devices": ["001234567891"]})
    drop(wp, "dup.json", {**good, "job_id": "dup"}, "completed")
    drop(wp, "ghost.json", {**good, "job_id": "ghost", "devices": ["404"]})
    drop(wp, "same-device.json", {**good, "job_id": "same-device"})
    drop(wp, "torn.json", '{"job_id": "torn", "type": ')
    drop(wp, "pair.json", {"job_id": "pair", "type": "ha_pair", "devices": ["007001", "007002"]})
    accepted = queue.read_pending(wp, INV)
    assert ["pair", "web-job-123"] == sorted(s.job_id for s in accepted)
    reasons = {
        p.name.removesuffix(".reason"): p.read_text().strip()
        for p in wp.queue("rejected").iterdir()
        if p.name.endswith(".reason")
    }
    assert reasons == {
        "misnamed.json": "misnamed.json: file name must be other-id.json (the job id)",
        "dup.json": "dup.json: job id dup already used (queue/completed)",
        "ghost.json": "ghost.json: serial '404' is not in the inventory (run 'panos-upgrade device discover')",
        "same-device.json": "same-device.json: serial '001234567890' is already in pending job web-job-123; "
        "wait for it or cancel it first ('panos-upgrade job cancel web-job-123')",
        "torn.json": "torn.json:1: invalid JSON: Expecting value",
    }
    assert ["pair.json", "web-job-123.json"] == sorted(os.listdir(wp.queue("pending")))


def test_every_queue_state_is_a_folder(wp: WorkPaths) -> None:
    assert set(QUEUE_STATES) == {"pending", "active", "completed", "failed", "cancelled", "rejected"}
    for state in QUEUE_STATES:
        assert wp.queue(state).is_dir()
