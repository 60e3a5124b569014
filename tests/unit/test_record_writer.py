"""The record writer (issue 18.5): device records written on their own thread, the newest of a device's
queued records only, and ``settle`` as the gate a command waits at until its record is on disk."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.core.errors import StoreError
from reconciler.machine.records import DeviceRecord, Hop, new_record
from reconciler.workdir import record_store
from reconciler.workdir.layout import WorkPaths

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def record(serial: str, message: str = "") -> DeviceRecord:
    rec = new_record(
        serial=serial,
        starting_version="11.1.4",
        target_version="11.1.6-h1",
        hops=Hop.for_path("11.1.4", ["11.1.6-h1"]),
        now=NOW,
    )
    return rec.with_changes(message=message)


def test_settle_returns_once_the_newest_record_of_the_device_is_on_disk(tmp_path: Path) -> None:
    paths = WorkPaths(tmp_path)
    writer = record_store.RecordWriter(paths)
    for i in range(50):
        writer.save(record("0001", f"step {i}"))
        writer.save(record(f"1{i:03d}"))
    writer.settle("0001")
    assert record_store.load(paths.device_status_file("0001")).message == "step 49"
    assert writer.flush()
    assert len(record_store.load_all(paths).records) == 51
    writer.close()


def test_a_record_that_cannot_be_written_fails_settle_naming_the_file_and_others_are_written(
    tmp_path: Path,
) -> None:
    paths = WorkPaths(tmp_path)
    paths.device_status_dir.mkdir(parents=True)
    (paths.device_status_dir / "0002.json").mkdir()  # the rename over a directory fails
    writer = record_store.RecordWriter(paths)
    writer.save(record("0002"))
    writer.save(record("0003"))
    with pytest.raises(StoreError, match=r"0002\.json"):
        writer.settle("0002")
    writer.settle("0003")
    assert record_store.load(paths.device_status_file("0003")).serial == "0003"
    writer.close()


def test_settle_blocks_while_the_record_is_being_written(tmp_path: Path) -> None:
    """A command waits for its record: while the write is held up, settle does not return."""
    paths = WorkPaths(tmp_path)
    gate = threading.Event()
    real_save = record_store.save

    def slow_save(p: WorkPaths, rec: DeviceRecord) -> None:
        gate.wait(10)
        real_save(p, rec)

    writer = record_store.RecordWriter(paths)
    record_store.save = slow_save  # type: ignore[assignment]
    try:
        writer.save(record("0004"))
        settled = threading.Event()
        waiter = threading.Thread(target=lambda: (writer.settle("0004"), settled.set()))
        waiter.start()
        assert not settled.wait(0.3)
        assert not paths.device_status_file("0004").exists()
        gate.set()
        assert settled.wait(10)
        waiter.join(10)
        assert paths.device_status_file("0004").exists()
    finally:
        record_store.save = real_save  # type: ignore[assignment]
        gate.set()
        writer.close()


def test_a_closed_writer_refuses_records(tmp_path: Path) -> None:
    writer = record_store.RecordWriter(WorkPaths(tmp_path))
    writer.save(record("0005"))
    writer.close()
    assert (WorkPaths(tmp_path).device_status_file("0005")).exists()
    with pytest.raises(StoreError, match="closed"):
        writer.save(record("0005"))


def test_discard_waits_for_a_write_under_way_and_no_queued_record_brings_the_file_back(
    tmp_path: Path,
) -> None:
    """A lifted hold-only record is deleted: a write already running ends first, one still queued is
    dropped, so the file stays gone."""
    paths = WorkPaths(tmp_path)
    gate, entered = threading.Event(), threading.Event()
    real_save = record_store.save

    def slow_save(p: WorkPaths, rec: DeviceRecord) -> None:
        entered.set()
        gate.wait(10)
        real_save(p, rec)

    writer = record_store.RecordWriter(paths, threads=1)
    record_store.save = slow_save  # type: ignore[assignment]
    try:
        writer.save(record("0006", "first"))
        assert entered.wait(10)
        writer.save(record("0006", "second"))  # queued behind the write under way
        discarded = threading.Event()
        waiter = threading.Thread(target=lambda: (writer.discard("0006"), discarded.set()))
        waiter.start()
        assert not discarded.wait(0.3)  # the write under way is waited for
        gate.set()
        assert discarded.wait(10)
        waiter.join(10)
        assert writer.flush()
        assert not paths.device_status_file("0006").exists()
    finally:
        record_store.save = real_save  # type: ignore[assignment]
        gate.set()
        writer.close()
