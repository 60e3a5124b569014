"""``download-status`` (what download-only work has staged, from status files) and ``verify-download``
(which images every firewall of the inventory has right now, asked in parallel through the device seam).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from reconciler.core.errors import PermanentDeviceError
from reconciler.core.inventory import Device, Inventory
from reconciler.core.version import PanOsVersion
from reconciler.device.client import FirewallClient, translate
from reconciler.jobs.queue import QueuedJob
from reconciler.machine.records import ACTIVE_PHASES, DeviceRecord, Mode, Phase

# -- download-status ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedDevice:
    """One device with download-only work: ``staged`` = images it has (downloaded by us, or already there),
    ``remaining`` = images its path still needs that it does not have."""

    serial: str
    hostname: str
    job_id: str
    upgrade_status: str
    progress: int
    target_version: str | None
    staged: tuple[str, ...]
    remaining: tuple[str, ...]
    message: str

    @property
    def bucket(self) -> str:
        """``downloaded``, ``downloading``, ``failed``, ``waiting`` or ``stopped`` (held/cancelled). Only a
        device with every image of its path on it counts as downloaded (a record that finished with images
        missing, as older releases wrote when the disk was short, counts as failed)."""
        if self.upgrade_status in (Phase.DOWNLOADED.value, Phase.DONE.value):
            return "failed" if self.remaining else "downloaded"
        if self.upgrade_status == Phase.FAILED.value:
            return "failed"
        if self.upgrade_status in (Phase.HELD.value, Phase.CANCELLED.value, Phase.SKIPPED.value):
            return "stopped"
        if self.upgrade_status in {p.value for p in ACTIVE_PHASES}:
            return "downloading"
        return "waiting"

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "hostname": self.hostname,
            "job_id": self.job_id,
            "upgrade_status": self.upgrade_status,
            "state": self.bucket,
            "progress": self.progress,
            "target_version": self.target_version,
            "staged_versions": list(self.staged),
            "remaining_versions": list(self.remaining),
            "upgrade_message": self.message,
        }


BUCKETS = ("downloaded", "downloading", "waiting", "failed", "stopped")


def staged_devices(
    records: Iterable[DeviceRecord], open_jobs: Iterable[QueuedJob], inventory: Inventory
) -> list[StagedDevice]:
    """Every download-only record, plus the devices of open download-only jobs that have none yet."""
    out: dict[str, StagedDevice] = {}
    for rec in records:
        if rec.mode is not Mode.DOWNLOAD_ONLY:
            continue
        staged = tuple(dict.fromkeys((*rec.skipped_versions, *rec.downloaded_versions)))
        # Hops behind the device's position on its path need nothing staged any more.
        wanted = [img for hop in rec.hops[rec.current_path_index :] for img in hop.images]
        remaining = tuple(v for v in dict.fromkeys(wanted) if v not in staged)
        out[rec.serial] = StagedDevice(
            rec.serial,
            rec.hostname,
            rec.job_id,
            rec.phase.value,
            rec.progress,
            rec.target_version,
            _sorted(staged),
            remaining,
            rec.message,
        )
    for job in open_jobs:
        spec = job.spec
        if spec is None or spec.mode is not Mode.DOWNLOAD_ONLY:
            continue
        for serial in spec.devices:
            if serial in out and out[serial].job_id == spec.job_id:
                continue
            if serial in out and out[serial].bucket in ("downloading", "waiting"):
                continue
            dev = inventory.get(serial)
            out[serial] = StagedDevice(
                serial,
                dev.hostname if dev else "",
                spec.job_id,
                "pending",
                0,
                spec.target_version,
                (),
                (),
                f"job {spec.job_id} is {job.state}",
            )
    return [out[s] for s in sorted(out)]


def bucket_counts(devices: Sequence[StagedDevice]) -> dict[str, int]:
    counts = {b: 0 for b in BUCKETS}
    for dev in devices:
        counts[dev.bucket] += 1
    return {"total": len(devices), **counts}


def _sorted(versions: Iterable[str]) -> tuple[str, ...]:
    parsed = [(PanOsVersion.try_parse(v), v) for v in versions]
    return tuple(
        v for p, v in sorted(parsed, key=lambda pv: (pv[0] is None, pv[0] or PanOsVersion(0, 0, 0), pv[1]))
    )


# -- verify-download -----------------------------------------------------------------------------------------

OK = "ok"
UNREACHABLE = "unreachable"
ERROR = "error"
NO_ADDRESS = "no-address"


@dataclass(frozen=True)
class ImageReport:
    """One firewall's software images, or why they could not be read (``status`` != ``ok``)."""

    serial: str
    hostname: str
    mgmt_ip: str
    current_version: str
    downloaded: tuple[str, ...]
    status: str = OK
    error: str = ""

    def has(self, version: str) -> str:
        """``yes``/``no``, or ``unknown`` when the device could not be asked."""
        if self.status != OK:
            return "unknown"
        return "yes" if version in self.downloaded else "no"


def probe(
    device: Device, client_for: Callable[[Device], FirewallClient], timeout: float | None
) -> ImageReport:
    """Ask one firewall for its image list (``request system software info``, no update-server call)."""
    base = ImageReport(device.serial, device.hostname, device.mgmt_ip, device.sw_version, ())
    if not device.mgmt_ip:
        return replace(base, status=NO_ADDRESS, error="no management address")
    try:
        images = client_for(device).software_info(timeout=timeout)
    except Exception as exc:
        # One device's failure is a row of the report, never a crash. The seam translates its errors;
        # translating again here also covers a library error that escapes it (the API key is fetched
        # lazily, outside the seam's translation, when a per-call timeout is set).
        err = translate(exc, f"firewall {device.serial}: software info")
        status = ERROR if isinstance(err, PermanentDeviceError) else UNREACHABLE
        return replace(base, status=status, error=str(err))
    current = next((str(i.version) for i in images if i.current), device.sw_version)
    downloaded = _sorted(str(i.version) for i in images if i.downloaded)
    return ImageReport(device.serial, device.hostname, device.mgmt_ip, current, downloaded)


def verify(
    devices: Sequence[Device],
    client_for: Callable[[Device], FirewallClient],
    *,
    workers: int,
    timeout: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ImageReport]:
    """Probe every device with at most ``workers`` in parallel; one report per device, in serial order."""
    if not devices:
        return []
    results: list[ImageReport] = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(devices)))) as pool:
        futures = [pool.submit(probe, d, client_for, timeout) for d in devices]
        for done, future in enumerate(futures, start=1):
            results.append(future.result())
            if progress is not None:
                progress(done, len(devices))
    return sorted(results, key=lambda r: r.serial)


def report_columns(versions: Sequence[str]) -> list[str]:
    return [
        "serial",
        "hostname",
        "mgmt_ip",
        "current_version",
        "status",
        "downloaded_versions",
        *(f"has_{v}" for v in versions),
        "error",
    ]


def report_csv(reports: Sequence[ImageReport], versions: Sequence[str]) -> str:
    """The CSV report: one row per device (unreachable ones included); ``downloaded_versions`` is
    space-separated; one ``has_<version>`` column (yes/no/unknown) per requested version."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(report_columns(versions))
    for r in reports:
        writer.writerow(
            [
                r.serial,
                r.hostname,
                r.mgmt_ip,
                r.current_version,
                r.status,
                " ".join(r.downloaded),
                *(r.has(v) for v in versions),
                r.error,
            ]
        )
    return out.getvalue()
