"""Hostile or careless command lines: secrets typed as arguments, an empty ``--work-dir``, a FIFO where a
file belongs. Each gets one clear error (or, for a secret, a safer way in) and never hangs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.workdir import inventory_store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths
from tests.reliability import hostile
from tests.reliability.figures import TestFigures


def test_a_secret_left_off_the_command_line_is_read_from_standard_input(
    work: WorkPaths, runner: CliRunner
) -> None:
    result = runner.invoke(
        app, ["--work-dir", str(work.root), "config", "set", "firewall.password"], input="s3cr3t-value\n"
    )
    assert 0 == result.exit_code, result.output
    assert "s3cr3t-value" not in result.output
    assert "s3cr3t-value" == Config.load(work.config_file).secret("firewall.password")
    plain = runner.invoke(
        app, ["--work-dir", str(work.root), "config", "set", "firewall.port"], input="8443\n"
    )
    assert 1 == plain.exit_code, plain.output
    assert "firewall.port" in plain.output and "VALUE" in plain.output
    empty = runner.invoke(app, ["--work-dir", str(work.root), "config", "set", "panorama.api_key"], input="")
    assert 1 == empty.exit_code and "empty" in empty.output, empty.output


def test_an_empty_work_dir_is_refused_instead_of_falling_back(
    work: WorkPaths, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, figures: TestFigures
) -> None:
    figures.add("bad_inputs")
    monkeypatch.setenv("PANOS_UPGRADE_HOME", str(work.root))
    result = runner.invoke(app, ["--work-dir", "", "config", "show"])
    assert 1 == result.exit_code, result.output
    assert "error: --work-dir: empty" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "{fifo}"],
        ["plan", "-f", "{fifo}"],
        ["validate", "{good}", "--upgrade-paths", "{fifo}"],
        ["upgrade", "{fifo}"],
        ["upgrade-ha-pairs", "{fifo}"],
    ],
    ids=["validate", "plan", "upgrade-paths", "upgrade", "upgrade-ha-pairs"],
)
def test_a_fifo_where_a_file_belongs_is_refused_at_once(
    args: list[str], work: WorkPaths, tmp_path: Path, figures: TestFigures
) -> None:
    figures.add("bad_inputs")
    inventory_store.save(work, hostile.INVENTORY)
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    good = tmp_path / "good.yaml"
    good.write_text(
        'apiVersion: panos-upgrade/v1\ngroups:\n  - {name: dc, select: {all: true}, target: "11.1.2"}\n'
    )
    argv = [a.replace("{fifo}", str(fifo)).replace("{good}", str(good)) for a in args]
    cmd = [sys.executable, "-m", "reconciler", "--work-dir", str(work.root), *argv]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{args[0]} hung reading a FIFO") from None
    assert 1 == run.returncode, run.stderr
    assert f"{fifo}: not a regular file" in run.stderr
