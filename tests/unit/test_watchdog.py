"""The watchdog: a working device with no transition for longer than any legitimate wait is stalled."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from machine_world import FAST, T0, record

from reconciler.machine.records import Phase, iso
from reconciler.machine.watchdog import no_progress_limit, stalled_for


def test_the_limit_exceeds_every_poll_and_retry_interval_and_command_timeout() -> None:
    limit = no_progress_limit(FAST)
    for name in (
        "max_reboot_poll_interval",
        "job_poll_max_interval",
        "job_poll_longest",
        "reboot_poll_dense",
        "command_retry_max_delay",
        "ha_poll_max_interval",
        "install_retry_delay",
        "install_after_download",
        "software_check_timeout",
        "software_info_timeout",
    ):
        assert limit > getattr(FAST, name), name


def test_a_working_device_without_a_transition_past_the_limit_is_stalled() -> None:
    limit = no_progress_limit(FAST)
    rec = replace(record(), phase=Phase.DOWNLOAD_TARGET, updated_at=iso(T0))
    assert stalled_for(rec, FAST, T0 + timedelta(seconds=limit - 1)) is None
    over = stalled_for(rec, FAST, T0 + timedelta(seconds=limit + 30))
    assert over is not None and abs(over - 30) < 1e-6


def test_resting_and_finished_devices_are_never_stalled() -> None:
    late = T0 + timedelta(days=30)
    for phase in (Phase.PENDING, Phase.NEXT_HOP, Phase.HELD, Phase.DONE, Phase.FAILED):
        assert stalled_for(replace(record(), phase=phase, updated_at=iso(T0)), FAST, late) is None
