"""Hostile devices, from small fake PAN-OS servers on 127.0.0.1: an answer trickled a byte a second, an
answer of hundreds of megabytes, Panorama listing serials that are no serials, hostnames that are
spreadsheet formulas or span lines.

Expected: every call ends within its deadline (``firewall.timeout`` is for the whole call, not for each
read); an answer over ``firewall.max_answer_mb`` fails that device only, without reading the rest; one bad
entry from Panorama is skipped with a warning and the inventory of the rest is written; device-supplied
text reaches CSV exports and tables defused.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.core.errors import DeviceError
from reconciler.core.inventory import Device, Inventory
from reconciler.device import discovery
from reconciler.device.client import Credentials, Endpoint, FirewallClient, PanoramaClient, RetryPolicy
from reconciler.workdir import inventory_store
from reconciler.workdir.layout import WorkPaths
from tests.reliability.fake_panos import FakePanos, Flood, Trickle, ok
from tests.reliability.figures import TestFigures

ONCE = RetryPolicy(attempts=1)
INFO = ok("<system><hostname>fw</hostname><serial>001</serial><sw-version>11.1.2</sw-version></system>")


def _client(fake: FakePanos, *, timeout: float = 2, max_answer_mb: int = 64) -> FirewallClient:
    endpoint = Endpoint("127.0.0.1", fake.port, timeout=timeout, use_http=True, max_answer_mb=max_answer_mb)
    return FirewallClient(endpoint, Credentials(api_key="K"), serial="001", retry=ONCE)


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_a_trickled_answer_ends_at_the_call_deadline(in_headers: bool, figures: TestFigures) -> None:
    figures.add("bad_inputs")
    with FakePanos(lambda cmd: Trickle(INFO, interval=0.2, in_headers=in_headers)) as fake:
        started = time.monotonic()
        with pytest.raises(DeviceError) as failed:
            _client(fake, timeout=2).system_info()
        elapsed = time.monotonic() - started
    assert "timeout" == failed.value.kind, failed.value
    # Each byte comes within the per-read timeout, so before, the call lasted the whole trickle (~25 s).
    assert elapsed < 4, f"{elapsed:.1f} s"


@pytest.mark.parametrize("content_length", [False, True], ids=["streamed", "announced"])
def test_an_answer_over_the_size_limit_fails_that_call_without_reading_it_all(
    content_length: bool, figures: TestFigures
) -> None:
    figures.add("bad_inputs")
    with FakePanos(lambda cmd: Flood(300 << 20, content_length=content_length)) as fake:
        with pytest.raises(DeviceError) as failed:
            _client(fake, timeout=30, max_answer_mb=2).system_info()
        assert "larger than the 2 MB limit" in str(failed.value)
        assert fake.sent < 64 << 20, "the client stopped reading"
    with FakePanos(lambda cmd: INFO) as fake:
        assert "001" == _client(fake, max_answer_mb=2).system_info().serial, "a normal answer still passes"


def _entry(serial: str, hostname: str = "fw", ip: str = "", peer: str = "") -> str:
    ha = f"<ha><state>active</state><peer><serial>{peer}</serial></peer></ha>" if peer else ""
    return (
        f"<entry name='{serial}'><serial>{serial}</serial><hostname>{hostname}</hostname>"
        f"<ip-address>{ip}</ip-address><model>PA-440</model><sw-version>11.1.2</sw-version>"
        f"<connected>yes</connected>{ha}</entry>"
    )


def test_one_bad_serial_from_panorama_is_skipped_and_the_fleet_is_still_written(
    work: WorkPaths, caplog: pytest.LogCaptureFixture, figures: TestFigures
) -> None:
    bad = ["x&#10;y", "../../x", "a b"]
    entries = _entry("001") + _entry("002", peer="../../etc") + "".join(_entry(s) for s in bad)

    def answer(cmd: str) -> bytes:
        if "devicegroups" in cmd:
            return ok("")
        if "<system><info" in cmd:  # discovery records Panorama's own version too
            return ok("<system><hostname>pano</hostname><serial>PANO1</serial><sw-version>11.1.4</sw-version></system>")
        if "high-availability" in cmd:
            return ok("<enabled>no</enabled>")
        return ok(f"<devices>{entries}</devices>")

    figures.add("bad_inputs", len(bad) + 1)
    with FakePanos(answer) as fake:
        panorama = PanoramaClient(
            Endpoint("127.0.0.1", fake.port, timeout=5, use_http=True), Credentials(api_key="K")
        )
        inventory = discovery.discover(
            panorama, _no_firewall, workers=2, retry_attempts=1, now="2026-12-02T00:00:00Z"
        )
    inventory_store.save(work, inventory)
    assert ["001", "002"] == sorted(inventory_store.load(work).devices)
    assert "" == inventory.devices["002"].peer_serial
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert 3 == len(skipped), skipped
    assert all("\n" not in m for m in skipped)


def _no_firewall(host: str, serial: str) -> FirewallClient:
    raise AssertionError("no management address was given: no firewall is asked")


HOSTILE_NAMES = {
    "S1": '=HYPERLINK("http://evil.example/","click")',
    "S2": "+1+cmd|' /C calc'!A0",
    "S3": "-2+3",
    "S4": "@SUM(1+1)",
    "S5": "\tTAB",
    "S6": "\rCR",
    "S7": "two\nlines",
    "S8": "esc\x1b[31mred",
}


def test_device_supplied_names_reach_csv_exports_and_tables_defused(
    work: WorkPaths, runner: CliRunner, tmp_path: Path, figures: TestFigures
) -> None:
    figures.add("bad_inputs", len(HOSTILE_NAMES))
    devices = [
        Device(s, name, mgmt_ip="127.0.0.1", model="PA-440", sw_version="11.1.2", device_group="dc",
               device_type="standalone", ha_state="standalone")
        for s, name in HOSTILE_NAMES.items()
    ]  # fmt: skip
    inventory_store.save(work, Inventory.of(devices))
    result = runner.invoke(
        app, ["--work-dir", str(work.root), "device", "export", "--output-dir", str(tmp_path)]
    )
    assert 0 == result.exit_code, result.output
    with (tmp_path / "standalone_devices.csv").open(newline="") as fh:
        rows = {r["serial"]: r["hostname"] for r in csv.DictReader(fh)}
    assert "'=HYPERLINK(" == rows["S1"][:12] and "two\\nlines" == rows["S7"]
    for serial in HOSTILE_NAMES:
        assert rows[serial][0] not in "=+-@\t\r", f"{serial}: {rows[serial]!r} starts a formula"
        assert rows[serial].isprintable(), serial
    listed = runner.invoke(app, ["--work-dir", str(work.root), "device", "list"])
    assert 0 == listed.exit_code, listed.output
    lines = listed.output.splitlines()
    assert len(HOSTILE_NAMES) + 2 == len(lines), listed.output
    assert all(ch.isprintable() for line in lines for ch in line), listed.output
