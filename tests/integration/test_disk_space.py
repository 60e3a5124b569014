"""Disk space on the software repository against the simulator: download-only work that does not fit fails
instead of reporting images as staged (end states from the simulator's devices, status files, events)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from reconciler.core.version import PanOsVersion
from reconciler.jobs.download_report import bucket_counts, staged_devices
from reconciler.machine.records import Phase
from reconciler.sim.fleet import DeviceSpec, FleetSpec
from reconciler.workdir import schemas
from reconciler.workdir.inventory_store import load as load_inventory
from tests.integration.fleet_env import fleet_env

_blocks = itertools.count(60)
TARGET = "11.1.6-h1"


def block() -> str:
    return f"127.{next(_blocks)}.0.0"


def dev(serial: str, version: str, **kw: object) -> DeviceSpec:
    kw.setdefault("device_group", "dc")
    kw.setdefault("model", "PA-220")
    return DeviceSpec(serial, f"fw-{serial}", version=PanOsVersion.parse(version), **kw)  # type: ignore[arg-type]


def group(extra: str = "", select: str = "{deviceGroups: [dc]}", name: str = "dc") -> str:
    body = f'  - name: {name}\n    select: {select}\n    target: "{TARGET}"\n'
    body += "    validation: {minDiskGb: 1, tcpSessionMargin: 60, routeMargin: 0, arpMargin: 0}\n"
    return body + "".join(f"    {line}\n" for line in extra.splitlines())


def test_download_only_without_room_fails_insufficient_disk_and_is_not_counted_downloaded(
    tmp_path: Path,
) -> None:
    # 10.2.9 -> 11.1.6-h1 stages two base images and the target (about 3 GB); 2.4 GB free does not hold them.
    fleet = FleetSpec(
        devices=(dev("d01", "10.2.9", free_disk_mb=2500), dev("d02", "10.2.9", free_disk_mb=9000))
    )
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.write_desired("groups:\n" + group("stage: downloaded"))
        _, records = env.converge()
        small, roomy = records["d01"], records["d02"]
        assert Phase.FAILED is small.phase and small.last_error is not None
        assert "insufficient-disk" == small.last_error.reason
        assert "2.4 GB free; staging 11.0.0, 11.1.0, 11.1.6-h1 needs" in small.last_error.message
        assert "1.0 GB must stay free" in small.last_error.message
        assert [] == env.sim.events("download_start", "d01")
        assert Phase.DOWNLOADED is roomy.phase
        assert {"11.0.0", "11.1.0", "11.1.6-h1"} <= set(env.sim.device("d02").downloaded)
        # download-status counts what is really on the devices.
        devices = staged_devices(records.values(), [], load_inventory(env.paths))
        counts = bucket_counts(devices)
        assert (1, 1) == (counts["downloaded"], counts["failed"])
        for file in env.paths.device_status_dir.glob("*.json"):
            assert [] == schemas.errors("device-status", json.loads(file.read_text())), file


def test_a_small_appliance_deletes_old_images_on_a_multi_hop_path_and_converges(tmp_path: Path) -> None:
    # A PA-220 (8 GB for images) on 10.1.6 carrying old images, 3 GB free: 10.1.6 -> 10.2.x -> 11.1.6-h1
    # needs base images it can only hold once images it no longer needs are gone.
    old = tuple(PanOsVersion.parse(v) for v in ("10.0.4", "10.0.12", "10.1.0", "10.1.3"))
    fleet = FleetSpec(
        devices=(
            dev("s01", "10.1.6", free_disk_mb=3000, downloaded=old),
            dev("s02", "10.1.6", free_disk_mb=3000, downloaded=old),
        )
    )
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        env.write_desired(
            "groups:\n"
            + group(select="{serials: [s01]}")
            + group("imageCleanup: {enabled: false}", select="{serials: [s02]}", name="keep")
        )
        _, records = env.converge(timeout=180)
        rec = records["s01"]
        assert Phase.DONE is rec.phase, rec.last_error
        assert TARGET == env.sim.device("s01").version
        deleted = [e["version"] for e in env.sim.events("image_deleted", "s01")]
        assert deleted and list(rec.deleted_versions) == deleted
        # Never the running image, an image of the path left, nor the release kept for a rollback.
        # Never the running image, an image of the path still to do, nor the release kept for a rollback
        # (the one the device ran before its current release).
        path = {v for hop in rec.hops for v in hop.images}
        assert not set(deleted) & path
        assert set(deleted) <= {str(v) for v in old}
        # Every deletion is audited.
        audit = [json.loads(line) for line in env.paths.audit_file.read_text().splitlines()]
        audited = [a["command"]["version"] for a in audit if a.get("action") == "DeleteImage"]
        assert deleted == audited
        # With cleanup off, the same device keeps its images and fails for space.
        kept = records["s02"]
        assert Phase.FAILED is kept.phase and kept.last_error is not None
        assert "insufficient-disk" == kept.last_error.reason
        assert [] == env.sim.events("image_deleted", "s02")
