"""Device jobs (downloads, installs, auto-commit, content updates) and their ``show jobs`` XML.

A job's progress is a pure function of the sim clock (start, duration); the device schedules one callback
for its end. Shapes follow PANOS-NOTES.md "Jobs": ``status`` PEND/ACT/FIN, ``result`` PEND/OK/FAIL, an
integer percent in ``progress`` while running and, for finished downloads, the finish time instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from reconciler.sim.xmltext import fields, leaf, node

DOWNLOAD = "Downld"
SOFTWARE_INSTALL = "SWInstall"
AUTO_COMMIT = "AutoCom"
CONTENT_INSTALL = "Content"


def panos_time(wall: float) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(wall))


def clock_time(wall: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(wall))


@dataclass
class Job:
    id: int
    type: str
    user: str
    enqueued_wall: float
    subject: str = ""  # the image or content version the job is about
    description: str = ""
    status: str = "PEND"
    result: str = "PEND"
    start: float | None = None
    duration: float = 0.0
    started_wall: float | None = None
    finished_wall: float | None = None
    stall_at: int | None = None
    details: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    queued_position: int = 0
    sync_to_peer: bool = False

    @property
    def finished(self) -> bool:
        return self.status == "FIN"

    def begin(self, now: float, wall: float, duration: float) -> None:
        self.status = "ACT"
        self.start = now
        self.duration = max(duration, 0.001)
        self.started_wall = wall
        self.queued_position = 0

    def finish(self, wall: float, ok: bool, details: list[str]) -> None:
        self.status = "FIN"
        self.result = "OK" if ok else "FAIL"
        self.finished_wall = wall
        self.details = list(details)

    def percent(self, now: float) -> int:
        if self.status == "FIN":
            return 100
        if self.status != "ACT" or self.start is None:
            return 0
        pct = int(min(99.0, 100.0 * (now - self.start) / self.duration))
        if self.stall_at is not None:
            pct = min(pct, self.stall_at)
        return max(pct, 0)

    def progress_text(self, now: float) -> str:
        if self.status == "FIN" and self.type == DOWNLOAD and self.result == "OK" and self.finished_wall:
            return clock_time(self.finished_wall)
        return str(self.percent(now))

    def xml(self, now: float) -> str:
        """The ``<job>`` element (a job with id 0 is rendered without an id, as PAN-OS lists some)."""
        details = "".join(leaf("line", line) for line in self.details)
        warnings = "".join(leaf("line", line) for line in self.warnings)
        return node(
            "job",
            fields(
                {
                    "tenq": panos_time(self.enqueued_wall),
                    "tdeq": clock_time(self.started_wall or self.enqueued_wall),
                    "id": self.id or "",
                    "user": self.user,
                    "type": self.type,
                    "status": self.status,
                    "queued": "YES" if self.status == "PEND" else "NO",
                    "stoppable": "yes" if self.status != "FIN" and self.type == DOWNLOAD else "no",
                    "result": self.result,
                    "tfin": panos_time(self.finished_wall) if self.finished_wall else "",
                    "description": self.description,
                    "positionInQ": self.queued_position,
                    "progress": self.progress_text(now),
                }
            ),
            node("details", details),
            node("warnings", warnings),
        )


MAX_JOBS_KEPT = 60  # a device's job list keeps this many; the oldest finished ones are dropped first


def add_job(jobs: dict[int, Job], job: Job) -> Job:
    """File ``job`` in a device's job list (firewall or Panorama), dropping the oldest finished jobs beyond
    ``MAX_JOBS_KEPT``."""
    jobs[job.id] = job
    if len(jobs) > MAX_JOBS_KEPT:
        for old in sorted(jobs)[: len(jobs) - MAX_JOBS_KEPT]:
            if jobs[old].finished:
                del jobs[old]
    return job
