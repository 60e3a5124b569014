"""Dropped job/command files: every kind of bad file is rejected with a reason and no other effect."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.jobs import intake

GOOD_JOB = {"job_id": "web-job-123", "type": "standalone", "devices": ["001234567890"], "dry_run": False}


def drop(directory: Path, name: str, content: str | bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


def test_good_job_file_is_read(tmp_path: Path) -> None:
    p = drop(tmp_path, "web-job-123.json", json.dumps(GOOD_JOB))
    assert GOOD_JOB == intake.read(p, "job-file").data


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"job_id": "x", "type": "standalone", "devices": ["1"]', "invalid JSON"),
        ("[1, 2]", "top level must be a JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
        (json.dumps({**GOOD_JOB, "job_id": "../../etc/passwd"}), "job_id"),
        (json.dumps({**GOOD_JOB, "devices": "001234567890"}), "devices"),
        (json.dumps({**GOOD_JOB, "type": "cluster"}), "type"),
        (json.dumps({**GOOD_JOB, "surprise": 1}), "Additional properties"),
        (json.dumps({**GOOD_JOB, "type": "ha_pair"}), "too short"),
        (json.dumps({**GOOD_JOB, "target_version": "10.10"}), "target_version"),
        ("x" * (intake.MAX_BYTES + 10), "limit"),
    ],
)
def test_bad_job_files_are_rejected_with_a_reason(tmp_path: Path, content: str | bytes, reason: str) -> None:
    p = drop(tmp_path / "pending", "bad.json", content)
    with pytest.raises(intake.Rejected, match=reason):
        intake.read(p, "job-file")


def test_symlink_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(GOOD_JOB))
    pending = tmp_path / "pending"
    pending.mkdir()
    link = pending / "link.json"
    link.symlink_to(outside)
    with pytest.raises(intake.Rejected, match="symbolic link"):
        intake.read(link, "job-file")
    dest = intake.reject(link, tmp_path / "rejected", "symbolic link")
    assert dest.is_symlink() and not link.exists()
    assert json.dumps(GOOD_JOB) == outside.read_text(), "the link's target was neither moved nor changed"


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give a file to another user")
def test_file_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    p = drop(tmp_path, "j.json", json.dumps(GOOD_JOB))
    os.chown(p, 12345, 12345)
    with pytest.raises(intake.Rejected, match="owned by uid 12345"):
        intake.read(p, "job-file")


def test_file_owned_by_someone_else_is_refused_for_any_user(tmp_path: Path) -> None:
    p = drop(tmp_path, "j.json", json.dumps(GOOD_JOB))
    with pytest.raises(intake.Rejected, match="owned by uid"):
        intake.read(p, "job-file", allowed_uids=(os.getuid() + 1,))


def test_directory_and_wrong_suffix_are_refused(tmp_path: Path) -> None:
    (tmp_path / "d.json").mkdir()
    with pytest.raises(intake.Rejected, match="not a regular file"):
        intake.read(tmp_path / "d.json", "job-file")
    with pytest.raises(intake.Rejected, match=r"not a \.json file"):
        intake.read(drop(tmp_path, "job.txt", "{}"), "job-file")


def test_reject_moves_the_file_and_writes_a_reason_without_overwriting(tmp_path: Path) -> None:
    rejected = tmp_path / "rejected"
    first = intake.reject(drop(tmp_path / "p", "a.json", "1"), rejected, "first")
    second = intake.reject(drop(tmp_path / "p", "a.json", "2"), rejected, "second")
    assert first != second
    assert ("1", "2") == (first.read_text(), second.read_text())
    assert "second\n" == Path(str(second) + ".reason").read_text()


def test_pending_files_skip_temp_and_reason_files(tmp_path: Path) -> None:
    drop(tmp_path, ".tmp-writing.json", "{}")
    drop(tmp_path, "a.json", "{}")
    drop(tmp_path, "b.txt", "{}")
    drop(tmp_path, "a.json.reason", "x")
    assert ["a.json", "b.txt"] == sorted(p.name for p in intake.pending_files(tmp_path))


def test_command_file_shapes(tmp_path: Path) -> None:
    ok = {"command": "cancel_upgrade", "target": "job", "job_id": "web-job-123", "reason": "Admin takeover"}
    assert ok == intake.read(drop(tmp_path, "c.json", json.dumps(ok)), "command-file").data
    with pytest.raises(intake.Rejected, match="job_id"):
        intake.read(
            drop(tmp_path, "d.json", json.dumps({"command": "cancel_upgrade", "target": "job"})),
            "command-file",
        )
    with pytest.raises(intake.Rejected, match="serial"):
        intake.read(drop(tmp_path, "e.json", json.dumps({"command": "hold"})), "command-file")
    with pytest.raises(intake.Rejected, match="command"):
        intake.read(
            drop(tmp_path, "f.json", json.dumps({"command": "format_disk", "serial": "1"})), "command-file"
        )
