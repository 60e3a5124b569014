"""``panos-upgrade``'s commands are registered lazily: ``main`` registers only ``plan_cmd`` for ``plan`` and
``validate`` (issue 18.5: the rest of the command line costs ~0.15 s of imports), which must then be the very
same commands as on the whole command line, and everything else gets the whole command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import reconciler.cli as cli

# Each check runs in a fresh interpreter: this one has the whole command line registered already.
SAME_COMMANDS = """
import json, sys, typer
import reconciler.cli as cli


def describe(command):
    return [[command.name, command.help]] + [
        [p.name, p.opts, p.secondary_opts, repr(getattr(p, "type", None)), repr(p.default), getattr(p, "help", None), p.required,
         p.multiple, getattr(p, "is_flag", None)]
        for p in command.params
    ]


out = {}
cli._register(sorted(set(cli._ALONE.values())))
alone = typer.main.get_command(cli._app)
for name in cli._ALONE:
    out[name] = {"alone": [sorted(alone.commands), describe(alone), describe(alone.commands[name])]}
cli._register(cli._MODULES)
whole = typer.main.get_command(cli._app)
for name in cli._ALONE:
    out[name]["whole"] = [len(whole.commands), describe(whole), describe(whole.commands[name])]
print(json.dumps(out))
"""


def python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_command_registered_alone_is_the_one_of_the_whole_command_line() -> None:
    done = python(SAME_COMMANDS)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert sorted(found) == ["plan", "validate"]
    for name, seen in found.items():
        names, alone_root, alone_command = seen["alone"]
        count, whole_root, whole_command = seen["whole"]
        assert names == ["plan", "validate"]
        assert count > 10
        assert (whole_root, whole_command) == (alone_root, alone_command), name


@pytest.mark.parametrize(
    "args, command",
    [
        (["plan", "--json"], "plan"),
        (["--work-dir", "plan", "validate"], "validate"),
        (["--work-dir=x", "-v", "--debug", "--log-level", "INFO", "plan"], "plan"),
        (["--help"], None),
        ([], None),
        (["--", "plan"], None),
        (["device", "list"], "device"),
    ],
)
def test_the_command_of_a_command_line(args: list[str], command: str | None) -> None:
    assert cli._command_of(args) == command


MAIN = """
import atexit, sys
from reconciler.cli import main

atexit.register(lambda: print("engine imported" if "reconciler.engine" in sys.modules else "engine not imported"))
main(sys.argv[1:])
"""


def test_main_runs_validate_and_plan_without_the_rest_of_the_command_line(tmp_path: Path) -> None:
    desired = tmp_path / "fleet.yaml"
    desired.write_text(
        'apiVersion: panos-upgrade/v1\ngroups:\n  - {name: a, select: {all: true}, target: "11.1.6"}\n'
    )
    work = str(tmp_path / "work")
    done = python(MAIN, "--work-dir", work, "init")
    assert (done.returncode, done.stdout.splitlines()[-1]) == (0, "engine imported"), done.stderr
    done = python(MAIN, "--work-dir", work, "validate", str(desired))
    assert (done.returncode, done.stdout.splitlines()[-1]) == (0, "engine not imported"), done.stderr
    assert "valid (1 groups" in done.stdout
    done = python(MAIN, "--work-dir", work, "plan", "-f", str(desired))
    assert (done.returncode, done.stdout.splitlines()[-1]) == (1, "engine not imported")
    assert "no inventory at" in done.stderr  # the command ran: a work directory without discovery


def test_app_is_the_whole_command_line() -> None:
    result = CliRunner().invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    for name in ("plan", "apply", "daemon", "device", "group", "job"):
        assert f" {name} " in result.output
    assert cli._registered == cli._MODULES
