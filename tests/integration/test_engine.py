"""The upgrade engine against the simulator: real pan-os-python, real sockets, end states asserted from the
simulator's devices, the status files and the simulator's event log."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.core.version import PanOsVersion
from reconciler.machine import observations as o
from reconciler.machine.records import Phase
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import DeviceSpec, FleetSpec, HaSpec
from reconciler.sim.testing import both_members_down, installs_without_download
from reconciler.workdir import schemas
from tests.integration.fleet_env import fleet_env
from tests.safety import assert_safe

_blocks = itertools.count(100)
TARGET = "11.1.6-h1"
LOOSE = "validation: {tcpSessionMargin: 60, routeMargin: 0, arpMargin: 0}\n"


def block() -> str:
    return f"127.{next(_blocks)}.0.0"


def dev(serial: str, version: str, **kw: object) -> DeviceSpec:
    kw.setdefault("device_group", "dc")
    return DeviceSpec(serial, f"fw-{serial}", version=PanOsVersion.parse(version), **kw)  # type: ignore[arg-type]


def group(target: str = TARGET, extra: str = "") -> str:
    body = f'groups:\n  - name: dc\n    select: {{deviceGroups: [dc]}}\n    target: "{target}"\n'
    return body + "".join(f"    {line}\n" for line in extra.splitlines())


def installs(events: list[dict[str, object]], serial: str) -> list[str]:
    return [str(e["version"]) for e in events if e["event"] == "install_start" and e["serial"] == serial]


def assert_status_files_valid(work: Path) -> None:
    for file in (work / "status" / "devices").glob("*.json"):
        assert [] == schemas.errors("device-status", json.loads(file.read_text())), file


def test_standalone_single_hop_skip_with_bases_and_multi_hop(tmp_path: Path) -> None:
    fleet = FleetSpec(devices=(dev("001", "11.1.2"), dev("002", "10.2.9"), dev("003", "9.1.17")))
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.write_desired(group())
        result, records = env.converge()
        events = env.sim.events()
        for serial in ("001", "002", "003"):
            assert TARGET == env.sim.device(serial).version, serial
            assert Phase.DONE is records[serial].phase, records[serial].last_error
        assert ["11.1.6-h1"] == installs(events, "001")
        # A standalone 10.2 firewall skips 11.0 (allowed from 10.1 on) but downloads both bases first.
        assert ["11.1.6-h1"] == installs(events, "002")
        downloads_002 = [
            e["version"] for e in events if e["event"] == "download_end" and e["serial"] == "002"
        ]
        assert {"11.0.0", "11.1.0", "11.1.6-h1"} <= set(downloads_002)
        # Before 10.1 no release may be skipped; intermediate hops use the newest maintenance release.
        assert ["10.0.12", "10.1.14-h9", "11.1.6-h1"] == installs(events, "003")
        assert [] == installs_without_download(events)
        assert not [e for e in events if e["event"] == "install_refused"]
        assert_safe(events, managed={"001", "002", "003"}, max_in_flight=20)
        assert all(not d.changes for d in result.plan.devices)  # type: ignore[union-attr]
        assert_status_files_valid(env.paths.root)
        status = json.loads((env.paths.device_status_dir / "003.json").read_text())
        assert ("9.1.17", ["10.0.12", "10.1.14-h9", "11.1.6-h1"], 3) == (
            status["starting_version"],
            status["upgrade_path"],
            status["current_path_index"],
        )


def test_images_already_downloaded_are_not_downloaded_again(tmp_path: Path) -> None:
    staged = tuple(PanOsVersion.parse(v) for v in ("11.1.2", "11.1.6-h1"))
    fleet = FleetSpec(devices=(dev("001", "11.1.2", downloaded=staged),))
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.write_desired(group())
        _, records = env.converge()
        assert Phase.DONE is records["001"].phase
        assert [] == [e for e in env.sim.events() if e["event"] == "download_start"]
        assert ["11.1.6-h1"] == installs(env.sim.events(), "001")


def test_ha_pair_passive_first_failover_and_functional(tmp_path: Path) -> None:
    fleet = FleetSpec(
        devices=(
            dev("101", "10.2.9", ha=HaSpec("102", priority=10)),
            dev("102", "10.2.9", ha=HaSpec("101", priority=20)),
        )
    )
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        initial = {s: env.sim.device(s).ha_state for s in ("101", "102")}
        passive = next(s for s, state in initial.items() if state == "passive")
        active = next(s for s, state in initial.items() if state == "active")
        env.write_desired(group())
        _, records = env.converge()
        events = env.sim.events()
        assert {TARGET} == {env.sim.device(s).version for s in ("101", "102")}
        assert {Phase.DONE} == {records[s].phase for s in ("101", "102")}
        # HA pairs step through every feature release: 10.2 -> 11.0 -> 11.1.
        assert ["11.0.6", TARGET] == installs(events, passive) == installs(events, active)
        first_install = next(e for e in events if e["event"] == "install_start")
        assert passive == first_install["serial"]
        # Each member is suspended right before its own reboot (never before it is known to need one): the
        # passive first (no failover), then the active (the failover onto the upgraded member).
        suspends = [e["serial"] for e in events if e["event"] == "ha_suspend_request"]
        assert [passive, active] == suspends[:2] and len(suspends) == 4
        assert [e for e in events if e["event"] == "failover" and e.get("previous") == active]
        assert [e for e in events if e["event"] == "ha_functional_request"]
        assert [] == both_members_down(events, [("101", "102")])
        assert_safe(events, managed={"101", "102"}, max_in_flight=20)
        assert {"active", "passive"} == {env.sim.device(s).ha_state for s in ("101", "102")}
        # The first member downloads with sync-to-peer: its peer gets the images without downloading them.
        assert [e for e in events if e["event"] == "download_synced" and e["serial"] == active]


def test_every_fault_fails_only_its_device_with_the_right_reason(tmp_path: Path) -> None:
    faults = {
        "f01": ("download_fail", {}, "download-failed"),
        "f02": ("download_stall", {"at_percent": 40}, "job-stalled"),
        "f03": ("install_fail", {}, "install-failed"),
        "f04": ("reboot_hang", {}, "reboot-timeout"),
        "f05": ("reboot_old_version", {}, "came-back-on-old-version"),
        "f06": ("disk_small", {"free_mb": 900}, "insufficient-disk"),
        "f07": ("routes_missing", {"fraction": 0.5}, "postflight-breach"),
    }
    devices = [
        dev(s, "11.1.2", faults=(Fault.create(kind, **params),)) for s, (kind, params, _) in faults.items()
    ]
    devices.append(dev("ok1", "11.1.2"))
    with fleet_env(tmp_path, FleetSpec(devices=tuple(devices)), base_address=block()) as env:
        env.write_desired(group(extra="failureBudget: 20\n" + LOOSE))
        _, records = env.converge()
        for serial, (_, _, reason) in faults.items():
            rec = records[serial]
            assert (Phase.FAILED, reason) == (rec.phase, rec.last_error.reason if rec.last_error else None), (
                serial
            )
        assert Phase.DONE is records["ok1"].phase
        assert TARGET == env.sim.device("ok1").version
        # A failed install never reboots; a device failed before its install still runs its old version.
        events = env.sim.events()
        assert not [e for e in events if e["event"] == "reboot_start" and e["serial"] == "f03"]
        for serial in ("f01", "f02", "f03", "f06"):
            assert "11.1.2" == env.sim.device(serial).version
        assert_status_files_valid(env.paths.root)


def test_failure_budget_halts_the_group(tmp_path: Path) -> None:
    devices = tuple(dev(f"b0{i}", "11.1.2", faults=(Fault.create("install_fail"),)) for i in range(1, 5))
    with fleet_env(tmp_path, FleetSpec(devices=devices), base_address=block()) as env:
        env.write_desired(group(extra="failureBudget: 2\nmaxParallel: 1\n"))
        result, records = env.converge()
        failed = sorted(s for s, r in records.items() if r.phase is Phase.FAILED)
        assert 2 == len(failed)
        untouched = {"b01", "b02", "b03", "b04"} - set(records)
        assert 2 == len(untouched)
        assert not [
            e for e in env.sim.events() if e["event"] == "download_start" and e["serial"] in untouched
        ]
        plan = result.plan
        assert plan is not None and plan.group("dc").halted
        serials = ["b01", "b02", "b03", "b04"]
        assert_safe(env.sim.events(), groups={"dc": (serials, 1)}, managed=serials, max_in_flight=20)
        assert {"failure-budget"} == {d.reason for d in plan.devices if d.serial in untouched}


def test_dry_run_changes_nothing_on_any_device(tmp_path: Path) -> None:
    fleet = FleetSpec(devices=(dev("001", "10.2.9"), dev("002", "11.1.2")))
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.write_desired(group())
        _, records = env.converge(dry_run=True)
        changing = {
            "download_start",
            "install_start",
            "reboot_start",
            "content_install_start",
            "ha_suspend_request",
        }
        assert [] == [e for e in env.sim.events() if e["event"] in changing]
        assert_safe(env.sim.events(), dry_run=True)
        assert {"001": "10.2.9", "002": "11.1.2"} == {s: env.sim.device(s).version for s in ("001", "002")}
        assert {Phase.DRY_RUN_COMPLETE} == {r.phase for r in records.values()}
        assert records["001"].planned and records["001"].planned[0].to_download


def test_cancel_holds_at_a_safe_point_and_release_resumes(tmp_path: Path) -> None:
    import threading
    import time

    from reconciler.engine.loop import drive

    fleet = FleetSpec(devices=(dev("001", "10.2.9"),))
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address=block()) as env:
        env.write_desired(group())
        session = env.session()
        try:
            session.reconciler.load_records()
            asked = {"cancel": False}

            def cancel_when_downloading() -> None:
                rec = session.executor.record("001")
                if (
                    not asked["cancel"]
                    and rec is not None
                    and rec.phase in (Phase.DOWNLOAD_BASE, Phase.DOWNLOAD_TARGET)
                ):
                    asked["cancel"] = session.executor.request(
                        "001", o.CancelRequest(by="test", reason="admin takeover")
                    )

            drive(
                session,
                stop=threading.Event(),
                until_settled=True,
                on_tick=cancel_when_downloading,
                deadline=time.monotonic() + 60,
            )
            held = session.executor.record("001")
            assert held is not None and Phase.HELD is held.phase
            assert held.hold is not None and "admin takeover" == held.hold.reason
            assert "10.2.9" == env.sim.device("001").version
            assert not [e for e in env.sim.events() if e["event"] == "install_start"]
            plan = session.reconciler.last_plan
            assert plan is not None and "held" == plan.device("001").reason
            assert session.executor.request("001", o.ReleaseRequest(by="test"))
            drive(session, stop=threading.Event(), until_settled=True, deadline=time.monotonic() + 60)
            assert TARGET == env.sim.device("001").version
        finally:
            session.close()


@pytest.mark.parametrize("moment", ["download_start", "install_start", "reboot_start"])
def test_engine_killed_mid_step_resumes_without_repeating_installs(tmp_path: Path, moment: str) -> None:
    import os
    import signal
    import subprocess
    import sys

    fleet = FleetSpec(devices=(dev("001", "10.2.9"), dev("002", "11.1.2")))
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address=block()) as env:
        env.write_desired(group())
        cmd = [
            sys.executable,
            "-m",
            "reconciler",
            "--work-dir",
            str(env.paths.root),
            "apply",
            "--auto-approve",
            "-f",
            str(env.desired),
            "--timeout",
            "90",
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "CI": ""}
        )
        try:
            seen = env.sim.wait_until(lambda: any(e["event"] == moment for e in env.sim.events()), timeout=60)
            assert seen, f"never saw {moment}"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        for file in (env.paths.device_status_dir).glob("*.json"):
            json.loads(file.read_text())  # every status file intact at the kill
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert 0 == again.returncode, again.stdout[-2000:] + again.stderr[-2000:]
        events = env.sim.events()
        assert {TARGET} == {env.sim.device(s).version for s in ("001", "002")}
        per_image = Counter((e["serial"], e["version"]) for e in events if e["event"] == "install_start")
        assert all(n == 1 for n in per_image.values()), per_image
        assert [] == installs_without_download(events)
        assert_status_files_valid(env.paths.root)


def test_content_below_the_releases_minimum_is_updated_first(tmp_path: Path) -> None:
    # 11.1 needs content 8760 or later; this firewall runs 8750.
    fleet = FleetSpec(devices=(dev("001", "10.2.9", content_version="8750-8340"),))
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.write_desired(group())
        _, records = env.converge()
        events = env.sim.events()
        assert Phase.DONE is records["001"].phase, records["001"].last_error
        assert records["001"].content_updated
        content_done = next(i for i, e in enumerate(events) if e["event"] == "content_install_end")
        install = next(i for i, e in enumerate(events) if e["event"] == "install_start")
        assert content_done < install
        assert not [e for e in events if e["event"] == "install_refused"]


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """A webhook endpoint on loopback: its URL and the payloads it received."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict[str, object]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_engine_events_reach_a_webhook_on_loopback(tmp_path: Path) -> None:
    fleet = FleetSpec(
        devices=(dev("001", "11.1.2"), dev("002", "11.1.2", faults=(Fault.create("install_fail"),)))
    )
    with (
        webhook_receiver() as (url, received),
        fleet_env(tmp_path, fleet, base_address=block(), **{"notifications.webhook_url": url}) as env,
    ):
        env.write_desired(group(extra="failureBudget: 5\n"))
        env.converge()
    kinds = [e["event"] for e in received]
    assert "group_started" == kinds[0]
    assert {"serial": "002", "reason": "install-failed"}.items() <= next(
        e for e in received if e["event"] == "device_failed"
    ).items()


