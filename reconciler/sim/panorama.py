"""The simulated Panorama: managed devices, device groups, proxying to firewalls by serial, its own software
(check, download, install, restart) and an optional Panorama HA pair.

Sources (public; see docs/simulator.md "Panorama"):

- Management compatibility [PANCOMPAT]: Palo Alto Networks' Compatibility Matrix, "Panorama Management
  Compatibility" (docs.paloaltonetworks.com/compatibility-matrix/panorama/panorama-management-compatibility)
  and the upgrade guide's "Panorama, Log Collector, Firewall, and WildFire Version Compatibility"
  (/pan-os/10-1/pan-os-upgrade/...): Panorama must run the same or a later feature release than the
  firewalls it manages; from Panorama 10.2.7 a firewall on a later maintenance release of the *same*
  feature release is still managed, never one on a later feature release. A firewall Panorama cannot
  manage is listed with ``unsupported-version yes`` and ``connected no``.
- Panorama HA output [PANHA]: pan-os-ansible's ``panos_facts`` (``PanoramaHa``: Panorama's
  ``show high-availability all`` has no ``<group>`` wrapper, ``result/local-info/state``), and the
  ``palo_alto`` Ruby gem (``primary_active?``: ``result/local-info/state == 'primary-active'``): Panorama
  HA is active/passive only and reports states prefixed with the configured priority
  (``primary-active``, ``secondary-passive``, ``secondary-suspended``, ...).
- Panorama software commands [PANSW]: the same ``request system software check|info|download|install``
  and ``request restart system`` as a firewall (PAN-OS XML API guide, "Use the API for Upgrade Tasks",
  which lists them for Panorama's upgrade too); the same base-image and skip rules (``sim.rules``).

Where no capture is known the wording is ours *(inferred)*; docs/simulator.md lists which.
"""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

from reconciler.sim import monitor, rules
from reconciler.sim.catalog import SoftwareImage
from reconciler.sim.faults import Fault, FaultSet
from reconciler.sim.firewall import UPDATE_SERVER_DOWN, OpError, Phase, software_manager_busy_lines
from reconciler.sim.fleet import PanoramaSpec
from reconciler.sim.jobs import AUTO_COMMIT, DOWNLOAD, SOFTWARE_INSTALL, Job, add_job
from reconciler.sim.version import Version

if TYPE_CHECKING:
    from reconciler.sim.world import World

# [PANCOMPAT] from this Panorama release on, a firewall on a later maintenance release of the same feature
# release stays manageable.
SAME_RELEASE_NEWER_FIREWALL_FROM = Version.parse("10.2.7")


def can_manage(panorama: Version, firewall: Version) -> bool:
    """[PANCOMPAT] May a Panorama on ``panorama`` manage a firewall on ``firewall``?"""
    if firewall.feature_release == panorama.feature_release:
        return firewall <= panorama or panorama >= SAME_RELEASE_NEWER_FIREWALL_FROM
    return (firewall.major, firewall.minor) < (panorama.major, panorama.minor)


