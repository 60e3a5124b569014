"""Engine safety (issue 13) against the simulator, through the CLI where the user sees the defect: a job's
target is never silently replaced, a dry run leaves no trace in the real state, ``apply --dry-run`` previews
every device once and agrees with ``plan``, and a cancelled HA-pair job leaves both members coherent."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.loop import drive
from reconciler.engine.session import open_session
from reconciler.sim.simulator import Simulator
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths
from reconciler.workdir.lock import DaemonLock
from tests.integration.conftest import configure_for

FLEET = """
seed: 11
devices:
  - {serial: "021001", hostname: edge-1, model: PA-440, version: "10.2.9", device_group: edge,
     free_disk_mb: 9000}
  - {serial: "021002", hostname: edge-2, model: PA-440, version: "11.1.4", device_group: edge,
     free_disk_mb: 9000}
  - {serial: "021003", hostname: edge-3, model: PA-440, version: "10.2.9", device_group: edge,
     free_disk_mb: 900}
  - {serial: "022001", hostname: dc-1, model: PA-3220, version: "10.2.9", device_group: dc,
     ha: {peer: "022002", priority: 10}, free_disk_mb: 9000}
  - {serial: "022002", hostname: dc-2, model: PA-3220, version: "10.2.9", device_group: dc,
     ha: {peer: "022001", priority: 20}, free_disk_mb: 9000}
