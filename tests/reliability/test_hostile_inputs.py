"""Hostile input through the command line and the parsers: every bad desired-state file, CSV, argument
vector and device answer of the corpus gets one clear error naming the file and line or field, the process
never crashes (no traceback, exit code 1, or 2 for a usage error), and nothing is queued.

The daemon's side (queue and command files, desired-state edits under a running daemon, with the
simulator's event log as witness) is in ``test_hostile_daemon.py``; malformed XML over the wire in
``test_hostile_device_xml.py``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.device import parsers
from reconciler.workdir import inventory_store
from reconciler.workdir.layout import WorkPaths
from tests.reliability import hostile
from tests.reliability.figures import TestFigures

# file:line: field-path: message -- the shape of every desired-state error line.
_YAML_ERROR = re.compile(r"^\S+\.ya?ml:\d+: \S.*: .+$")


@pytest.fixture
def fleet_work(work: WorkPaths) -> WorkPaths:
    """An initialised work directory that knows the corpus's four firewalls."""
    inventory_store.save(work, hostile.INVENTORY)
    return work


def invoke(runner: CliRunner, work: WorkPaths, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--work-dir", str(work.root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"crashed with {result.exception!r} on {args!r}") from result.exception
    return result.exit_code, result.output


def queued(work: WorkPaths) -> list[str]:
    return sorted(p.name for p in work.queue("pending").iterdir())


# -- desired state -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", hostile.kept("desired"), ids=lambda p: p.name)
def test_bad_desired_file_is_refused_with_file_line_and_field(
    path: Path, runner: CliRunner, fleet_work: WorkPaths, figures: TestFigures
) -> None:
    figures.add("bad_inputs")
    code, out = invoke(runner, fleet_work, "validate", str(path))
    assert 1 == code
    assert f"{path.parent}/{hostile.expected(path)}" in out
    errors = [line for line in out.splitlines() if line.startswith(str(path))]
    assert errors and all(_YAML_ERROR.match(line) or line.endswith("error(s)") for line in errors), out[:2000]
    assert max(len(line) for line in out.splitlines()) < 1000, "one readable line per error"
    code, out = invoke(runner, fleet_work, "plan", "-f", str(path))
    assert 1 == code and "error: invalid desired state" in out and "Groups:" not in out


@pytest.mark.parametrize("item", hostile.GENERATED_DESIRED, ids=lambda g: g.name)
def test_generated_bad_desired_file_is_refused(
    item: hostile.Generated, tmp_path: Path, runner: CliRunner, fleet_work: WorkPaths, figures: TestFigures
) -> None:
    figures.add("bad_inputs")
    path = tmp_path / item.name
    item.write(path)
    code, out = invoke(runner, fleet_work, "validate", str(path))
    assert 1 == code
    assert f"{path}:" in out and item.expect in out
    assert max(len(line) for line in out.splitlines()) < 1000


# -- CSV files of the bulk commands -------------------------------------------------------------------------


def _bulk_command(name: str) -> str:
    return "upgrade" if name.startswith("sa_") else "upgrade-ha-pairs"


@pytest.mark.parametrize("path", hostile.kept("csv"), ids=lambda p: p.name)
def test_bad_csv_is_refused_with_file_and_line_and_nothing_is_queued(
    path: Path, runner: CliRunner, fleet_work: WorkPaths, figures: TestFigures
) -> None:
    figures.add("bad_inputs")
    for command in (
        _bulk_command(path.name),
        "download" if path.name.startswith("sa_") else "download-ha-pairs",
    ):
        code, out = invoke(runner, fleet_work, command, str(path))
        assert 1 == code, out
        assert f"{path.parent}/{hostile.expected(path)}" in out
        assert [] == queued(fleet_work)


@pytest.mark.parametrize("item", hostile.GENERATED_CSV, ids=lambda g: g.name)
def test_generated_bad_csv_is_refused(
    item: hostile.Generated, tmp_path: Path, runner: CliRunner, fleet_work: WorkPaths, figures: TestFigures
) -> None:
    figures.add("bad_inputs")
    path = tmp_path / item.name
    item.write(path)
    code, out = invoke(runner, fleet_work, "upgrade", str(path))
    assert 1 == code and f"{path}" in out and item.expect in out, out[:500]
    assert max(len(line) for line in out.splitlines()) < 1000
    assert [] == queued(fleet_work)


# -- command-line arguments ---------------------------------------------------------------------------------


def _substitute(arg: str, subs: dict[str, str]) -> str:
    for key, value in subs.items():
        arg = arg.replace(key, value)
    return arg


def test_every_bad_argument_vector_gets_one_clear_error_and_changes_nothing(
    runner: CliRunner, fleet_work: WorkPaths, tmp_path: Path, figures: TestFigures
) -> None:
    ok_csv = tmp_path / "ok.csv"
    ok_csv.write_text("serial\n001\n")
    subs = {
        "{missing}": str(tmp_path / "does-not-exist"),
        "{work}": str(fleet_work.root),
        "{corpus}": str(hostile.CORPUS),
        "{csv_ok}": str(ok_csv),
        "{long}": "x" * 100_000,
        "{tmp}": str(tmp_path),
    }
    before = _contents(fleet_work)
    failures = []
    cases = hostile.cli_cases()
    for case in cases:
        args = [_substitute(str(a), subs) for a in case["args"]]  # type: ignore[attr-defined]
        code, out = invoke(runner, fleet_work, *args) if "--work-dir" not in args else _bare(runner, args)
        problems = []
        if code not in (1, 2):
            problems.append(f"exit code {code}")
        if "Traceback" in out:
            problems.append("traceback")
        if code == 1 and not any(line.startswith("error: ") or ".yaml:" in line for line in out.splitlines()):
            problems.append("no 'error:' line")
        if code == 2 and "Error: " not in out:
            problems.append("usage error without a message")
        if max((len(line) for line in out.splitlines()), default=0) > 1000:
            problems.append("an output line over 1000 characters")
        if problems:
            failures.append(f"{case['why']}: {', '.join(problems)}: {out[:300]!r}")
    figures.add("bad_inputs", len(cases))
    figures.add("violations", len(failures))
    assert [] == failures
    assert before == _contents(fleet_work), "no bad command line left a file behind (no job, status or plan)"


def _contents(work: WorkPaths) -> list[Path]:
    """Every path of the work dir but logs and run/ (an 'apply' leaves its empty lock file there)."""
    skip = (work.logs_dir, work.run_dir)
    return sorted(p for p in work.root.rglob("*") if not any(p.is_relative_to(s) for s in skip))


def _bare(runner: CliRunner, args: list[str]) -> tuple[int, str]:
    result = runner.invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"crashed with {result.exception!r} on {args!r}") from result.exception
    return result.exit_code, result.output


# -- device answers, parser by parser ---------------------------------------------------------------------


@pytest.mark.parametrize("path", hostile.kept("xml"), ids=lambda p: p.name)
def test_unexpected_device_answer_is_a_format_error_or_a_safe_value(path: Path, figures: TestFigures) -> None:
    figures.add("bad_inputs")
    parser = getattr(parsers, path.name.split("__")[0])
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    want = hostile.expected(path)
    if want.startswith("tolerated: "):
        assert want.removeprefix("tolerated: ") == repr(parser(root))[: len(want) - len("tolerated: ")]
        return
    with pytest.raises(parsers.ResponseFormatError) as info:
        parser(root)
    assert want == str(info.value)[: len(want)]
