"""The bulk commands' CSV files (the original tool's ``upgrade``/``download`` and ``*-ha-pairs`` inputs).

A standalone CSV has a ``serial`` column; an HA CSV has ``serial_1`` and ``serial_2`` (either member in
either column: active/passive is found at run time). Other columns are ignored, so the files written by
``device export`` are valid input. Header names are matched without regard to case or surrounding spaces.

Reading is all-or-nothing: every problem is collected as ``file:line: message`` and one
``InputFileError`` lists them all, so no job is queued from a file with any error. Handled: a UTF-8 BOM
(accepted silently: Excel writes one), UTF-16 files, ';' or tab delimiters (refused with a hint), an empty
file, missing columns, blank lines (skipped), empty or malformed serials, serials not in the inventory,
duplicates, HA members in a standalone file (refused with a hint to the HA command), devices whose HA state
discovery could not confirm, and HA rows whose serials are not one pair of the inventory.
"""

from __future__ import annotations

import csv
import io
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import InputFileError, UserError
from reconciler.core.inventory import Inventory
from reconciler.jobs.queue import pair_problem, standalone_problem
from reconciler.workdir.layout import safe_name

MAX_BYTES = 10 * 1024 * 1024
MAX_LISTED = 100
STANDALONE_COLUMNS = ("serial",)
PAIR_COLUMNS = ("serial_1", "serial_2")


@dataclass(frozen=True)
class StandaloneRow:
    line: int
    serial: str


@dataclass(frozen=True)
class PairRow:
    """One HA pair; ``serial_1``/``serial_2`` in the file's order (which means nothing)."""

    line: int
    serial_1: str
    serial_2: str


def read_standalone(path: Path, inventory: Inventory, *, pair_hint: str) -> list[StandaloneRow]:
    """The rows of a standalone CSV, checked against the inventory; ``pair_hint`` is the command to
    suggest for HA members (e.g. ``panos-upgrade upgrade-ha-pairs``)."""
    return parse_standalone(_read_text(path), str(path), inventory, pair_hint=pair_hint)


def read_ha_pairs(path: Path, inventory: Inventory, *, standalone_hint: str) -> list[PairRow]:
    """The rows of an HA CSV, checked against the inventory; ``standalone_hint`` is suggested when the file
    looks like a standalone CSV."""
    return parse_ha_pairs(_read_text(path), str(path), inventory, standalone_hint=standalone_hint)


def _read_text(path: Path) -> str:
    try:
        if not path.is_dir() and path.exists() and not stat.S_ISREG(path.stat().st_mode):
            # Opening a FIFO waits for a writer: refuse it (and devices, sockets) before that.
            raise InputFileError(f"{path}: not a regular file (a FIFO, device or socket); give a CSV file")
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise InputFileError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MB; is this the right file?")
    return decode(raw, str(path))