"""

CHANGING = {"download_start", "install_start", "reboot_start", "content_install_start", "ha_suspend_request"}


@pytest.fixture
def fleet(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any], tmp_path: Path
) -> Simulator:
    spec = tmp_path / "fleet.yaml"
    spec.write_text(FLEET)
    sim = start_sim(fleet=spec, time_scale=0.005)
    configure_for(work, sim, **{"engine.time_scale": "0.005", "metrics.enabled": "false"})
    result = cli("device", "discover", "--workers", "4")
    assert 0 == result.exit_code, result.output + result.stderr
    return sim


def ok(result: Any) -> Any:
    assert 0 == result.exit_code, result.output + result.stderr
    return result


def run_engine(work: WorkPaths, timeout: float = 60.0, desired: Path | None = None) -> None:
    """What the daemon does with the queue, until nothing moves: passes, jobs and commands."""
    session = open_session(
        work,
        Config.load(work.config_file),
        desired_path=desired or work.root / "desired",
        serve_metrics=False,
    )
    try:
        session.reconciler.load_records()
        drive(
            session,
            stop=threading.Event(),
            until_settled=True,
            resync=0.5,
            deadline=time.monotonic() + timeout,
        )
    finally:
        session.close()


def changing_events(sim: Simulator) -> list[dict[str, Any]]:
    return [e for e in sim.events() if e["event"] in CHANGING]


# -- 3. a job's target is never silently replaced ---------------------------------------------------------------


def test_job_submit_without_a_path_to_the_target_is_refused_at_once(
    fleet: Simulator, work: WorkPaths, cli: Callable[..., Any]
) -> None:
    # 12.0 is not a PAN-OS feature release: no path leads there.
    pair = cli("job", "submit", "--ha-pair", "022001", "022002", "--target-version", "12.0.1")
    assert 1 == pair.exit_code, pair.output
    assert "Queued" not in pair.output
    assert "no upgrade path from 10.2.9 to 12.0.1 for 022001" in pair.stderr
    single = cli("job", "submit", "--device", "021001", "--target-version", "12.0.1", "--job-id", "j-1")
    assert 1 == single.exit_code and "Queued" not in single.output
    assert "no upgrade path from 10.2.9 to 12.0.1 for 021001" in single.stderr
    # The original tool's table: 10.2.9 -> 11.1.4 in one install skips 11.0, which an HA pair cannot do.
    work.upgrade_paths_file.write_text(json.dumps({"10.2.9": ["11.1.4"]}))
    table = cli("job", "submit", "--ha-pair", "022002", "022001", "--target-version", "11.1.4")
    assert 1 == table.exit_code and "Queued" not in table.output
    assert "no upgrade path from 10.2.9 to 11.1.4 for 022002: upgrade_paths.json path" in table.stderr
    assert [] == os.listdir(work.queue("pending"))
    # A device already on the target still queues (it is done at once: that is true).
    ok(cli("job", "submit", "--device", "021002", "--target-version", "11.1.4", "--job-id", "j-2"))
    assert ["j-2.json"] == os.listdir(work.queue("pending"))


def test_a_job_without_a_path_that_gets_through_fails_with_no_path(
    fleet: Simulator, work: WorkPaths, cli: Callable[..., Any]
) -> None:
    drop = {
        "web-pair": {"job_id": "web-pair", "type": "ha_pair", "devices": ["022001", "022002"],
                     "target_version": "12.0.1"},
        "web-there": {"job_id": "web-there", "type": "standalone", "devices": ["021002"],
                      "target_version": "11.1.4"},
    }  # fmt: skip
    for job_id, body in drop.items():
        (work.queue("pending") / f"{job_id}.json").write_text(json.dumps(body))
    run_engine(work)
    assert (work.queue("failed") / "web-pair.json").exists(), os.listdir(work.root / "queue" / "active")
    shown = json.loads(ok(cli("job", "show", "web-pair", "--json")).output)
    assert "failed" == shown["state"]
    for dev in shown["device_status"]:
        assert ("failed", "12.0.1") == (dev["upgrade_status"], dev["target_version"]), dev
        assert "no-path" == dev["last_error"]["reason"]
    by_serial = {d["serial"]: d for d in shown["device_status"]}
    assert "no upgrade path from 10.2.9 to 12.0.1" in by_serial["022001"]["last_error"]["message"]
    record = json.loads(work.device_status_file("022002").read_text())
    assert ("failed", "no-path") == (record["upgrade_status"], record["last_error"]["reason"])
    # Genuinely on the target: done, and that is true.
    there = json.loads(ok(cli("job", "show", "web-there", "--json")).output)
    assert ("completed", "done") == (there["state"], there["device_status"][0]["upgrade_status"])
    assert [] == changing_events(fleet)
    assert {"10.2.9"} == {fleet.device(s).version for s in ("022001", "022002", "021001")}


def test_a_pair_job_needing_an_intermediate_release_fetches_the_image_list_and_runs_it(
    fleet: Simulator, work: WorkPaths, cli: Callable[..., Any]
) -> None:
    # An HA pair goes one feature release at a time: 10.2.9 -> 11.0.x -> 11.1.4; which 11.0 release depends
    # on the images the devices offer (not in the inventory), so the engine asks them before starting.
    ok(cli("job", "submit", "--ha-pair", "022001", "022002", "--target-version", "11.1.4", "--job-id", "p-1"))
    run_engine(work, timeout=120)
    shown = json.loads(ok(cli("job", "show", "p-1", "--json")).output)
    assert "completed" == shown["state"], shown
    assert {"11.1.4"} == {fleet.device(s).version for s in ("022001", "022002")}
    for serial in ("022001", "022002"):
        installed = [
            e["version"] for e in fleet.events() if e["event"] == "install_start" and e["serial"] == serial
        ]
        assert 2 == len(installed) and installed[0].startswith("11.0.") and "11.1.4" == installed[1]


# -- 4. a dry run leaves no trace in the real state --------------------------------------------------------------

EDGE_PAUSED = """apiVersion: panos-upgrade/v1
groups:
  - name: edge
    select: {deviceGroups: [edge]}
    target: "11.1.4"
    paused: true
    failureBudget: 1
    validation: {minDiskGb: 10}
