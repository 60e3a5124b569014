"""plan_job: what an original-tool job does to each device, decided without a device, a file or a clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.core.desired import DesiredState, build
from reconciler.core.inventory import Device, Inventory
from reconciler.core.upgrade_path import parse_upgrade_paths
from reconciler.core.version import PanOsVersion
from reconciler.machine.job_plan import JobPlan, plan_job
from reconciler.machine.records import DeviceRecord, Hop, Phase, new_record

V = PanOsVersion.parse
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
CATALOG = tuple(V(v) for v in ("10.2.9", "11.0.0", "11.0.6", "11.1.0", "11.1.4", "11.1.6-h1"))


@dataclass(frozen=True)
class Job:
    devices: tuple[str, ...]
    target_version: str | None = "11.1.6-h1"
    is_ha_pair: bool = False


def fw(serial: str, version: str = "10.2.9", dg: str = "br", peer: str | None = None) -> Device:
    return Device(
        serial,
        f"fw-{serial.lower()}",
        sw_version=version,
        device_group=dg,
        device_type="ha_pair" if peer else "standalone",
        ha_state="passive" if peer else "standalone",
        peer_serial=peer,
    )


def desired(target: str = "11.1.6-h1", dg: str = "br", **top: Any) -> DesiredState:
    group = {"name": "branches", "select": {"deviceGroups": [dg]}, "target": target}
    return build([{"apiVersion": "panos-upgrade/v1", **top, "groups": [group]}])


def record(serial: str, phase: Phase = Phase.DONE, *, started: bool = True, **kw: Any) -> DeviceRecord:
    rec = new_record(
        serial=serial, starting_version="10.2.9", target_version="11.0.6", hops=(), now=NOW, **kw
    )
    return rec.with_changes(phase=phase, started_at=rec.updated_at if started else None)


def plan_of(
    job: Job,
    devices: list[Device],
    state: DesiredState | None = None,
    records: dict[str, DeviceRecord] | None = None,
    offered: dict[str, tuple[PanOsVersion, ...] | None] | None = None,
) -> JobPlan:
    return plan_job(job, state, Inventory.of(devices), records or {}, offered)


def test_a_standalone_job_gets_record_ready_hops_with_the_minimum_content_version() -> None:
    p = plan_of(Job(("A",)), [fw("A")])
    assert p.ready and not p.failures
    assert (p.starts, p.targets, p.groups) == ({"A": "10.2.9"}, {"A": "11.1.6-h1"}, {"A": ""})
    assert p.hops["A"] == (Hop("11.1.6-h1", ("11.0.0", "11.1.0", "11.1.6-h1"), min_content_version="8760"),)


def test_the_engine_records_version_wins_over_the_inventory() -> None:
    p = plan_of(Job(("A",)), [fw("A")], records={"A": record("A").with_changes(current_version="11.1.4")})
    assert p.starts == {"A": "11.1.4"} and p.hops["A"][0].images == ("11.1.6-h1",)


def test_a_device_of_unknown_version_refuses_the_job() -> None:
    p = plan_of(Job(("A",)), [fw("A", version="")])
    assert p.problem == "A: version unknown; run 'panos-upgrade device discover'" and not p.ready
    assert (p.starts, p.hops) == ({}, {})


def test_a_managed_device_runs_toward_its_groups_target_and_with_its_groups_settings() -> None:
    state = desired()
    assert plan_of(Job(("A",), target_version=None), [fw("A")], state).targets == {"A": "11.1.6-h1"}
    same = plan_of(Job(("A",)), [fw("A")], state)
    assert same.ready and same.groups == {"A": "branches"}
    other = plan_of(Job(("A",), target_version="11.1.4"), [fw("A")], state)
    assert other.problem == (
        "A is managed by desired-state group 'branches' toward 11.1.6-h1, not 11.1.4: "
        "change the desired state instead"
    )


def test_a_busy_device_refuses_the_job_but_an_idle_or_finished_one_does_not() -> None:
    busy = record("A", Phase.INSTALL, job_id="web-1")
    assert plan_of(Job(("A",)), [fw("A")], records={"A": busy}).problem == "A is busy (install, web-1)"
    by_group = record("A", Phase.DOWNLOAD_TARGET, group="branches")
    assert plan_of(Job(("A",)), [fw("A")], records={"A": by_group}).problem == (
        "A is busy (download_target, branches)"
    )
    idle = record("A", Phase.PENDING, started=False)
    assert plan_of(Job(("A",)), [fw("A")], records={"A": idle}).ready
    assert plan_of(Job(("A",)), [fw("A")], records={"A": record("A", Phase.FAILED)}).ready


def test_without_a_target_the_upgrade_paths_table_gives_one_or_the_job_is_refused() -> None:
    p = plan_of(Job(("A",), target_version=None), [fw("A")])
    assert p.problem == "A: no target: give target_version, or add 10.2.9 to config/upgrade_paths.json"
    table = parse_upgrade_paths({"10.2.9": ["11.0.6", "11.1.4"]})
    state = DesiredState(groups=(), upgrade_paths=table)
    p = plan_of(Job(("A",), target_version=None), [fw("A")], state)
    assert p.targets == {"A": "11.1.4"} and [h.version for h in p.hops["A"]] == ["11.0.6", "11.1.4"]


def test_a_target_no_path_leads_to_fails_the_device_never_its_current_version() -> None:
    p = plan_of(Job(("A",), target_version="9.1.0"), [fw("A")])
    assert p.ready and p.targets == {"A": "9.1.0"} and "A" not in p.hops
    reason, message = p.failures["A"]
    assert reason == "downgrade-refused" and message.startswith("no upgrade path from 10.2.9 to 9.1.0: ")


def test_an_ha_pair_whose_path_needs_intermediate_releases_waits_for_the_offered_images() -> None:
    job = Job(("A", "B"), is_ha_pair=True)
    devices = [fw("A", peer="B"), fw("B", peer="A")]
    waiting = plan_of(job, devices)
    assert waiting.needs_images == ("A", "B") and not waiting.ready
    known = plan_of(job, devices, offered={"A": CATALOG, "B": CATALOG})
    assert known.ready
    assert [h.version for h in known.hops["A"]] == ["11.0.6", "11.1.6-h1"]  # one feature release a hop
    assert [h.min_content_version for h in known.hops["B"]] == ["8630", "8760"]
    unknown = plan_of(job, devices, offered={"A": CATALOG, "B": None})
    assert unknown.ready and "B" not in unknown.hops and "A" in unknown.hops
    reason, message = unknown.failures["B"]
    assert reason == "images-unknown" and message.endswith("; the device did not give its image list")


def test_a_standalone_device_jumps_where_its_pair_member_could_not() -> None:
    p = plan_of(Job(("A",)), [fw("A")])
    assert p.needs_images == () and [h.version for h in p.hops["A"]] == ["11.1.6-h1"]
