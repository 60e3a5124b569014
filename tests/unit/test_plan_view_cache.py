"""The cache of the planner's view of status files (``plan_view_cache``): ``load_status`` with it gives
exactly what reading every file gives, whatever happened to the files or to the cache in between."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.observed import Observed
from reconciler.core.progress import CATEGORIES, DeviceProgress
from reconciler.core.upgrade_path import PathHop
from reconciler.core.version import PanOsVersion
from reconciler.machine.plan_view import observed_of, progress_of
from reconciler.machine.records import DeviceRecord
from reconciler.workdir import plan_inputs, plan_view_cache, record_store, store
from reconciler.workdir.layout import WorkPaths
from tests.unit.test_records import records
from tests.unit.test_records import sample as sample_record

AN_HOUR_NS = 3600 * 10**9


def sample(serial: str = "007054000123") -> DeviceRecord:
    return dataclasses.replace(sample_record(), serial=serial)


def snapshot(paths: WorkPaths, *, cached: bool) -> str:
    """``load_status`` in every detail: the order of its mappings (the planner iterates them), and what
    equality forgives (a time's offset, say)."""
    snap = plan_inputs.load_status(paths, cached=cached)
    return repr((list(snap.progress.items()), list(snap.observed.items()), snap.skipped))


def work(tmp: Path) -> WorkPaths:
    paths = WorkPaths(tmp)
    paths.device_status_dir.mkdir(parents=True, exist_ok=True)
    return paths


class Files:
    """Writes status files with a distinct modification time each: a rewrite in the same clock tick as the
    one before, on a reused inode, would otherwise look unchanged once the racy margin is switched off
    (which these tests do, to cache files written a moment ago)."""

    def __init__(self, paths: WorkPaths) -> None:
        self.paths = paths
        self.stamp = 1_600_000_000 * 10**9

    def write(self, name: str, data: bytes) -> None:
        file = self.paths.device_status_dir / name
        tmp = file.with_name(f".{name}.tmp")
        tmp.write_bytes(data)
        self.stamp += 1_000
        os.utime(tmp, ns=(self.stamp, self.stamp))
        tmp.replace(file)

    def record(self, name: str, record: DeviceRecord) -> None:
        self.write(name, json.dumps(record.to_json(), indent=2).encode())


# -- the codec ---------------------------------------------------------------------------------------------------


def test_the_codec_knows_every_field_of_the_planners_inputs() -> None:
    """A field added to DeviceProgress or Observed must be added to the codec (and changes the fingerprint,
    so old caches are dropped)."""
    assert [f.name for f in dataclasses.fields(DeviceProgress)] == [
        "serial", "category", "target", "desired_revision", "starting_version", "reason", "finished_at",
        "current_version", "updated_at", "download_only", "resting", "group_digest", "hops",
        "rolled_back_from", "rollback_holds",
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(Observed)] == [
        "version", "available", "downloaded", "reachable", "ha_state", "ha_synced", "observed_at",
    ]  # fmt: skip


VERSION = st.sampled_from(["9.1.0-b1", "10.2.9", "10.2.10-h3", "11.0.0", "11.1.6-c2", "12.1.2"]).map(
    PanOsVersion.parse
)
OPT_VERSION = st.none() | VERSION
TIME = st.none() | st.datetimes(  # as parse_time makes them: fold 0
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))]
    ),
).map(lambda t: t.replace(fold=0))
TEXT = st.text(max_size=12)
VERSIONS = st.lists(VERSION, max_size=3).map(tuple)
PROGRESS = st.builds(
    DeviceProgress,
    serial=TEXT,
    category=st.sampled_from(CATEGORIES),
    target=OPT_VERSION,
    desired_revision=TEXT,
    starting_version=OPT_VERSION,
    reason=TEXT,
    finished_at=TIME,
    current_version=OPT_VERSION,
    updated_at=TIME,
    download_only=st.booleans(),
    resting=st.booleans(),
    group_digest=TEXT,
    hops=st.lists(st.builds(PathHop, VERSION, VERSIONS), max_size=3).map(tuple),
    rolled_back_from=OPT_VERSION,
    rollback_holds=OPT_VERSION,
)
OBSERVED = st.builds(
    Observed,
    version=OPT_VERSION,
    available=st.none() | VERSIONS,
    downloaded=st.none() | VERSIONS,
    reachable=st.booleans(),
    ha_state=st.none() | TEXT,
    ha_synced=st.none() | st.booleans(),
    observed_at=TIME,
)


def same(a: object, b: object) -> bool:
    """Equal, and equal in every detail equality forgives (a time's offset, say)."""
    return a == b and repr(a) == repr(b)


@settings(max_examples=300, deadline=None)
@given(PROGRESS, OBSERVED)
def test_the_codec_round_trips_through_json(progress: DeviceProgress, observed: Observed) -> None:
    encoded = json.loads(json.dumps(plan_view_cache.encode(progress, observed)))
    assert same((progress, observed), plan_view_cache.decode(*encoded))


