"""Firewalls reached through a Panorama HA pair while one Panorama member is down (issue 16.3), and
``auto``'s fallback remembered across discovery, the engine and later runs.

Real pan-os-python against the simulator over sockets. The firewalls' own listeners are closed
(``direct_unreachable``): only Panorama's ``target=SERIAL`` proxy reaches them. The simulator's event log
(``api`` events with ``target``) says which Panorama member passed each request on.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import FleetSpec, PanoramaSpec
from reconciler.workdir import firewall_paths, inventory_store
from tests.integration.fleet_env import FleetEnv, fleet_env
from tests.integration.test_engine import assert_status_files_valid, dev
from tests.safety import assert_safe

CUT_OFF = (Fault.create("direct_unreachable"),)
PANO, PEER = "000710000001", "000710000002"
DESIRED = """panorama:
  target: "12.1.3"
groups:
  - name: dc
    select: {deviceGroups: [dc]}
    target: "12.1.3"
  - name: edge
    select: {deviceGroups: [edge]}
    target: "11.2.7"
"""
FALLBACK_LOG = "reached through Panorama from now on"


def cli(runner: CliRunner, env: FleetEnv, *args: str) -> Any:
    return runner.invoke(app, ["--work-dir", str(env.paths.root), *args])


def forwarded(events: list[dict[str, Any]], panorama: str, serial: str, request: str) -> int:
    """Requests ``panorama`` passed on to firewall ``serial`` (its ``api`` events with ``target``)."""
    return sum(
        1
        for e in events
        if e["event"] == "api"
        and e["serial"] == panorama
        and e.get("target") == serial
        and str(e["request"]).startswith(request)
    )


def test_panorama_pair_first_then_firewalls_only_through_panorama_with_a_member_down(
    tmp_path: Path, runner: CliRunner
) -> None:
    """Panorama HA upgraded first (each member reboots, the edge firewall is upgraded meanwhile through
    whichever member answers); then the configured Panorama goes off the network while the dc firewall
    that waited for it is upgraded: every call after that goes through its peer, reboot included."""
    fleet = FleetSpec(
        devices=(
            dev("301", "11.2.7", faults=CUT_OFF),
            dev("302", "11.2.4", device_group="edge", faults=CUT_OFF),
        ),
        panorama=PanoramaSpec(
            version="11.2.7", ha_peer=PanoramaSpec(serial=PEER, hostname="panorama-b", version="11.2.7")
        ),
    )
    with fleet_env(
        tmp_path, fleet, base_address="127.205.0.0", api_events=True, **{"firewall.connection": "panorama"}
    ) as env:
        assert {p.serial for p in inventory_store.load(env.paths).panoramas} == {PANO, PEER}
        env.write_desired(DESIRED)
        cut = threading.Event()

        def cut_panorama_off() -> None:  # once the dc firewall's upgrade has begun
            if env.sim.wait_until(lambda: bool(env.sim.events("download_start", "301")), timeout=150):
                env.sim.inject_fault(PANO, "panorama_unreachable")
                cut.set()

        watcher = threading.Thread(target=cut_panorama_off, daemon=True)
        watcher.start()
        applied = cli(runner, env, "apply", "-f", str(env.desired), "--auto-approve", "--timeout", "150")
        watcher.join(5)
        assert 0 == applied.exit_code, applied.output
        assert cut.is_set()
        assert {env.sim.panorama_state(s)["version"] for s in (PANO, PEER)} == {"12.1.3"}
        assert env.sim.device("301").version == "12.1.3" and env.sim.device("302").version == "11.2.7"
        events = env.sim.events()
        for serial in ("301", "302"):
            assert {} == {
                k: v for k, v in env.sim.api_calls(serial).items() if not k.endswith("(via panorama)")
            }
        # After the cut, the dc firewall's install and reboot went through the peer, never the cut member.
        cut_at = next(int(e["seq"]) for e in events if e["event"] == "fault_injected" and e["serial"] == PANO)
        late = [e for e in events if int(e["seq"]) > cut_at]
        assert forwarded(late, PEER, "301", "op:request system software install") == 1
        assert forwarded(late, PEER, "301", "op:request restart system") == 1
        assert forwarded(late, PANO, "301", "op:") == 0
        status = json.loads(env.paths.device_status_file("301").read_text())
        assert status["upgrade_status"] == "done"
        assert status["reached"] == f"panorama {PEER}"
        assert_status_files_valid(env.paths.root)
        shown = cli(runner, env, "device", "status", "301")
        assert f"through Panorama {PEER}" in shown.stdout, shown.output
        assert_safe(events, managed={PANO, PEER, "301", "302"}, max_in_flight=20)

        # Discovery while the configured Panorama is still off the network: its HA peer answers (its address
        # from the last inventory), the firewalls are probed through it, the silent member is kept stale.
        env.discover()
        inventory = inventory_store.load(env.paths)
        assert inventory.panorama == env.sim.panorama_peer.address  # type: ignore[union-attr]
        assert (inventory.devices["301"].sw_version, inventory.devices["301"].stale) == ("12.1.3", False)
        kept = inventory.panorama_device(PANO)
        assert kept is not None and kept.stale and kept.mgmt_ip == env.sim.panorama.address


def fallback_lines(env: FleetEnv, serial: str) -> int:
    """Log lines (every log file of the work directory) saying ``serial`` fell back to Panorama."""
    return sum(
        1
        for file in (env.paths.root / "logs" / "text").rglob("*")
        if file.is_file()
        for line in file.read_text(errors="replace").splitlines()
        if FALLBACK_LOG in line and f"firewall {serial}" in line
    )


def test_autos_fallback_holds_across_discovery_engine_and_runs_and_is_rechecked(
    tmp_path: Path, runner: CliRunner
) -> None:
    """``auto``: the firewall whose address does not answer falls back once, in discovery; the engine and a
    later discovery start through Panorama without trying its address again. Once the recheck interval has
    passed and its address answers again, it is reached directly again."""
    fleet = FleetSpec(
        devices=(dev("311", "11.1.2", faults=CUT_OFF), dev("312", "11.1.2")),
        panorama=PanoramaSpec(version="11.1.4"),
    )
    with fleet_env(tmp_path, fleet, base_address="127.207.0.0", **{"firewall.connection": "auto"}) as env:
        file = firewall_paths.file_of(env.paths)
        assert {"311"} == set(firewall_paths.load(file))  # the fixture's discovery fell back
        assert 1 == fallback_lines(env, "311")
        env.write_desired('groups:\n  - name: dc\n    select: {deviceGroups: [dc]}\n    target: "11.1.4"\n')
        applied = cli(runner, env, "apply", "-f", str(env.desired), "--auto-approve", "--timeout", "120")
        assert 0 == applied.exit_code, applied.output
        assert {env.sim.device(s).version for s in ("311", "312")} == {"11.1.4"}
        calls = env.sim.api_calls("311")
        direct = {k: v for k, v in calls.items() if not k.endswith("(via panorama)")}
        assert sum(direct.values()) <= 1, direct  # the one try of discovery's first call, nothing since
        assert 1 == fallback_lines(env, "311"), "fell back once, in discovery; the engine knew"
        status = json.loads(env.paths.device_status_file("311").read_text())
        assert (
            status["reached"],
            json.loads(env.paths.device_status_file("312").read_text())["reached"],
        ) == (
            f"panorama {env.sim.panorama_serial}",
            "direct",
        )
        assert_safe(env.sim.events(), managed={"311", "312"}, max_in_flight=20)

        # A later discovery, the address still cut off and the recheck not due: through Panorama at once.
        env.discover()
        assert direct == {
            k: v for k, v in env.sim.api_calls("311").items() if not k.endswith("(via panorama)")
        }
        assert 1 == fallback_lines(env, "311")

        # The address answers again; the recheck falls due (as if firewall.direct_recheck had passed).
        env.sim.clear_faults("311", "direct_unreachable")
        doc = json.loads(file.read_text())
        doc["firewalls"]["311"]["checked_at"] -= 3600
        file.write_text(json.dumps(doc))
        env.discover()
        assert {} == firewall_paths.load(file)
        assert any("answers again; reached directly" in line for line in _log_lines(env))
        env.discover()  # and stays direct
        assert {} == firewall_paths.load(file)


def _log_lines(env: FleetEnv) -> list[str]:
    return [
        line
        for file in (env.paths.root / "logs" / "text").rglob("*")
        if file.is_file()
        for line in file.read_text(errors="replace").splitlines()
    ]


def test_discovery_probes_each_firewall_as_its_groups_connection_says(
    tmp_path: Path, runner: CliRunner
) -> None:
    """``firewall.connection`` is ``direct``; the desired state reaches the ``remote`` group through Panorama.
    Without the desired state discovery cannot ask the cut-off firewall; ``device discover`` with it (the
    ``desired.path`` setting) probes it through Panorama and never at its address."""
    fleet = FleetSpec(
        devices=(dev("321", "11.1.2", faults=CUT_OFF, device_group="remote"), dev("322", "11.1.2")),
        panorama=PanoramaSpec(version="11.1.4"),
    )
    with fleet_env(tmp_path, fleet, base_address="127.208.0.0") as env:
        assert inventory_store.load(env.paths).devices["321"].device_type == "unknown"  # no group known
        env.write_desired(
            'groups:\n  - name: remote\n    select: {deviceGroups: [remote]}\n    target: "11.1.4"\n'
            "    connection: panorama\n"
            '  - name: dc\n    select: {deviceGroups: [dc]}\n    target: "11.1.4"\n'
        )
        assert 0 == cli(runner, env, "config", "set", "desired.path", str(env.desired)).exit_code
        before = dict(env.sim.api_calls("321"))
        found = cli(runner, env, "device", "discover", "--json")
        assert 0 == found.exit_code, found.output
        remote = inventory_store.load(env.paths).devices["321"]
        assert (remote.device_type, remote.sw_version, remote.error) == ("standalone", "11.1.2", "")
        calls = env.sim.api_calls("321")
        new = {k: v - before.get(k, 0) for k, v in calls.items() if v != before.get(k, 0)}
        assert new and all(k.endswith("(via panorama)") for k in new), new
        assert inventory_store.load(env.paths).devices["322"].device_type == "standalone"
        assert 0 == sum(v for k, v in env.sim.api_calls("322").items() if k.endswith("(via panorama)"))
