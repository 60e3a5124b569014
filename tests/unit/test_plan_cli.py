"""``panos-upgrade validate`` and ``plan`` end to end: sources, formats, exit codes, windows on the real clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from freezegun import freeze_time
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.core.inventory import Device, Inventory
from reconciler.core.planner import Plan, staleness
from reconciler.machine.records import ErrorInfo, Phase, new_record
from reconciler.workdir import record_store, schemas
from reconciler.workdir.inventory_store import save
from reconciler.workdir.layout import WorkPaths

DESIRED = """\
apiVersion: panos-upgrade/v1
groups:
  - name: branches
    select: {deviceGroups: [branches]}
    target: "11.1.6-h1"
    maintenanceWindows:
      - {days: [sat], start: "01:00", end: "05:00", timezone: Europe/Berlin}
  - name: dc
    select: {deviceGroups: [dc]}
    target: "11.1.6-h1"
    path: ["11.1.4"]
"""

INSIDE = "2026-11-28T01:00:00Z"  # Saturday 02:00 in Berlin
OUTSIDE = "2026-11-28T12:00:00Z"


def devices() -> list[Device]:
    return [
        Device("A1", "fw-br-1", sw_version="11.1.2", device_group="branches", device_type="standalone"),
        Device("A2", "fw-br-2", sw_version="11.1.6-h1", device_group="branches", device_type="standalone"),
        Device(
            "H1",
            "fw-dc-a",
            sw_version="11.1.2",
            device_group="dc",
            device_type="ha_pair",
            ha_state="active",
            peer_serial="H2",
        ),
        Device(
            "H2",
            "fw-dc-b",
            sw_version="11.1.2",
            device_group="dc",
            device_type="ha_pair",
            ha_state="passive",
            peer_serial="H1",
        ),
        Device("L1", "lab-1", sw_version="10.1.0", device_group="lab", device_type="standalone"),
    ]


@pytest.fixture
def fleet(work: WorkPaths) -> WorkPaths:
    (work.root / "desired").mkdir()
    (work.root / "desired" / "fleet.yaml").write_text(DESIRED)
    save(work, Inventory.of(devices()))
    return work


def cli(runner: CliRunner, work: WorkPaths, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--work-dir", str(work.root), *args])
    return result.exit_code, result.stdout, result.stderr


@freeze_time(INSIDE)
def test_plan_table_inside_the_window(fleet: WorkPaths, runner: CliRunner) -> None:
    code, out, _ = cli(runner, fleet, "plan")
    assert code == 0
    rows = {line.split()[3]: line for line in out.splitlines() if line.startswith(("branches", "dc"))}
    assert "upgrade" in rows["A1"] and "11.1.6-h1" in rows["A1"]
    assert "none" in rows["A2"]
    assert "HA 1/2; 11.1.4 -> 11.1.6-h1" in rows["H2"]  # passive first, explicit path hop then the target
    assert "L1" not in rows
    assert "1 unmanaged" in out and "Changes pending." in out


@freeze_time(OUTSIDE)
def test_outside_the_window_only_the_group_without_one_changes(fleet: WorkPaths, runner: CliRunner) -> None:
    code, out, _ = cli(runner, fleet, "plan", "--json")
    assert code == 0
    data = json.loads(out)
    by_serial = {d["serial"]: d for d in data["devices"]}
    assert (by_serial["A1"]["action"], by_serial["A1"]["reason"]) == ("blocked", "outside-window")
    assert by_serial["H1"]["action"] == "upgrade"
    assert data["generated_at"].startswith("2026-11-28T12:00:00")
    assert schemas.errors("plan", data) == []


@pytest.mark.parametrize(
    ("when", "desired_text", "code"),
    [
        (INSIDE, DESIRED, 2),  # changes pending
        (OUTSIDE, DESIRED.replace('path: ["11.1.4"]', "paused: true"), 0),  # everything blocked: no changes
        (INSIDE, DESIRED.replace("11.1.6-h1", "11.1.2"), 1),  # error: the dc path hop is beyond the target
    ],
)
def test_detailed_exitcode(
    fleet: WorkPaths, runner: CliRunner, when: str, desired_text: str, code: int
) -> None:
    (fleet.root / "desired" / "fleet.yaml").write_text(desired_text)
    with freeze_time(when):
        assert cli(runner, fleet, "plan", "--detailed-exitcode")[0] == code
        assert cli(runner, fleet, "plan")[0] == (1 if code == 1 else 0)


def test_invalid_desired_state_exits_1_with_every_error(fleet: WorkPaths, runner: CliRunner) -> None:
    (fleet.root / "desired" / "fleet.yaml").write_text(
        DESIRED.replace('"11.1.6-h1"', "11.1").replace("dc]", "dc], x: 1")
    )
    code, out, err = cli(runner, fleet, "plan", "--detailed-exitcode")
    assert code == 1 and out == ""
    assert "fleet.yaml:5: groups[0].target: 11.1 is not a version string" in err
    assert "fleet.yaml:9: groups[1].select.x: unknown field 'x'" in err
    assert "Traceback" not in err


def test_missing_inventory_and_missing_desired(work: WorkPaths, runner: CliRunner) -> None:
    code, _, err = cli(runner, work, "plan")
    assert code == 1 and "desired" in err and "no such file or directory" in err
    (work.root / "desired").mkdir()
    (work.root / "desired" / "a.yaml").write_text(DESIRED)
    code, _, err = cli(runner, work, "plan")
    assert code == 1 and "device discover" in err


def test_desired_path_from_config_and_from_flag(fleet: WorkPaths, runner: CliRunner, tmp_path: Path) -> None:
    other = fleet.root / "gitops"
    other.mkdir()
    (other / "x.yaml").write_text(DESIRED.replace("name: dc", "name: datacentre"))
    assert cli(runner, fleet, "config", "set", "desired.path", "gitops")[0] == 0
    _, out, _ = cli(runner, fleet, "plan", "--json")
    assert [g["name"] for g in json.loads(out)["groups"]] == ["branches", "datacentre"]
    flag = tmp_path / "flag.yaml"
    flag.write_text(DESIRED.replace("name: dc", "name: from-flag"))
    _, out, _ = cli(runner, fleet, "plan", "--json", "-f", str(flag))
    assert [g["name"] for g in json.loads(out)["groups"]] == ["branches", "from-flag"]


@freeze_time(INSIDE)
def test_status_files_are_read_as_the_engine_reads_them(fleet: WorkPaths, runner: CliRunner) -> None:
    failed = new_record(
        serial="A1",
        starting_version="11.1.2",
        target_version="11.1.6-h1",
        hops=(),
        now=INSIDE,
        group="branches",
    ).with_changes(
        phase=Phase.FAILED,
        last_error=ErrorInfo("install-failed", "install", "install job failed", INSIDE),
    )
    record_store.save(fleet, failed)
    (fleet.device_status_dir / "H1.json").write_text('{"serial": "H1", "upgr')  # torn: skipped
    # Not a record the engine can use (the schema refuses it): the engine leaves the device alone, and plan
    # shows it blocked (held) with why, even at its target.
    (fleet.device_status_dir / "A2.json").write_text(
        json.dumps({"serial": "A2", "upgrade_status": "failed", "target_version": "11.1.6-h1"})
    )
    code, out, _ = cli(runner, fleet, "plan", "--json")
    assert code == 0
    verdicts = {d["serial"]: (d["action"], d["reason"], d["detail"]) for d in json.loads(out)["devices"]}
    assert ("blocked", "failed", "install job failed") == verdicts["A1"]
    assert ("blocked", "held") == verdicts["A2"][:2] and "status file unusable" in verdicts["A2"][2]
    assert "status file unusable" in verdicts["H1"][2], "the torn one too"


@freeze_time(INSIDE)
def test_upgrade_paths_json_of_the_work_dir_is_honoured(fleet: WorkPaths, runner: CliRunner) -> None:
    fleet.upgrade_paths_file.write_text('{"11.1.2": ["11.1.3", "11.1.6-h1"]}')
    _, out, _ = cli(runner, fleet, "plan", "--json")
    a1 = next(d for d in json.loads(out)["devices"] if d["serial"] == "A1")
    assert [h["version"] for h in a1["hops"]] == ["11.1.3", "11.1.6-h1"]
    assert a1["path_source"] == "upgrade_paths.json"


@freeze_time(INSIDE)
def test_out_saves_a_plan_that_is_fresh_until_something_moves(fleet: WorkPaths, runner: CliRunner) -> None:
    saved = fleet.root / "plan.json"
    code, out, _ = cli(runner, fleet, "plan", "--out", str(saved), "--revision", "abc123")
    assert code == 0 and f"Plan saved to {saved}" in out
    data = json.loads(saved.read_text())
    assert schemas.errors("plan", data) == []
    plan = Plan.from_json(data)
    assert plan.desired_revision == "abc123"
    inv = Inventory.of(devices())
    versions = {d.serial: d.sw_version for d in devices()}
    assert staleness(plan, plan.desired_digest, inv.digest(), versions) == []
    versions["A1"] = "11.1.3"
    assert staleness(plan, plan.desired_digest, inv.digest(), versions) == [
        "A1 (fw-br-1) now runs 11.1.3; the plan saw 11.1.2"
    ]


@freeze_time(INSIDE)
def test_markdown(fleet: WorkPaths, runner: CliRunner) -> None:
    code, out, _ = cli(runner, fleet, "plan", "--markdown")
    assert code == 0
    assert out.startswith("## panos-upgrade plan")
    assert "| fw-br-1 (A1) | branches | 1 | `11.1.2` | `11.1.6-h1` | upgrade |" in out
    assert "1 device(s) already converged." in out


def test_json_and_markdown_exclude_each_other(fleet: WorkPaths, runner: CliRunner) -> None:
    code, _, err = cli(runner, fleet, "plan", "--json", "--markdown")
    assert code == 1 and "exclude each other" in err


@freeze_time(INSIDE)
def test_target_makes_a_partial_plan_with_a_warning(fleet: WorkPaths, runner: CliRunner) -> None:
    code, out, err = cli(runner, fleet, "plan", "--json", "--target", "dc", "--detailed-exitcode")
    assert code == 2
    assert "warning: partial plan" in err
    data = json.loads(out)
    assert data["partial"] is True and sorted(d["serial"] for d in data["devices"]) == ["H1", "H2"]
    code, _, err = cli(runner, fleet, "plan", "--target", "ZZZ")
    assert code == 1 and "ZZZ" in err


# --- validate -------------------------------------------------------------------------------------------


def test_validate_good_and_bad_files(tmp_path: Path, runner: CliRunner, home: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(DESIRED)
    result = runner.invoke(app, ["validate", str(good)])
    assert result.exit_code == 0 and "valid (2 groups, sha256:" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        DESIRED.replace('target: "11.1.6-h1"\n    maint', "target: 11.10\n    maint").replace(
            "dc]", "dc], x: 1"
        )
    )
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{bad}:5: groups[0].target: 11.10 is not a version string")
    assert lines[1].startswith(f"{bad}:9: groups[1].select.x: unknown field 'x'")
    assert lines[2] == f"{bad}: 2 error(s)"


def test_validate_json(tmp_path: Path, runner: CliRunner, home: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(DESIRED)
    data = json.loads(runner.invoke(app, ["validate", "--json", str(good)]).stdout)
    assert data["valid"] is True and data["groups"] == ["branches", "dc"] and data["errors"] == []
    good.write_text("")
    result = runner.invoke(app, ["validate", "--json", str(good)])
    assert result.exit_code == 1 and json.loads(result.stdout)["valid"] is False


def test_validate_against_an_inventory(tmp_path: Path, runner: CliRunner, home: Path) -> None:
    desired = tmp_path / "d.yaml"
    desired.write_text(
        DESIRED
        + """\
  - name: pa-440
    select: {hostnames: ["fw-br-1"]}
    target: "11.1.6-h1"
  - name: one-member
    select: {serials: [H1]}
    exclude: {deviceGroups: [dc]}
    target: "11.1.6-h1"
