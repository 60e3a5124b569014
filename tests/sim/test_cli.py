"""``panos-upgrade sim serve|status|fault``: a real ``serve`` process, poked by the other commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    state = tmp_path / "state"
    cmd = [
        sys.executable, "-m", "reconciler", "sim", "serve", "--state-dir", str(state), "--firewalls", "4",
        "--ha-pairs", "1", "--port", "0", "--time-scale", "0.01", "--base-address", "127.21.0.0",
        "--duration", "60",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy()
    )
    deadline = time.monotonic() + 30
    while not (state / "status.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"sim serve did not start: {proc.communicate()[0]}")
        time.sleep(0.05)
    try:
        yield state, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_serve_status_fault_and_stop(served: tuple[Path, subprocess.Popen[str]]) -> None:
    state, proc = served
    runner = CliRunner()
    info = json.loads((state / "sim.json").read_text())
    assert oct((state / "sim.json").stat().st_mode & 0o777) == "0o600"
    assert info["panorama"]["address"] == "127.21.0.1" and len(info["devices"]) == 4
    serial = info["devices"][0]["serial"]

    table = runner.invoke(app, ["sim", "status", "--state-dir", str(state)])
    assert table.exit_code == 0, table.output
    assert serial in table.output and "active" in table.output

    injected = runner.invoke(app, ["sim", "fault", "--state-dir", str(state), serial, "http_500", "rate=0.5"])
    assert injected.exit_code == 0, injected.output
    assert "http_500 injected" in injected.output

    bad = runner.invoke(app, ["sim", "fault", "--state-dir", str(state), serial, "http_500", "rate=7"])
    assert bad.exit_code == 1 and "between 0 and 1" in bad.output

    def faults() -> list[str]:
        result = runner.invoke(app, ["sim", "status", "--state-dir", str(state), "--json"])
        assert result.exit_code == 0, result.output
        device = next(d for d in json.loads(result.output)["devices"] if d["serial"] == serial)
        return [f["kind"] for f in device["faults"]]

    deadline = time.monotonic() + 10
    while faults() != ["http_500"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert faults() == ["http_500"]

    cleared = runner.invoke(app, ["sim", "fault", "--state-dir", str(state), "--clear", serial])
    assert cleared.exit_code == 0 and "cleared http_500" in cleared.output

    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "PAN-OS simulator: 1 Panorama + 4 firewalls" in output and "simulator stopped" in output
    after = runner.invoke(app, ["sim", "status", "--state-dir", str(state)])
    assert after.exit_code == 1 and "is not running" in after.output


def test_status_without_a_simulator(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sim", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1 and "sim.json: not found" in result.output


def test_serve_a_fleet_file_for_a_while(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text('devices:\n  - {serial: "0099", hostname: lab-fw, version: "11.2.5"}\n')
    state = tmp_path / "state"
    result = CliRunner().invoke(
        app,
        ["sim", "serve", "--fleet", str(fleet), "--state-dir", str(state), "--port", "0", "--http",
         "--base-address", "127.23.0.0", "--seed", "3", "--duration", "0.2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 Panorama + 1 firewalls" in result.output and "http on port" in result.output
    info = json.loads((state / "sim.json").read_text())
    assert info["seed"] == 3 and info["scheme"] == "http"
    assert info["devices"] == [
        {"serial": "0099", "hostname": "lab-fw", "address": "127.23.1.1", "model": "PA-VM", "device_group": "",
         "ha_peer": None, "ha_priority": None, "version": "11.2.5"}
    ]  # fmt: skip


def test_serve_a_panorama_ha_pair_from_a_fleet_file(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        'panorama: {version: "11.1.4", downloaded: ["11.2.0"],\n'
        '           ha: {peer: {serial: "000710000042", hostname: pano-b, version: "11.1.4"}}}\n'
        'devices:\n  - {serial: "0099", hostname: lab-fw, version: "11.1.4"}\n'
    )
    state = tmp_path / "state"
    result = CliRunner().invoke(
        app,
        ["sim", "serve", "--fleet", str(fleet), "--state-dir", str(state), "--port", "0", "--http",
         "--base-address", "127.23.0.0", "--duration", "0.2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 Panorama + 1 firewalls" in result.output and "127.23.0.2" in result.output
    info = json.loads((state / "sim.json").read_text())
    assert info["panorama"]["version"] == "11.1.4"
    assert (
        info["panorama_peer"]["serial"] == "000710000042" and info["panorama_peer"]["address"] == "127.23.0.2"
    )


def test_serve_reports_a_bad_fleet_file(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("devices:\n  - {serial: '0099', version: 11.2}\n")
    result = CliRunner().invoke(
        app, ["sim", "serve", "--fleet", str(fleet), "--state-dir", str(tmp_path / "s")]
    )
    assert result.exit_code == 1
    assert f"{fleet}:2: devices[0].version" in result.output
