"""``init`` and ``config`` end to end through the CLI; errors are one line, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.workdir.layout import WorkPaths

SECRET = "S3cr3t-Value-Never-Shown"


def test_help_lists_the_command_groups(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert 0 == result.exit_code
    for group in ("init", "config"):
        assert group in result.output


def test_python_dash_m_works() -> None:
    out = subprocess.run([sys.executable, "-m", "reconciler", "--version"], capture_output=True, text=True)
    assert 0 == out.returncode
    assert out.stdout.startswith("panos-upgrade ")


def test_init_creates_the_layout_and_user_config(work: WorkPaths, home: Path) -> None:
    assert [] == work.missing()
    for rel in ("queue/pending", "commands/incoming", "status/devices", "audit", "logs/json", "backups"):
        assert (work.root / rel).is_dir()
    assert str(work.root) == json.loads((home / ".panos-upgrade.config.json").read_text())["work_dir"]


def test_init_is_idempotent_and_keeps_data(work: WorkPaths, runner: CliRunner) -> None:
    job = work.queue("pending") / "job-1.json"
    job.write_text('{"job_id": "job-1"}')
    work.config_file.write_text(json.dumps({"workers": {"max": 9}}))
    result = runner.invoke(app, ["init", "--work-dir", str(work.root)])
    assert 0 == result.exit_code, result.output
    assert "created 0 directories" in result.output
    assert '{"job_id": "job-1"}' == job.read_text()
    assert {"workers": {"max": 9}} == json.loads(work.config_file.read_text())


def test_config_set_get_unset(work: WorkPaths, runner: CliRunner) -> None:
    assert 0 == runner.invoke(app, ["config", "set", "workers.max", "12"]).exit_code
    assert "12" == runner.invoke(app, ["config", "get", "workers.max"]).output.strip()
    assert 0 == runner.invoke(app, ["config", "unset", "workers.max"]).exit_code
    assert "5" == runner.invoke(app, ["config", "get", "workers.max"]).output.strip()


def test_bad_value_is_one_line_on_stderr_and_changes_nothing(work: WorkPaths, runner: CliRunner) -> None:
    before = work.config_file.read_text()
    result = runner.invoke(app, ["config", "set", "workers.max", "5000"])
    assert 1 == result.exit_code
    assert "error: workers.max: 5000 is above the maximum 500\n" == result.stderr
    assert "Traceback" not in result.output
    assert before == work.config_file.read_text()


def test_unknown_key_gets_a_hint(work: WorkPaths, runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "set", "firewall.pasword", "x"])
    assert 1 == result.exit_code
    assert "did you mean 'firewall.password'?" in result.stderr


def test_missing_work_dir_is_a_clear_error(home: Path, runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["--work-dir", str(tmp_path / "nope"), "config", "show"])
    assert 1 == result.exit_code
    assert "does not exist" in result.stderr and "panos-upgrade init" in result.stderr


def test_every_command_logs_which_work_dir_source_won(work: WorkPaths, runner: CliRunner) -> None:
    runner.invoke(app, ["config", "get", "workers.max"])
    runner.invoke(app, ["--work-dir", str(work.root), "config", "get", "workers.max"])
    text = (work.text_logs_dir / "panos-upgrade-cli.log").read_text()
    assert f"Work directory: {work.root} (from ~/.panos-upgrade.config.json)" in text
    assert f"Work directory: {work.root} (from --work-dir flag)" in text


def test_show_masks_secrets_and_json_is_parseable(work: WorkPaths, runner: CliRunner) -> None:
    runner.invoke(app, ["config", "set", "firewall.password", SECRET])
    shown = runner.invoke(app, ["config", "show", "--json"])
    data = json.loads(shown.output)
    assert "********" == data["firewall.password"]["value"]
    assert SECRET not in shown.output
    assert SECRET not in runner.invoke(app, ["config", "get", "firewall.password"]).output


def test_secret_never_lands_outside_the_config_file(work: WorkPaths, runner: CliRunner) -> None:
    runner.invoke(app, ["config", "set", "panorama.password", SECRET])
    runner.invoke(app, ["--debug", "config", "show"])
    runner.invoke(app, ["--log-level", "DEBUG", "config", "get", "panorama.password"])
    from reconciler.workdir import logs

    logs.get("test").warning("leaking %s on purpose", SECRET)  # scrubbed by every handler
    holders = [p for p in work.root.rglob("*") if p.is_file() and SECRET in p.read_text(errors="ignore")]
    assert [work.config_file] == holders
    assert 0o600 == os.stat(work.config_file).st_mode & 0o777


def test_secret_from_environment_is_masked(work: WorkPaths, runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "show"], env={"PANOS_UPGRADE_FIREWALL_PASSWORD": SECRET})
    assert SECRET not in result.output
    assert "environment PANOS_UPGRADE_FIREWALL_PASSWORD" in result.output


def test_bad_log_level_flag_is_rejected(work: WorkPaths, runner: CliRunner) -> None:
    result = runner.invoke(app, ["--log-level", "LOUD", "config", "show"])
    assert 1 == result.exit_code
    assert "--log-level" in result.stderr
