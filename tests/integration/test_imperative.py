"""The original tool's imperative interface against the simulator: verify-download, device validate/metrics,
job submission from the CLI and from CSVs (real client, real sockets, TLS verified)."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.jobs import queue
from reconciler.sim.simulator import Simulator
from reconciler.workdir import schemas
from reconciler.workdir.layout import WorkPaths
from tests.integration.conftest import configure_for
from tests.safety import assert_safe

FLEET = """
seed: 7
devices:
  - {serial: "011001", hostname: edge-1, model: PA-440, version: "10.2.9", device_group: edge,
     downloaded: ["10.2.7", "11.0.0"], free_disk_mb: 9000}
  - {serial: "011002", hostname: edge-2, model: PA-440, version: "10.2.9", device_group: edge,
     free_disk_mb: 9000}
  - {serial: "011003", hostname: edge-3, model: PA-440, version: "11.1.4", device_group: edge,
     downloaded: ["11.0.0"], free_disk_mb: 9000}
  - {serial: "012001", hostname: dc-1, model: PA-3220, version: "10.2.9", device_group: dc,
     ha: {peer: "012002", priority: 10}, free_disk_mb: 9000}
  - {serial: "012002", hostname: dc-2, model: PA-3220, version: "10.2.9", device_group: dc,
     ha: {peer: "012001", priority: 20}, free_disk_mb: 9000}
