"""The device status record (status/devices/<serial>.json): codecs, schema, hops, and the command codec."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.upgrade_path import PathHop, find_path
from reconciler.core.version import PanOsVersion
from reconciler.machine.commands import (
    COMMAND_TYPES,
    DEVICE_COMMAND_TYPES,
    Command,
    JobKind,
    command_from_json,
    command_to_json,
)
from reconciler.machine.records import (
    DeviceRecord,
    ErrorInfo,
    HoldInfo,
    Hop,
    HopOutcome,
    HopResult,
    JobRef,
    Mode,
    PendingRequest,
    Phase,
    PlannedHop,
    RebootWatch,
    RollbackInfo,
    iso,
    new_record,
)
from reconciler.workdir import schemas

T0 = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)

# -- hops ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, path, images",
    [
        ("10.2.9", ["10.2.10"], [("10.2.10",)]),
        ("10.2.9", ["11.0.3", "11.1.6"], [("11.0.0", "11.0.3"), ("11.1.0", "11.1.6")]),
        ("10.2.9", ["11.1.6"], [("11.0.0", "11.1.0", "11.1.6")]),  # a standalone skip needs both bases
        ("11.2.4", ["12.1.3"], [("12.1.2", "12.1.3")]),  # 12.1's base is 12.1.2
        ("11.0.3", ["11.1.0"], [("11.1.0",)]),  # the target is its own base
    ],
)
def test_hops_for_a_path_list_base_images_first(
    start: str, path: list[str], images: list[tuple[str, ...]]
) -> None:
    hops = Hop.for_path(start, path)
    assert [h.images for h in hops] == images
    assert [h.version for h in hops] == path
    assert all(h.images[-1] == h.version for h in hops)


def test_hop_versions_are_canonical_and_checked() -> None:
    assert Hop("11.0.3", ("11.0.0", "11.0.3")).bases == ("11.0.0",)
    with pytest.raises(ValueError, match=r"hop\.version"):
        Hop("11.0", ("11.0.0",))


def test_a_planned_path_becomes_record_hops_with_its_minimum_content() -> None:
    path = find_path(PanOsVersion.parse("10.2.9"), PanOsVersion.parse("11.1.6"), table={}, ha=False)
    hop = path.hops[0]
    assert Hop.of(hop) == Hop("11.1.6", ("11.0.0", "11.1.0", "11.1.6"), min_content_version="8760")
    rec = new_record(serial="A", starting_version="10.2.9", target_version="11.1.6", hops=path.hops, now=T0)
    assert rec.hops == (Hop.of(hop),)
    assert (
        Hop.of(PathHop(PanOsVersion.parse("8.0.20"), (PanOsVersion.parse("8.0.20"),))).min_content_version
        is None
    )


# -- records ------------------------------------------------------------------------------------------------


def sample() -> DeviceRecord:
    return new_record(
        serial="007054000123",
        starting_version="10.2.9",
        target_version="11.1.6",
        hops=Hop.for_path("10.2.9", ["11.0.3", "11.1.6"]),
        now=T0,
        hostname="fw-1",
        group="branches",
        job_id="web-job-123",
        desired_revision="abc123",
    )


def test_a_new_record_is_pending_on_its_starting_version() -> None:
    rec = sample()
    assert (rec.phase, rec.current_version, rec.current_path_index, rec.attempt) == (
        Phase.PENDING,
        "10.2.9",
        0,
        1,
    )
    assert rec.upgrade_path == ("11.0.3", "11.1.6")
    assert rec.hop == rec.hops[0] and rec.hop_from_version == "10.2.9"
    assert rec.updated_at == "2026-03-01T01:00:00.000Z"


def test_the_status_file_keeps_the_original_tools_field_names() -> None:
    data = sample().to_json()
    for name in (
        "starting_version",
        "current_version",
        "upgrade_path",
        "current_path_index",
        "upgrade_status",
        "progress",
    ):
        assert name in data
    assert data["upgrade_status"] == "pending" and data["upgrade_path"] == ["11.0.3", "11.1.6"]


def test_the_schema_lists_exactly_the_fields_written() -> None:
    schema = schemas.load("device-status")
    assert sorted(schema["properties"]) == sorted(sample().to_json())
    # Fields added after records were first written are optional, so a status file from before still loads.
    later = {"group_digest", "rollback", "reached"}
    assert sorted(schema["required"]) == sorted(set(sample().to_json()) - later)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        new_record(
            serial="1",
            starting_version="10.2.9",
            target_version="10.2.10",
            hops=(),
            now="2026-03-01T01:00:00",
        )


def test_iso_normalises_to_utc_milliseconds() -> None:
    assert iso("2026-03-01T03:00:00.123456+02:00") == "2026-03-01T01:00:00.123Z"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format_version": 2}, "format_version"),
        ({"starting_version": "10.2"}, "starting_version"),
        ({"current_path_index": 3}, "current_path_index"),
        ({"upgrade_path": ["11.0.3"]}, "upgrade_path"),
        ({"dry_run": True}, "dry_run"),
        ({"outstanding": {"type": "Format"}}, "unknown command"),
        ({"upgrade_status": "exploding"}, "exploding"),
    ],
)
def test_inconsistent_files_are_refused_with_the_field_named(change: dict[str, Any], message: str) -> None:
    data = {**sample().to_json(), **change}
    with pytest.raises(ValueError, match=message):
        DeviceRecord.from_json(data)


def test_a_missing_field_is_named() -> None:
    data = sample().to_json()
    del data["hops"]
    with pytest.raises(ValueError, match="'hops'"):
        DeviceRecord.from_json(data)


# -- hypothesis: every record we can produce validates and round-trips ----------------------------------------

VERSIONS = st.sampled_from(["10.2.9", "10.2.10", "11.0.0", "11.0.3-h1", "11.1.6", "12.1.2", "9.1.0-b1"])
STAMPS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
).map(iso)
TEXT = st.text(max_size=20)
OPT_TEXT = st.none() | TEXT
OPT_STAMP = st.none() | STAMPS
PHASE_NAMES = st.sampled_from([p.value for p in Phase])


def commands(types: Any = COMMAND_TYPES.values()) -> st.SearchStrategy[Command]:
    return st.one_of([st.builds(cls) for cls in types])


HOPS = st.lists(
    st.builds(
        Hop, version=VERSIONS, images=st.lists(VERSIONS, max_size=3).map(tuple), min_content_version=OPT_TEXT
    ),
    max_size=3,
).map(tuple)


@st.composite
def records(draw: st.DrawFn) -> DeviceRecord:
    hops = draw(HOPS)
    return DeviceRecord(
        serial=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)),
        mode=draw(st.sampled_from(list(Mode))),
        starting_version=draw(VERSIONS),
        target_version=draw(VERSIONS),
        hops=hops,
        hostname=draw(TEXT),
        group=draw(TEXT),
        job_id=draw(TEXT),
        current_version=draw(TEXT),
        current_path_index=draw(st.integers(0, len(hops))),
        phase=draw(st.sampled_from(list(Phase))),
        phase_started_at=draw(STAMPS),
        started_at=draw(OPT_STAMP),
        updated_at=draw(STAMPS),
        finished_at=draw(OPT_STAMP),
        attempt=draw(st.integers(1, 50)),
        last_error=draw(st.none() | st.builds(ErrorInfo, TEXT, PHASE_NAMES, TEXT, STAMPS)),
        job=draw(
            st.none()
            | st.builds(
                JobRef, TEXT, st.sampled_from(list(JobKind)), OPT_TEXT, STAMPS, st.integers(0, 100), STAMPS
            )
        ),
        progress=draw(st.integers(0, 100)),
        message=draw(TEXT),
        hold=draw(st.none() | st.builds(HoldInfo, TEXT, TEXT, STAMPS, PHASE_NAMES)),
        pending_request=draw(
            st.none() | st.builds(PendingRequest, st.sampled_from(["cancel", "hold"]), TEXT, TEXT, STAMPS)
        ),
        desired_revision=draw(OPT_TEXT),
        ha_peer=draw(OPT_TEXT),
        sync_to_peer=draw(st.booleans()),
        history=tuple(
            draw(
                st.lists(
                    st.builds(
                        HopResult,
                        VERSIONS,
                        STAMPS,
                        STAMPS,
                        st.sampled_from(list(HopOutcome)),
                        OPT_TEXT,
                        OPT_TEXT,
                    ),
                    max_size=3,
                )
            )
        ),
        outstanding=draw(st.none() | commands(DEVICE_COMMAND_TYPES)),
        due_at=draw(OPT_STAMP),
        retries=draw(st.integers(0, 10)),
        install_attempts=draw(st.integers(0, 10)),
        download_attempts=draw(st.integers(0, 10)),
        reboot=draw(
            st.none()
            | st.builds(
                RebootWatch,
                STAMPS,
                st.booleans(),
                st.integers(0, 100),
                st.floats(0, 3600, allow_nan=False),
                st.integers(1, 5),
            )
        ),
        hop_started_at=draw(OPT_STAMP),
        pre_snapshot=draw(OPT_TEXT),
        post_snapshot=draw(OPT_TEXT),
        backup=draw(OPT_TEXT),
        content_version=draw(OPT_TEXT),
        content_updated=draw(st.booleans()),
        disk_free_gb=draw(st.none() | st.floats(0, 1000, allow_nan=False)),
        job_watermark=draw(st.none() | st.integers(-1, 10**6)),
        downloaded_versions=tuple(draw(st.lists(VERSIONS, max_size=3))),
        skipped_versions=tuple(draw(st.lists(VERSIONS, max_size=3))),
        planned=tuple(
            draw(
                st.lists(
                    st.builds(
                        PlannedHop,
                        VERSIONS,
                        st.lists(VERSIONS, max_size=2).map(tuple),
                        st.lists(VERSIONS, max_size=2).map(tuple),
                        st.booleans(),
                        st.lists(VERSIONS, max_size=2).map(tuple),
                    ),
                    max_size=2,
                )
            )
        ),
        skip_reason=draw(OPT_TEXT),
        rollback=draw(
            st.none()
            | st.builds(RollbackInfo, VERSIONS, VERSIONS, VERSIONS, TEXT, TEXT, STAMPS, OPT_TEXT, OPT_STAMP)
        ),
    )


@settings(max_examples=200, deadline=None)
@given(rec=records())
def test_every_record_validates_and_round_trips(rec: DeviceRecord) -> None:
    data = rec.to_json()
    assert schemas.errors("device-status", data) == []
    assert DeviceRecord.from_json(data) == rec


@settings(max_examples=200, deadline=None)
@given(cmd=commands())
def test_every_command_round_trips(cmd: Command) -> None:
    data = command_to_json(cmd)
    assert data["type"] == cmd.name
    assert command_from_json(data) == cmd


def test_the_schema_knows_every_command_a_device_can_have_outstanding() -> None:
    enum = schemas.load("device-status")["properties"]["outstanding"]["anyOf"][0]["properties"]["type"][
        "enum"
    ]
    assert enum == [cls.__name__ for cls in DEVICE_COMMAND_TYPES]


def test_only_device_changing_commands_are_marked() -> None:
    changing = {name for name, cls in COMMAND_TYPES.items() if cls.changes_device}
    assert changing == {
        "ContentDownload",
        "ContentInstall",
        "Download",
        "DeleteImage",
        "Install",
        "Reboot",
        "Suspend",
        "MakeFunctional",
        "SuspendSelf",
        "FunctionalSelf",
    }


def test_a_command_with_bad_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="bad Install"):
        command_from_json({"type": "Install"})