def decode(raw: bytes, name: str) -> str:
    """UTF-8 text with any BOM removed; UTF-16 and other encodings are refused with a hint."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFileError(f"{name}: the file is UTF-16 (Excel 'Unicode Text'); save it as 'CSV UTF-8'")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputFileError(f"{name}:{line}: not UTF-8 text; save the file as 'CSV UTF-8'") from None


# -- parsing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    line: int
    cells: dict[str, str]


class _Problems:
    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[str] = []

    def add(self, line: int | None, message: str) -> None:
        where = f"{self.name}:{line}" if line is not None else self.name
        self.items.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:MAX_LISTED]
        if len(self.items) > MAX_LISTED:
            shown.append(f"{self.name}: ... and {len(self.items) - MAX_LISTED} more problems")
        first = self.items[0] if len(self.items) == 1 else f"{self.name}: {len(self.items)} problems"
        raise InputFileError(f"{first}; nothing queued", shown)


def _records(text: str, name: str, problems: _Problems) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each non-blank CSV record."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(start, f"malformed CSV: {exc}")
            return
        end = reader.line_num
        if any(c.strip() for c in cells):
            yield start, cells


def _table(
    text: str,
    name: str,
    required: Sequence[str],
    problems: _Problems,
    *,
    other_kind: tuple[Sequence[str], str],
) -> list[_Row] | None:
    """The rows as {column: value}, or ``None`` (with problems recorded) when the header is unusable."""
    records = _records(text, name, problems)
    try:
        header_line, header = next(records)
    except StopIteration:
        if not problems.items:
            problems.add(None, f"empty file: expected a header row with {_columns(required)}")
        return None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in required if c not in columns]
    if missing:
        problems.add(header_line, _header_problem(header, missing, other_kind))
        return None
    for column in required:  # a second 'serial' column would silently win over the first
        where = [i + 1 for i, c in enumerate(columns) if c == column]
        if len(where) > 1:
            problems.add(
                header_line,
                f"column {column!r} appears twice (columns {where[0]} and {where[1]}); keep one of them",
            )
            return None
    rows = []
    for line, cells in records:
        values = {col: (cells[i].strip() if i < len(cells) else "") for i, col in enumerate(columns)}
        rows.append(_Row(line, values))
    if not rows and not problems.items:
        problems.add(None, f"no rows after the header: nothing to queue (expected {_columns(required)})")
    return rows


def _header_problem(header: list[str], missing: list[str], other_kind: tuple[Sequence[str], str]) -> str:
    raw = ",".join(header)
    for delimiter, label in ((";", "';'"), ("\t", "tabs")):
        if delimiter in raw:
            split = [c.strip().lower() for c in raw.split(delimiter)]
            if any(m in split for m in missing):
                return (
                    f"columns are separated by {label}, not commas; "
                    f"save the file as comma-separated CSV (header: {raw.strip()!r})"
                )
    other_columns, other_hint = other_kind
    found = [_printable(h.strip()) for h in header if h.strip()]
    if all(c in [f.lower() for f in found] for c in other_columns):
        return f"missing {_columns(missing)}; this looks like {other_hint}"
    return f"missing {_columns(missing)} (columns found: {', '.join(found) or 'none'})"


def _printable(text: str) -> str:
    """``text`` with control characters escaped: a quoted header cell may hold a line break."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _columns(names: Sequence[str]) -> str:
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"column {quoted}" if len(names) == 1 else f"columns {quoted}"


def _serial(value: str, column: str, line: int, problems: _Problems) -> str | None:
    if not value:
        problems.add(line, f"{column} is empty")
        return None
    try:
        return safe_name(value, "serial")
    except UserError:
        problems.add(line, f"{column}: invalid serial {value!r} (letters, digits, '.', '_' or '-')")
        return None


def parse_standalone(text: str, name: str, inventory: Inventory, *, pair_hint: str) -> list[StandaloneRow]:
    """Parse and check a standalone CSV (see the module docstring); ``InputFileError`` lists all problems."""
    problems = _Problems(name)
    hint = f"an HA pairs CSV: use '{pair_hint}'"
    rows = _table(text, name, STANDALONE_COLUMNS, problems, other_kind=(PAIR_COLUMNS, hint))
    out: list[StandaloneRow] = []
    seen: dict[str, int] = {}
    for row in rows or ():
        serial = _serial(row.cells["serial"], "serial", row.line, problems)
        if serial is None:
            continue
        if serial in seen:
            problems.add(row.line, f"serial {serial!r} already listed on line {seen[serial]}")
            continue
        seen[serial] = row.line
        problem = standalone_problem(inventory, serial, f"use '{pair_hint}' with a serial_1,serial_2 CSV")
        if problem:
            problems.add(row.line, problem)
            continue
        out.append(StandaloneRow(row.line, serial))
    problems.raise_if_any()
    return out


def parse_ha_pairs(text: str, name: str, inventory: Inventory, *, standalone_hint: str) -> list[PairRow]:
    """Parse and check an HA CSV (see the module docstring); ``InputFileError`` lists all problems."""
    problems = _Problems(name)
    hint = f"a standalone CSV: use '{standalone_hint}'"
    rows = _table(text, name, PAIR_COLUMNS, problems, other_kind=(STANDALONE_COLUMNS, hint))
    out: list[PairRow] = []
    seen: dict[str, int] = {}
    for row in rows or ():
        first = _serial(row.cells["serial_1"], "serial_1", row.line, problems)
        second = _serial(row.cells["serial_2"], "serial_2", row.line, problems)
        if first is None or second is None:
            continue
        repeated = [s for s in dict.fromkeys((first, second)) if s in seen]
        if repeated:
            for serial in repeated:
                problems.add(row.line, f"serial {serial!r} already listed on line {seen[serial]}")
            continue
        seen.update({first: row.line, second: row.line})
        problem = pair_problem(inventory, first, second)
        if problem:
            problems.add(row.line, problem)
            continue
        out.append(PairRow(row.line, first, second))
    problems.raise_if_any()
    return out
