"""The first README command's main job: ``panos-upgrade demo`` converges a simulated fleet (smaller here)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.safety import check_log, read_events


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
            "--metrics-address",
            "127.0.0.1:0",
            "--sim-address",
            "127.31.0.0",
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
    # The options were used: the fleet on 127.31.0.0/16, metrics on the port really bound (not ':0').
    assert "127.31.0.0/16" in out and "127.30." not in out
    inventory = json.loads((work / "inventory.json").read_text())
    assert all(d["mgmt_ip"].startswith("127.31.") for d in inventory["devices"]), inventory["devices"][:2]
    assert "metrics: http://127.0.0.1:" in out and "127.0.0.1:0/" not in out
    for group in ("branches", "ha-pairs", "dmz-prestage", "rest"):
        assert group in out
    records = [json.loads(p.read_text()) for p in (work / "status" / "devices").glob("*.json")]
    failed = [r for r in records if r["upgrade_status"] == "failed"]
    assert 1 == len(failed) and "install-failed" == failed[0]["last_error"]["reason"]
    assert f"device retry {failed[0]['serial']}" in out
    assert all(r["upgrade_status"] in ("done", "downloaded", "failed") for r in records)
    events = [json.loads(line) for line in (work / "simulator" / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "failover" for e in events), "the HA pair was upgraded with a failover"


def test_demo_panorama_scenario_upgrades_panorama_first_and_reaches_two_firewalls_through_it(
    tmp_path: Path,
) -> None:
    work = tmp_path / "demo-work"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "demo",
            "--scenario",
            "panorama",
            "--firewalls",
            "10",
            "--ha-pairs",
            "1",
            "--time-scale",
            "0.002",
            "--work-dir",
            str(work),
            "--metrics-address",
            "127.0.0.1:0",
            "--sim-address",
            "127.35.0.0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert 0 == proc.returncode, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    through = re.search(r"reachable only through Panorama: (\S+), (\S+)", out)
    assert through is not None, out[:2000]
    cut_off = set(through.groups())
    assert "blocked (panorama-upgrade-pending)" in out and "Panorama is an HA pair" in out
    panoramas = {"000710000001", "000710000002"}
    records = {p.stem: json.loads(p.read_text()) for p in (work / "status" / "devices").glob("*.json")}
    for serial in panoramas:
        assert (records[serial]["group"], records[serial]["upgrade_status"]) == ("panorama", "done")
    for serial in cut_off:
        assert records[serial]["upgrade_status"] == "done" and records[serial]["current_version"] == "12.1.3"
    events_file = work / "simulator" / "events.jsonl"
    assert [] == check_log(events_file)
    events = read_events(events_file)
    # Panorama, passive member first, came back on 12.1.3 before any firewall installed a release it needs.
    pano_up = [e["seq"] for e in events if e["event"] == "reboot_end" and e["serial"] in panoramas]
    assert len(pano_up) == 2 and all(
        e["version"] == "12.1.3" for e in events if e["event"] == "reboot_end" and e["serial"] in panoramas
    )
    later = [
        e["seq"]
        for e in events
        if e["event"] == "install_start" and e["serial"] not in panoramas and e["version"].startswith("12.")
    ]
    assert later and max(pano_up) < min(later)
    # The cut-off firewalls were restarted while reached through Panorama ("<serial> not connected").
    not_connected = {
        str(e["message"]).split()[0]
        for e in events
        if e["event"] == "api_error" and str(e.get("message", "")).endswith(" not connected")
    }
    assert cut_off <= not_connected
    # "From now on" holds: each cut-off firewall fell back once (discovery), the engine knew it already.
    logged = [
        line
        for file in (work / "logs" / "text").rglob("*")
        if file.is_file()
        for line in file.read_text(errors="replace").splitlines()
        if "reached through Panorama from now on" in line
    ]
    assert sorted(s for s in cut_off for line in logged if f"firewall {s}:" in line) == sorted(cut_off), (
        logged
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--sim-address", "10.1.0.0", "loopback only"),
        ("--sim-address", "127.30.1.0", "127.A.0.0"),
        ("--sim-address", "fw.example", "not an IPv4 address"),
        ("--metrics-address", "0.0.0.0:9753", "loopback only"),
        ("--metrics-listen", "192.0.2.1:9753", "loopback only"),
        ("--metrics-listen", "127.0.0.1", "not HOST:PORT"),
    ],
)
def test_demo_refuses_addresses_off_loopback_before_doing_anything(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    work = tmp_path / "demo-work"
    result = CliRunner().invoke(app, ["demo", "--work-dir", str(work), option, value])
    assert 1 == result.exit_code, result.output
    assert message in result.stderr and value in result.stderr, result.stderr
    assert not work.exists()  # refused before the work directory or a simulator was set up
