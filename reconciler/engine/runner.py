"""Runs one state-machine command against a device and returns the observation that answers it.

This is the executor's hands: it decides nothing. Every device call goes through ``reconciler.device.client``;
a ``DeviceError`` becomes ``CommandFailed`` (or ``HaCommandFailed``) carrying the seam's classification.
Evidence (snapshots, comparisons, config backups) is written under the work directory here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.errors import DeviceError, PermanentDeviceError
from reconciler.core.snapshots import Margins, Snapshot, compare
from reconciler.device.client import FirewallClient, RetryPolicy
from reconciler.device.observe import JOBS_CHECK, SNAPSHOT_AREAS, job_info, jobs_check
from reconciler.device.parsers import uptime_seconds
from reconciler.machine import commands as c
from reconciler.machine import observations as o
from reconciler.workdir import store
from reconciler.workdir.layout import WorkPaths

# panos-upgrade-assurance reports a failed area instead of raising; an area lost to a transient error (an
# HTTP 500, a dropped connection) would be compared as empty and fail the device, so it is taken again.
SNAPSHOT_ATTEMPTS = 5
# A single probe while a device reboots: failing fast is the point, the machine schedules the next one.
PROBE = RetryPolicy(attempts=1)

ClientFor = Callable[[str], FirewallClient]
"""serial -> a client for that firewall (HA commands name the member they act on)."""

LockFor = Callable[[str], AbstractContextManager[object]]
"""serial -> a lock held while a command talks to that firewall."""


@dataclass
class Runner:
    paths: WorkPaths
    client_for: ClientFor
    clock: Callable[[], str]
    lock_for: LockFor | None = None
    # serial -> how its client reached it at its last command (``FirewallClient.reached``)
    reached: dict[str, str] = field(default_factory=dict)

    def run(self, serial: str, command: c.Command) -> o.Observation:
        """Run ``command`` for device ``serial`` (or the HA member the command names)."""
        target = getattr(command, "serial", serial)
        guard = self.lock_for(target) if self.lock_for is not None else nullcontext()
        try:
            with guard:
                client = self.client_for(target)
                try:
                    return self._dispatch(serial, client, command)
                finally:
                    self.reached[target] = client.reached
        except DeviceError as exc:
            if isinstance(command, c.ReadHaState | c.Suspend | c.MakeFunctional):
                temporary = not isinstance(exc, PermanentDeviceError)
                return o.HaCommandFailed(target, command.name, temporary, exc.kind, str(exc))
            return o.CommandFailed.of(command, exc)

    def _dispatch(self, serial: str, fw: FirewallClient, cmd: c.Command) -> o.Observation:
        if isinstance(cmd, c.Preflight):
            return self._preflight(fw, cmd)
        if isinstance(cmd, c.Snapshot):
            return self._snapshot(serial, fw, cmd)
        if isinstance(cmd, c.Backup):
            return self._backup(serial, fw, cmd)
        if isinstance(cmd, c.SoftwareCheck | c.SoftwareInfo):
            fetch = fw.software_check if isinstance(cmd, c.SoftwareCheck) else fw.software_info
            images = fetch(timeout=cmd.timeout)
            return o.SoftwareList(tuple(o.ImageInfo(str(i.version), i.downloaded, i.size_mb) for i in images))
        if isinstance(cmd, c.ContentDownload):
            fw.content_check()
            return o.JobStarted(fw.content_download_latest())
        if isinstance(cmd, c.ContentInstall):
            return o.JobStarted(fw.content_install_latest())
        if isinstance(cmd, c.Download):
            return o.JobStarted(fw.download(cmd.version, sync_to_peer=cmd.sync_to_peer))
        if isinstance(cmd, c.DeleteImage):
            fw.delete_image(cmd.version)
            return o.ImageDeleted(cmd.version, fw.free_disk_gb())
        if isinstance(cmd, c.Install):
            return o.JobStarted(fw.install(cmd.version))
        if isinstance(cmd, c.PollJob):
            job = fw.job(cmd.job_id)
            return o.JobStatus(
                job.id or cmd.job_id, job.finished, job.ok, job.progress, "; ".join(job.details)
            )
        if isinstance(cmd, c.ListJobs):
            return o.JobsListed(tuple(job_info(j) for j in fw.jobs()))
        if isinstance(cmd, c.Reboot):
            fw.reboot()
            return o.RebootIssued()
        if isinstance(cmd, c.PollReady):
            ready = fw.chassis_ready(retry=PROBE)
            if not ready:
                return o.DeviceAnswered(False)
            info = fw.system_info(retry=PROBE)
            return o.DeviceAnswered(True, info.sw_version, uptime_seconds(info.uptime))
        if isinstance(cmd, c.CheckVersion):
            info = fw.system_info()
            return o.VersionObserved(info.sw_version, uptime_seconds(info.uptime))
        if isinstance(cmd, c.CompareSnapshots):
            return self._compare(serial, cmd)
        if isinstance(cmd, c.ObserveDevice):
            return self._observe(fw)
        if isinstance(cmd, c.ReadHaState):
            return _ha_observed(cmd.serial, fw)
        if isinstance(cmd, c.ReadPairRoles):
            local = _ha_observed(serial, fw)
            if not cmd.with_peer:
                return o.PairRoles(local, None)
            try:
                peer: o.HaStateObserved | None = _ha_observed(cmd.peer, self.client_for(cmd.peer), PROBE)
            except DeviceError:
                peer = None  # down, rebooting or unreachable: the machine decides what that means
            return o.PairRoles(local, peer)
        if isinstance(cmd, c.SuspendSelf):
            fw.ha_suspend()
            return o.SelfHaDone(cmd.name)
        if isinstance(cmd, c.FunctionalSelf):
            fw.ha_functional()
            return o.SelfHaDone(cmd.name)
        if isinstance(cmd, c.Suspend):
            fw.ha_suspend()
            return o.HaActionDone(cmd.serial, cmd.name)
        if isinstance(cmd, c.MakeFunctional):
            fw.ha_functional()
            return o.HaActionDone(cmd.serial, cmd.name)
        raise PermanentDeviceError(f"the executor cannot run {cmd.name}", kind="internal")

    def _preflight(self, fw: FirewallClient, cmd: c.Preflight) -> o.Observation:
        info = fw.system_info()
        disk = fw.free_disk_gb()
        listed = fw.jobs()
        jobs = tuple(job_info(j) for j in listed)
        # The jobs check is decided from the list just read (the library would read it again).
        asked = [name for name in cmd.checks if name != JOBS_CHECK]
        results = fw.readiness(asked) if asked else {}
        outcomes: list[o.CheckOutcome] = []
        for name in cmd.checks:
            if name == JOBS_CHECK:
                outcomes.append(jobs_check(listed))
                continue
            res = results.get(name, {})
            outcomes.append(o.CheckOutcome(name, bool(res.get("state")), str(res.get("reason", "not run"))))
        return o.PreflightResult(info.sw_version, disk, info.app_version or None, jobs, tuple(outcomes))

    def _evidence_name(self, hop_index: int, version: str, what: str, ext: str) -> str:
        return f"hop{hop_index}-{version}-{what}.{ext}"

    def _snapshot(self, serial: str, fw: FirewallClient, cmd: c.Snapshot) -> o.Observation:
        raw = fw.snapshot(SNAPSHOT_AREAS)
        for _ in range(SNAPSHOT_ATTEMPTS - 1):
            failed = [a for a in SNAPSHOT_AREAS if not _area_ok(raw.get(a))]
            if not failed:
                break
            raw = {**raw, **fw.snapshot(failed)}
        snap = Snapshot.from_assurance(raw, self.clock())
        path = self.paths.validation_for(serial) / self._evidence_name(
            cmd.hop_index, cmd.version, cmd.kind, "json"
        )
        store.atomic_write_json(path, snap.to_json(), mode=0o640)
        return o.SnapshotTaken(cmd.kind, str(path))

    def _backup(self, serial: str, fw: FirewallClient, cmd: c.Backup) -> o.Observation:
        text = fw.running_config()
        stamp = self.clock().replace(":", "").replace("-", "")
        path = self.paths.backups_for(serial) / f"{stamp}-before-{cmd.version}.xml"
        store.atomic_write_text(path, text, mode=0o600)
        return o.BackupTaken(str(path))

    def _compare(self, serial: str, cmd: c.CompareSnapshots) -> o.Observation:
        pre = Snapshot.from_json(store.read_json(Path(cmd.pre_path)))
        post = Snapshot.from_json(store.read_json(Path(cmd.post_path)))
        result = compare(pre, post, Margins(cmd.tcp_session_margin, cmd.route_margin, cmd.arp_margin))
        path = Path(cmd.post_path).with_name(Path(cmd.post_path).name.replace("-post.json", "-compare.json"))
        doc = {"serial": serial, "hop_index": cmd.hop_index, "compared_at": self.clock(), **result.to_json()}
        store.atomic_write_text(path, json.dumps(doc, indent=2) + "\n", mode=0o640)
        return o.ComparisonResult(result.passed, str(path), tuple(result.breaches))

    def _observe(self, fw: FirewallClient) -> o.Observation:
        try:
            info = fw.system_info(retry=PROBE)
        except DeviceError as exc:
            if isinstance(exc, PermanentDeviceError) and exc.kind not in ("auth",):
                raise
            return o.LiveDevice(reachable=False)
        ready = fw.chassis_ready(retry=PROBE)
        jobs = tuple(job_info(j) for j in fw.jobs(retry=PROBE))
        return o.LiveDevice(True, info.sw_version, ready, uptime_seconds(info.uptime), jobs)


def _ha_observed(serial: str, fw: FirewallClient, retry: RetryPolicy | None = None) -> o.HaStateObserved:
    """``show high-availability state`` of ``serial`` as an observation."""
    ha = fw.ha_state() if retry is None else fw.ha_state(retry=retry)
    return o.HaStateObserved(
        serial,
        ha.enabled,
        ha.local_state if ha.enabled else "standalone",
        ha.peer_connected,
        ha.state_sync.lower() == "complete",
        ha.running_sync.lower() == "synchronized",
        ha.local_version or None,
        ha.peer_state if ha.enabled and ha.peer_connected else "",
    )


def _area_ok(entry: object) -> bool:
    """One area of a snapshot answered (the status values ``Snapshot.from_assurance`` accepts)."""
    return isinstance(entry, dict) and str(entry.get("status", "")).lower() in (
        "success",
        "snapstatus.success",
    )