def test_a_dry_run_tells_no_webhook(tmp_path: Path) -> None:
    """``apply --dry-run`` rehearses (pre-flight on the devices) but starts nothing: a "group started" or a
    pre-flight failure sent to the team's channel would be untrue."""
    from typer.testing import CliRunner

    from reconciler.cli import app

    fleet = FleetSpec(
        devices=(dev("001", "11.1.2"), dev("002", "11.1.2", faults=(Fault.create("disk_small"),)))
    )
    with (
        webhook_receiver() as (url, received),
        fleet_env(tmp_path, fleet, base_address=block(), **{"notifications.webhook_url": url}) as env,
    ):
        env.write_desired(group(extra="failureBudget: 5\n"))
        args = ["--work-dir", str(env.paths.root), "apply", "-f", str(env.desired), "--dry-run"]
        result = CliRunner().invoke(app, [*args, "--auto-approve", "--timeout", "60"])
        assert 0 == result.exit_code, result.output
        assert "dry run: 2 device(s) previewed" in result.output, result.output
        assert 2 == len({e["serial"] for e in env.sim.events() if e["event"] == "software_check"})
        assert all(env.sim.device(s).version == "11.1.2" for s in ("001", "002"))
    assert [] == received


@pytest.mark.parametrize("nth", [1, 2])
def test_engine_killed_right_after_an_ha_member_suspends_itself_resumes_its_reboot(
    tmp_path: Path, nth: int
) -> None:
    """Killed between a member's suspend (before its reboot) and the reboot: the restarted engine reads the
    roles, reboots the suspended member and makes it functional again (the chaos suite once found members
    left suspended for good). ``nth``: the passive member's suspend (1), the active member's failover (2)."""
    import os
    import signal
    import subprocess
    import sys

    fleet = FleetSpec(
        devices=(
            dev("101", "11.0.6", ha=HaSpec("102", priority=10)),
            dev("102", "11.0.6", ha=HaSpec("101", priority=20)),
        )
    )
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address=block()) as env:
        env.write_desired(group())
        cmd = [
            sys.executable, "-m", "reconciler", "--work-dir", str(env.paths.root),
            "apply", "--auto-approve", "-f", str(env.desired), "--timeout", "90",
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "CI": ""}
        )

        def suspends() -> int:
            return sum(1 for e in env.sim.events() if e["event"] == "ha_suspend_request")

        try:
            assert env.sim.wait_until(lambda: suspends() >= nth, timeout=60), "never saw the suspend"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert 0 == again.returncode, again.stdout[-2000:] + again.stderr[-2000:]
        events = env.sim.events()
        assert {TARGET} == {str(env.sim.device(s).version) for s in ("101", "102")}
        assert ["active", "passive"] == sorted(env.sim.device(s).ha_state for s in ("101", "102"))
        assert_safe(events, managed={"101", "102"})