"""
    )
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps(Inventory.of(devices()).to_json()))
    result = runner.invoke(app, ["validate", str(desired), "--inventory", str(inv)])
    assert result.exit_code == 1
    assert f"{inv}: A1: selected by groups 'branches', 'pa-440'" in result.stderr


def test_validate_default_path_is_the_work_dir(fleet: WorkPaths, runner: CliRunner) -> None:
    code, out, _ = cli(runner, fleet, "validate")
    assert code == 0 and str(fleet.root / "desired") in out


def test_table_marks_partial_paused_queued_and_in_progress() -> None:
    from datetime import UTC, datetime

    from reconciler.cli.plan_render import to_markdown, to_table
    from reconciler.core.desired import build
    from reconciler.core.planner import plan
    from reconciler.core.progress import DeviceProgress

    state = build(
        [
            {
                "apiVersion": "panos-upgrade/v1",
                "groups": [
                    {
                        "name": "branches",
                        "select": {"deviceGroups": ["branches"]},
                        "target": "11.1.6-h1",
                        "maxParallel": 1,
                    }
                ],
            }
        ]
    )
    inv = Inventory.of(
        [*devices()[:2], Device("A3", "fw-br-3", sw_version="11.1.2", device_group="branches")]
    )
    status = {"A1": DeviceProgress("A1", "in_progress")}
    p = plan(state, inv, {}, status, datetime(2026, 11, 28, tzinfo=UTC))
    table = to_table(p)
    assert "upgrade (in progress)" in table and "upgrade (queued)" in table
    paused = plan(state.__class__(state.groups, paused=True), inv, {}, {}, datetime(2026, 11, 28, tzinfo=UTC))
    assert to_table(paused).startswith("The desired state is PAUSED")
    assert "**The desired state is paused**" in to_markdown(paused)
    part = p.restricted_to(["A3"])
    assert to_table(part).startswith("Partial plan: only A3")


ACROSS_MIDNIGHT = DESIRED.replace(
    '{days: [sat], start: "01:00", end: "05:00", timezone: Europe/Berlin}',
    '{days: [sat], start: "22:00", end: "03:00", timezone: Europe/Berlin}',
)


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        ("2026-11-28T20:59:59Z", False),  # Saturday 21:59:59 CET
        ("2026-11-28T21:00:00Z", True),  # Saturday 22:00 CET: opens
        ("2026-11-29T01:59:59Z", True),  # Sunday 02:59:59: the tail of Saturday's window
        ("2026-11-29T02:00:00Z", False),  # Sunday 03:00: closed
        ("2026-10-25T00:30:00Z", True),  # clocks go back this night: 02:30 CEST ...
        ("2026-10-25T01:30:00Z", True),  # ... and 02:30 CET, the second time round: still inside
        ("2026-10-25T02:00:00Z", False),  # 03:00 CET: closed (the window lasted 6 real hours)
        ("2027-03-27T21:30:00Z", True),  # the night clocks go forward: Saturday 22:30 CET
        ("2027-03-28T00:59:00Z", True),  # 01:59 CET
        ("2027-03-28T01:00:00Z", False),  # the clock jumps from 02:00 to 03:00 CEST: closed (4 real hours)
    ],
)
def test_window_across_midnight_and_dst_on_the_real_clock(
    fleet: WorkPaths, runner: CliRunner, moment: str, inside: bool
) -> None:
    (fleet.root / "desired" / "fleet.yaml").write_text(ACROSS_MIDNIGHT)
    with freeze_time(moment):
        _, out, _ = cli(runner, fleet, "plan", "--json", "--target", "A1")
    a1 = json.loads(out)["devices"][0]
    assert (a1["action"], a1["reason"]) == (("upgrade", None) if inside else ("blocked", "outside-window"))