"""


@pytest.fixture
def fleet(
    start_sim: Callable[..., Simulator], work: WorkPaths, cli: Callable[..., Any], tmp_path: Path
) -> Simulator:
    spec = tmp_path / "fleet.yaml"
    spec.write_text(FLEET)
    sim = start_sim(fleet=spec, time_scale=0.005)
    configure_for(work, sim)
    result = cli("device", "discover", "--workers", "5")
    assert 0 == result.exit_code, result.output + result.stderr
    return sim


def ok(result: Any) -> Any:
    assert 0 == result.exit_code, result.output + result.stderr
    return result


def test_verify_download_reports_every_device_including_unreachable_ones(
    fleet: Simulator, cli: Callable[..., Any], tmp_path: Path
) -> None:
    fleet.inject_fault("011002", "drop_connection", rate=1.0)
    report = tmp_path / "report.csv"
    result = ok(
        cli(
            "verify-download",
            "--output",
            str(report),
            "--workers",
            "3",
            "--version",
            "11.0.0",
            "--version",
            "10.2.7",
        )
    )
    with report.open() as fh:
        rows = {r["serial"]: r for r in csv.DictReader(fh)}
    assert {"011001", "011002", "011003", "012001", "012002"} == set(rows)
    assert [
        "serial",
        "hostname",
        "mgmt_ip",
        "current_version",
        "status",
        "downloaded_versions",
        "has_11.0.0",
        "has_10.2.7",
        "error",
    ] == list(next(iter(rows.values())))
    for serial, row in rows.items():
        if serial == "011002":
            assert ("unreachable", "unknown", "unknown", "") == (
                row["status"],
                row["has_11.0.0"],
                row["has_10.2.7"],
                row["downloaded_versions"],
            )
            assert row["error"]
            continue
        state = fleet.device(serial)
        assert ("ok", state.version) == (row["status"], row["current_version"])
        assert set(state.downloaded) == set(row["downloaded_versions"].split())
        assert ("yes" if "11.0.0" in state.downloaded else "no") == row["has_11.0.0"]
        assert ("yes" if "10.2.7" in state.downloaded else "no") == row["has_10.2.7"]
    assert ("yes", "yes") == (rows["011001"]["has_11.0.0"], rows["011001"]["has_10.2.7"])
    assert "Checked 5 firewall(s): 4 answered, 1 could not be asked" in result.output
    assert "11.0.0: downloaded on 2 of 4" in result.output


def test_device_validate_ready_not_ready_and_error(fleet: Simulator, cli: Callable[..., Any]) -> None:
    result = ok(cli("device", "validate", "011001", "--json"))
    data = json.loads(result.output)
    checks = {c["name"]: c for c in data["checks"]}
    assert data["ready"] is True
    assert ("10.2.9", "standalone (HA off)") == (data["version"], checks["ha"]["detail"])
    assert {"reachable", "version", "ha", "disk", "jobs", "assurance:candidate_config",
            "assurance:expired_licenses", "assurance:jobs"} == set(checks)  # fmt: skip
    free_gb = fleet.device("011001").free_disk_mb / 1024
    assert f"{free_gb:.1f} GB free, 5.0 GB required" == checks["disk"]["detail"]

    pair = json.loads(ok(cli("device", "validate", "012002", "--json")).output)
    ha = {c["name"]: c for c in pair["checks"]}["ha"]
    assert ha["passed"] and ha["detail"].startswith(f"{fleet.device('012002').ha_state}, peer 012001")

    fleet.inject_fault("011003", "disk_small", free_mb=900)
    result = cli("device", "validate", "011003")
    assert 2 == result.exit_code, result.output
    assert re.search(r"^disk +FAIL +0\.9 GB free, 5\.0 GB required$", result.output, re.M), result.output
    assert "NOT READY (1 check(s) failed)" in result.output

    fleet.inject_fault("011002", "drop_connection", rate=1.0)
    down = cli("device", "validate", "011002", "--json")
    assert 2 == down.exit_code
    assert [("reachable", False)] == [(c["name"], c["passed"]) for c in json.loads(down.output)["checks"]]

    unknown = cli("device", "validate", "999999")
    assert 1 == unknown.exit_code
    assert "device 999999 is not in the inventory" in unknown.stderr


def test_device_metrics_reads_sessions_routes_arp_and_disk(fleet: Simulator, cli: Callable[..., Any]) -> None:
    data = json.loads(ok(cli("device", "metrics", "011001", "--json")).output)
    assert [] == data["errors"]
    assert "10.2.9" == data["version"]
    assert data["route_count"] > 0 and data["route_count"] == len(data["routes"])
    assert data["arp_count"] > 0 and data["arp_count"] == len(data["arp"])
    assert data["tcp_sessions"] >= 0 and data["active_sessions"] >= data["tcp_sessions"]
    assert abs(fleet.device("011001").free_disk_mb / 1024 - data["disk_free_gb"]) < 0.1
    text = ok(cli("device", "metrics", "011001")).output
    assert re.search(rf"^routes +{data['route_count']}$", text, re.M), text


def test_job_submit_writes_a_schema_valid_pending_file(
    fleet: Simulator, work: WorkPaths, cli: Callable[..., Any]
) -> None:
    result = ok(cli("job", "submit", "--device", "011001", "--dry-run", "--job-id", "web-job-1"))
    assert "Queued dry-run job web-job-1 for device 011001" in result.output
    data = json.loads((work.queue("pending") / "web-job-1.json").read_text())
    assert [] == schemas.errors("job-file", data)
    assert ("standalone", ["011001"], True, False) == (
        data["type"],
        data["devices"],
        data["dry_run"],
        data["download_only"],
    )

    pair = ok(
        cli("job", "submit", "--ha-pair", "012002", "012001", "--download-only", "--target-version", "11.0.3")
    )
    job_id = pair.output.split()[3]
    pair_data = json.loads((work.queue("pending") / f"{job_id}.json").read_text())
    assert [] == schemas.errors("job-file", pair_data)
    assert ("ha_pair", ["012002", "012001"], "11.0.3") == (
        pair_data["type"],
        pair_data["devices"],
        pair_data["target_version"],
    )

    listed = json.loads(ok(cli("job", "list", "--status", "pending", "--json")).output)
    assert {"web-job-1", job_id} == {j["job_id"] for j in listed}
    for entry in listed:
        assert [] == schemas.errors("job-status", {k: v for k, v in entry.items() if k != "file"})

    refused = cli("job", "submit", "--device", "012001")
    assert 1 == refused.exit_code
    assert "is a member of an HA pair (peer 012002)" in refused.stderr
    assert "use 'panos-upgrade job submit --ha-pair 012001 012002'" in refused.stderr
    again = cli("job", "submit", "--device", "011001")
    assert 1 == again.exit_code and "already in pending job web-job-1" in again.stderr
    traversal = cli("job", "submit", "--device", "011002", "--job-id", "../../etc/x")
    assert 1 == traversal.exit_code and "invalid job id" in traversal.stderr
    assert 2 == len(os.listdir(work.queue("pending")))
    assert_safe(fleet.events(), dry_run=True, label="jobs only queued")  # no daemon ran: nothing changed


def test_bulk_commands_take_the_exported_csvs(
    fleet: Simulator, work: WorkPaths, cli: Callable[..., Any], tmp_path: Path
) -> None:
    out = tmp_path / "csv"
    out.mkdir()
    ok(cli("device", "export", "--output-dir", str(out)))
    preview = ok(cli("upgrade", str(out / "standalone_devices.csv"), "--preview"))
    assert "[preview] would queue 3 upgrade job(s)" in preview.output
    assert [] == os.listdir(work.queue("pending"))

    ok(cli("download", str(out / "standalone_devices.csv"), "--target-version", "11.1.4"))
    pending = queue.queued(work, ("pending",))
    assert 3 == len(pending)
    assert all(j.spec is not None and j.spec.download_only for j in pending)

    clash = cli("upgrade-ha-pairs", str(out / "ha_pairs.csv"), "--dry-run")
    assert 0 == clash.exit_code, clash.stderr
    (pair_job,) = [j for j in queue.queued(work, ("pending",)) if j.spec and j.spec.type == "ha_pair"]
    assert pair_job.spec is not None and pair_job.spec.dry_run
    assert {"012001", "012002"} == set(pair_job.spec.devices)

    wrong = cli("upgrade", str(out / "ha_pairs.csv"))
    assert 1 == wrong.exit_code
    assert "ha_pairs.csv:1: missing column 'serial'; this looks like an HA pairs CSV" in wrong.stderr
    again = cli("upgrade", str(out / "standalone_devices.csv"))
    assert 1 == again.exit_code
    assert "nothing queued: 3 problems" in again.stderr and "already in pending job" in again.stderr
    assert 4 == len(queue.queued(work, ("pending",))), "all-or-nothing: no job added"
    assert_safe(fleet.events(), dry_run=True, label="jobs only queued")  # no daemon ran: nothing changed