@settings(max_examples=200, deadline=None)
@given(records())
def test_the_codec_round_trips_every_records_view(record: DeviceRecord) -> None:
    view = (progress_of(record), observed_of(record))
    assert same(view, plan_view_cache.decode(*json.loads(json.dumps(plan_view_cache.encode(*view)))))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p, o: (p[:-1], o),
        lambda p, o: ([*p[:2], "10.2", *p[3:]], o),
        lambda p, o: ([*p[:6], "2026-01-01T00:00:00", *p[7:]], o),
        lambda p, o: ([*p[:9], 1, *p[10:]], o),
        lambda p, o: ([*p[:12], [["10.2.9"]], *p[13:]], o),
        lambda p, o: ([*p[:12], "10.2.9", *p[13:]], o),
        lambda p, o: ([*p[:12], 0, *p[13:]], o),
        lambda p, o: (p, [*o[:2], 0, *o[3:]]),
        lambda p, o: (p, [*o[:2], "10.2.9,", *o[3:]]),
        lambda p, o: (p, [*o[:2], ["10.2.9"], *o[3:]]),
        lambda p, o: ([None, *p[1:]], o),
        lambda p, o: (p, {"version": None}),
        lambda p, o: (p, [*o[:2], "10.2.9,10.2", *o[3:]]),
        lambda p, o: ([*p[:1], "exploding", *p[2:]], o),
    ],
)
def test_the_codec_refuses_what_it_did_not_write(mangle: Any) -> None:
    progress, observed = json.loads(json.dumps(plan_view_cache.encode(*views_of(sample()))))
    with pytest.raises((ValueError, TypeError)):
        plan_view_cache.decode(*mangle(progress, observed))


def views_of(record: DeviceRecord) -> tuple[DeviceProgress, Observed]:
    return progress_of(record), observed_of(record)


# -- when an entry is used ---------------------------------------------------------------------------------------


def test_an_unchanged_file_is_not_read_again_and_a_changed_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = work(tmp_path)
    files = Files(paths)
    files.record("A.json", sample(serial="A"))
    files.record("B.json", sample(serial="B"))
    monkeypatch.setattr(plan_view_cache, "RACY_MARGIN_NS", -AN_HOUR_NS)
    first = snapshot(paths, cached=True)
    assert paths.plan_view_cache_file.is_file()
    read: list[str] = []
    real = record_store.load_reported

    def counting(file: Path) -> DeviceRecord | str:
        read.append(file.name)
        return real(file)

    monkeypatch.setattr(record_store, "load_reported", counting)
    assert snapshot(paths, cached=True) == first
    assert read == []
    # the same size, another content: the modification time tells
    changed = sample(serial="B").with_changes(desired_revision="abc124")
    assert len(json.dumps(changed.to_json())) == len(json.dumps(sample(serial="B").to_json()))
    files.record("B.json", changed)
    assert "abc124" not in first
    assert "abc124" in snapshot(paths, cached=True)
    assert read == ["B.json"]
    assert snapshot(paths, cached=True) == snapshot(paths, cached=False)


def test_a_file_changed_within_the_racy_margin_is_not_cached(tmp_path: Path) -> None:
    paths = work(tmp_path)
    record_store.save(paths, sample(serial="A"))  # just now: its times may be those of its next rewrite
    plan_inputs.load_status(paths)
    assert (
        not paths.plan_view_cache_file.exists() or b'"A.json"' not in paths.plan_view_cache_file.read_bytes()
    )
    now = datetime.now(UTC).timestamp()
    view = plan_view_cache.load(paths, clock_ns=lambda: int((now + 3) * 10**9))
    assert view.views == (views_of(sample(serial="A")),)
    assert b'"A.json"' in paths.plan_view_cache_file.read_bytes()


def test_an_unusable_file_is_never_cached_and_reported_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    paths = work(tmp_path)
    files = Files(paths)
    files.write("A.json", b'{"format_version": 1, ')
    monkeypatch.setattr(plan_view_cache, "RACY_MARGIN_NS", -AN_HOUR_NS)
    for _ in range(2):
        caplog.clear()
        snap = plan_inputs.load_status(paths)
        assert snap.skipped == (f"{paths.device_status_dir / 'A.json'}: {paths.device_status_dir / 'A.json'}:1: "
                                "invalid JSON: Expecting property name enclosed in double quotes",)  # fmt: skip
        assert "A.json" in caplog.text
    assert not paths.plan_view_cache_file.exists()  # nothing to keep


def forge(paths: WorkPaths, *, fingerprint: str | None = None, checksum: bool = True) -> None:
    """Change a reason in the cache (as a corrupted disk could), with a right checksum or not."""
    head, body = paths.plan_view_cache_file.read_text().split("\n", 1)
    entries = json.loads(body)
    for entry in entries.values():
        entry[4][5] = "forged"
    text = json.dumps(entries, separators=(",", ":"))
    header = json.loads(head)
    if fingerprint is not None:
        header["fingerprint"] = fingerprint
    if checksum:
        header["checksum"] = plan_view_cache._checksum(text.encode())
    paths.plan_view_cache_file.write_text(json.dumps(header) + "\n" + text + "\n")


