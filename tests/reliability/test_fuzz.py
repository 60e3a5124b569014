"""Property-based fuzzing of every loader of outside input and of the device-answer parsers.

The property is the same everywhere: arbitrary input is either accepted, or refused with the one error
type the loader documents, carrying a location (``file:line:`` for YAML and CSV, the file name for drop
files). Nothing else may escape: no ``KeyError``, ``RecursionError``, ``UnicodeError`` ... And what is
accepted obeys the loader's contract (known serials only, safe ids, one row per device).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli.init_cmd import initialise
from reconciler.core.errors import InputFileError
from reconciler.device import parsers
from reconciler.jobs import bulk_csv, intake, operator_requests, queue
from reconciler.workdir import desired_load, inventory_store
from reconciler.workdir.layout import WorkPaths, safe_name
from tests.reliability import hostile
from tests.reliability.figures import TestFigures

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

VALID_DESIRED = """apiVersion: panos-upgrade/v1
windows:
  nights: {days: [mon-fri], start: "22:00", end: "04:00", timezone: Europe/Berlin}
defaults:
  maxParallel: 5
  failureBudget: "10%"
groups:
  - name: dc
    select: {deviceGroups: [dc]}
    target: "11.1.6-h1"
    maintenanceWindows: [nights]
    waves: {canary: 1, soak: 30m}
"""
_LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): ")


class Count:
    """Examples run by one test, reported to the figures at the end."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> None:
        self.n += 1


@pytest.fixture
def count(figures: TestFigures) -> Iterator[Count]:
    counter = Count()
    yield counter
    figures.add("fuzz_examples", counter.n)


# -- desired-state YAML ---------------------------------------------------------------------------------------


def assert_desired_outcome(name: str, text: str) -> None:
    try:
        desired_load.load_texts([(name, text)])
    except InputFileError as exc:
        assert exc.errors, "an InputFileError lists its problems"
        for line in exc.errors:
            m = _LOCATED.match(line)
            assert m and m["file"] == name and int(m["line"]) >= 1, line
            assert int(m["line"]) <= text.count("\n") + 2, line
            assert "\n" not in line and len(line) < 2000, line[:300]


@FUZZ
@given(text=st.text(max_size=400))
def test_desired_loader_on_arbitrary_text(text: str, count: Count) -> None:
    count()
    assert_desired_outcome("fuzz.yaml", text)


@st.composite
def mutated(draw: st.DrawFn, base: str) -> str:
    """The valid file with a few characters inserted, deleted or replaced (YAML syntax is fragile)."""
    text = base
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(
            st.sampled_from(["\t", ":", "-", "'", '"', "&a", "*a", "{", "]", "\n", " ", "#", "!!", "1.1"])
        )
        if op == "insert":
            text = text[:pos] + piece + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + len(piece) :]
        else:
            text = text[:pos] + piece + text[pos + 1 :]
    return text


@FUZZ
@given(text=mutated(VALID_DESIRED))
def test_desired_loader_on_mutated_valid_files(text: str, count: Count) -> None:
    count()
    assert_desired_outcome("mutated.yaml", text)


_KEYS = ["apiVersion", "groups", "defaults", "windows", "denyWindows", "paused", "name", "select", "target",
         "path", "stage", "maxParallel", "failureBudget", "waves", "canary", "soak", "validation", "days",
         "start", "end", "timezone", "deviceGroups", "serials", "hostnames", "haPairs", "exclude", "from",
         "until", "readinessChecks", "allowDowngrade", "unknownField"]  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        ["11.1.6-h1", "10.10", "panos-upgrade/v1", "dc", "01:00", "24:00", "mon-fri", "50%", "2h"]
    ),
    st.text(max_size=20),
)
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)
    ),
    max_leaves=30,
)


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(_KEYS), _TREES, max_size=6))
def test_desired_loader_on_structured_documents(doc: dict[str, Any], count: Count) -> None:
    count()
    assert_desired_outcome("tree.yaml", yaml.safe_dump(doc, allow_unicode=True))


# -- bulk CSV ---------------------------------------------------------------------------------------------


_CELLS = st.one_of(
    st.sampled_from(["001", "002", "003", "004", "NOPE", "", " 001 ", "serial", "serial_1", "serial_2"]),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8),
)
_ROWS = st.lists(st.lists(_CELLS, min_size=0, max_size=4), max_size=8)
_SEPARATORS = st.sampled_from([",", ";", "\t", "|"])