"""


def plan_json(cli: Callable[..., Any], desired: Path) -> dict[str, Any]:
    result = cli("plan", "-f", str(desired), "--json")
    assert result.exit_code in (0, 2), result.output + result.stderr
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_a_failed_dry_run_job_uses_the_group_settings_and_leaves_no_failure_behind(
    fleet: Simulator, work: WorkPaths, cli: Callable[..., Any], tmp_path: Path
) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "edge.yaml").write_text(EDGE_PAUSED)
    # 021001 has 8.8 GB free: enough for the config's 5 GB, not for the group's 10 GB (a real run would
    # fail its pre-flight, so the rehearsal must); 021003 has 0.9 GB, below both.
    ok(cli("job", "submit", "--device", "021001", "--dry-run", "--job-id", "dry-1"))
    ok(cli("job", "submit", "--device", "021003", "--dry-run", "--job-id", "dry-3"))
    run_engine(work, desired=desired)
    shown = {
        j: json.loads(ok(cli("job", "show", j, "--json")).output)["device_status"][0]
        for j in ("dry-1", "dry-3")
    }
    for dev in shown.values():
        assert ("failed", "insufficient-disk") == (dev["upgrade_status"], dev["last_error"]["reason"]), dev
    assert "10.0 GB required" in shown["dry-1"]["last_error"]["message"]
    assert [] == changing_events(fleet)
    # No budget used, nothing blocked by the rehearsal: the plan is what it was before it.
    plan = plan_json(cli, desired)
    edge = next(g for g in plan["groups"] if g["name"] == "edge")
    assert (False, 0) == (edge["halted"], edge["failures"]), edge
    devices = {d["serial"]: d for d in plan["devices"]}
    for serial in ("021001", "021003"):
        assert ("blocked", "paused") == (devices[serial]["action"], devices[serial]["reason"]), devices[
            serial
        ]
    table = cli("plan", "-f", str(desired))
    assert "HALTED" not in table.output and "failure-budget" not in table.output, table.output


# -- 5. apply --dry-run previews every device once and agrees with plan ----------------------------------------

DRY_FLEET = (
    "seed: 5\ndevices:\n"
    + "".join(
        f'  - {{serial: "03100{i}", hostname: br-{i}, model: PA-440, version: "10.2.9", device_group: br,'
        " free_disk_mb: 9000}\n"
        for i in range(1, 7)
    )
    + """  - {serial: "032001", hostname: hq-1, model: PA-3220, version: "10.2.9", device_group: hq,
     ha: {peer: "032002", priority: 10}, free_disk_mb: 9000}
  - {serial: "032002", hostname: hq-2, model: PA-3220, version: "10.2.9", device_group: hq,
     ha: {peer: "032001", priority: 20}, free_disk_mb: 9000}
  - {serial: "033001", hostname: lab-1, model: PA-440, version: "11.0.3", device_group: br,
     free_disk_mb: 9000}
"""
)

DRY_DESIRED = """apiVersion: panos-upgrade/v1
groups:
  - name: br
    select: {deviceGroups: [br]}
    target: "11.0.3"
    maxParallel: 1
    waves: {canary: 2}
  - name: hq
    select: {deviceGroups: [hq]}
    target: "11.0.3"
    maxParallel: 1
