"""Work-directory resolution order: flag, environment, user config file, default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.errors import WorkDirError
from reconciler.workdir import location


def write_user_config(home: Path, work_dir: str) -> None:
    (home / ".panos-upgrade.config.json").write_text(json.dumps({"work_dir": work_dir}))


def test_flag_wins_over_everything(tmp_path: Path) -> None:
    write_user_config(tmp_path, "/from/user/config")
    res = location.resolve(tmp_path / "flag", env={"PANOS_UPGRADE_HOME": "/from/env"}, home=tmp_path)
    assert (tmp_path / "flag", "--work-dir flag") == (res.path, res.source)


def test_environment_beats_user_config(tmp_path: Path) -> None:
    write_user_config(tmp_path, "/from/user/config")
    res = location.resolve(None, env={"PANOS_UPGRADE_HOME": "/from/env"}, home=tmp_path)
    assert Path("/from/env") == res.path
    assert "PANOS_UPGRADE_HOME" in res.source


def test_user_config_beats_default(tmp_path: Path) -> None:
    write_user_config(tmp_path, "/from/user/config")
    res = location.resolve(None, env={}, home=tmp_path)
    assert (Path("/from/user/config"), "~/.panos-upgrade.config.json") == (res.path, res.source)


def test_default_when_nothing_is_set(tmp_path: Path) -> None:
    res = location.resolve(None, env={}, home=tmp_path)
    assert (Path("/opt/panos-upgrade"), "default") == (res.path, res.source)


def test_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    res = location.resolve("~/opt/panosupgrade", env={})
    assert tmp_path / "opt/panosupgrade" == res.path


@pytest.mark.parametrize("content", ["not json", "{}", '{"work_dir": 5}', '{"work_dir": ""}', "[]"])
def test_broken_user_config_is_a_clear_error(tmp_path: Path, content: str) -> None:
    (tmp_path / ".panos-upgrade.config.json").write_text(content)
    with pytest.raises(WorkDirError, match=r"\.panos-upgrade\.config\.json: cannot read work_dir"):
        location.resolve(None, env={}, home=tmp_path)
