"""Observations: what the executor feeds back into the state machines. Plain values, no behaviour.

Three families:

* **Answers** to the outstanding command (``PreflightResult`` ... ``ComparisonResult``), or
  ``CommandFailed`` when it raised. The executor translates exceptions once, at the device seam, and
  passes ``temporary`` and the seam's ``kind`` (``unreachable``, ``timeout``, ``busy``, ``auth``, ...).
* **Requests** from the scheduler, the pair coordinator or an operator: ``Begin``, ``CancelRequest``,
  ``HoldRequest``, ``ReleaseRequest``, ``RetryRequest``, ``Abort``.
* **Re-observation** after a restart: ``LiveDevice`` (input of ``reconciler.machine.resume``), and the
  HA pair's ``HaStateObserved`` / ``HaActionDone`` / ``HaCommandFailed`` / ``MemberChanged`` / ``PairBegin``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from reconciler.core.errors import DeviceError, TemporaryDeviceError
from reconciler.machine.commands import Command, JobKind

# Seam error kinds that mean "the device did not answer" rather than "the device said no".
UNREACHABLE_KINDS = frozenset({"unreachable", "timeout", "not-connected", "http-5xx"})
# Seam error kind for "The software manager is currently in use".
BUSY_KIND = "busy"
# What PAN-OS writes in the details of an install job it accepted but could not run because another
# software job held the software manager (``show jobs id``: FIN / FAIL), e.g. right after a download.
SOFTWARE_MANAGER_BUSY_TEXT = "software manager is currently in use"


def says_software_manager_busy(message: str) -> bool:
    """True when a failed job's details say the software manager was in use (retry later)."""
    return SOFTWARE_MANAGER_BUSY_TEXT in message.lower()


def says_no_update(message: str) -> bool:
    """True when PAN-OS refused a content download because nothing newer exists ("No update available")."""
    return "no update available" in message.lower()


@dataclass(frozen=True)
class Observation:
    """Base of every observation."""

    is_request: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return type(self).__name__


# -- values carried inside answers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JobInfo:
    """One entry of ``show jobs``. ``progress`` is a percent or ``None`` when PAN-OS shows none."""

    job_id: str
    kind: JobKind
    finished: bool
    succeeded: bool = False
    progress: int | None = None
    message: str = ""  # the job's detail lines, joined with "; "

    @property
    def number(self) -> int:
        """The job id as a number (PAN-OS ids increase); -1 when not numeric."""
        return int(self.job_id) if self.job_id.isdigit() else -1


@dataclass(frozen=True)
class CheckOutcome:
    """One readiness check's result."""

    name: str
    passed: bool
    message: str = ""


@dataclass(frozen=True)
class ImageInfo:
    """One entry of the software list. ``size_mb`` is 0 when unknown."""

    version: str
    downloaded: bool
    size_mb: int = 0


# -- answers -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreflightResult(Observation):
    """Facts gathered by ``Preflight``; ``jobs`` is ``show jobs all`` (for the running-job check and the
    job watermark), ``content_version`` the App-ID content version (``app-version``)."""

    version: str
    disk_free_gb: float
    content_version: str | None = None
    jobs: tuple[JobInfo, ...] = ()
    checks: tuple[CheckOutcome, ...] = ()


@dataclass(frozen=True)
class SnapshotTaken(Observation):
    kind: str
    path: str


@dataclass(frozen=True)
class BackupTaken(Observation):
    path: str


@dataclass(frozen=True)
class SoftwareList(Observation):
    """The device's software list (from ``SoftwareCheck`` or ``SoftwareInfo``)."""

    images: tuple[ImageInfo, ...]


@dataclass(frozen=True)
class ImageDeleted(Observation):
    """``DeleteImage`` succeeded: ``version`` is gone and the repository has ``disk_free_gb`` free now."""

    version: str
    disk_free_gb: float


@dataclass(frozen=True)
class JobStarted(Observation):
    """A download/install/content command was accepted: PAN-OS enqueued job ``job_id``."""

    job_id: str


@dataclass(frozen=True)
class JobStatus(Observation):
    """One ``show jobs id``: ``finished`` (status FIN), ``succeeded`` (result OK), ``progress`` percent."""

    job_id: str
    finished: bool
    succeeded: bool = False
    progress: int | None = None
    message: str = ""


@dataclass(frozen=True)
class JobsListed(Observation):
    jobs: tuple[JobInfo, ...]


@dataclass(frozen=True)
class RebootIssued(Observation):
    """``request restart system`` was sent (a dropped connection counts as sent)."""