def _csv_text(header: list[str], rows: list[list[str]], sep: str, quote: bool) -> str:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if quote else value

    return "\n".join(sep.join(cell(c) for c in line) for line in [header, *rows]) + "\n"


def assert_csv_outcome(parse: Callable[[], list[Any]], name: str, pair: bool) -> None:
    try:
        rows = parse()
    except InputFileError as exc:
        for line in exc.errors:
            assert line.startswith(name), line
            assert "\n" not in line, line
        return
    serials = [s for r in rows for s in ((r.serial_1, r.serial_2) if pair else (r.serial,))]
    assert len(serials) == len(set(serials)), "each device at most once"
    for serial in serials:
        device = hostile.INVENTORY.devices[serial]
        assert device.is_ha is pair, f"{serial} accepted by the wrong command"


@FUZZ
@given(
    header=st.lists(_CELLS, max_size=4).map(lambda h: h or ["serial"]),
    rows=_ROWS,
    sep=_SEPARATORS,
    quote=st.booleans(),
    bom=st.booleans(),
)
def test_csv_loaders_on_generated_tables(
    header: list[str], rows: list[list[str]], sep: str, quote: bool, bom: bool, count: Count
) -> None:
    count()
    text = ("\ufeff" if bom else "") + _csv_text(header, rows, sep, quote)
    text = bulk_csv.decode(text.encode("utf-8"), "t.csv")
    inv = hostile.INVENTORY
    assert_csv_outcome(lambda: bulk_csv.parse_standalone(text, "t.csv", inv, pair_hint="h"), "t.csv", False)
    assert_csv_outcome(
        lambda: bulk_csv.parse_ha_pairs(text, "t.csv", inv, standalone_hint="h"), "t.csv", True
    )


@FUZZ
@given(raw=st.binary(max_size=300))
def test_csv_loaders_on_arbitrary_bytes(raw: bytes, count: Count) -> None:
    count()
    try:
        text = bulk_csv.decode(raw, "b.csv")
    except InputFileError as exc:
        assert str(exc).startswith("b.csv")
        return
    inv = hostile.INVENTORY
    assert_csv_outcome(lambda: bulk_csv.parse_standalone(text, "b.csv", inv, pair_hint="h"), "b.csv", False)
    assert_csv_outcome(
        lambda: bulk_csv.parse_ha_pairs(text, "b.csv", inv, standalone_hint="h"), "b.csv", True
    )


# -- job and command files ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drop_work() -> Iterator[WorkPaths]:
    """One work directory for the drop-file fuzzers (each example empties the drop folders again)."""
    root = Path(tempfile.mkdtemp(prefix="fuzz-work-"))
    paths = WorkPaths(root / "work")
    initialise(paths)
    inventory_store.save(paths, hostile.INVENTORY)
    yield paths
    shutil.rmtree(root, ignore_errors=True)


def _reset(paths: WorkPaths) -> None:
    for folder in (
        paths.queue("pending"),
        paths.queue("rejected"),
        paths.commands("incoming"),
        paths.commands("processed"),
        paths.commands("rejected"),
    ):
        shutil.rmtree(folder)
        folder.mkdir()


_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.sampled_from(
        ["001", "003", "004", "NOPE", "web-1", "web-1\n", "..", "../x", "11.1.6-h1", "9.1.0", "standalone",
         "ha_pair", "download_only", "hold", "release", "retry", "cancel_upgrade", "job", "device", ""]
    ),
    st.text(max_size=12),
)  # fmt: skip
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_JOB_KEYS = ["job_id", "type", "devices", "target_version", "dry_run", "download_only", "reason", "x"]
_COMMAND_KEYS = ["command", "target", "job_id", "serial", "device_serial", "reason", "submitted_by", "x"]


def _doc(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), _JSON, max_size=len(keys))