@pytest.mark.parametrize("fingerprint, checksum", [("0123", True), (None, False)])
def test_a_cache_of_other_code_or_with_a_wrong_checksum_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fingerprint: str | None, checksum: bool
) -> None:
    paths = work(tmp_path)
    Files(paths).record("A.json", sample(serial="A"))
    monkeypatch.setattr(plan_view_cache, "RACY_MARGIN_NS", -AN_HOUR_NS)
    plan_inputs.load_status(paths)
    forge(paths, fingerprint=fingerprint, checksum=checksum)
    assert "forged" not in snapshot(paths, cached=True)
    assert snapshot(paths, cached=True) == snapshot(paths, cached=False)
    forge(paths)  # the test's own check: such a change with the right checksum is believed
    assert "forged" in snapshot(paths, cached=True)


def test_the_fingerprint_is_the_codes() -> None:
    assert plan_view_cache.code_fingerprint() == plan_view_cache.code_fingerprint.__wrapped__()
    assert len(plan_view_cache.code_fingerprint()) == 32


def test_a_work_directory_it_may_not_write_is_read_without_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = work(tmp_path)
    Files(paths).record("A.json", sample(serial="A"))
    monkeypatch.setattr(plan_view_cache, "RACY_MARGIN_NS", -AN_HOUR_NS)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(store, "atomic_write_text", refuse)
    assert snapshot(paths, cached=True) == snapshot(paths, cached=False)
    assert not paths.plan_view_cache_file.exists()


# -- the property: cached == uncached, over random histories ------------------------------------------------------

NAMES = st.sampled_from(["A", "B", "C", "D"])
CORRUPT = st.sampled_from(
    [
        b'{"format_version": 1, ',
        b"[]",
        b'{"format_version": 1}',
        b"\xff\xfe",
        json.dumps({**sample().to_json(), "hops": 3}).encode(),
    ]
)


def cache_damage(kind: str, paths: WorkPaths) -> None:
    file = paths.plan_view_cache_file
    if not file.exists():
        return
    data = file.read_bytes()
    if kind == "truncate":
        file.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        file.write_bytes(b"\x00\xff" + data[3:])
    elif kind == "flip":  # a byte of the entries, the checksum left as it was
        i = len(data) * 3 // 4
        file.write_bytes(data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :])
    elif kind == "entries":  # every entry undecodable, the checksum made right: each file is read again
        try:  # a cache already damaged by an earlier step (nothing read it since) stays as it is
            head, body = data.split(b"\n", 1)
            header, cached = json.loads(head), json.loads(body)
        except ValueError:
            return
        if not isinstance(header, dict) or not isinstance(cached, dict):
            return
        junk: list[Any] = [5, {}, "x", None, [1, 2], {"0": 1}]
        entries = {
            name: [*e[:4], "bad", None] if i % 2 and isinstance(e, list) else junk[i % len(junk)]
            for i, (name, e) in enumerate(cached.items())
        }
        text = json.dumps(entries, separators=(",", ":"))
        header = {**header, "checksum": plan_view_cache._checksum(text.encode())}
        file.write_text(json.dumps(header) + "\n" + text + "\n")
    elif kind == "remove":
        file.unlink()


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("record"), NAMES, NAMES, records()),
        st.tuples(st.just("corrupt"), NAMES, CORRUPT),
        st.tuples(st.just("remove"), NAMES),
        st.tuples(st.just("other"), NAMES),  # a file that is not a status file
        st.tuples(st.just("cache"), st.sampled_from(["truncate", "garbage", "flip", "entries", "remove"])),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPERATIONS)
def test_the_cached_snapshot_is_the_uncached_one_over_random_histories(
    tmp_path_factory: pytest.TempPathFactory, operations: list[tuple[Any, ...]]
) -> None:
    paths = work(tmp_path_factory.mktemp("work"))
    files = Files(paths)
    real = record_store.load_reported
    read: list[Path] = []

    def counting(file: Path) -> DeviceRecord | str:
        read.append(file)
        return real(file)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plan_view_cache, "RACY_MARGIN_NS", -AN_HOUR_NS)  # cache what was written a moment ago
        for op, *args in operations:
            if op == "record":
                name, serial, record = args
                files.record(f"{name}.json", dataclasses.replace(record, serial=serial))
            elif op == "corrupt":
                files.write(f"{args[0]}.json", args[1])
            elif op == "remove":
                (paths.device_status_dir / f"{args[0]}.json").unlink(missing_ok=True)
            elif op == "other":
                files.write(f"{args[0]}.json.tmp", b"{}")
            else:
                cache_damage(args[0], paths)
            expected = snapshot(paths, cached=False)
            assert snapshot(paths, cached=True) == expected  # files changed since the cache was written
            read.clear()
            mp.setattr(record_store, "load_reported", counting)
            assert snapshot(paths, cached=True) == expected  # the cache just written
            mp.setattr(record_store, "load_reported", real)
            # ... which served every usable file: only unusable ones were read again
            assert len(read) == len(plan_inputs.load_status(paths, cached=False).skipped)
