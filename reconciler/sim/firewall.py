"""One simulated firewall: software images, jobs, reboots, HA membership, faults.

Plain Python state driven by the sim clock (``reconciler.sim.clock``) and the fleet-wide scheduler: a
request changes state and schedules the change's end; nothing here sleeps or owns a timer. All methods run
with the world lock held (the simulator guarantees it). PAN-OS rules are enforced with the simulator's own
``reconciler.sim.rules`` (never the product's) so that an orchestration that breaks them fails here as on a
real firewall.

Messages marked *(inferred)* in docs/simulator.md have no known capture; their shape (an op error with
``<msg><line>``) is PAN-OS's, the wording is ours.
"""

from __future__ import annotations

import random
from collections import deque
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from reconciler.sim import ha as ha_rules
from reconciler.sim import monitor, rules
from reconciler.sim.catalog import SoftwareImage, content_number, image_filename, model
from reconciler.sim.faults import Fault, FaultSet
from reconciler.sim.fleet import DeviceSpec
from reconciler.sim.jobs import AUTO_COMMIT, CONTENT_INSTALL, DOWNLOAD, SOFTWARE_INSTALL, Job, add_job
from reconciler.sim.network import NetworkState
from reconciler.sim.version import Version

if TYPE_CHECKING:
    from reconciler.sim.world import World

SOFTWARE_MANAGER_BUSY = "The software manager is currently in use. Please try again later."


# An install the software manager cannot take now is still accepted as a job, which ends FAIL with these
# detail lines (the shape of a PA-410 capture in github.com/o5edaxi/paloversion/issues/2: ``show jobs id``
# of a SWInstall job, FIN/FAIL after about 10 s). pan-os-upgrade retries such an install after
# ``install.retry_interval`` (60 s; pan_os_upgrade/components/upgrade.py, ``perform_upgrade``).
def software_manager_busy_lines(version: Version) -> list[str]:
    return [
        f"Failed to install {version} with the following errors.",
        f"SW version is {version}",
        SOFTWARE_MANAGER_BUSY,
        f"Failed to install   version  {version}  type  panos",
    ]


# ``request content upgrade download latest`` when the newest content is already on the device *(wording
# and shape as the issue tracker reports it: status="error", no code)*.
NO_CONTENT_UPDATE = "No update available"
UPDATE_SERVER_DOWN = (
    "Failed to check upgrade info due to generic communication error. "
    "Please check network connectivity and try again."
)


class OpError(Exception):
    """A command PAN-OS refuses: becomes ``<response status="error" [code]><msg><line>…``."""

    def __init__(self, *lines: str, code: str | None = None) -> None:
        super().__init__(" ".join(lines))
        self.lines = lines
        self.code = code


class Phase(StrEnum):
    UP = "up"
    DOWN = "down"  # listener closed: connection refused
    STARTING = "starting"  # listening, but connections close without an answer
    WEB_STARTING = "web-starting"  # HTTP 503
    AUTH_STARTING = "auth-starting"  # HTTP 403 Invalid credentials


