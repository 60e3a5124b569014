"""``MachineSettings``: the timeouts, limits and margins the state machines use (seconds, GB, percent)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from reconciler.machine.expect import Expected

NOTHING_LEARNED = Expected()

DEFAULT_READINESS_CHECKS: tuple[str, ...] = ("candidate_config", "expired_licenses", "jobs")


class _Source(Protocol):
    def get(self, name: str) -> Any: ...


@dataclass(frozen=True)
class MachineSettings:
    """Timeouts, limits and margins. Durations are seconds. Build from config with ``from_config``.

    The config keys map as: ``firewall.job_stall_timeout``, ``reboot_timeout``, ``max_reboot_poll_interval``,
    ``install_retry_delay``, ``software_check_timeout``, ``software_info_timeout``; ``validation.min_disk_gb``,
    ``tcp_session_margin``, ``route_margin``, ``arp_margin``. The rest are engine constants with sensible
    defaults; a group's ``report_only`` and ``readiness_checks`` come from the desired state.
    """

    job_stall_timeout: float = 1800.0
    reboot_timeout: float = 1800.0
    max_reboot_poll_interval: float = 300.0
    reboot_poll_initial: float = 30.0
    reboot_start_grace: float = 300.0  # a device still up on the old version this long was not rebooted
    install_retry_delay: float = 60.0
    # After a download the image loads into the software manager for a while (PAN-OS answers an install
    # meanwhile with "software manager is currently in use"): the install that follows waits this long.
    install_after_download: float = 30.0
    install_max_attempts: int = 10
    software_check_timeout: float = 90.0
    software_info_timeout: float = 120.0
    # Reboot polling by expectation (``reboot.py``): the first poll at the start of the expected window,
    # then every ``reboot_poll_dense`` inside it, backing off after it. The window is learned from this
    # fleet's finished reboots (``expected``, device seconds); until enough finished, this prior applies.
    reboot_expected_low: float = 300.0
    reboot_expected_high: float = 900.0
    reboot_poll_dense: float = 30.0
    reboot_poll_ready: float = 10.0  # the device answers but its chassis is not ready yet
    # Job polling by progress rate (``downloads.job_poll_delay``): the first poll at the start of the window
    # this fleet's finished jobs of the kind taught (``expected``), or after ``job_first_poll`` while
    # nothing is learned (installs: after ``job_first_poll`` at the latest), then at the end the progress
    # so far predicts, never sooner than ``job_poll_interval`` and never later
    # than twice the time already waited (a job whose pace changes) or ``job_poll_longest``.
    # ``job_poll_max_interval``: how often pre-flight looks again at other jobs still running.
    job_first_poll: float = 30.0
    job_poll_interval: float = 5.0
    job_poll_max_interval: float = 60.0
    job_poll_longest: float = 300.0
    command_retry_delay: float = 10.0
    command_retry_max_delay: float = 300.0
    command_max_attempts: int = 5
    download_max_attempts: int = 3
    min_disk_gb: float = 5.0
    tcp_session_margin: float = 5.0
    route_margin: float = 0.0
    arp_margin: float = 0.0
    report_only: bool = False
    readiness_checks: tuple[str, ...] = DEFAULT_READINESS_CHECKS
    # Image cleanup (a group's ``imageCleanup``): when the downloads ahead do not fit with ``min_disk_gb``
    # left free, delete images the device no longer needs (``reconciler.machine.disk``), keeping the
    # release it ran before for a rollback when ``keep_previous_image``.
    image_cleanup: bool = True
    keep_previous_image: bool = True
    # After a reboot, routes, ARP and sessions take a while to come back: a breach inside this window
    # re-takes the post snapshot every ``postflight_retry_interval`` seconds before it counts.
    postflight_settle: float = 900.0
    postflight_retry_interval: float = 60.0
    ha_health_timeout: float = 900.0
    ha_rejoin_timeout: float = 1800.0
    failover_timeout: float = 300.0
    ha_poll_interval: float = 10.0
    ha_poll_max_interval: float = 60.0
    # After its reboot a member's HA starts (booting, initial) for a minute or two: read it at a steady pace
    # for that long (``ha_member``), so it is seen settled within ``ha_settle_poll``.
    ha_settle_poll: float = 20.0
    ha_settle_expected: float = 240.0
    # Our seconds per second a device reports (its uptime); scaled like every duration, so that a time-scaled
    # simulator's uptimes compare with our clock.
    device_second: float = 1.0
    # What this fleet's finished reboots and jobs showed (``machine.expect``); set by the executor, not by
    # config. ``model``: the device's hardware model (inventory), whose own reboot window applies once known.
    expected: Expected = NOTHING_LEARNED
    model: str = ""

    @classmethod
    def from_config(cls, config: _Source, **overrides: Any) -> MachineSettings:
        """Read the ``firewall.*`` and ``validation.*`` keys; ``overrides`` (e.g. a group's margins,
        ``report_only``, ``readiness_checks``) win."""
        values: dict[str, Any] = {
            "job_stall_timeout": float(config.get("firewall.job_stall_timeout")),
            "reboot_timeout": float(config.get("firewall.reboot_timeout")),
            "max_reboot_poll_interval": float(config.get("firewall.max_reboot_poll_interval")),
            "install_retry_delay": float(config.get("firewall.install_retry_delay")),
            "software_check_timeout": float(config.get("firewall.software_check_timeout")),
            "software_info_timeout": float(config.get("firewall.software_info_timeout")),
            "min_disk_gb": float(config.get("validation.min_disk_gb")),
            "tcp_session_margin": float(config.get("validation.tcp_session_margin")),
            "route_margin": float(config.get("validation.route_margin")),
            "arp_margin": float(config.get("validation.arp_margin")),
        }
        values.update(overrides)
        return cls(**values)

    def scaled(self, factor: float) -> MachineSettings:
        """Every duration divided by ``factor`` (for a simulator running ``factor`` times faster)."""
        durations = {
            name: getattr(self, name) / factor
            for name, f in self.__dataclass_fields__.items()
            if f.type == "float" and not name.endswith("margin") and name != "min_disk_gb"
        }
        return replace(self, **durations)


DEFAULT_SETTINGS = MachineSettings()
