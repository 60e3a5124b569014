"""The first README command's main job: ``panos-upgrade demo`` converges a simulated fleet (smaller here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_converges_with_only_the_injected_failure(tmp_path: Path) -> None:
    work = tmp_path / "demo-work"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "demo",
            "--firewalls",
            "10",
            "--ha-pairs",
            "1",
            "--time-scale",
            "0.002",
            "--work-dir",
            str(work),
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert 0 == proc.returncode, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Discovered 10 firewalls" in out and "1 HA pairs confirmed" in out
    assert "Plan for" in out and "Finished in" in out
    for group in ("branches", "ha-pairs", "dmz-prestage", "rest"):
        assert group in out
    records = [json.loads(p.read_text()) for p in (work / "status" / "devices").glob("*.json")]
    failed = [r for r in records if r["upgrade_status"] == "failed"]
    assert 1 == len(failed) and "install-failed" == failed[0]["last_error"]["reason"]
    assert f"device retry {failed[0]['serial']}" in out
    assert all(r["upgrade_status"] in ("done", "downloaded", "failed") for r in records)
    events = [json.loads(line) for line in (work / "simulator" / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "failover" for e in events), "the HA pair was upgraded with a failover"
