"""The simulator's safety monitor (``violation`` events), the HA fields of ``sim_start`` / ``reboot_start``
and fleets generated with every HA pair preemptive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.sim.firewall import Phase
from reconciler.sim.generate import generate_fleet
from tests.sim.conftest import Harness, ha_pair

MakeWorld = Callable[..., Harness]


def _settle(h: Harness, serial: str) -> None:
    fw = h.fw(serial)
    h.run_until(lambda: fw.ha is not None and fw.ha.state in ("active", "passive", "suspended"))


def _rebooted(h: Harness, serial: str) -> None:
    fw = h.fw(serial)
    h.run_until(lambda: fw.phase is Phase.DOWN)
    h.run_until(lambda: fw.phase is Phase.UP)


def _violations(h: Harness) -> list[tuple[str, str]]:
    """HA violations: these tests restart members without installing anything on purpose, so
    ``reboot-without-install`` (tested on its own below) is left out."""
    return [(e["kind"], e["serial"]) for e in h.events("violation") if e["kind"] != "reboot-without-install"]


def _counted(h: Harness) -> dict[str, int]:
    return {k: n for k, n in h.world.violations.items() if k != "reboot-without-install"}


def test_rebooting_the_passive_then_the_active_after_failover_is_quiet(world: MakeWorld) -> None:
    h = world(*ha_pair("A", "B"))  # A active (priority 100), B passive
    h.fw("B").request_restart(h.clock.now())
    start = h.events("reboot_start", "B")[-1]
    assert ("passive", "active", "A") == (start["ha_state"], start["peer_state"], start["peer"])
    _rebooted(h, "B")
    _settle(h, "B")
    h.fw("A").ha_suspend(h.clock.now())
    assert "active" == h.fw("B").ha.state  # type: ignore[union-attr]
    h.fw("A").request_restart(h.clock.now())
    assert ("suspended", "active") == tuple(
        h.events("reboot_start", "A")[-1][k] for k in ("ha_state", "peer_state")
    )
    _rebooted(h, "A")
    assert [] == _violations(h)
    assert {} == _counted(h)


def test_rebooting_the_active_member_while_its_peer_runs_is_a_violation(world: MakeWorld) -> None:
    h = world(*ha_pair("A", "B"))
    h.fw("A").request_restart(h.clock.now())
    assert [("active-rebooted", "A")] == _violations(h)
    event = h.events("violation")[0]
    assert {"peer": "B", "ha_state": "active", "peer_state": "passive"}.items() <= event.items()
    assert {"active-rebooted": 1} == _counted(h)


def test_active_member_rebooted_while_its_peer_is_suspended_is_a_violation(world: MakeWorld) -> None:
    h = world(*ha_pair("A", "B"))
    h.fw("B").ha_suspend(h.clock.now())
    h.fw("A").request_restart(h.clock.now())
    assert [("active-rebooted", "A")] == _violations(h)


def test_restarting_a_member_while_its_peer_is_rebooting_or_booting_is_both_down(world: MakeWorld) -> None:
    h = world(*ha_pair("A", "B"))
    h.fw("B").request_restart(h.clock.now())
    h.advance(5)
    h.fw("A").request_restart(h.clock.now())  # active too, but no peer could take over: both down
    assert [("both-down", "A")] == _violations(h)
    # B is back but its HA is not running yet (enabled=no): restarting A now leaves no member either.
    h2 = world(*ha_pair("C", "D"))
    h2.fw("D").request_restart(h2.clock.now())
    _rebooted(h2, "D")
    assert "booting" == h2.fw("D").ha.state  # type: ignore[union-attr]
    h2.fw("C").request_restart(h2.clock.now())
    assert [("both-down", "C")] == _violations(h2)


def test_standalone_reboots_carry_no_ha_fields_and_raise_no_ha_violation(world: MakeWorld) -> None:
    from tests.sim.conftest import device

    h = world(device("S"))
    h.fw("S").request_restart(h.clock.now())
    start = h.events("reboot_start", "S")[0]
    assert "ha_state" not in start and "peer_state" not in start
    assert [] == _violations(h)


def test_sim_start_names_the_pairs_and_their_initial_states(sim: Callable[..., Any]) -> None:
    s = sim(firewalls=5, ha_pairs=2, preemptive="all")
    start = s.events("sim_start")[0]
    pairs = [d for d in s.devices if d.ha_peer]
    assert 4 == len(pairs) and 2 == len(start["ha_pairs"])
    assert {tuple(sorted((d.serial, d.ha_peer))) for d in pairs} == {tuple(p) for p in start["ha_pairs"]}
    for d in pairs:
        member = start["ha"][d.serial]
        assert (d.ha_peer, d.ha_priority, True) == (member["peer"], member["priority"], member["preemptive"])
        assert member["state"] == s.device(d.serial).ha_state
    assert {"active", "passive"} == {start["ha"][d.serial]["state"] for d in pairs[:2]}
    assert {} == s.status()["violations"]


def test_generated_fleets_can_make_every_pair_preemptive_without_changing_anything_else() -> None:
    default = generate_fleet(firewalls=60, ha_pairs=20, seed=3)
    every = generate_fleet(firewalls=60, ha_pairs=20, seed=3, preemptive="all")
    none = generate_fleet(firewalls=60, ha_pairs=20, seed=3, preemptive=False)
    flags = [d.ha.preemptive for d in default.devices if d.ha]
    assert any(flags) and not all(flags), "the default still mixes (about one pair in five)"
    assert all(d.ha.preemptive for d in every.devices if d.ha)
    assert not any(d.ha.preemptive for d in none.devices if d.ha)
    strip = [
        (d.serial, d.version, d.model, d.device_group, d.free_disk_mb, d.ha.peer if d.ha else None)
        for d in default.devices
    ]
    assert strip == [
        (d.serial, d.version, d.model, d.device_group, d.free_disk_mb, d.ha.peer if d.ha else None)
        for d in every.devices
    ]
    assert generate_fleet(firewalls=60, ha_pairs=20, seed=3, preemptive=True) == every


def test_sim_status_shows_the_violation_count(tmp_path: Any) -> None:
    import json
    import os

    from typer.testing import CliRunner

    from reconciler.cli import app

    (tmp_path / "sim.json").write_text(json.dumps({"pid": os.getpid()}))
    status = {
        "sim_time": 12.0,
        "port": 1,
        "devices": [],
        "violations": {"active-rebooted": 2, "both-down": 1},
    }
    (tmp_path / "status.json").write_text(json.dumps(status))
    result = CliRunner().invoke(app, ["sim", "status", "--state-dir", str(tmp_path)])
    assert 0 == result.exit_code, result.output
    assert "safety violations seen: 3 (active-rebooted 2, both-down 1)" in result.output


# -- install-refused, downgrade floor, reboot-without-install, foreign-api-key ---------------------------------


def _install(h: Harness, serial: str, version: str, *, wait: bool = True) -> None:
    from reconciler.sim.version import Version

    fw, v = h.fw(serial), Version.parse(version)
    fw.check_software(h.clock.now())
    if v not in fw.downloaded:
        fw.request_download(v, sync_to_peer=False, user="admin", t=h.clock.now())
        h.run_until(lambda: v in fw.downloaded)
        h.run_until(lambda: fw.software_manager_busy(h.clock.now()) is None)  # the image loaded (swm_settle)
    fw.request_install(v, user="admin", t=h.clock.now())
    if wait:
        h.run_until(lambda: fw.pending == v)


def test_a_refused_install_is_an_install_refused_violation(world: MakeWorld) -> None:
    import pytest

    from reconciler.sim.firewall import OpError
    from reconciler.sim.version import Version
    from tests.sim.conftest import device

    h = world(device("S", "10.2.9"))
    with pytest.raises(OpError, match="has not been downloaded"):
        h.fw("S").request_install(Version.parse("10.2.13"), user="admin", t=h.clock.now())
    (event,) = h.events("violation")
    assert ("install-refused", "S", "10.2.13", "10.2.9") == (
        event["kind"], event["serial"], event["version"], event["running"],
    )  # fmt: skip
    assert event["sim_time"] == h.events("install_refused")[0]["sim_time"]  # the oracle merges the two
    assert {"install-refused": 1} == dict(h.world.violations)


def test_a_downgrade_below_the_documented_floor_is_refused(world: MakeWorld) -> None:
    """PAN-OS 10.2 Upgrade Guide, "Upgrade/Downgrade Considerations": from 10.2, 10.1.3 or later only."""
    import pytest

    from reconciler.sim.firewall import OpError
    from reconciler.sim.version import Version
    from tests.sim.conftest import device

    h = world(device("S", "10.2.9", downloaded=(Version.parse("10.1.0"), Version.parse("10.1.3"))))
    fw = h.fw("S")
    assert "requires 10.1.3 or later" in (fw.install_refusal(Version.parse("10.1.0")) or "")
    with pytest.raises(OpError, match=r"requires 10\.1\.3 or later"):
        fw.request_install(Version.parse("10.1.0"), user="admin", t=h.clock.now())
    assert ["install-refused"] == [e["kind"] for e in h.events("violation")]
    assert fw.install_refusal(Version.parse("10.1.3")) is None


def test_a_restart_with_no_image_installed_is_reboot_without_install(world: MakeWorld) -> None:
    from tests.sim.conftest import device

    h = world(device("S", "10.2.9"), device("T", "10.2.9"), device("U", "10.2.9"))
    h.fw("S").request_restart(h.clock.now())
    (event,) = h.events("violation", "S")
    assert ("reboot-without-install", "10.2.9", False) == (
        event["kind"], event["version"], event["install_running"],
    )  # fmt: skip
    _install(h, "T", "10.2.13")  # installed, waiting for the reboot: what a restart is for
    h.fw("T").request_restart(h.clock.now())
    assert [] == h.events("violation", "T")
    _install(h, "U", "10.2.13", wait=False)  # restarted while its install still runs
    h.fw("U").request_restart(h.clock.now())
    assert [("reboot-without-install", True)] == [
        (e["kind"], e["install_running"]) for e in h.events("violation", "U")
    ]
    assert {"reboot-without-install": 2} == dict(h.world.violations)


def test_another_devices_api_key_is_refused_and_flagged(world: MakeWorld) -> None:
    from reconciler.sim.xmlapi import ApiRequest, XmlApi
    from tests.sim.conftest import device

    h = world(device("S"), device("T"))
    api = XmlApi(h.world)
    key_s = h.world.api_key(h.fw("S"))
    info = {"type": "op", "cmd": "<show><system><info></info></system></show>"}
    assert 200 == api.handle(h.fw("S"), ApiRequest("POST", "/api/", {**info, "key": key_s})).status
    refused = api.handle(h.fw("T"), ApiRequest("POST", "/api/", {**info, "key": key_s}))
    assert 403 == refused.status and "Invalid credentials." in refused.body
    (event,) = h.events("violation")
    assert ("foreign-api-key", "T", "S") == (event["kind"], event["serial"], event["key_of"])
    # A key nobody generated is an ordinary bad key: 403, no violation.
    assert 403 == api.handle(h.fw("T"), ApiRequest("POST", "/api/", {**info, "key": "LUFRPTnope"})).status
    panorama_key = h.world.api_key(h.world.panorama)
    assert 403 == api.handle(h.fw("T"), ApiRequest("POST", "/api/", {**info, "key": panorama_key})).status
    assert [("T", "S"), ("T", h.world.panorama.serial)] == [
        (e["serial"], e["key_of"]) for e in h.events("violation")
    ]


def test_the_previous_image_stays_and_goes_back_on_as_a_downgrade(world: MakeWorld) -> None:
    """PAN-OS keeps the image a firewall ran before an upgrade ("Downgrade PAN-OS", PAN-OS Upgrade Guide):
    going back installs it without a download, and the reboot reports a downgrade; two feature releases
    back in one install is refused."""
    from reconciler.sim.version import Version
    from tests.sim.conftest import device

    h = world(device("S", "11.0.3", downloaded=(Version.parse("11.1.0"),)))
    fw = h.fw("S")
    _install(h, "S", "11.1.4")
    fw.request_restart(h.clock.now())
    h.run_until(lambda: fw.version == Version.parse("11.1.4") and not fw.rebooting)
    assert Version.parse("11.0.3") in fw.downloaded  # the previous image is kept
    downloads = len(h.events("download_start"))
    assert fw.install_refusal(Version.parse("11.0.3")) is None
    _install(h, "S", "11.0.3")
    assert downloads == len(h.events("download_start"))  # nothing downloaded to go back
    fw.request_restart(h.clock.now())
    h.run_until(lambda: fw.version == Version.parse("11.0.3") and not fw.rebooting)
    assert ["upgraded", "downgraded"] == [e["result"] for e in h.events("reboot_end")]
    assert [] == h.events("violation")
    fw.downloaded.add(Version.parse("10.1.14"))
    assert "more than one feature release" in (fw.install_refusal(Version.parse("10.1.14")) or "")
