"""Device answers in the machine's terms, shared by the runner (engine) and the readiness checks.

``job_info`` turns a PAN-OS job (``parsers.Job``) into the machine's ``JobInfo``, naming its kind from the
job type PAN-OS reports; ``SNAPSHOT_AREAS`` are the state areas taken before and after an upgrade;
``jobs_check`` is panos-upgrade-assurance's ``jobs`` readiness check decided from a ``show jobs all`` answer
already read (the pre-flight reads it anyway: asking the library would send the same command again).
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.device.parsers import Job
from reconciler.machine import commands as c
from reconciler.machine import observations as o

SNAPSHOT_AREAS = ["session_stats", "routes", "arp_table"]
JOBS_CHECK = "jobs"  # the readiness check answered from the jobs the pre-flight read

_JOB_KINDS = {
    "downld": c.JobKind.DOWNLOAD,
    "swinstall": c.JobKind.INSTALL,
    "software-install": c.JobKind.INSTALL,
    "install": c.JobKind.INSTALL,
    "content": c.JobKind.CONTENT_INSTALL,
    "contentinstall": c.JobKind.CONTENT_INSTALL,
    "contentdownload": c.JobKind.CONTENT_DOWNLOAD,
}


def job_info(job: Job) -> o.JobInfo:
    kind = _JOB_KINDS.get(job.type.lower().replace(" ", ""), c.JobKind.OTHER)
    return o.JobInfo(job.id, kind, job.finished, job.ok, job.progress, "; ".join(job.details))


def jobs_check(jobs: Sequence[Job]) -> o.CheckOutcome:
    """The ``jobs`` readiness check with the library's verdicts: passed when every job is finished (status
    FIN); not passed when one is not (the first such is named), nor when the device lists no job at all (the
    library reports that as skipped, which does not pass)."""
    if not jobs:
        return o.CheckOutcome(JOBS_CHECK, False, "skipped: the device lists no jobs at all (unusual)")
    for job in jobs:
        if job.status != "FIN":
            return o.CheckOutcome(JOBS_CHECK, False, f"job {job.id} is not finished (status {job.status})")
    return o.CheckOutcome(JOBS_CHECK, True, "")
