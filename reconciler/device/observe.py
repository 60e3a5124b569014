"""Device answers in the machine's terms, shared by the runner (engine) and the readiness checks.

``job_info`` turns a PAN-OS job (``parsers.Job``) into the machine's ``JobInfo``, naming its kind from the
job type PAN-OS reports; ``SNAPSHOT_AREAS`` are the state areas taken before and after an upgrade.
"""

from __future__ import annotations

from reconciler.device.parsers import Job
from reconciler.machine import commands as c
from reconciler.machine import observations as o

SNAPSHOT_AREAS = ["session_stats", "routes", "arp_table"]

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