@FUZZ
@given(doc=_doc(_JOB_KEYS), name=st.sampled_from(["web-1.json", "job.json", "x"]), raw=st.booleans())
def test_job_drop_folder_accepts_only_sound_jobs_and_keeps_every_other_file(
    doc: dict[str, Any], name: str, raw: bool, drop_work: WorkPaths, count: Count
) -> None:
    count()
    _reset(drop_work)
    body = json.dumps(doc).encode()[:-1] if raw else json.dumps(doc).encode()  # raw: a truncated file
    (drop_work.queue("pending") / name).write_bytes(body)
    accepted = queue.read_pending(drop_work, hostile.INVENTORY)
    rejected = [p.name for p in drop_work.queue("rejected").iterdir() if not p.name.endswith(".reason")]
    if accepted:
        (spec,) = accepted
        assert name == f"{spec.job_id}.json" and safe_name(spec.job_id) == spec.job_id
        assert all(s in hostile.INVENTORY.devices for s in spec.devices)
        assert (drop_work.queue("pending") / name).exists() and not rejected
    else:
        assert [name] == rejected, "a refused file is kept"
        reason = (drop_work.queue("rejected") / f"{name}.reason").read_text()
        assert reason.startswith(name) and reason.strip()


@FUZZ
@given(doc=_doc(_COMMAND_KEYS), raw=st.booleans())
def test_command_drop_folder_never_raises_and_loses_nothing(
    doc: dict[str, Any], raw: bool, drop_work: WorkPaths, count: Count
) -> None:
    count()
    _reset(drop_work)
    body = json.dumps(doc).encode()[:-1] if raw else json.dumps(doc).encode()
    (drop_work.commands("incoming") / "c.json").write_bytes(body)
    requests = operator_requests.read_incoming(drop_work, inventory=hostile.INVENTORY)
    processed = [p.name for p in drop_work.commands("processed").iterdir()]
    rejected = [p.name for p in drop_work.commands("rejected").iterdir()]
    assert not any(drop_work.commands("incoming").iterdir())
    if requests:
        (request,) = requests
        assert ["c.json"] == processed
        assert all(s in hostile.INVENTORY.devices for s in request.serials)
    else:
        assert ["c.json", "c.json.reason"] == sorted(rejected)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_intake_reads_any_bytes_as_a_document_or_a_reason(
    raw: bytes, drop_work: WorkPaths, count: Count
) -> None:
    count()
    path = drop_work.root / "any.json"
    path.write_bytes(raw)
    try:
        dropped = intake.read(path, "command-file")
    except intake.Rejected as exc:
        assert str(exc).startswith("any.json")
    else:
        assert isinstance(dropped.data, dict)


# -- device answers --------------------------------------------------------------------------------------------

_TAGS = ["response", "result", "system", "serial", "sw-version", "hostname", "uptime", "enabled", "group",
         "local-info", "peer-info", "state", "devices", "entry", "devicegroups", "sw-updates", "versions",
         "version", "size", "downloaded", "job", "id", "status", "progress", "msg", "line", "details"]  # fmt: skip
_TEXTS = st.one_of(
    st.none(),
    st.sampled_from(
        ["yes", "no", "FIN", "ACT", "OK", "FAIL", "11.1.2", "100", "²", "nan", "1 days, 1:02:03"]
    ),
    st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc"]), max_size=12),
)


@st.composite
def elements(draw: st.DrawFn, depth: int = 0) -> ET.Element:
    el = ET.Element(draw(st.sampled_from(_TAGS)))
    el.text = draw(_TEXTS)
    if draw(st.booleans()):
        el.set("name", draw(st.sampled_from(["001", "dc", "", "x y"])))
    if depth < 4:
        for child in draw(st.lists(elements(depth + 1), max_size=3)):
            el.append(child)
    return el


_PARSERS = [
    parsers.system_info,
    parsers.ha_state,
    parsers.panorama_devices,
    parsers.device_groups,
    parsers.software_images,
    parsers.enqueued_job_id,
    parsers.job,
    parsers.jobs,
    parsers.chassis_ready,
    parsers.free_disk_gb,
]


@FUZZ
@given(root=elements())
def test_response_parsers_return_a_value_or_a_format_error(root: ET.Element, count: Count) -> None:
    count()
    for parser in _PARSERS:
        with contextlib.suppress(parsers.ResponseFormatError):
            parser(root)
    parsers.message(root)


@FUZZ
@given(text=st.text(max_size=200))
def test_disk_space_and_uptime_text_parsers(text: str, count: Count) -> None:
    count()
    root = ET.Element("response")
    ET.SubElement(root, "result").text = "Filesystem Size Used Avail Use% Mounted on\n" + text
    try:
        free = parsers.free_disk_gb(root)
    except parsers.ResponseFormatError:
        pass
    else:
        assert free == free and abs(free) != float("inf"), "a free-space figure is a real number"
    seconds = parsers.uptime_seconds(text)
    assert seconds is None or seconds >= 0