"""


def test_apply_dry_run_previews_every_device_and_each_pair_once_and_agrees_with_plan(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any], tmp_path: Path
) -> None:
    spec = tmp_path / "fleet.yaml"
    spec.write_text(DRY_FLEET)
    sim = start_sim(fleet=spec, time_scale=0.005)
    configure_for(work, sim, **{"engine.time_scale": "0.005", "metrics.enabled": "false", "workers.max": "5"})
    ok(cli("device", "discover", "--workers", "4"))
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "fleet.yaml").write_text(DRY_DESIRED)
    before = plan_json(cli, desired)
    actions = {d["serial"]: (d["action"], d["reason"]) for d in before["devices"]}
    result = cli("apply", "-f", str(desired), "--dry-run", "--auto-approve", "--timeout", "90")
    assert 0 == result.exit_code, result.output + result.stderr
    assert [] == changing_events(sim)
    upgrade = sorted(s for s, (a, _) in actions.items() if a == "upgrade")
    blocked = sorted(s for s, (a, _) in actions.items() if a == "blocked")
    # Wave 1 of br is its 2 canaries (one queued behind maxParallel 1), the pair is hq's; 4 wait for wave 2.
    assert (4, 4) == (len(upgrade), len(blocked)), actions
    assert {"wave-pending"} == {actions[s][1] for s in blocked}
    assert ("none", "converged") == actions["033001"]
    # Every device the plan would touch was rehearsed exactly once, each pair once: waves and maxParallel do
    # not apply to a dry run (it changes nothing), and nothing is left over when apply returns.
    touched = sorted(upgrade + blocked)
    # A dry run is read-only (issue 14.10): its rehearsal records live in a scratch directory, none here.
    assert [] == list(work.device_status_dir.glob("*.json"))
    checks = Counter(e["serial"] for e in sim.events() if e["event"] == "software_check")
    assert {s: 1 for s in touched} == dict(checks), checks
    # The summary says what plan says.
    tail = result.output.split("Finished in", 1)[1]
    assert "9 devices: 4 to upgrade, 0 to download, 4 blocked, 1 converged" in tail, tail
    assert "dry run: 8 device(s) previewed: 8 would pass pre-flight, 0 would fail" in tail, tail
    after = plan_json(cli, desired)
    assert actions == {d["serial"]: (d["action"], d["reason"]) for d in after["devices"]}


# -- 6. a cancelled HA-pair job leaves both members coherent ----------------------------------------------------

PAIRS_FLEET = """
seed: 13
devices:
  - {serial: "041001", hostname: a-1, model: PA-3220, version: "10.2.9", device_group: dc,
     ha: {peer: "041002", priority: 10}, free_disk_mb: 9000}
  - {serial: "041002", hostname: a-2, model: PA-3220, version: "10.2.9", device_group: dc,
     ha: {peer: "041001", priority: 20}, free_disk_mb: 9000}
  - {serial: "042001", hostname: b-1, model: PA-3220, version: "10.2.9", device_group: dc,
     ha: {peer: "042002", priority: 10}, free_disk_mb: 9000}
  - {serial: "042002", hostname: b-2, model: PA-3220, version: "10.2.9", device_group: dc,
     ha: {peer: "042001", priority: 20}, free_disk_mb: 9000}
"""

PAIRS_DESIRED = """apiVersion: panos-upgrade/v1
groups:
  - name: dc
    select: {deviceGroups: [dc]}
    target: "11.0.3"
    maxParallel: 1
