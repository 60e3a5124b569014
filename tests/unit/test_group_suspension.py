"""Issue 14.12 without a simulator: the planner's ``suspended`` gate and group verdict, the suspension files,
the ``reconcile`` command file, and the report's escaping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.cli import report_render
from reconciler.core.errors import UserError
from reconciler.core.group_status import group_statuses
from reconciler.core.inventory import Inventory
from reconciler.core.planner import plan
from reconciler.core.progress import DeviceProgress
from reconciler.core.version import PanOsVersion
from reconciler.jobs import operator_requests
from reconciler.workdir import schemas, suspensions
from reconciler.workdir.layout import WorkPaths
from reconciler.workdir.rollout import CheckRow, DeviceRow, HopRow, Rollout
from tests.unit.test_planner import NOW, act, desired, fw, group

WHY = "group 'br' suspended (operator) by alice at 2026-11-28T01:00:00Z: change freeze"


def test_a_suspended_group_starts_nothing_and_says_why() -> None:
    state = desired(group("br"), group("dc"))
    devices = [fw("A1"), fw("A2"), fw("B1", dg="dc")]
    working = DeviceProgress("A2", category="in_progress", target=PanOsVersion.parse("11.1.6-h1"))
    result = plan(state, Inventory.of(devices), {}, {"A2": working}, NOW, suspended={"br": WHY})
    assert ("blocked", "suspended") == act(result, "A1")
    a1 = result.device("A1")
    assert a1 is not None and WHY == a1.detail
    a2 = result.device("A2")  # working: marked to stop at its next safe point (the engine holds it there)
    assert a2 is not None and ("blocked", "suspended", True) == (a2.action, a2.reason, a2.in_progress)
    assert ("upgrade", None) == act(result, "B1")  # another group is not touched
    br, dc = result.group("br"), result.group("dc")
    assert br is not None and dc is not None and (WHY, "") == (br.suspended, dc.suspended)
    assert [] == schemas.errors("plan", result.to_json())
    verdicts = {g.name: g for g in group_statuses(result, state, {"A2": working})}
    assert ("suspended", WHY) == (verdicts["br"].state, verdicts["br"].suspended)
    assert "suspended" != verdicts["dc"].state
    # Without the suspension, the same inputs plan the group again (the YAML was never changed).
    again = plan(state, Inventory.of(devices), {}, {"A2": working}, NOW)
    assert ("upgrade", None) == act(again, "A1")


def test_suspension_files(tmp_path: Path) -> None:
    paths = WorkPaths(tmp_path)
    (tmp_path / "audit").mkdir()
    assert {} == suspensions.details(paths)
    now = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    suspensions.suspend(paths, "br", "alice", "change freeze", now)
    data = json.loads(paths.suspension_file("br").read_text())
    assert [] == schemas.errors("group-suspension", data)
    assert {"br": WHY} == suspensions.details(paths)
    with pytest.raises(UserError, match="already suspended"):
        suspensions.suspend(paths, "br", "bob", "", now)
    with pytest.raises(UserError, match="invalid group name"):
        suspensions.suspend(paths, "../etc", "bob", "", now)
    assert "br" == suspensions.resume(paths, "br", "alice").group
    with pytest.raises(UserError, match="not suspended"):
        suspensions.resume(paths, "br", "alice")
    # A damaged file still suspends its group: it must not let a rollout go on that someone stopped.
    paths.suspension_file("dc").write_text("{not json")
    found = suspensions.load_all(paths)["dc"]
    assert found.problem and "unreadable" in found.detail
    actions = [json.loads(line)["action"] for line in paths.audit_file.read_text().splitlines()]
    assert ["group-suspend", "group-resume"] == actions


def test_a_reconcile_command_names_no_device(tmp_path: Path) -> None:
    paths = WorkPaths(tmp_path)
    for d in paths.directories():
        d.mkdir(parents=True, exist_ok=True)
    now = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    operator_requests.write_command(paths, {"command": "reconcile", "submitted_by": "web"}, now)
    with pytest.raises(UserError, match="invalid command"):  # a device field makes no sense here
        operator_requests.write_command(paths, {"command": "reconcile", "serial": "001"}, now)
    (request,) = operator_requests.read_incoming(paths, inventory=Inventory(), now=now)
    assert ("reconcile", "daemon", (), None) == (
        request.command,
        request.target,
        request.serials,
        request.observation,
    )
    (outcome,) = operator_requests.apply_offline(paths, [request], now, inventory=Inventory())
    assert () == outcome.devices
    assert [] == schemas.errors("command-outcome", json.loads(request.outcome_file.read_text()))


HOSTILE = '<img src=x onerror="alert(1)">|`*_[x](y)#'


def test_the_report_escapes_what_devices_and_panorama_say() -> None:
    check = CheckRow("tcp_sessions", 1000, 900, 5.0, False, "drop of 10.0 % " + HOSTILE)
    hop = HopRow(
        1, "11.1.6-h1", "2026-11-28T01:00:00Z", "2026-11-28T01:10:30Z", "failed", {"install": 90.0}, (check,)
    )
    device = DeviceRow(
        serial="001",
        hostname=HOSTILE,
        group="br",
        job_id="",
        mode="upgrade",
        status="failed",
        starting_version="11.1.4",
        current_version="11.1.6-h1",
        target_version="11.1.6-h1",
        attempt=1,
        started_at="2026-11-28T01:00:00Z",
        finished_at="2026-11-28T01:10:30Z",
        hops=(hop,),
        failure_reason="postflight-breach",
        failure_phase="postflight",
        failure_message=HOSTILE,
    )
    rollout = Rollout((device,))
    md = report_render.to_markdown(rollout, NOW)
    page = report_render.to_html(rollout, NOW)
    assert "<img" not in md and "&lt;img" in md and "\\|\\`\\*\\_\\[x\\](y)\\#" in md
    assert "<img" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "| tcp\\_sessions | 1000 | 900 | -10.0 % | 5 % | BREACH: drop of 10.0 %" in md
    assert "10 min 30 s" in md and "install 1 min 30 s" in md
