"""The pre-flight's jobs check, decided from the ``show jobs all`` answer it already read."""

from __future__ import annotations

from reconciler.device.observe import JOBS_CHECK, jobs_check
from reconciler.device.parsers import Job


def job(job_id: str, status: str, result: str = "OK") -> Job:
    return Job(
        id=job_id, type="Downld", status=status, result=result, progress=100 if status == "FIN" else 40
    )


def test_every_job_finished_passes_failed_ones_included() -> None:
    outcome = jobs_check([job("1", "FIN"), job("2", "FIN", "FAIL")])
    assert outcome.name == JOBS_CHECK and outcome.passed


def test_a_job_not_finished_fails_the_check_and_is_named() -> None:
    outcome = jobs_check([job("1", "FIN"), job("7", "ACT", "PEND"), job("8", "PEND", "PEND")])
    assert not outcome.passed
    assert "job 7" in outcome.message and "ACT" in outcome.message


def test_a_device_listing_no_job_does_not_pass_as_the_library_decides() -> None:
    outcome = jobs_check([])
    assert not outcome.passed and "no jobs" in outcome.message