"""

PAIR_A = ("041001", "041002")
PAIR_B = ("042001", "042002")


def status_of(work: WorkPaths, serial: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(work.device_status_file(serial).read_text())
    return data


def test_a_cancelled_pair_job_holds_both_members_frees_the_slot_and_a_release_restarts_the_pair(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any], tmp_path: Path
) -> None:
    spec = tmp_path / "fleet.yaml"
    spec.write_text(PAIRS_FLEET)
    sim = start_sim(fleet=spec, time_scale=0.005)
    configure_for(work, sim, **{"engine.time_scale": "0.005", "metrics.enabled": "false"})
    ok(cli("device", "discover", "--workers", "4"))
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "dc.yaml").write_text(PAIRS_DESIRED)
    ok(cli("job", "submit", "--ha-pair", *PAIR_A, "--target-version", "11.0.3", "--job-id", "pair-a"))

    # The daemon's part: jobs and commands only (no desired state yet), holding the work directory's lock,
    # so 'job cancel' goes through a command file that the engine applies while a member installs.
    session = open_session(
        work, Config.load(work.config_file), desired_path=tmp_path / "none", serve_metrics=False
    )
    cancelled: list[str] = []

    def cancel_mid_install() -> None:
        if cancelled:
            return
        for serial in PAIR_A:
            rec = session.executor.record(serial)
            # Installing: the install job submitted (before that, e.g. while the image loads into the
            # software manager after its download, the member is still at a safe point).
            if rec is not None and rec.phase.value == "install" and rec.job is not None:
                cancelled.append(serial)
                # The engine runs in this thread: queue the command, do not wait for its outcome here.
                queued = ok(cli("job", "cancel", "pair-a", "--reason", "admin takeover", "--no-wait"))
                assert "the running daemon" in queued.output, queued.output
                return

    with DaemonLock(work.lock_file):
        try:
            session.reconciler.load_records()
            drive(
                session,
                stop=threading.Event(),
                until_settled=True,
                resync=0.5,
                on_tick=cancel_mid_install,
                deadline=time.monotonic() + 120,
            )
        finally:
            session.close()
    assert cancelled, "no member of the pair was seen installing"
    (working,) = cancelled
    resting = next(s for s in PAIR_A if s != working)

    # Both members held: the working one after its new version answered (never mid-install), the resting
    # one at once; nothing left pending, the pair blocked because its members are held.
    for serial in PAIR_A:
        record = status_of(work, serial)
        hold = record["hold"] or {}
        assert ("held", "admin takeover") == (record["upgrade_status"], hold.get("reason")), record
    assert "11.0.3" == sim.device(working).version and "10.2.9" == sim.device(resting).version
    assert not [e for e in sim.events() if e["event"] == "install_start" and e["serial"] == resting]
    pair = json.loads(work.pair_status_file("041001+041002").read_text())
    assert ("blocked", "member-held") == (pair["stage"], pair["blocked_reason"]), pair
    shown = json.loads(ok(cli("job", "show", "pair-a", "--json")).output)
    assert "cancelled" == shown["state"]
    assert {"held"} == {d["upgrade_status"] for d in shown["device_status"]}, shown["device_status"]
    assert (work.queue("cancelled") / "pair-a.json").exists()

    # The held pair takes no maxParallel slot: plan says why each member of pair A waits, pair B may go.
    plan = {d["serial"]: d for d in plan_json(cli, desired)["devices"]}
    for serial in PAIR_A:
        assert ("blocked", "held") == (plan[serial]["action"], plan[serial]["reason"]), plan[serial]
    for serial in PAIR_B:
        assert ("upgrade", None, False) == (
            plan[serial]["action"],
            plan[serial]["reason"],
            plan[serial]["queued"],
        ), plan[serial]

    # apply converges what it may and says why it exits 2: pair A is held.
    applied = cli("apply", "-f", str(desired), "--auto-approve", "--timeout", "150")
    assert 2 == applied.exit_code, applied.output + applied.stderr
    assert {"11.0.3"} == {sim.device(s).version for s in PAIR_B}
    tail = applied.output.split("Finished in", 1)[1]
    assert f"{working}: held" in tail and f"{resting}: held" in tail, tail

    # Releasing one member releases the pair (its peer is held for the same work), and the pair starts over
    # from a fresh read of both roles: apply finishes the job's upgrade, one member at a time.
    released = ok(cli("device", "release", resting))
    assert f"{resting}: applied (held -> pending)" in released.output, released.output
    assert f"{working}: applied (held -> pending)" in released.output, released.output
    assert {"pending"} == {status_of(work, s)["upgrade_status"] for s in PAIR_A}
    ok(cli("apply", "-f", str(desired), "--auto-approve", "--timeout", "150"))
    assert {"11.0.3"} == {sim.device(s).version for s in (*PAIR_A, *PAIR_B)}
    assert {"done"} == {status_of(work, s)["upgrade_status"] for s in PAIR_A}
    shown = json.loads(ok(cli("job", "show", "pair-a", "--json")).output)
    assert {"done"} == {d["upgrade_status"] for d in shown["device_status"]}, shown["device_status"]