class SimPanorama:
    kind = "panorama"

    def __init__(
        self,
        world: World,
        spec: PanoramaSpec,
        address: str,
        *,
        ha_priority: str | None = None,
        peer_serial: str | None = None,
    ) -> None:
        self.world = world
        self.spec = spec
        self.serial = spec.serial
        self.hostname = spec.hostname
        self.address = address
        self.version: Version = spec.version
        self.pending: Version | None = None
        self.downloaded: set[Version] = {spec.version, *spec.downloaded}
        self.known: set[Version] = set(self.downloaded)
        self.faults = FaultSet(spec.faults)
        self.booted_at = -(42 * 86400.0)
        self.rng_time = world.rng(spec.serial, "durations")
        self.phase = Phase.UP
        self.boot_id = 0
        self.rebooting = False
        self.jobs: dict[int, Job] = {}
        self.next_job_id = 1
        self.download_queue: deque[int] = deque()
        self.active_download: int | None = None
        self.active_install: int | None = None
        self.swm_busy_until = 0.0  # a finished download is still loading into the software manager
        # Panorama HA [PANHA]: priority "primary" or "secondary"; state active/passive/suspended/initial,
        # "down" while restarting. None: standalone.
        self.ha_priority = ha_priority
        self.peer_serial = peer_serial
        self.ha_state: str | None = None
        if ha_priority is not None:
            self.ha_state = "active" if ha_priority == "primary" else "passive"
        self.admin_suspended = False
        self.device_groups: dict[str, list[str]] = {}
        for fw in world.fleet.devices:
            if fw.device_group:
                self.device_groups.setdefault(fw.device_group, []).append(fw.serial)

    # -- reachability ------------------------------------------------------------------------------------

    @property
    def listening(self) -> bool:
        return self.faults.get("panorama_unreachable") is None and self.phase is not Phase.DOWN

    @property
    def api_up(self) -> bool:
        return self.listening and self.phase is Phase.UP

    @property
    def family(self) -> str:
        return "m"

    def manages(self, fw_version: Version) -> bool:
        """Is this Panorama up and able to manage a firewall on ``fw_version`` [PANCOMPAT]?"""
        return self.api_up and can_manage(self.version, fw_version)

    def peer(self) -> SimPanorama | None:
        if self.peer_serial is None:
            return None
        other = self.world.device(self.peer_serial)
        return other if isinstance(other, SimPanorama) else None

    def draw(self, name: str) -> float:
        lo, hi = self.world.durations.range(name)
        return self.rng_time.uniform(lo, hi)

    def _emit(self, event: str, t: float | None = None, **fields: Any) -> None:
        self.world.emit(event, self.serial, sim_time=t, **fields)

    def new_job(self, job_type: str, user: str, subject: str, description: str = "") -> Job:
        job = Job(
            self.next_job_id,
            job_type,
            user,
            self.world.clock.wall(),
            subject=subject,
            description=description,
        )
        self.next_job_id += 1
        return add_job(self.jobs, job)

    # [PANSW] Panorama keeps software images on its own disk like a firewall; the size of that disk is ours
    # *(inferred)*: enough for a handful of images, never the limit the tests probe.
    DISK_TOTAL_MB = 32 * 1024
    DISK_OTHER_MB = 8 * 1024

    @property
    def disk_total_mb(self) -> int:
        return self.DISK_TOTAL_MB

    def free_disk_mb(self) -> int:
        """``show system disk-space``'s /opt/panrepo: what the downloaded images leave free."""
        images = sum(self.image(v).size_mb for v in self.downloaded)
        return max(self.DISK_TOTAL_MB - self.DISK_OTHER_MB - images, 0)

    def delete_image(self, version: Version, t: float) -> None:
        """[PANSW] ``delete software version <version>`` as on a firewall (``SimFirewall.delete_image``): the
        image leaves the disk at once, no job; refused for an image not downloaded, the running image and
        one installed pending the reboot (wording ours *(inferred)*)."""
        if version not in self.downloaded:
            raise OpError(f"Failed to delete software version {version}: the image is not downloaded.")
        if version == self.version:
            raise OpError(f"Failed to delete software version {version}: it is the running version.")
        if version == self.pending:
            raise OpError(f"Failed to delete software version {version}: it is installed, pending a reboot.")
        self.downloaded.discard(version)
        self._emit(
            "image_deleted",
            t,
            version=str(version),
            size_mb=self.image(version).size_mb,
            free_mb=self.free_disk_mb(),
        )

    def image(self, version: Version) -> SoftwareImage:
        found = self.world.catalog.image(version)
        return found if found is not None else SoftwareImage(version, 900, "2024/01/01 00:00:00")

    def filename(self, version: Version) -> str:
        return f"Panorama_m-{version}"

    # -- software [PANSW] ---------------------------------------------------------------------------------

    def check_software(self, t: float) -> None:
        if self.faults.get("update_server_unreachable") is not None:
            raise OpError(UPDATE_SERVER_DOWN)
        self.known.update(img.version for img in self.world.catalog.images)
        self._emit("software_check", t)

    def software_list(self) -> list[tuple[SoftwareImage, bool, bool]]:
        versions = sorted(self.known | self.downloaded | {self.version}, reverse=True)
        return [(self.image(v), v in self.downloaded, v == self.version) for v in versions]

    def request_download(self, version: Version, *, user: str, t: float) -> Job:
        if version not in self.known:
            raise OpError(
                f"Failed to download {version}: version not in the list of available software. "
                "Run 'request system software check' first."
            )
        job = self.new_job(DOWNLOAD, user, str(version), f"Software download {version}")
        self.download_queue.append(job.id)
        self._emit("download_queued", t, version=str(version), job=job.id)
        if self.active_download is None:
            self._next_download(t)
        return job

    def _next_download(self, t: float) -> None:
        while self.download_queue:
            job = self.jobs.get(self.download_queue.popleft())
            if job is None or job.finished:
                continue
            job.begin(t, self.world.clock.wall(), self.draw("download"))
            self.active_download = job.id
            self._emit("download_start", t, version=job.subject, job=job.id)
            self.world.scheduler.at(t + job.duration, partial(self._download_done, job, boot_id=self.boot_id))
            return
        self.active_download = None

    def _download_done(self, job: Job, t: float, *, boot_id: int) -> None:
        if job.finished or boot_id != self.boot_id:
            return
        version = Version.parse(job.subject)
        fault = self.faults.get("download_fail")
        if fault is not None and fault.matches_version(version):
            self.faults.fire("download_fail")
            self._emit("fault_fired", t, fault="download_fail", job=job.id)
            job.finish(
                self.world.clock.wall(),
                False,
                [
                    f"Failed to download {self.filename(version)}: error downloading file from the update server."
                ],
            )
        else:
            self.downloaded.add(version)
            self.swm_busy_until = t + self.draw("swm_settle")
            job.finish(self.world.clock.wall(), True, ["Successfully downloaded"])
        self._emit("download_end", t, version=str(version), job=job.id, result=job.result)
        self.active_download = None
        self._next_download(t)

    def install_refusal(self, version: Version) -> str | None:
        """Why this Panorama refuses to install ``version`` (the firewall rules for a standalone box; no
        content minimum)."""
        prefix = f"Failed to install {version}:"
        if version not in self.downloaded:
            return f"{prefix} image {self.filename(version)} has not been downloaded."
        for train in (self.version.feature_release, version.feature_release):
            if not rules.knows(train):
                return f"{prefix} upgrading from {self.version} to {version} is not supported."
        downgrade = rules.downgrade_refusal(self.version, version)
        if downgrade is not None:
            return f"{prefix} {downgrade}."
        if not rules.direct_upgrade_allowed(self.version, version, ha=False):
            nxt = rules.TRAINS[rules.position(self.version.feature_release) + 1]
            return f"{prefix} upgrading Panorama from {self.version} to {version} is not supported; upgrade to a {nxt} release first."
        for base in rules.bases_needed(self.version, version):
            if base not in self.downloaded:
                return f"{prefix} base image {self.filename(base)} must be downloaded before installing {version}."
        return None

    def software_manager_busy(self, t: float) -> str | None:
        """As on a firewall: another software job running, or a download finished moments ago."""
        if self.active_install is not None:
            return "install running"
        if self.active_download is not None:
            return "download running"
        if t < self.swm_busy_until:
            return "loading a downloaded image"
        return None

    def request_install(self, version: Version, *, user: str, t: float) -> Job:
        busy = self.software_manager_busy(t)
        if busy is not None:
            # Accepted as a job that fails a few seconds later, as a firewall's (``SimFirewall._busy_install``).
            job = self.new_job(SOFTWARE_INSTALL, user, str(version), f"Software install {version}")
            job.begin(t, self.world.clock.wall(), self.draw("job_fail"))
            self._emit("install_busy", t, version=str(version), job=job.id, busy=busy)
            boot_id = self.boot_id

            def fail(when: float) -> None:
                if not job.finished and boot_id == self.boot_id:
                    job.finish(self.world.clock.wall(), False, software_manager_busy_lines(version))

            self.world.scheduler.at(t + job.duration, fail)
            return job
        refusal = self.install_refusal(version)
        if refusal is not None:
            self._emit("install_refused", t, version=str(version), reason=refusal)
            raise OpError(refusal)
        job = self.new_job(SOFTWARE_INSTALL, user, str(version), f"Software install {version}")
        job.begin(t, self.world.clock.wall(), self.draw("install"))
        self.active_install = job.id
        boot_id = self.boot_id
        self._emit("install_start", t, version=str(version), job=job.id, running=str(self.version))
        self.world.scheduler.at(t + job.duration, lambda when: self._install_done(job, when, boot_id))
        return job

    def _install_done(self, job: Job, t: float, boot_id: int) -> None:
        if job.finished or boot_id != self.boot_id:
            return
        version = Version.parse(job.subject)
        fault = self.faults.get("install_fail")
        if fault is not None and fault.matches_version(version):
            self.faults.fire("install_fail")
            self._emit("fault_fired", t, fault="install_fail", job=job.id)
            job.finish(self.world.clock.wall(), False, [f"Failed to install version {version}."])
        else:
            self.pending = version
            job.finish(
                self.world.clock.wall(),
                True,
                ["Software installation successfully completed. Please reboot to switch to the new version."],
            )
        self.active_install = None
        self._emit("install_end", t, version=str(version), job=job.id, result=job.result)

    # -- restart ----------------------------------------------------------------------------------------

    def request_restart(self, t: float) -> None:
        """``request restart system``: down after a short shutdown, back after ``reboot`` simulated seconds
        on the installed version (the same phases a firewall goes through)."""
        self.boot_id += 1
        boot_id = self.boot_id
        total = self.draw("reboot")
        self._emit(
            "reboot_start",
            t,
            version=str(self.version),
            pending=str(self.pending) if self.pending else None,
            **({"ha_state": self.ha_state} if self.ha_state else {}),
        )
        monitor.panorama_reboot_requested(self, t)
        self.rebooting = True
        shutdown = t + self.draw("shutdown")
        self.world.scheduler.at(shutdown, lambda when: self._down(when, boot_id))
        steps = ((0.55, Phase.STARTING), (0.60, Phase.WEB_STARTING), (0.75, Phase.AUTH_STARTING))
        for share, phase in steps:
            self.world.scheduler.at(shutdown + share * total, partial(self._phase, phase, boot_id=boot_id))
        self.world.scheduler.at(shutdown + total, lambda when: self._boot(when, boot_id))

    def _down(self, t: float, boot_id: int) -> None:
        if boot_id != self.boot_id:
            return
        wall = self.world.clock.wall()
        for job in self.jobs.values():
            if not job.finished:
                job.finish(wall, False, ["Job aborted: the system restarted."])
        self.download_queue.clear()
        self.active_download = self.active_install = None
        self._set_phase(Phase.DOWN, t)
        if self.ha_state is not None:
            was_active = self.ha_state == "active"
            self._set_ha("down", t, "restart")
            peer = self.peer()
            if was_active and peer is not None and peer.ha_state == "passive":
                peer._set_ha("active", t, "peer down")
                self.world.emit("failover", peer.serial, sim_time=t, previous=self.serial, reason="peer down")

    def _phase(self, phase: Phase, t: float, *, boot_id: int) -> None:
        if boot_id == self.boot_id and self.faults.get("reboot_hang") is None:
            self._set_phase(phase, t)

    def _boot(self, t: float, boot_id: int) -> None:
        if boot_id != self.boot_id:
            return
        if self.faults.get("reboot_hang") is not None:
            self._emit("fault_fired", t, fault="reboot_hang")
            return
        previous = self.version
        result = "same-version"
        if self.pending is not None:
            if self.faults.fire("reboot_old_version") is not None:
                result = "old-version"
            else:
                self.version = self.pending
                self.downloaded.add(self.version)
                result = "upgraded" if self.version > previous else "downgraded"
        self.pending = None
        self.rebooting = False
        self.booted_at = t
        self._set_phase(Phase.UP, t)
        self._emit("reboot_end", t, version=str(self.version), previous=str(previous), result=result)
        autocommit = self.new_job(AUTO_COMMIT, "", "")
        autocommit.begin(t, self.world.clock.wall(), self.draw("autocommit"))

        def autocommit_done(when: float) -> None:
            if not autocommit.finished and boot_id == self.boot_id:
                autocommit.finish(self.world.clock.wall(), True, ["Configuration committed successfully"])
                self._emit("autocommit_end", when, job=autocommit.id, result="OK")

        self.world.scheduler.at(t + autocommit.duration, autocommit_done)
        if self.ha_state is not None:
            self._set_ha("initial", t, "boot")
            self.world.scheduler.at(t + self.draw("ha_initial"), lambda when: self._settle(when, boot_id))

    def _set_phase(self, phase: Phase, t: float) -> None:
        if self.phase is phase:
            return
        self.phase = phase
        self._emit("boot_phase", t, phase=str(phase))
        self.world.reachability_changed(self)

    # -- Panorama HA [PANHA] --------------------------------------------------------------------------------

    def _set_ha(self, state: str, t: float, reason: str) -> None:
        if self.ha_state == state:
            return
        old, self.ha_state = self.ha_state, state
        self.world.emit("ha_state", self.serial, sim_time=t, **{"from": old, "to": state, "reason": reason})

    def _settle(self, t: float, boot_id: int) -> None:
        """After ``initial``: passive when the peer is active, else active (no preemption modelled)."""
        if boot_id != self.boot_id or self.ha_state != "initial":
            return
        if self.admin_suspended:
            self._set_ha("suspended", t, "admin")
            return
        peer = self.peer()
        self._set_ha("passive" if peer is not None and peer.ha_state == "active" else "active", t, "settled")

    @property
    def reported_ha_state(self) -> str:
        state = "unknown" if self.ha_state in (None, "down") else self.ha_state
        return f"{self.ha_priority}-{state}"

    def ha_suspend(self, t: float) -> None:
        if self.ha_state is None:
            raise OpError("HA is not enabled.")
        self._emit("ha_suspend_request", t)
        self.admin_suspended = True
        was_active = self.ha_state == "active"
        self._set_ha("suspended", t, "admin")
        peer = self.peer()
        if was_active and peer is not None and peer.ha_state == "passive":
            peer._set_ha("active", t, "peer suspended")
            self.world.emit(
                "failover", peer.serial, sim_time=t, previous=self.serial, reason="peer suspended"
            )

    def ha_functional(self, t: float) -> None:
        if self.ha_state is None:
            raise OpError("HA is not enabled.")
        self._emit("ha_functional_request", t)
        self.admin_suspended = False
        if self.ha_state == "suspended":
            self._set_ha("initial", t, "functional")
            boot_id = self.boot_id
            self.world.scheduler.at(t + self.draw("ha_functional"), lambda when: self._settle(when, boot_id))

    # -- faults and status -------------------------------------------------------------------------------

    def inject(self, fault: Fault, t: float) -> None:
        self.faults.add(fault)
        self._emit("fault_injected", t, fault=fault.kind, params=dict(fault.params))
        self.world.reachability_changed(self)

    def clear_faults(self, kind: str | None, t: float) -> list[str]:
        removed = self.faults.clear(kind)
        for k in removed:
            self._emit("fault_cleared", t, fault=k)
        if "reboot_hang" in removed and self.rebooting and self.phase is Phase.DOWN:
            boot_id = self.boot_id
            self.world.scheduler.at(t, lambda when: self._boot(when, boot_id))
        self.world.reachability_changed(self)
        return removed

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "hostname": self.hostname,
            "address": self.address,
            "model": self.spec.model,
            "version": str(self.version),
            "pending_version": str(self.pending) if self.pending else None,
            "downloaded": [str(v) for v in sorted(self.downloaded)],
            "phase": str(self.phase),
            "ha_state": self.ha_state,
            "ha_priority": self.ha_priority,
            "ha_peer": self.peer_serial,
            "listening": self.listening,
            "device_groups": {k: list(v) for k, v in sorted(self.device_groups.items())},
            "jobs": [
                {"id": j.id, "type": j.type, "status": j.status, "result": j.result, "subject": j.subject}
                for j in sorted(self.jobs.values(), key=lambda j: j.id)
            ],
            "faults": [f.to_json() for f in self.faults.active()],
        }
