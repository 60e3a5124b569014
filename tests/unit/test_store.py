"""Atomic JSON writes, validated reads, and the append-only audit log."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from reconciler.core.errors import StoreError
from reconciler.workdir import store


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.json"
    store.atomic_write_json(target, {"a": [1, 2], "b": "ü"})
    assert {"a": [1, 2], "b": "ü"} == store.read_json(target)


def test_write_sets_the_requested_mode_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "secret.json"
    store.atomic_write_json(target, {"k": 1}, mode=0o600)
    assert 0o600 == stat.S_IMODE(target.stat().st_mode)
    assert ["secret.json"] == sorted(p.name for p in tmp_path.iterdir())


def test_torn_file_is_reported_with_its_name_and_line(tmp_path: Path) -> None:
    target = tmp_path / "torn.json"
    target.write_text('{\n  "a": 1,\n  "b": ')
    with pytest.raises(StoreError, match=r"torn\.json:3: invalid JSON"):
        store.read_json(target)
    assert '{\n  "a": 1,\n  "b": ' == target.read_text(), "a torn file is never silently replaced"


def test_schema_violation_is_reported(tmp_path: Path) -> None:
    target = tmp_path / "inventory.json"
    target.write_text(json.dumps({"format_version": 1, "devices": [{"serial": "../x"}]}))
    with pytest.raises(StoreError, match="does not match inventory schema"):
        store.read_json(target, schema="inventory")


def test_refuses_to_write_data_that_violates_its_schema(tmp_path: Path) -> None:
    target = tmp_path / "inventory.json"
    with pytest.raises(StoreError, match="refusing to write"):
        store.atomic_write_json(target, {"devices": "nope"}, schema="inventory")
    assert not target.exists()


def _writer(path: str, stop_at: float) -> None:
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        store.atomic_write_json(Path(path), {"n": n, "payload": "x" * (1000 + (n % 7) * 5000)})


def test_a_reader_racing_a_writer_never_sees_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    store.atomic_write_json(target, {"n": 0, "payload": ""})
    stop_at = time.monotonic() + 1.5
    proc = multiprocessing.get_context("fork").Process(target=_writer, args=(str(target), stop_at))
    proc.start()
    reads = 0
    seen = set()
    try:
        while time.monotonic() < stop_at and reads < 200_000:
            doc = json.loads(target.read_text())  # raises on a torn file
            seen.add(doc["n"])
            reads += 1
    finally:
        proc.join(timeout=10)
    assert proc.exitcode == 0
    assert reads > 100
    assert len(seen) > 5, "the writer really did replace the file while we read"


def test_audit_appends_one_json_object_per_line(tmp_path: Path) -> None:
    log = tmp_path / "audit" / "audit.jsonl"
    store.audit(log, "install", serial="001", version="11.1.6")
    store.audit(log, "reboot", serial="001")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert ["install", "reboot"] == [x["action"] for x in lines]
    assert "11.1.6" == lines[0]["version"]
    assert all("ts" in x for x in lines)


def test_audit_is_append_only_across_processes(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_audit_many, args=(str(log), i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=20)
    lines = log.read_text().splitlines()
    assert 4 * 200 == len(lines)
    assert all(json.loads(x)["action"] == "tick" for x in lines)


def _audit_many(path: str, worker: int) -> None:
    for i in range(200):
        store.audit(Path(path), "tick", worker=worker, i=i, pad="y" * 300)
    os._exit(0)
