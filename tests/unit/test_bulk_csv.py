"""Bulk CSV parsing: every bad input gets `file:line: message` and nothing is accepted (all-or-nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.errors import InputFileError
from reconciler.core.inventory import Device, Inventory
from reconciler.jobs import bulk_csv, export

INV = Inventory.of(
    [
        Device("001234567890", "fw-a", "127.0.0.1", "PA-440", "10.2.9", "edge", "standalone", "standalone"),
        Device("001234567891", "fw-b", "127.0.0.2", "PA-440", "10.2.9", "edge", "standalone", "standalone"),
        Device("007001", "dc-1", "127.0.0.3", "PA-3220", "10.2.9", "dc", "ha_pair", "active", "007002"),
        Device("007002", "dc-2", "127.0.0.4", "PA-3220", "10.2.9", "dc", "ha_pair", "passive", "007001"),
        Device("008001", "dc-3", "127.0.0.5", "PA-3220", "10.2.9", "dc", "ha_pair", "active", "008002"),
        Device("008002", "dc-4", "127.0.0.6", "PA-3220", "10.2.9", "dc", "ha_pair", "passive", "008001"),
        Device(
            "009001", "odd", "127.0.0.7", "PA-440", "10.2.9", "dc", "unknown", "unknown", error="timed out"
        ),
    ]
)
PAIR_HINT = "panos-upgrade upgrade-ha-pairs"
SA_HINT = "panos-upgrade upgrade"


def standalone(text: str) -> list[bulk_csv.StandaloneRow]:
    return bulk_csv.parse_standalone(text, "s.csv", INV, pair_hint=PAIR_HINT)


def pairs(text: str) -> list[bulk_csv.PairRow]:
    return bulk_csv.parse_ha_pairs(text, "p.csv", INV, standalone_hint=SA_HINT)


def problems_of(fn: object, text: str) -> list[str]:
    with pytest.raises(InputFileError) as info:
        fn(text)  # type: ignore[operator]
    return info.value.errors


def test_readme_example_with_extra_columns_is_accepted() -> None:
    rows = standalone(
        "serial,hostname,notes\n001234567890,fw-dc1-01,primary\n001234567891,fw-dc1-02,secondary\n"
    )
    assert [(2, "001234567890"), (3, "001234567891")] == [(r.line, r.serial) for r in rows]


def test_serial_only_file_blank_lines_spaces_and_header_case() -> None:
    rows = standalone("\n Serial \n\n 001234567890 \n,\n\n001234567891\n\n")
    assert [(4, "001234567890"), (7, "001234567891")] == [(r.line, r.serial) for r in rows]


def test_utf8_bom_is_accepted_silently(tmp_path: Path) -> None:
    f = tmp_path / "bom.csv"
    f.write_bytes(b"\xef\xbb\xbfserial,hostname\r\n001234567890,fw-a\r\n")
    assert ["001234567890"] == [r.serial for r in bulk_csv.read_standalone(f, INV, pair_hint=PAIR_HINT)]


def test_device_export_files_are_valid_input(tmp_path: Path) -> None:
    sa = tmp_path / "standalone_devices.csv"
    ha = tmp_path / "ha_pairs.csv"
    sa.write_text(export.standalone_csv(INV))
    ha.write_text(export.ha_pairs_csv(INV))
    assert ["001234567890", "001234567891"] == [
        r.serial for r in bulk_csv.read_standalone(sa, INV, pair_hint=PAIR_HINT)
    ]
    assert [("007001", "007002"), ("008001", "008002")] == [
        (r.serial_1, r.serial_2) for r in bulk_csv.read_ha_pairs(ha, INV, standalone_hint=SA_HINT)
    ]


def test_pair_order_does_not_matter() -> None:
    rows = pairs("serial_1,serial_2,pair_name\n007002,007001,dc1-pair\n")
    assert [("007002", "007001")] == [(r.serial_1, r.serial_2) for r in rows]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "s.csv: empty file: expected a header row with column 'serial'"),
        ("\n\n  \n", "s.csv: empty file: expected a header row with column 'serial'"),
        ("serial\n", "s.csv: no rows after the header: nothing to queue (expected column 'serial')"),
        ("hostname,notes\nfw-a,x\n", "s.csv:1: missing column 'serial' (columns found: hostname, notes)"),
        (
            "serial;hostname\n001234567890;fw-a\n",
            "s.csv:1: columns are separated by ';', not commas; save the file as comma-separated CSV "
            "(header: 'serial;hostname')",
        ),
        (
            "serial\thostname\n001234567890\tfw-a\n",
            "s.csv:1: columns are separated by tabs, not commas; save the file as comma-separated CSV "
            "(header: 'serial\\thostname')",
        ),
        (
            "serial_1,serial_2\n007001,007002\n",
            "s.csv:1: missing column 'serial'; this looks like an HA pairs CSV: use "
            "'panos-upgrade upgrade-ha-pairs'",
        ),
        (
            "serial\n999\n",
            "s.csv:2: serial '999' is not in the inventory (run 'panos-upgrade device discover')",
        ),
        (
            "serial\n1234567890\n",
            "s.csv:2: serial '1234567890' is not in the inventory (run 'panos-upgrade device discover'); "
            "did a spreadsheet drop leading zeros? (inventory has 001234567890)",
        ),
        ("serial,hostname\n,fw-a\n", "s.csv:2: serial is empty"),
        (
            "serial\n../etc/passwd\n",
            "s.csv:2: serial: invalid serial '../etc/passwd' (letters, digits, '.', '_' or '-')",
        ),
        (
            "serial\n007001\n",
            "s.csv:2: serial '007001' is a member of an HA pair (peer 007002); both members are upgraded "
            "together: use 'panos-upgrade upgrade-ha-pairs' with a serial_1,serial_2 CSV",
        ),
        (
            "serial\n009001\n",
            "s.csv:2: serial '009001': discovery could not tell whether it is standalone or in an HA pair "
            "(timed out); re-run 'panos-upgrade device discover'",
        ),
        ('serial\n"00123\n', "s.csv:2: malformed CSV: unexpected end of data"),
    ],
)
def test_standalone_bad_input(text: str, expected: str) -> None:
    assert [expected] == problems_of(standalone, text)


def test_duplicate_serial_names_the_first_line_and_every_problem_is_listed() -> None:
    text = "serial\n001234567890\n999\n001234567890\n007002\n"
    assert [
        "s.csv:3: serial '999' is not in the inventory (run 'panos-upgrade device discover')",
        "s.csv:4: serial '001234567890' already listed on line 2",
        "s.csv:5: serial '007002' is a member of an HA pair (peer 007001); both members are upgraded "
        "together: use 'panos-upgrade upgrade-ha-pairs' with a serial_1,serial_2 CSV",
    ] == problems_of(standalone, text)


def test_message_of_the_error_counts_problems() -> None:
    with pytest.raises(InputFileError, match=r"^s.csv: 2 problems; nothing queued$"):
        standalone("serial\n1\n2\n")
    with pytest.raises(InputFileError, match=r"^s.csv:2: serial is empty; nothing queued$"):
        standalone("serial,x\n,y\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "p.csv: empty file: expected a header row with columns 'serial_1', 'serial_2'"),
        ("serial_1\n007001\n", "p.csv:1: missing column 'serial_2' (columns found: serial_1)"),
        (
            "serial,hostname\n001234567890,fw-a\n",
            "p.csv:1: missing columns 'serial_1', 'serial_2'; this looks like a standalone CSV: use "
            "'panos-upgrade upgrade'",
        ),
        (
            "serial_1;serial_2\n007001;007002\n",
            "p.csv:1: columns are separated by ';', not commas; save the file as comma-separated CSV "
            "(header: 'serial_1;serial_2')",
        ),
        ("serial_1,serial_2\n007001,\n", "p.csv:2: serial_2 is empty"),
        (
            "serial_1,serial_2\n007001,007001\n",
            "p.csv:2: both serials are '007001'; an HA pair has two different members",
        ),
        (
            "serial_1,serial_2\n007001,008002\n",
            "p.csv:2: '007001' and '008002' are not an HA pair in the inventory "
            "(007001's peer is 007002, 008002's peer is 008001)",
        ),
        (
            "serial_1,serial_2\n001234567890,001234567891\n",
            "p.csv:2: '001234567890' and '001234567891' are not an HA pair in the inventory "
            "(001234567890 is standalone, 001234567891 is standalone)",
        ),
        (
            "serial_1,serial_2\n007001,404\n",
            "p.csv:2: serial '404' is not in the inventory (run 'panos-upgrade device discover')",
        ),
    ],
)
def test_ha_pairs_bad_input(text: str, expected: str) -> None:
    assert [expected] == problems_of(pairs, text)


def test_ha_pair_listed_twice_in_either_order() -> None:
    assert [
        "p.csv:3: serial '007002' already listed on line 2",
        "p.csv:3: serial '007001' already listed on line 2",
    ] == (problems_of(pairs, "serial_1,serial_2\n007001,007002\n007002,007001\n"))


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        bulk_csv.read_standalone(tmp_path / "nope.csv", INV, pair_hint=PAIR_HINT)
    utf16 = tmp_path / "u16.csv"
    utf16.write_bytes("serial\n001234567890\n".encode("utf-16"))
    with pytest.raises(InputFileError, match=r"u16.csv: the file is UTF-16 .*save it as 'CSV UTF-8'"):
        bulk_csv.read_standalone(utf16, INV, pair_hint=PAIR_HINT)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"serial,notes\n001234567890,caf\xe9\n")
    with pytest.raises(InputFileError, match=r"latin.csv:2: not UTF-8 text"):
        bulk_csv.read_standalone(latin, INV, pair_hint=PAIR_HINT)
    with pytest.raises(InputFileError, match="is a directory"):
        bulk_csv.read_standalone(tmp_path, INV, pair_hint=PAIR_HINT)