@dataclass(frozen=True)
class DeviceAnswered(Observation):
    """A rebooting device answered the API. ``version``/``uptime_seconds`` when the executor read them."""

    chassis_ready: bool
    version: str | None = None
    uptime_seconds: int | None = None


@dataclass(frozen=True)
class VersionObserved(Observation):
    version: str
    uptime_seconds: int | None = None


@dataclass(frozen=True)
class ComparisonResult(Observation):
    """Post-flight comparison: ``passed`` within margins; ``breaches`` describe what was out of margin."""

    passed: bool
    path: str
    breaches: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommandFailed(Observation):
    """The outstanding command (named by ``command``, its class name) raised.

    ``temporary``: worth retrying; ``kind``: the device seam's classification (see ``UNREACHABLE_KINDS``,
    ``BUSY_KIND``).
    """

    command: str
    temporary: bool
    kind: str = "error"
    message: str = ""

    @property
    def unreachable(self) -> bool:
        return self.temporary and self.kind in UNREACHABLE_KINDS

    @classmethod
    def of(cls, command: Command, error: DeviceError) -> CommandFailed:
        """Build from a translated device error (the executor's one-liner)."""
        return cls(command.name, isinstance(error, TemporaryDeviceError), error.kind, str(error))


# -- requests ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Begin(Observation):
    """Start (from pending) or continue with the next hop (from next_hop). For HA members only the pair
    coordinator decides when (``StartMember``)."""

    sync_to_peer: bool = False
    is_request = True


@dataclass(frozen=True)
class CancelRequest(Observation):
    """Stop at the next safe point; an untouched (pending) device is cancelled, a started one held."""

    by: str = "operator"
    reason: str = ""
    is_request = True


@dataclass(frozen=True)
class HoldRequest(Observation):
    """Put the device on hold (admin takeover) at the next safe point."""

    by: str = "operator"
    reason: str = ""
    is_request = True


@dataclass(frozen=True)
class ReleaseRequest(Observation):
    """Release a held device: it goes back to pending and starts over from a fresh pre-flight."""

    by: str = "operator"
    is_request = True


@dataclass(frozen=True)
class RetryRequest(Observation):
    """Retry a failed or cancelled device: back to pending with ``attempt`` + 1."""

    by: str = "operator"
    is_request = True


@dataclass(frozen=True)
class Abort(Observation):
    """Fail a resting device for a reason found elsewhere (e.g. the HA pair became unhealthy)."""

    reason: str
    message: str = ""
    is_request = True


# -- re-observation after a restart ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveDevice(Observation):
    """What ``ObserveDevice`` found: reachable or not; if so its version, readiness, uptime and jobs."""

    reachable: bool
    version: str | None = None
    chassis_ready: bool | None = None
    uptime_seconds: int | None = None
    jobs: tuple[JobInfo, ...] = ()


# -- HA pair observations (reconciler.machine.pair) -----------------------------------------------------------------------


@dataclass(frozen=True)
class HaStateObserved(Observation):
    """``show high-availability state`` of ``serial``. ``state``: active, passive, suspended, initial,
    non-functional, unknown (or standalone when HA is off). ``peer_state``: the peer's state as this member
    sees it over the HA links ("" when the peer is not connected or not shown)."""

    serial: str
    enabled: bool
    state: str
    peer_connected: bool = False
    state_sync_complete: bool = False
    running_sync_synchronized: bool = False
    version: str | None = None
    peer_state: str = ""


@dataclass(frozen=True)
class PairRoles(Observation):
    """The answer to ``ReadPairRoles``: this device's HA state and its peer's (``None`` when the peer did
    not answer: down, rebooting or unreachable)."""

    local: HaStateObserved
    peer: HaStateObserved | None


@dataclass(frozen=True)
class SelfHaDone(Observation):
    """``SuspendSelf`` / ``FunctionalSelf`` was accepted (``action`` is the command name)."""

    action: str


@dataclass(frozen=True)
class HaActionDone(Observation):
    """``Suspend`` or ``MakeFunctional`` on ``serial`` succeeded (``action`` is the command name)."""

    serial: str
    action: str


@dataclass(frozen=True)
class HaCommandFailed(Observation):
    """A pair command on ``serial`` raised (``command`` is its class name)."""

    serial: str
    command: str
    temporary: bool
    kind: str = "error"
    message: str = ""


@dataclass(frozen=True)
class MemberChanged(Observation):
    """A member's record changed (the executor passes the current member records to ``pair_step``)."""

    serial: str


@dataclass(frozen=True)
class PairBegin(Observation):
    """The scheduler lets the pair start."""

    is_request = True
