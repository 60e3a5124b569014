"""Log files: both formats written, secrets scrubbed, rotation by size, pruning by age."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from reconciler.workdir import logs
from reconciler.workdir.layout import WorkPaths


def _init(tmp_path: Path) -> WorkPaths:
    paths = WorkPaths(tmp_path / "wd")
    for d in paths.directories():
        d.mkdir(parents=True, exist_ok=True)
    return paths


def test_json_and_text_logs_with_structured_fields(tmp_path: Path) -> None:
    paths = _init(tmp_path)
    logs.setup(paths, component="t")
    logs.get("engine").info("installing", extra={"serial": "0011", "phase": "install"})
    doc = json.loads((paths.json_logs_dir / "panos-upgrade-t.jsonl").read_text().splitlines()[-1])
    assert ("installing", "0011", "install", "INFO") == (
        doc["msg"],
        doc["serial"],
        doc["phase"],
        doc["level"],
    )
    assert "installing" in (paths.text_logs_dir / "panos-upgrade-t.log").read_text()


def test_registered_secrets_are_scrubbed(tmp_path: Path) -> None:
    paths = _init(tmp_path)
    logs.setup(paths, component="t")
    logs.register_secret("pa55word-xyz")
    logs.get("x").error("login failed for key=pa55word-xyz")
    for f in (paths.json_logs_dir / "panos-upgrade-t.jsonl", paths.text_logs_dir / "panos-upgrade-t.log"):
        text = f.read_text()
        assert "pa55word-xyz" not in text
        assert "key=********" in text


def test_rotation_by_size(tmp_path: Path) -> None:
    paths = _init(tmp_path)
    logs.setup(paths, component="t", max_size_mb=1)
    for i in range(3000):
        logs.get("x").info("line %d %s", i, "z" * 500)
    rotated = sorted(p.name for p in paths.text_logs_dir.iterdir())
    assert "panos-upgrade-t.log.1" in rotated
    assert all(p.stat().st_size <= 1024 * 1024 + 1024 for p in paths.text_logs_dir.iterdir())


def test_prune_removes_only_old_rotated_files(tmp_path: Path) -> None:
    d = tmp_path / "logs"
    d.mkdir()
    current, old, young = d / "a.log", d / "a.log.1", d / "a.log.2"
    for p in (current, old, young):
        p.write_text("x")
    long_ago = time.time() - 40 * 86400
    os.utime(old, (long_ago, long_ago))
    os.utime(current, (long_ago, long_ago))
    assert [old] == logs.prune(d, retention_days=30)
    assert current.exists() and young.exists() and not old.exists()
