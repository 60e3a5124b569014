"""The planner: actions, reasons, HA pairs, windows, waves, budgets, parallelism, JSON and staleness."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.desired import DesiredState, build
from reconciler.core.inventory import Device, Inventory
from reconciler.core.observed import Observed
from reconciler.core.planner import BLOCKED, DOWNLOAD, NONE, UPGRADE, Plan, plan, staleness
from reconciler.core.progress import DeviceProgress
from reconciler.core.upgrade_path import PathHop, parse_upgrade_paths
from reconciler.core.version import PanOsVersion
from reconciler.workdir import schemas

V = PanOsVersion.parse
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # a Saturday, 03:00 in Berlin

CATALOG = [
    "10.1.14-h9", "10.2.0", "10.2.9", "10.2.13-h3", "11.0.0", "11.0.6", "11.1.0", "11.1.4", "11.1.6-h1",
    "11.2.0", "11.2.7", "12.1.2", "12.1.3",
]  # fmt: skip


def desired(*groups: dict[str, Any], **top: Any) -> DesiredState:
    return build([{"apiVersion": "panos-upgrade/v1", **top, "groups": list(groups)}])


def group(name: str, target: str = "11.1.6-h1", **kw: Any) -> dict[str, Any]:
    return {"name": name, "select": {"deviceGroups": [name]}, "target": target, **kw}


def fw(
    serial: str, dg: str = "br", version: str = "11.1.4", hostname: str | None = None, **kw: Any
) -> Device:
    return Device(
        serial,
        hostname or f"fw-{serial.lower()}",
        sw_version=version,
        device_group=dg,
        device_type="standalone",
        ha_state="standalone",
        **kw,
    )


def pair(a: str, b: str, dg: str = "dc", version: str = "11.1.4", active: str | None = None) -> list[Device]:
    active = active or a
    return [
        Device(
            s,
            f"fw-{s.lower()}",
            sw_version=version,
            device_group=dg,
            device_type="ha_pair",
            ha_state="active" if s == active else "passive",
            peer_serial=p,
        )
        for s, p in ((a, b), (b, a))
    ]


def run(
    state: DesiredState,
    devices: list[Device],
    observed: Mapping[str, Observed] | None = None,
    status: Mapping[str, DeviceProgress] | None = None,
    now: datetime = NOW,
) -> Plan:
    return plan(state, Inventory.of(devices), observed or {}, status or {}, now)


def act(p: Plan, serial: str) -> tuple[str, str | None]:
    d = p.device(serial)
    assert d is not None
    return d.action, d.reason


def offered(*extra: str) -> Observed:
    return Observed.of(None, available=[*CATALOG, *extra])


# --- basics ---------------------------------------------------------------------------------------------


def test_upgrade_converged_and_unmanaged() -> None:
    p = run(desired(group("br")), [fw("A"), fw("B", version="11.1.6-h1"), fw("C", dg="lab")])
    a = p.device("A")
    assert a is not None and a.action == UPGRADE and [str(h.version) for h in a.hops] == ["11.1.6-h1"]
    assert a.missing_images == (V("11.1.6-h1"),) and a.path_source == "auto"
    assert act(p, "B") == (NONE, "converged")
    assert act(p, "C") == (NONE, "unmanaged")
    c = p.device("C")
    assert c is not None and c.group is None and c.target is None and c.wave is None
    assert p.changes


def test_observed_downloads_shrink_missing_images() -> None:
    obs = {"A": Observed.of("10.2.9", available=CATALOG, downloaded=["11.0.0", "10.2.9"])}
    p = run(desired(group("br")), [fw("A", version="10.1.0")], obs)
    a = p.device("A")
    assert a is not None and a.current == "10.2.9"  # observed wins over the inventory
    assert [str(i) for i in a.missing_images] == ["11.1.0", "11.1.6-h1"]


def test_engine_recorded_version_newer_than_discovery_is_used() -> None:
    device = fw("A", version="10.2.9", discovered_at="2026-11-27T00:00:00+00:00")
    newer = DeviceProgress("A", "idle", current_version=V("11.1.6-h1"), updated_at=NOW - timedelta(hours=1))
    older = DeviceProgress(
        "A", "idle", current_version=V("11.1.6-h1"), updated_at=datetime(2026, 11, 1, tzinfo=UTC)
    )
    assert act(run(desired(group("br")), [device], status={"A": newer}), "A") == (NONE, "converged")
    assert act(run(desired(group("br")), [device], status={"A": older}), "A") == (UPGRADE, None)


@pytest.mark.parametrize(
    "version, reason",
    [
        ("", "unknown-version"),
        ("garbage", "unknown-version"),
        ("11.2.7", "downgrade-refused"),
        ("10.5.1", "no-path"),
    ],
)
def test_device_level_blocks(version: str, reason: str) -> None:
    p = run(desired(group("br")), [fw("A", version=version)])
    assert act(p, "A") == (BLOCKED, reason)
    assert not p.changes


def test_allowed_downgrade_plans_hops() -> None:
    p = run(desired(group("br", allowDowngrade=True)), [fw("A", version="11.2.7")], {"A": offered()})
    a = p.device("A")
    assert a is not None and a.action == UPGRADE and [str(h.version) for h in a.hops] == ["11.1.6-h1"]


def test_unreachable() -> None:
    p = run(
        desired(group("br")),
        [fw("A"), fw("B", connected=False), fw("C", error="timeout")],
        {"A": Observed.of("11.1.4", reachable=False)},
    )
    assert [act(p, s)[1] for s in "ABC"] == ["unreachable"] * 3


def test_held_cancelled_and_failed() -> None:
    state = desired(group("br"))
    status = {
        "A": DeviceProgress("A", "held", reason="admin takeover"),
        "B": DeviceProgress("B", "cancelled"),
        "C": DeviceProgress(
            "C", "failed", target=V("11.1.6-h1"), desired_revision=state.identity, reason="boom"
        ),
        "D": DeviceProgress(
            "D", "failed", target=V("11.1.6-h1"), group_digest="sha256:another-meaning", reason="boom"
        ),
        "E": DeviceProgress("E", "failed", target=V("11.1.5"), reason="boom"),
    }
    p = run(state, [fw(s) for s in "ABCDE"], status=status)
    assert act(p, "A") == (BLOCKED, "held")
    assert p.device("A").detail == "held by an operator: admin takeover"  # type: ignore[union-attr]
    assert act(p, "B") == (BLOCKED, "held")
    assert act(p, "C") == (BLOCKED, "failed")
    assert p.device("C").detail == "boom"  # type: ignore[union-attr]
    assert (
        act(p, "D")[0] == BLOCKED and act(p, "D")[1] == "failure-budget"
    )  # retried: the group meant something else...
    assert act(p, "E")[1] == "failure-budget"  # ...but C's failure used the budget of 1
    assert p.group("br").failures == 1 and p.group("br").halted  # type: ignore[union-attr]


def test_a_failure_counts_while_the_group_means_the_same() -> None:
    """The git revision plays no part; the group's meaning (target, path, settings that affect the device)
    does: pacing and comments leave a failure standing, a new target or margin retries it."""
    state = desired(group("br"))
    digest = state.group_digest(state.groups[0])
    failed = {
        "A": DeviceProgress(
            "A", "failed", target=V("11.1.6-h1"), desired_revision="0123456789ab", group_digest=digest
        )
    }

    def verdict(st: object, revision: str | None = None) -> tuple[str, str | None]:
        assert isinstance(st, type(state))
        return act(run(st.with_revision(revision), [fw("A")], status=failed), "A")

    assert verdict(state) == (BLOCKED, "failed")
    assert verdict(state, "0123456") == (BLOCKED, "failed")  # a short revision, or none: same verdict
    paced = desired(group("br", maxParallel=3, failureBudget=4, description="later"))
    assert paced.group_digest(paced.groups[0]) == digest
    assert verdict(paced) == (BLOCKED, "failed")
    margin = desired(group("br", validation={"tcpSessionMargin": 30}))
    assert verdict(margin)[0] == UPGRADE
    legacy = {"A": DeviceProgress("A", "failed", target=V("11.1.6-h1"), desired_revision="older")}
    assert act(run(state, [fw("A")], status=legacy), "A") == (BLOCKED, "failed")


def test_an_in_progress_device_keeps_its_recorded_hops_when_images_are_unknown() -> None:
    state = desired(group("br"))
    hop = PathHop(V("10.1.14-h9"), (V("10.1.0"), V("10.1.14-h9")))
    status = {"A": DeviceProgress("A", "in_progress", target=V("11.1.6-h1"), hops=(hop,))}
    p = run(state, [fw("A", version="9.1.17")], status=status)
    assert act(p, "A") == (UPGRADE, None)
    assert p.device("A").hops == (hop,) and p.device("A").path_source == "status"  # type: ignore[union-attr]
    assert act(run(state, [fw("A", version="9.1.17")]), "A") == (BLOCKED, "images-unknown")


def test_conflict_between_groups() -> None:
    state = desired(
        {"name": "one", "select": {"models": ["PA-4*"]}, "target": "11.1.6-h1"},
        {"name": "two", "select": {"hostnames": ["fw-a*"]}, "target": "11.1.6-h1"},
    )
    p = run(state, [fw("A", model="PA-440"), fw("B", model="PA-440")])
    assert act(p, "A") == (BLOCKED, "conflict")
    assert "'one', 'two'" in p.device("A").detail  # type: ignore[union-attr]
    assert act(p, "B") == (UPGRADE, None)


# --- download-only --------------------------------------------------------------------------------------


def test_download_only_group() -> None:
    state = desired(group("br", stage="downloaded"))
    obs = {
        "B": Observed.of("10.2.9", available=CATALOG, downloaded=["11.0.0", "11.1.0", "11.1.6-h1"]),
        "C": Observed.of("10.2.9", available=CATALOG, downloaded=["11.0.0"]),
    }
    status = {"D": DeviceProgress("D", "done", target=V("11.1.6-h1"), download_only=True)}
    p = run(state, [fw(s, version="10.2.9") for s in "ABCD"], obs, status)
    a = p.device("A")
    assert a is not None and a.action == DOWNLOAD
    assert [str(i) for i in a.missing_images] == ["11.0.0", "11.1.0", "11.1.6-h1"]
    assert act(p, "B") == (NONE, "converged")
    assert [str(i) for i in p.device("C").missing_images] == ["11.1.0", "11.1.6-h1"]  # type: ignore[union-attr]
    assert act(p, "D") == (NONE, "converged")
    assert p.counts()["download"] == 2


# --- HA pairs -------------------------------------------------------------------------------------------


def test_ha_pair_passive_first_same_unit() -> None:
    p = run(desired(group("dc")), pair("H1", "H2", active="H1"))
    h1, h2 = p.device("H1"), p.device("H2")
    assert h1 is not None and h2 is not None
    assert (h2.ha_member, h1.ha_member) == (1, 2)
    assert h1.ha_pair == h2.ha_pair == "H1+H2"
    assert h1.order == h2.order == 1 and h1.wave == h2.wave == 1
    assert [d.serial for d in p.devices] == ["H2", "H1"]


def test_ha_pairs_step_one_release_at_a_time_and_need_the_offer() -> None:
    devices = pair("H1", "H2", version="10.2.9")
    blind = run(desired(group("dc")), devices)
    assert act(blind, "H1") == (BLOCKED, "images-unknown")
    seen = run(desired(group("dc")), devices, {"H1": offered(), "H2": offered()})
    assert [str(h.version) for h in seen.device("H1").hops] == ["11.0.6", "11.1.6-h1"]  # type: ignore[union-attr]


def test_ha_member_blocked_blocks_its_peer() -> None:
    obs = {"H1": Observed.of("11.1.4", reachable=False)}
    p = run(desired(group("dc")), pair("H1", "H2"), obs)
    assert act(p, "H1") == (BLOCKED, "unreachable")
    assert act(p, "H2") == (BLOCKED, "ha-peer-unhealthy")
    assert "H1" in p.device("H2").detail  # type: ignore[union-attr]


@pytest.mark.parametrize("peer", ["held", "cancelled", "failed"])
def test_a_pair_stopped_half_way_takes_no_slot_and_its_resting_member_says_what_it_waits_for(
    peer: str,
) -> None:
    # H2 upgraded and was stopped (held, cancelled or failed); H1 rests in pending, never started. The
    # coordinator starts nobody until an operator acts, so the pair takes none of the group's one slot.
    status = {
        "H1": DeviceProgress("H1", "in_progress", target=V("11.1.6-h1"), resting=True),
        "H2": DeviceProgress("H2", peer, target=V("11.1.6-h1"), reason="admin takeover"),
    }
    dc = group("dc", maxParallel=1, failureBudget=5)
    p = run(desired(dc), pair("H1", "H2") + pair("K1", "K2"), status=status)
    assert act(p, "H2") == (BLOCKED, "failed" if peer == "failed" else "held")
    assert act(p, "H1") == (BLOCKED, "ha-peer-unhealthy")
    h1 = p.device("H1")
    assert h1 is not None and not h1.in_progress
    assert f"waiting for HA peer H2 ({act(p, 'H2')[1]})" == h1.detail
    assert [(UPGRADE, None, False)] * 2 == [
        (d.action, d.reason, d.queued) for d in p.devices if d.serial in ("K1", "K2")
    ]


def test_a_member_working_while_its_peer_is_held_stays_in_progress() -> None:
    status = {
        "H1": DeviceProgress("H1", "in_progress", target=V("11.1.6-h1")),
        "H2": DeviceProgress("H2", "held"),
    }
    p = run(desired(group("dc", maxParallel=1)), pair("H1", "H2") + pair("K1", "K2"), status=status)
    h1 = p.device("H1")
    assert h1 is not None and h1.in_progress and act(p, "H1") == (UPGRADE, None)
    assert {True} == {d.queued for d in p.devices if d.serial in ("K1", "K2")}


@pytest.mark.parametrize(
    "obs, fragment",
    [
        ({"H1": Observed.of("11.1.4", ha_state="suspended")}, "H1 is suspended"),
        ({"H2": Observed.of("11.1.4", ha_synced=False)}, "not synchronized"),
        ({"H1": Observed.of("10.2.9", available=CATALOG)}, "more than one feature release apart"),
    ],
)
def test_unhealthy_pair_blocks_both(obs: dict[str, Observed], fragment: str) -> None:
    p = run(desired(group("dc")), pair("H1", "H2"), obs)
    for s in ("H1", "H2"):
        d = p.device(s)
        assert (
            d is not None and (d.action, d.reason) == (BLOCKED, "ha-peer-unhealthy") and fragment in d.detail
        )


def test_ha_pair_split_across_groups_is_a_conflict() -> None:
    state = desired(
        {"name": "a", "select": {"serials": ["H1"]}, "target": "11.1.6-h1"},
        {"name": "b", "select": {"serials": ["H2"]}, "target": "11.1.6-h1"},
    )
    p = run(state, pair("H1", "H2"))
    assert act(p, "H1") == (BLOCKED, "conflict") and act(p, "H2") == (BLOCKED, "conflict")
    lonely = run(
        desired({"name": "a", "select": {"serials": ["H1"]}, "target": "11.1.6-h1"}), pair("H1", "H2")
    )
    assert act(lonely, "H1") == (BLOCKED, "conflict") and act(lonely, "H2") == (NONE, "unmanaged")


def test_ha_peer_missing_from_inventory() -> None:
    p = run(desired(group("dc")), pair("H1", "H2")[:1])
    assert act(p, "H1") == (BLOCKED, "ha-peer-unhealthy")


def test_ha_pair_one_member_already_upgraded() -> None:
    obs = {"H1": Observed.of("11.1.6-h1", ha_state="passive"), "H2": Observed.of("11.1.4", ha_state="active")}
    p = run(desired(group("dc")), pair("H1", "H2", active="H2"), obs)
    assert act(p, "H1") == (NONE, "converged") and act(p, "H2") == (UPGRADE, None)


# --- group gates ----------------------------------------------------------------------------------------

WEEKEND_BERLIN = {"days": ["sat", "sun"], "start": "01:00", "end": "05:00", "timezone": "Europe/Berlin"}


@pytest.mark.parametrize(
    "top, grp, now, reason",
    [
        ({"paused": True}, {}, NOW, "paused"),
        ({}, {"paused": True}, NOW, "paused"),
        ({}, {"maintenanceWindows": [WEEKEND_BERLIN]}, NOW + timedelta(hours=3), "outside-window"),
        ({}, {"maintenanceWindows": [WEEKEND_BERLIN]}, NOW, None),
        ({"denyWindows": [{"from": "2026-11-27", "until": "2026-11-30"}]}, {}, NOW, "change-freeze"),
        ({}, {"denyWindows": [{"days": ["sat"], "start": "00:00", "end": "24:00"}]}, NOW, "change-freeze"),
    ],
)
def test_group_gates(top: dict[str, Any], grp: dict[str, Any], now: datetime, reason: str | None) -> None:
    p = run(desired(group("br", **grp), **top), [fw("A")], now=now)
    assert act(p, "A") == ((BLOCKED, reason) if reason else (UPGRADE, None))
    summary = p.group("br")
    assert summary is not None
    assert summary.window_open == (reason not in ("outside-window", "change-freeze"))


def test_outside_window_detail_names_the_next_opening() -> None:
    p = run(
        desired(group("br", maintenanceWindows=[WEEKEND_BERLIN])), [fw("A")], now=NOW + timedelta(hours=3)
    )
    assert "next change 2026-11-29T00:00:00+00:00" in p.device("A").detail  # type: ignore[union-attr]
    assert p.group("br").next_window_change == datetime(2026, 11, 29, 0, 0, tzinfo=UTC)  # type: ignore[union-attr]


def test_in_progress_device_stops_at_safe_point_when_gate_closes_but_not_for_budget() -> None:
    state = desired(group("br", maintenanceWindows=[WEEKEND_BERLIN]))
    status = {
        "A": DeviceProgress("A", "in_progress", target=V("11.1.6-h1")),
        "B": DeviceProgress("B", "failed", target=V("11.1.6-h1"), reason="x"),
    }
    inside = run(state, [fw("A"), fw("B"), fw("C")], status=status)
    a = inside.device("A")
    assert a is not None and (a.action, a.in_progress) == (UPGRADE, True)  # budget does not stop it
    assert act(inside, "C") == (BLOCKED, "failure-budget")
    outside = run(state, [fw("A"), fw("B"), fw("C")], status=status, now=NOW + timedelta(hours=3))
    a = outside.device("A")
    assert a is not None and (a.action, a.reason, a.in_progress) == (BLOCKED, "outside-window", True)


def test_failure_budget_percent() -> None:
    state = desired(group("br", failureBudget="50%"))
    status = {"A": DeviceProgress("A", "failed", target=V("11.1.6-h1"))}
    p = run(state, [fw(s) for s in "ABCD"], status=status)
    assert p.group("br").failure_budget == 2 and not p.group("br").halted  # type: ignore[union-attr]
    assert act(p, "B") == (UPGRADE, None)
    status["B"] = DeviceProgress("B", "failed", target=V("11.1.6-h1"))
    assert act(run(state, [fw(s) for s in "ABCD"], status=status), "C") == (BLOCKED, "failure-budget")


# --- waves and parallelism ------------------------------------------------------------------------------


def test_canary_wave_then_the_rest() -> None:
    state = desired(group("br", waves={"canary": 2}))
    devices = [fw(s, hostname=f"fw-{i}") for i, s in enumerate("EDCBA")]  # hostnames order the units
    p = run(state, devices)
    waves = {d.serial: (d.wave, d.order, d.action, d.reason) for d in p.devices}
    assert waves["E"] == (1, 1, UPGRADE, None) and waves["D"] == (1, 2, UPGRADE, None)
    assert waves["C"] == (2, 3, BLOCKED, "wave-pending")
    assert "wave 1: 0 of 2 units converged" in p.device("C").detail  # type: ignore[union-attr]
    assert [w.state for w in p.group("br").waves] == ["active", "pending"]  # type: ignore[union-attr]
    assert p.group("br").current_wave == 1  # type: ignore[union-attr]


def test_wave_two_starts_once_canaries_converged_and_soaked() -> None:
    state = desired(group("br", waves={"canary": "20%", "soak": "1h"}))
    devices = [fw(s, hostname=f"fw-{i}") for i, s in enumerate("ABCDE")]
    obs = {"A": Observed.of("11.1.6-h1")}
    status = {
        "A": DeviceProgress("A", "done", target=V("11.1.6-h1"), finished_at=NOW - timedelta(minutes=30))
    }
    soaking = run(state, devices, obs, status)
    assert act(soaking, "B") == (BLOCKED, "soak")
    assert soaking.group("br").waves[1].soak_until == NOW + timedelta(minutes=30)  # type: ignore[union-attr]
    later = run(state, devices, obs, status, now=NOW + timedelta(minutes=31))
    assert [act(later, s) for s in "BCDE"] == [(UPGRADE, None)] * 4
    assert [w.state for w in later.group("br").waves] == ["done", "active"]  # type: ignore[union-attr]


def test_failed_canary_holds_the_next_wave() -> None:
    state = desired(group("br", waves={"canary": 1}, failureBudget=5))
    status = {"A": DeviceProgress("A", "failed", target=V("11.1.6-h1"))}
    p = run(state, [fw("A", hostname="a"), fw("B", hostname="b")], status=status)
    assert act(p, "B") == (BLOCKED, "wave-pending")


def test_canaries_stay_canaries_and_converged_units_are_not_canaries() -> None:
    state = desired(group("br", waves={"canary": 1}))
    devices = [fw("A", hostname="a", version="11.1.6-h1"), fw("B", hostname="b"), fw("C", hostname="c")]
    start = run(state, devices)
    # (within wave 2, C with work to do comes before A, converged all along: the longest path first)
    assert [(d.serial, d.wave) for d in start.devices] == [("B", 1), ("C", 2), ("A", 2)]
    assert act(start, "C") == (BLOCKED, "wave-pending")
    done = {"B": DeviceProgress("B", "done", target=V("11.1.6-h1"), finished_at=NOW)}
    later = run(state, [*devices[:1], fw("B", hostname="b", version="11.1.6-h1"), devices[2]], status=done)
    assert later.device("B").wave == 1 and act(later, "C") == (UPGRADE, None)  # type: ignore[union-attr]


def test_inconsistent_pair_is_blocked() -> None:
    a, b = pair("H1", "H2")
    p = run(desired(group("dc")), [a, b.with_changes(peer_serial="H9")])
    assert act(p, "H1") == (BLOCKED, "ha-peer-unhealthy") and "names H9" in p.device("H1").detail  # type: ignore[union-attr]


def test_an_ha_pair_is_one_unit_of_a_wave() -> None:
    state = desired({"name": "all", "select": {"all": True}, "target": "11.1.6-h1", "waves": {"canary": 1}})
    devices = [*pair("H1", "H2"), fw("Z", hostname="zz")]
    p = run(state, devices)
    assert {p.device(s).wave for s in ("H1", "H2")} == {1}  # type: ignore[union-attr]
    assert p.device("Z").wave == 2  # type: ignore[union-attr]


def test_max_parallel_queues_the_rest_and_counts_work_in_progress() -> None:
    state = desired(group("br", maxParallel=2))
    status = {"A": DeviceProgress("A", "in_progress", target=V("11.1.6-h1"))}
    p = run(state, [fw(s, hostname=f"h{s}") for s in "ABCD"], status=status)
    flags = {d.serial: (d.action, d.in_progress, d.queued) for d in p.devices}
    assert flags == {
        "A": (UPGRADE, True, False),
        "B": (UPGRADE, False, False),
        "C": (UPGRADE, False, True),
        "D": (UPGRADE, False, True),
    }
    assert p.group("br").in_progress == 1  # type: ignore[union-attr]


# --- crash resume ---------------------------------------------------------------------------------------


def test_in_progress_device_follows_the_path_from_its_starting_version() -> None:
    table = parse_upgrade_paths({"10.1.14-h9": ["10.2.9", "11.0.6", "11.1.6-h1"], "10.2.9": ["11.1.6-h1"]})
    state = desired(group("br")).with_upgrade_paths(table)
    status = {
        "A": DeviceProgress("A", "in_progress", target=V("11.1.6-h1"), starting_version=V("10.1.14-h9"))
    }
    p = run(state, [fw("A", version="10.2.9")], status=status)
    a = p.device("A")
    assert a is not None and [str(h.version) for h in a.hops] == ["11.0.6", "11.1.6-h1"]
    idle = run(state, [fw("A", version="10.2.9")])
    assert [str(h.version) for h in idle.device("A").hops] == ["11.1.6-h1"]  # type: ignore[union-attr]


def test_unmanaged_device_still_in_progress_is_told_to_stop() -> None:
    status = {"X": DeviceProgress("X", "in_progress")}
    p = run(desired(group("br")), [fw("X", dg="gone")], status=status)
    x = p.device("X")
    assert x is not None and (x.action, x.reason, x.in_progress) == (BLOCKED, "unmanaged", True)


# --- plan as data ---------------------------------------------------------------------------------------


def sample_plan() -> Plan:
    state = desired(
        group("br", waves={"canary": 1, "soak": "1h"}, maxParallel=1, maintenanceWindows=[WEEKEND_BERLIN]),
        group("dc"),
        group("dl", stage="downloaded"),
    )
    devices = [
        fw("A"),
        fw("B"),
        fw("C"),
        *pair("H1", "H2"),
        fw("L", dg="dl", version="10.2.9"),
        fw("U", dg="x"),
    ]
    status = {"C": DeviceProgress("C", "done", target=V("11.1.6-h1"), finished_at=NOW)}
    return run(state, devices, {"C": Observed.of("11.1.6-h1")}, status)


def test_plan_json_validates_against_the_schema_and_round_trips() -> None:
    p = sample_plan()
    data = p.to_json()
    assert schemas.errors("plan", data) == []
    again = Plan.from_json(data)
    assert again == p
    assert data["summary"]["changes"] is True
    assert data["format_version"] == 1


def test_plan_from_json_refuses_other_formats() -> None:
    data = sample_plan().to_json()
    data["format_version"] = 2
    with pytest.raises(ValueError, match="format_version"):
        Plan.from_json(data)


def test_plan_is_deterministic() -> None:
    assert sample_plan().to_json() == sample_plan().to_json()


def test_restricted_to_a_group_or_serial() -> None:
    p = sample_plan()
    part = p.restricted_to(["dc", "L"])
    assert part.partial and part.targets == ("dc", "L")
    assert sorted(d.serial for d in part.devices) == ["H1", "H2", "L"]
    assert [g.name for g in part.groups] == ["dc", "dl"]
    with pytest.raises(ValueError, match="nope"):
        p.restricted_to(["nope"])


def test_staleness() -> None:
    p = sample_plan()
    # A and B wait for the soak of the converged canary C, so only the dc pair and L have changes
    assert (
        staleness(p, p.desired_digest, p.inventory_digest, {"A": "11.1.5", "H1": "11.1.4", "U": "9.1.0"})
        == []
    )
    reasons = staleness(p, "sha256:" + "0" * 64, "sha256:other", {"H1": V("11.1.6-h1"), "H2": None})
    assert len(reasons) == 3
    assert reasons[0].startswith("the desired state changed")
    assert reasons[1].startswith("the inventory changed")
    assert reasons[2] == "H1 (fw-h1) now runs 11.1.6-h1; the plan saw 11.1.4"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        run(desired(group("br")), [fw("A")], now=datetime(2026, 1, 1))


# --- properties -----------------------------------------------------------------------------------------

versions = st.sampled_from(["10.1.14-h9", "10.2.9", "11.0.6", "11.1.4", "11.1.6-h1", "11.2.7", "bad"])
categories = st.sampled_from(["idle", "in_progress", "done", "failed", "held", "cancelled"])


@st.composite
def fleets(draw: st.DrawFn) -> tuple[list[Device], dict[str, DeviceProgress], dict[str, Observed]]:
    devices: list[Device] = []
    status: dict[str, DeviceProgress] = {}
    observed: dict[str, Observed] = {}
    n = draw(st.integers(0, 12))
    for i in range(n):
        dg = draw(st.sampled_from(["br", "dc", "dl", "x"]))
        version = draw(versions)
        if draw(st.booleans()) and i % 2 == 0:
            devices.extend(pair(f"P{i}a", f"P{i}b", dg=dg, version=version))
            serials = [f"P{i}a", f"P{i}b"]
        else:
            devices.append(fw(f"S{i}", dg=dg, version=version, hostname=f"h{draw(st.integers(0, 5))}"))
            serials = [f"S{i}"]
        for s in serials:
            if draw(st.booleans()):
                status[s] = DeviceProgress(s, draw(categories), target=V("11.1.6-h1"))
            if draw(st.booleans()):
                observed[s] = Observed.of(
                    draw(versions),
                    available=CATALOG,
                    reachable=draw(st.booleans()),
                    ha_state=draw(st.sampled_from(["active", "passive", "suspended"])),
                )
    return devices, status, observed


@settings(max_examples=150, deadline=None)
@given(fleets(), st.integers(0, 24 * 7))
def test_plan_invariants(
    fleet: tuple[list[Device], dict[str, DeviceProgress], dict[str, Observed]], hours: int
) -> None:
    devices, status, observed = fleet
    state = desired(
        group(
            "br", waves={"canary": "30%", "soak": "2h"}, maxParallel=2, maintenanceWindows=[WEEKEND_BERLIN]
        ),
        group("dc", failureBudget=2),
        group("dl", stage="downloaded"),
    )
    p = run(state, devices, observed, status, now=NOW + timedelta(hours=hours))
    assert sorted(d.serial for d in p.devices) == sorted(d.serial for d in devices)
    assert schemas.errors("plan", p.to_json()) == []
    for d in p.devices:
        if d.action == BLOCKED:
            assert d.reason not in (None, "converged") and (d.reason != "unmanaged" or d.in_progress)
        else:
            assert d.reason in (None, "converged", "unmanaged")
        if (
            d.action in (UPGRADE, DOWNLOAD) and not d.in_progress
        ):  # in progress may be finishing: no hops left
            assert d.hops and d.hops[-1].version == V(d.target or "")
        if d.group is not None and d.reason != "conflict":
            assert d.wave is not None and d.order is not None
        if d.queued:
            assert d.action in (UPGRADE, DOWNLOAD) and not d.in_progress
    for d in p.devices:
        if d.ha_pair and d.reason != "conflict":
            peer = next(x for x in p.devices if x.ha_pair == d.ha_pair and x.serial != d.serial)
            assert (peer.wave, peer.order, peer.group) == (d.wave, d.order, d.group)
            assert {peer.ha_member, d.ha_member} == {1, 2}
    for g in p.groups:
        starting = [
            d for d in p.devices if d.group == g.name and d.changes and not d.in_progress and not d.queued
        ]
        if g.max_parallel is not None:
            assert len({d.ha_pair or d.serial for d in starting}) <= g.max_parallel
