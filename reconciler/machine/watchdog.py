"""The watchdog: has a working device gone without progress for longer than anything legitimate can take?

Every wait of the machine is a scheduled command with a deadline of its own (stall timeout, reboot timeout,
HA timeouts), and every answer is a transition that stamps ``updated_at``. So a working device whose record
has not changed for longer than the longest gap between two transitions (the longest poll or retry
interval, plus the longest command timeout, twice over) is not waiting: nobody is acting on it. Pure.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.machine.records import ACTIVE_PHASES, DeviceRecord, to_instant
from reconciler.machine.settings import MachineSettings


def no_progress_limit(settings: MachineSettings) -> float:
    """Seconds after which a working device without a single transition counts as stalled."""
    s = settings
    longest_wait = max(
        s.max_reboot_poll_interval,
        s.job_poll_max_interval,
        s.job_poll_longest,
        s.command_retry_max_delay,
        s.ha_poll_max_interval,
        s.postflight_retry_interval,
        s.install_retry_delay,
        s.install_after_download,
    )
    longest_call = max(s.software_check_timeout, s.software_info_timeout)
    return 2.0 * (longest_wait + longest_call)


def stalled_for(record: DeviceRecord, settings: MachineSettings, now: datetime) -> float | None:
    """Seconds past the no-progress limit, or ``None`` when the device is fine (or not working)."""
    if record.phase not in ACTIVE_PHASES or not record.updated_at:
        return None
    idle = (now - to_instant(record.updated_at)).total_seconds()
    over = idle - no_progress_limit(settings)
    return over if over > 0 else None
