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
    return [(e["kind"], e["serial"]) for e in h.events("violation")]


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
    assert {} == dict(h.world.violations)


def test_rebooting_the_active_member_while_its_peer_runs_is_a_violation(world: MakeWorld) -> None:
    h = world(*ha_pair("A", "B"))
    h.fw("A").request_restart(h.clock.now())
    assert [("active-rebooted", "A")] == _violations(h)
    event = h.events("violation")[0]
    assert {"peer": "B", "ha_state": "active", "peer_state": "passive"}.items() <= event.items()
    assert {"active-rebooted": 1} == dict(h.world.violations)


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


def test_standalone_reboots_carry_no_ha_fields_and_raise_nothing(world: MakeWorld) -> None:
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