class SimFirewall:
    kind = "firewall"

    def __init__(self, world: World, spec: DeviceSpec, address: str, index: int) -> None:
        self.world = world
        self.spec = spec
        self.serial = spec.serial
        self.hostname = spec.hostname
        self.address = address
        self.index = index
        self.hw = model(spec.model)
        self.rng_time = world.rng(spec.serial, "durations")
        self.rng_noise = world.rng(spec.serial, "noise")
        self._rng_fault: random.Random | None = None  # made on first use (2.5 KB each, rarely needed)
        self.version: Version = spec.version
        self.pending: Version | None = None
        self.downloaded: set[Version] = {spec.version, *spec.downloaded}
        self.known: set[Version] = set(self.downloaded)
        self.last_check_wall: float | None = None
        self.content_version = spec.content_version
        # The content release installed before the current one (None until a content install changes it):
        # ``previous`` in the content list, ``prev-app-version`` on Panorama.
        self.previous_content: str | None = None
        self.content_downloaded: set[str] = {spec.content_version}
        self.content_known = False
        self.disk_total_mb = int(self.hw.panrepo_gb * 1024)
        free = spec.free_disk_mb if spec.free_disk_mb is not None else int(self.disk_total_mb * 0.6)
        self.disk_other_mb = max(0, self.disk_total_mb - free - self.images_mb())
        self.jobs: dict[int, Job] = {}
        self.next_job_id = 1
        self.download_queue: deque[int] = deque()
        self.active_download: int | None = None
        self.active_install: int | None = None
        # Until this sim time the software manager is still loading a freshly downloaded image: an install
        # asked before it is accepted and fails "software manager is currently in use".
        self.swm_busy_until = float("-inf")
        self.phase = Phase.UP
        self.boot_id = 0
        self.hung = False
        self.rebooting = False  # from an accepted restart request until the boot completes
        self.reboot_started_at: float | None = None
        self.reboot_total = 0.0
        self.booted_at = -(spec.uptime_days * 86400.0 + self.rng_noise.uniform(0, 86400))
        self.chassis_ready_at = self.booted_at
        self.panorama_connected_at = self.booted_at
        self.ntp_synced_at = self.booted_at
        self.net = NetworkState.generate(world.rng(spec.serial, "network"), index)
        self.faults = FaultSet(spec.faults)
        self.ha: ha_rules.HaMember | None = None
        if spec.ha is not None:
            self.ha = ha_rules.HaMember(spec.ha.peer, spec.ha.priority, spec.ha.preemptive)
        self._history()

    # -- helpers ---------------------------------------------------------------------------------------

    @property
    def rng_fault(self) -> random.Random:
        """The random stream of fault effects (the same draws whenever it is first made: seeded per device)."""
        if self._rng_fault is None:
            self._rng_fault = self.world.rng(self.serial, "faults")
        return self._rng_fault

    def draw(self, name: str, factor: float = 1.0) -> float:
        lo, hi = self.world.durations.range(name)
        return self.rng_time.uniform(lo, hi) * factor

    @property
    def listening(self) -> bool:
        """Its own API listener is open (``direct_unreachable`` closes it; Panorama still proxies)."""
        return self.phase is not Phase.DOWN and self.faults.get("direct_unreachable") is None

    @property
    def api_up(self) -> bool:
        return self.phase is Phase.UP

    @property
    def family(self) -> str:
        return self.hw.family

    def image(self, version: Version) -> SoftwareImage:
        found = self.world.catalog.image(version)
        if found is not None:
            return found
        return SoftwareImage(version, 500, "2024/01/01 00:00:00")

    def images_mb(self) -> int:
        return sum(self.image(v).size_mb for v in self.downloaded)

    def free_disk_mb(self) -> int:
        free = self.disk_total_mb - self.disk_other_mb - self.images_mb()
        small = self.faults.get("disk_small")
        if small is not None:
            free = min(free, int(small.get("free_mb")))
        return max(free, 0)

    def chassis_ready(self, now: float) -> bool:
        return self.api_up and now >= self.chassis_ready_at

    def panorama_connected(self, now: float) -> bool:
        return (
            self.api_up
            and now >= self.panorama_connected_at
            and self.faults.get("panorama_unreachable") is None
            and self.world.panorama_manages(self)
        )

    def uptime(self, now: float) -> float:
        return max(0.0, now - self.booted_at)

    def peer(self) -> SimFirewall | None:
        return ha_rules.peer_of(self)

    def _emit(self, event: str, t: float | None = None, **fields: Any) -> None:
        self.world.emit(event, self.serial, sim_time=t, **fields)

    def _history(self) -> None:
        """Jobs a running firewall already has: the auto-commit of its last boot and a commit.

        About one firewall in five also lists a job without an id (PAN-OS does that for some failed
        jobs), which ``show jobs all`` parsers must skip.
        """
        wall = self.world.clock.wall()
        self.idless_job: Job | None = None
        if self.rng_noise.random() < 0.2:
            self.idless_job = Job(0, "Failed-Job", "", wall - 172800)
            self.idless_job.begin(self.booted_at, wall - 172800, 1.0)
            self.idless_job.finish(wall - 172800, False, ["Failed to process the job"])
        for job_type, line in (
            (AUTO_COMMIT, "Configuration committed successfully"),
            ("Commit", "Configuration committed successfully"),
        ):
            job = self._new_job(job_type, "" if job_type == AUTO_COMMIT else "admin", "")
            # Enqueued before it finished: ``tfin`` after ``tenq`` as on PAN-OS (a history job used to
            # show a ``tenq`` of now and a ``tfin`` a day earlier).
            job.enqueued_wall = wall - 86400 - 40
            job.begin(self.booted_at, wall - 86400 - 40, 40.0)
            job.finish(wall - 86400, True, [line])

    def _new_job(self, job_type: str, user: str, subject: str, description: str = "") -> Job:
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

    # -- software list ---------------------------------------------------------------------------------

    def check_software(self, t: float) -> None:
        """``request system software check``: ask the update server (refresh the known list)."""
        if self.faults.get("update_server_unreachable") is not None:
            raise OpError(UPDATE_SERVER_DOWN)
        self.known.update(img.version for img in self.world.catalog.images)
        self.last_check_wall = self.world.clock.wall()
        self._emit("software_check", t)

    def software_list(self) -> list[tuple[SoftwareImage, bool, bool]]:
        """(image, downloaded, current) for every known version, newest first."""
        versions = sorted(self.known | self.downloaded | {self.version}, reverse=True)
        return [(self.image(v), v in self.downloaded, v == self.version) for v in versions]

    # -- downloads -------------------------------------------------------------------------------------

    def request_download(self, version: Version, *, sync_to_peer: bool, user: str, t: float) -> Job:
        if version not in self.known:
            raise OpError(
                f"Failed to download {version}: version not in the list of available software. "
                "Run 'request system software check' first."
            )
        job = self._new_job(DOWNLOAD, user, str(version), f"Software download {version}")
        job.sync_to_peer = sync_to_peer
        self.download_queue.append(job.id)
        self._emit("download_queued", t, version=str(version), job=job.id)
        if self.active_download is None:
            self._start_next_download(t)
        else:
            for pos, jid in enumerate(self.download_queue, start=1):
                self.jobs[jid].queued_position = pos
        return job

    def _start_next_download(self, t: float) -> None:
        while self.download_queue:
            job = self.jobs.get(self.download_queue.popleft())
            if job is None or job.finished:
                continue
            version = Version.parse(job.subject)
            image = self.image(version)
            self.active_download = job.id
            boot_id = self.boot_id
            if version not in self.downloaded and image.size_mb > self.free_disk_mb():
                job.begin(t, self.world.clock.wall(), self.draw("job_fail"))
                self._emit("download_start", t, version=str(version), job=job.id)
                reason = (
                    f"Failed to download {image_filename(self.family, version)}: not enough space on /opt/panrepo "
                    f"({image.size_mb} MB needed, {self.free_disk_mb()} MB free)."
                )
                self.world.scheduler.at(
                    t + job.duration, partial(self._download_done, job.id, boot_id=boot_id, fail=reason)
                )
                return
            stall = self.faults.get("download_stall")
            job.begin(t, self.world.clock.wall(), self.draw("download"))
            self._emit("download_start", t, version=str(version), job=job.id)
            if stall is not None and stall.matches_version(version):
                job.stall_at = int(stall.get("at_percent"))
                self._emit("fault_fired", t, fault="download_stall", job=job.id)
                return  # never finishes: the job stays ACT at stall_at percent
            self.world.scheduler.at(t + job.duration, partial(self._download_done, job.id, boot_id=boot_id))
            return
        self.active_download = None

    def _download_done(self, job_id: int, t: float, boot_id: int, fail: str | None = None) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.finished or boot_id != self.boot_id:
            return
        version = Version.parse(job.subject)
        wall = self.world.clock.wall()
        if fail is None:
            fault = self.faults.get("download_fail")
            if fault is not None and fault.matches_version(version):
                self.faults.fire("download_fail")
                fail = f"Failed to download {image_filename(self.family, version)}: error downloading file from the update server."
                self._emit("fault_fired", t, fault="download_fail", job=job.id)
        if fail is not None:
            job.finish(wall, False, [fail])
        else:
            self.downloaded.add(version)
            job.finish(
                wall,
                True,
                [
                    "Successfully downloaded",
                    "Preloading into software manager",
                    "Successfully loaded into software manager",
                ],
            )
            if job.sync_to_peer:
                self._sync_image_to_peer(version, t)
            self.swm_busy_until = max(self.swm_busy_until, t + self.draw("swm_settle"))
        self._emit("download_end", t, version=str(version), job=job.id, result=job.result)
        self.active_download = None
        self._start_next_download(t)

    def _sync_image_to_peer(self, version: Version, t: float) -> None:
        peer = self.peer()
        if peer is None or not peer.api_up or version in peer.downloaded:
            return
        if self.image(version).size_mb > peer.free_disk_mb():
            return
        peer.downloaded.add(version)
        peer.known.add(version)
        peer._emit("download_synced", t, version=str(version), source=self.serial)

    def delete_image(self, version: Version, t: float) -> None:
        """``delete software version <version>`` (PAN-OS CLI reference, "delete software"; XML API
        ``<delete><software><version>X</version></software></delete>``, as panos_software-style tools send
        it): removes a downloaded image from /opt/panrepo at once, no job. Refused for an image that is not
        downloaded, for the running image and for one installed and waiting for the reboot. The wording of
        the answers is ours *(inferred)*."""
        if version not in self.downloaded:
            raise OpError(f"Failed to delete software version {version}: the image is not downloaded.")
        if version == self.version:
            raise OpError(f"Failed to delete software version {version}: it is the running version.")
        if version == self.pending:
            raise OpError(f"Failed to delete software version {version}: it is installed, pending a reboot.")
        size = self.image(version).size_mb
        self.downloaded.discard(version)
        self._emit("image_deleted", t, version=str(version), size_mb=size, free_mb=self.free_disk_mb())

    # -- install ---------------------------------------------------------------------------------------

    def software_manager_busy(self, t: float) -> str | None:
        """Why the software manager cannot take an install now (None: it can): another software job
        running, or a download that finished moments ago still loading (``swm_settle``)."""
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
            return self._busy_install(version, user, t, busy)
        refusal = self.install_refusal(version)
        if refusal is not None:
            self._emit("install_refused", t, version=str(version), reason=refusal)
            monitor.install_refused(self, t, version=str(version), reason=refusal)
            raise OpError(refusal)
        monitor.install_accepted(self, t, version)
        job = self._new_job(SOFTWARE_INSTALL, user, str(version), f"Software install {version}")
        job.begin(t, self.world.clock.wall(), self.draw("install", self.hw.install_factor))
        self.active_install = job.id
        boot_id = self.boot_id
        self._emit("install_start", t, version=str(version), job=job.id, running=str(self.version))
        self.world.scheduler.at(t + job.duration, lambda when: self._install_done(job.id, when, boot_id))
        return job

    def _busy_install(self, version: Version, user: str, t: float, why: str) -> Job:
        """PAN-OS enqueues the install anyway; the job fails a few seconds later (no refusal, no event
        ``install_start``: nothing was installed)."""
        job = self._new_job(SOFTWARE_INSTALL, user, str(version), f"Software install {version}")
        job.begin(t, self.world.clock.wall(), self.draw("job_fail"))
        boot_id = self.boot_id
        self._emit("install_busy", t, version=str(version), job=job.id, busy=why)

        def done(when: float) -> None:
            if job.finished or boot_id != self.boot_id:
                return
            job.finish(self.world.clock.wall(), False, software_manager_busy_lines(version))

        self.world.scheduler.at(t + job.duration, done)
        return job

    def install_refusal(self, version: Version) -> str | None:
        """Why PAN-OS would refuse to install ``version`` now (None: it would accept).

        The rules and their sources are in ``reconciler.sim.rules`` (the simulator's own; stricter than the
        product where the documentation leaves room)."""
        prefix = f"Failed to install {version}:"
        if version not in self.downloaded:
            return f"{prefix} image {image_filename(self.family, version)} has not been downloaded."
        current, target = self.version, version
        cur_train, new_train = current.feature_release, target.feature_release
        for train in (cur_train, new_train):
            if not rules.knows(train):  # STRICTER: no rules known, no install (wording ours, inferred)
                return f"{prefix} upgrading from {current} to {version} is not supported."
        downgrade = rules.downgrade_refusal(current, target)
        if downgrade is not None:
            return f"{prefix} {downgrade}."
        # An HA member is held to the standalone path rules only: PAN-OS does not refuse an install that
        # will leave the pair more than one feature release apart; after the reboot the older peer goes
        # ``suspended`` with "Peer version too old" (``ha.evaluate``; [HAVER] in ``rules``). The safety
        # monitor logs such an install as ``ha-version-gap``.
        if not rules.direct_upgrade_allowed(current, target, ha=False):
            nxt = rules.TRAINS[rules.position(cur_train) + 1]
            return (
                f"{prefix} upgrading this firewall from {current} to {version} is not supported; "
                f"upgrade to a {nxt} release first."
            )
        for base in rules.bases_needed(current, target):
            if base not in self.downloaded:
                return (
                    f"{prefix} base image {image_filename(self.family, base)} must be downloaded before "
                    f"installing {version}."
                )
        needed = self.world.catalog.min_content_for(target)
        if rules.steps(cur_train, new_train) > 0 and content_number(self.content_version) < needed:
            return (
                f"{prefix} PAN-OS {new_train} requires content version {needed} or later "
                f"(installed: {self.content_version}). Please upgrade the content first."
            )
        return None

    def _install_done(self, job_id: int, t: float, boot_id: int) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.finished or boot_id != self.boot_id:
            return
        version = Version.parse(job.subject)
        wall = self.world.clock.wall()
        fault = self.faults.get("install_fail")
        if fault is not None and fault.matches_version(version):
            self.faults.fire("install_fail")
            self._emit("fault_fired", t, fault="install_fail", job=job.id)
            job.finish(
                wall,
                False,
                [f"Failed to install version {version}: software installation failed. See system logs."],
            )
        else:
            self.pending = version
            job.finish(
                wall,
                True,
                ["Software installation successfully completed. Please reboot to switch to the new version."],
            )
        self.active_install = None
        self._emit("install_end", t, version=str(version), job=job.id, result=job.result)

    # -- content ---------------------------------------------------------------------------------------

    def check_content(self, t: float) -> None:
        if self.faults.get("update_server_unreachable") is not None:
            raise OpError(
                "Failed to check content upgrade info due to generic communication error. "
                "Please check network connectivity and try again."
            )
        self.content_known = True
        self._emit("content_check", t)

    def request_content_download(self, *, user: str, sync_to_peer: bool, t: float) -> Job:
        latest = self.world.catalog.latest_content()
        if latest.version in self.content_downloaded:
            # Nothing newer than what the device has: PAN-OS answers an error instead of a job.
            raise OpError(NO_CONTENT_UPDATE)
        job = self._new_job(DOWNLOAD, user, latest.version, f"Content download {latest.version}")
        job.begin(t, self.world.clock.wall(), self.draw("content_download"))
        boot_id = self.boot_id
        self._emit("content_download_start", t, version=latest.version, job=job.id)

        def done(when: float) -> None:
            if job.finished or boot_id != self.boot_id:
                return
            self.content_downloaded.add(latest.version)
            job.finish(self.world.clock.wall(), True, ["Successfully downloaded"])
            self._emit("content_download_end", when, version=latest.version, job=job.id, result="OK")
            peer = self.peer()
            if sync_to_peer and peer is not None and peer.api_up:
                peer.content_downloaded.add(latest.version)

        self.world.scheduler.at(t + job.duration, done)
        return job

    def request_content_install(self, version: str, *, user: str, t: float) -> Job:
        if version == "latest":
            candidates = sorted(self.content_downloaded, key=lambda v: tuple(int(p) for p in v.split("-")))
            version = candidates[-1]
        if version not in self.content_downloaded:
            raise OpError(
                f"Failed to install content {version}: the content package has not been downloaded."
            )
        job = self._new_job(CONTENT_INSTALL, user, version, f"Content install {version}")
        job.begin(t, self.world.clock.wall(), self.draw("content_install"))
        boot_id = self.boot_id
        self._emit("content_install_start", t, version=version, job=job.id)

        def done(when: float) -> None:
            if job.finished or boot_id != self.boot_id:
                return
            if version != self.content_version:
                self.previous_content = self.content_version
            self.content_version = version
            job.finish(self.world.clock.wall(), True, ["Content installed successfully"])
            self._emit("content_install_end", when, version=version, job=job.id, result="OK")
            ha_rules.evaluate(self, when)

        self.world.scheduler.at(t + job.duration, done)
        return job

    # -- reboot ----------------------------------------------------------------------------------------

    def request_restart(self, t: float) -> None:
        """``request restart system``: the device goes down once the answer is out."""
        self.boot_id += 1
        boot_id = self.boot_id
        self.reboot_started_at = t
        self.reboot_total = self.draw("reboot", self.hw.reboot_factor)
        self._emit(
            "reboot_start",
            t,
            version=str(self.version),
            pending=str(self.pending) if self.pending else None,
            **monitor.ha_states(self),
        )
        monitor.reboot_requested(self, t)
        self.rebooting = True
        self.world.scheduler.at(t + self.draw("shutdown"), lambda when: self._shutdown(when, boot_id))

    def _shutdown(self, t: float, boot_id: int) -> None:
        if boot_id != self.boot_id:
            return
        wall = self.world.clock.wall()
        for job in self.jobs.values():
            if not job.finished:
                job.finish(wall, False, ["Job aborted: the system restarted."])
        self.download_queue.clear()
        self.active_download = None
        self.active_install = None
        self._set_phase(Phase.DOWN, t)
        ha_rules.member_down(self, t)
        start = self.reboot_started_at if self.reboot_started_at is not None else t
        total = self.reboot_total
        self.world.scheduler.at(start + 0.55 * total, lambda when: self._starting(when, boot_id))

    def _starting(self, t: float, boot_id: int) -> None:
        """The management plane listens again but drops connections (clients see a reset or TLS EOF)."""
        if boot_id != self.boot_id:
            return
        if self.faults.get("reboot_hang") is not None:
            self.hung = True
            self._emit("fault_fired", t, fault="reboot_hang")
            return
        self.hung = False
        self._set_phase(Phase.STARTING, t)
        self.world.scheduler.at(t + 0.05 * self.reboot_total, lambda when: self._web_starting(when, boot_id))

    def _web_starting(self, t: float, boot_id: int) -> None:
        if boot_id != self.boot_id:
            return
        self._set_phase(Phase.WEB_STARTING, t)
        self.world.scheduler.at(t + 0.15 * self.reboot_total, lambda when: self._auth_starting(when, boot_id))

    def _auth_starting(self, t: float, boot_id: int) -> None:
        if boot_id != self.boot_id:
            return
        self._set_phase(Phase.AUTH_STARTING, t)
        self.world.scheduler.at(t + 0.25 * self.reboot_total, lambda when: self._boot(when, boot_id))

    def _boot(self, t: float, boot_id: int) -> None:
        if boot_id != self.boot_id:
            return
        previous = self.version
        result = "same-version"
        if self.pending is not None:
            if self.faults.fire("reboot_old_version") is not None:
                result = "old-version"
                self._emit("fault_fired", t, fault="reboot_old_version", pending=str(self.pending))
            else:
                self.version = self.pending
                result = "upgraded" if self.pending > previous else "downgraded"
                self.downloaded.add(self.version)
        self.pending = None
        self.rebooting = False
        self.booted_at = t
        self.chassis_ready_at = t + self.draw("chassis_ready")
        self.panorama_connected_at = t + self.draw("panorama_reconnect")
        self.ntp_synced_at = t + self.draw("net_recovery")
        self.net.boot(t, self.draw("net_recovery"))
        if self.version != previous:
            for kind, what in (("routes_missing", "routes"), ("arp_missing", "arp")):
                fault = self.faults.get(kind)
                if fault is not None:
                    lost = self.net.lose(self.rng_fault, what, float(fault.get("fraction")))
                    self._emit("fault_fired", t, fault=kind, lost=lost)
        self._set_phase(Phase.UP, t)
        self._emit("reboot_end", t, version=str(self.version), previous=str(previous), result=result)
        autocommit = self._new_job(AUTO_COMMIT, "", "")
        autocommit.begin(t, self.world.clock.wall(), self.draw("autocommit"))

        def autocommit_done(when: float) -> None:
            if autocommit.finished or boot_id != self.boot_id:
                return
            if self.faults.fire("autocommit_fail") is not None:
                self._emit("fault_fired", when, fault="autocommit_fail", job=autocommit.id)
                # Wording ours *(inferred)*; the shape (FIN / FAIL with detail lines) is a job's.
                autocommit.finish(
                    self.world.clock.wall(), False, ["Commit failed", "Auto-commit failed after the restart."]
                )
            else:
                autocommit.finish(self.world.clock.wall(), True, ["Configuration committed successfully"])
            self._emit("autocommit_end", when, job=autocommit.id, result=autocommit.result)

        self.world.scheduler.at(t + autocommit.duration, autocommit_done)
        ha_rules.member_booted(self, t)

    def _set_phase(self, phase: Phase, t: float) -> None:
        if self.phase is phase:
            return
        self.phase = phase
        self._emit("boot_phase", t, phase=str(phase))
        self.world.reachability_changed(self)

    # -- HA requests -----------------------------------------------------------------------------------

    def ha_suspend(self, t: float) -> None:
        if self.ha is None:
            raise OpError("HA is not enabled.")
        self._emit("ha_suspend_request", t)
        ha_rules.suspend(self, t)

    def ha_functional(self, t: float) -> None:
        if self.ha is None:
            raise OpError("HA is not enabled.")
        self._emit("ha_functional_request", t)
        ha_rules.functional(self, t)

    # -- faults ----------------------------------------------------------------------------------------

    def inject(self, fault: Fault, t: float) -> None:
        self.faults.add(fault)
        self._emit("fault_injected", t, fault=fault.kind, params=dict(fault.params))
        if fault.kind == "panorama_unreachable":
            self._emit("panorama_disconnected", t)
        if fault.kind == "direct_unreachable":
            self.world.reachability_changed(self)

    def clear_faults(self, kind: str | None, t: float) -> list[str]:
        removed = self.faults.clear(kind)
        for k in removed:
            self._emit("fault_cleared", t, fault=k)
        if "reboot_hang" in removed and self.hung and self.phase is Phase.DOWN:
            self.hung = False
            self.world.scheduler.at(t, partial(self._starting, boot_id=self.boot_id))
        if "panorama_unreachable" in removed:
            self.panorama_connected_at = t + self.draw("panorama_reconnect")
        if "direct_unreachable" in removed:
            self.world.reachability_changed(self)
        return removed

    # -- snapshot --------------------------------------------------------------------------------------

    def snapshot(self, now: float) -> dict[str, Any]:
        peer = self.peer()
        return {
            "serial": self.serial,
            "hostname": self.hostname,
            "address": self.address,
            "model": self.spec.model,
            "device_group": self.spec.device_group,
            "version": str(self.version),
            "pending_version": str(self.pending) if self.pending else None,
            "downloaded": [str(v) for v in sorted(self.downloaded)],
            "content_version": self.content_version,
            "phase": str(self.phase),
            "ha_state": (self.ha.reported_state if self.ha.state != "booting" else "booting")
            if self.ha
            else None,
            "ha_peer": peer.serial if peer else None,
            "free_disk_mb": self.free_disk_mb(),
            "panorama_connected": self.panorama_connected(now),
            "uptime": round(self.uptime(now), 1),
            "jobs": [
                {
                    "id": j.id,
                    "type": j.type,
                    "status": j.status,
                    "result": j.result,
                    "subject": j.subject,
                    "progress": j.percent(now),
                }
                for j in sorted(self.jobs.values(), key=lambda j: j.id)
            ],
            "faults": [f.to_json() for f in self.faults.active()],
        }

    def noise(self) -> random.Random:
        return self.rng_noise
