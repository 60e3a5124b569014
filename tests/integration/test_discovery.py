"""Discovery against the simulator: Panorama listing, per-firewall HA confirmation, errors, rate limit, CSVs."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.sim.simulator import Simulator
from reconciler.workdir import inventory_store
from reconciler.workdir.layout import WorkPaths
from tests.integration.conftest import configure_for


def test_mixed_fleet_is_discovered_with_pairs_and_groups(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any], tmp_path: Path
) -> None:
    sim = start_sim(firewalls=9, ha_pairs=2, device_groups=3)
    configure_for(work, sim)
    result = cli("device", "discover", "--workers", "4")
    assert 0 == result.exit_code, result.output + result.stderr
    inv = inventory_store.load(work)
    expected = {d.serial: d for d in sim.devices}
    assert set(expected) == set(inv.devices)
    for dev in inv:
        spec = expected[dev.serial]
        assert (spec.hostname, spec.address, spec.device_group) == (
            dev.hostname,
            dev.mgmt_ip,
            dev.device_group,
        )
        assert sim.device(dev.serial).version == dev.sw_version
        if spec.ha_peer:
            assert ("ha_pair", spec.ha_peer) == (dev.device_type, dev.peer_serial)
            assert dev.ha_state in ("active", "passive")
        else:
            assert ("standalone", "standalone", "") == (dev.device_type, dev.ha_state, dev.peer_serial)
    pairs = inv.pairs()
    assert 2 == len(pairs)
    for first, second in pairs:
        assert {first.ha_state, second.ha_state} == {"active", "passive"}
        assert "active" == first.ha_state
    assert "Discovered 9 firewalls: 5 standalone, 4 in HA pairs (2 pairs), 0 unknown" in result.output

    out = tmp_path / "csv"
    out.mkdir()
    assert 0 == cli("device", "export", "--output-dir", str(out)).exit_code
    with (out / "standalone_devices.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert ["serial", "hostname", "mgmt_ip", "current_version", "model"] == list(rows[0])
    assert 5 == len(rows)
    with (out / "ha_pairs.csv").open() as fh:
        pair_rows = list(csv.DictReader(fh))
    assert 2 == len(pair_rows)
    for row in pair_rows:
        assert "active" == inv.devices[row["serial_1"]].ha_state


def test_unreachable_and_wrong_credential_firewalls_are_kept_as_unknown(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any]
) -> None:
    sim = start_sim(firewalls=4, ha_pairs=0)
    serials = [d.serial for d in sim.devices]
    sim.inject_fault(serials[0], "wrong_credentials")
    sim.inject_fault(serials[1], "http_500", rate=1.0)
    configure_for(work, sim, **{"discovery.retry_attempts": 2})
    result = cli("device", "discover")
    # Written, but a firewall refusing the credentials makes discovery fail (issue 14.1).
    assert 1 == result.exit_code, result.output + result.stderr
    assert "1 of 4 firewalls refused the firewall credentials" in result.stderr
    assert "they are recorded as unknown" in result.stderr
    inv = inventory_store.load(work)
    assert 4 == len(inv)
    bad = {d.serial: d for d in inv if d.device_type == "unknown"}
    assert {serials[0], serials[1]} == set(bad)
    assert "authentication failed" in bad[serials[0]].error
    assert "HTTP 500" in bad[serials[1]].error
    # A 403 is never retried: exactly one keygen attempt reached the wrong-credentials firewall.
    calls = sim.api_calls(serials[0])
    assert 1 == sum(v for k, v in calls.items() if "keygen" in k), calls


def test_panorama_down_leaves_the_inventory_unchanged(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any]
) -> None:
    sim = start_sim(firewalls=2)
    configure_for(work, sim, **{"panorama.timeout": 2})
    assert 0 == cli("device", "discover").exit_code
    before = work.inventory_file.read_text()
    sim.inject_fault(sim.panorama_serial, "panorama_unreachable")
    result = cli("device", "discover")
    assert 1 == result.exit_code
    assert "discovery failed, inventory unchanged" in result.stderr
    assert before == work.inventory_file.read_text()


def test_rediscovery_reports_changes(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any]
) -> None:
    sim = start_sim(firewalls=3)
    configure_for(work, sim)
    assert 0 == cli("device", "discover").exit_code
    data = json.loads(work.inventory_file.read_text())
    removed = data["devices"].pop(0)["serial"]
    data["devices"][0]["sw_version"] = "9.1.0"
    changed = data["devices"][0]["serial"]
    work.inventory_file.write_text(json.dumps(data))
    result = cli("device", "discover")
    assert 0 == result.exit_code
    assert f"+ {removed}" in result.output
    assert f"~ {changed}: sw_version: 9.1.0 -> " in result.output


def test_rate_limit_is_respected(start_sim: Callable[..., Simulator], work: WorkPaths) -> None:
    """With a limit of 120/min and a burst of 2, six Panorama calls need at least 2 s (counted in the sim)."""
    import time

    from reconciler.device.client import Credentials, Endpoint, PanoramaClient, RateLimiter

    sim = start_sim(firewalls=1)
    client = PanoramaClient(
        Endpoint(sim.panorama.address, sim.port, ca_bundle=str(sim.ca_path)),
        Credentials(sim.panorama_credentials.user, sim.panorama_credentials.password),
        limiter=RateLimiter(120, burst=2),
    )
    before = sum(sim.api_calls(sim.panorama_serial).values())
    start = time.monotonic()
    for _ in range(3):
        client.connected_devices()
        client.device_groups()
    elapsed = time.monotonic() - start
    op_calls = sum(sim.api_calls(sim.panorama_serial).values()) - before
    assert op_calls >= 6
    assert elapsed >= (6 - 2) * 0.5 - 0.05, "4 calls beyond the burst at 2/s"


def test_device_status_and_list(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any]
) -> None:
    sim = start_sim(firewalls=4, ha_pairs=1)
    configure_for(work, sim)
    assert 0 == cli("device", "discover").exit_code
    listing = json.loads(cli("device", "list", "--json", "--type", "ha_pair").output)
    assert 2 == len(listing)
    serial = listing[0]["serial"]
    shown = json.loads(cli("device", "status", serial, "--json").output)
    assert serial == shown["inventory"]["serial"]
    missing = cli("device", "status", "NOPE")
    assert 1 == missing.exit_code and "device discover" in missing.stderr


def test_untrusted_certificate_is_refused_unless_verification_is_off(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any]
) -> None:
    sim = start_sim(firewalls=2)
    configure_for(work, sim, **{"panorama.ca_bundle": "", "panorama.timeout": 5})
    refused = cli("device", "discover")
    assert 1 == refused.exit_code
    assert "TLS certificate not trusted" in refused.stderr
    assert not work.inventory_file.exists()
    configure_for(work, sim, **{"panorama.ca_bundle": "", "panorama.verify_tls": "false"})
    allowed = cli("device", "discover")
    assert 0 == allowed.exit_code, allowed.stderr
    assert "TLS verification is OFF" in (work.text_logs_dir / "panos-upgrade-cli.log").read_text()


def test_a_wrong_firewall_password_keeps_the_last_known_facts_and_fails(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any], tmp_path: Path
) -> None:
    """Issue 14.1: probes refused for authentication never erase what was known, never split a known HA pair,
    and make discovery exit 1 saying so; the stale devices are blocked in the plan, the pair stays one unit."""
    from reconciler.workdir import schemas

    sim = start_sim(firewalls=4, ha_pairs=1, device_groups=1)
    configure_for(work, sim)
    assert 0 == cli("device", "discover").exit_code
    before = inventory_store.load(work)
    result = cli("device", "discover", env={"PANOS_UPGRADE_FIREWALL_PASSWORD": "wrong"})
    assert 1 == result.exit_code, result.output + result.stderr
    assert "4 of 4 firewalls refused the firewall credentials" in result.stderr
    assert "last known facts are kept, marked stale" in result.stderr
    assert "4 not answering, kept with their last known facts (stale)" in result.output
    data = json.loads(work.inventory_file.read_text())
    assert [] == schemas.errors("inventory", data)
    after = inventory_store.load(work)
    assert set(before.devices) == set(after.devices)
    for dev in after:
        known = before.devices[dev.serial]
        assert dev.stale and "authentication failed" in dev.error
        facts = ("sw_version", "device_type", "ha_state", "peer_serial", "device_group", "discovered_at")
        assert [getattr(known, f) for f in facts] == [getattr(dev, f) for f in facts]
    assert len(before.pairs()) == len(after.pairs()) == 1
    # The plan keeps the pair as one unit, both members blocked (never two standalone units).
    group = sorted({d.device_group for d in after})[0]
    desired = tmp_path / "desired.yaml"
    desired.write_text(
        "apiVersion: panos-upgrade/v1\n"
        f'groups:\n  - name: all\n    select: {{deviceGroups: [{group}]}}\n    target: "11.2.7"\n'
    )
    planned = cli("plan", "-f", str(desired), "--json")
    assert 0 == planned.exit_code, planned.output + planned.stderr
    rows = {d["serial"]: d for d in json.loads(planned.output)["devices"]}
    first, second = after.pairs()[0]
    pair = {rows[first.serial]["ha_pair"], rows[second.serial]["ha_pair"]}
    assert pair == {"+".join(sorted((first.serial, second.serial)))}
    assert {1, 2} == {rows[first.serial]["ha_member"], rows[second.serial]["ha_member"]}
    assert all(r["action"] in ("blocked", "none") for r in rows.values()), rows
    # The right password again: fresh facts, nothing stale, exit 0.
    again = cli("device", "discover")
    assert 0 == again.exit_code, again.stderr
    assert not any(d.stale for d in inventory_store.load(work))


def test_discovery_records_panorama_and_its_ha_peer_versions(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any]
) -> None:
    """Issue 16.1: the inventory says what Panorama (and its HA peer) run, which the planner's
    compatibility guard reads; a firewall past what Panorama manages is listed disconnected."""
    from reconciler.sim.fleet import DeviceSpec, FleetSpec, PanoramaSpec

    peer = PanoramaSpec(serial="000710000009", hostname="panorama-b", version="11.1.6")
    fleet = FleetSpec(
        devices=(
            DeviceSpec("011100000001", "fw-old", version="11.1.4", device_group="br"),
            DeviceSpec("011100000002", "fw-new", version="12.1.3", device_group="br"),
        ),
        panorama=PanoramaSpec(version="11.1.4", ha_peer=peer),
    )
    sim = start_sim(fleet=fleet)
    configure_for(work, sim)
    result = cli("device", "discover", "--workers", "2")
    assert 0 == result.exit_code, result.output + result.stderr
    inv = inventory_store.load(work)
    assert (inv.panorama_version, inv.panorama_peer_version) == ("11.1.4", "11.1.6")
    assert inv.devices["011100000001"].connected is True
    assert inv.devices["011100000002"].connected is False  # unsupported by Panorama 11.1.4
    data = json.loads(work.inventory_file.read_text())
    assert data["panorama_version"] == "11.1.4"


def test_a_cancelled_discovery_stops_asking_firewalls(
    start_sim: Callable[..., Simulator], work: WorkPaths
) -> None:
    """The daemon cancels its background re-discovery at a stop: the probes not yet started are dropped."""
    import threading

    import pytest

    from reconciler.device import discovery
    from reconciler.device.client import FirewallClientFactory, panorama_from_config
    from reconciler.workdir.config import Config

    sim = start_sim(firewalls=9)
    configure_for(work, sim)
    cfg = Config.load(work.config_file, env={})
    cancel = threading.Event()
    serials = [d.serial for d in sim.devices]
    before = {s: sum(sim.api_calls(s).values()) for s in serials}
    with pytest.raises(discovery.Cancelled, match="of 9 firewalls not yet answered"):
        discovery.run(
            panorama_from_config(cfg),
            FirewallClientFactory(cfg),
            workers=1,
            retry_attempts=1,
            now="2026-12-02T21:00:00Z",
            progress=lambda done, total: cancel.set(),  # after the first firewall answered
            cancel=cancel,
        )
    asked = [s for s in serials if sum(sim.api_calls(s).values()) > before[s]]
    assert 1 <= len(asked) <= 3, (
        f"one worker: the first answer, and at most the probes already under way: {asked}"
    )
    assert not work.inventory_file.exists()
