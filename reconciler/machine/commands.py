"""Commands: what the state machines ask the executor to do. Plain values, no behaviour.

The executor runs each command against the device (through ``reconciler.device.client``), then feeds exactly one
observation (``reconciler.machine.observations``) back into the machine: the command's answer, or
``CommandFailed`` with the error classified as temporary or permanent. ``ANSWERED_BY`` on each class
names the observation types that answer it.

``changes_device`` marks commands that alter a firewall (dry-run never emits them). Reading commands may
be repeated freely; changing ones are emitted at most once per need, and the machine re-observes the
device (``ListJobs``) instead of repeating a submission whose outcome is unknown.

Device-level commands act on the record's own device (``ReadPairRoles`` also reads the named HA peer).
HA pair commands carry the ``serial`` they act on and are emitted by the pair coordinator
(``reconciler.machine.pair``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar


class JobKind(StrEnum):
    """PAN-OS jobs the machine starts and watches (the executor maps PAN-OS job types onto these)."""

    DOWNLOAD = "download"
    INSTALL = "install"
    CONTENT_DOWNLOAD = "content_download"
    CONTENT_INSTALL = "content_install"
    OTHER = "other"


@dataclass(frozen=True)
class Command:
    """Base of every command."""

    changes_device: ClassVar[bool] = False
    ANSWERED_BY: ClassVar[tuple[str, ...]] = ()

    @property
    def name(self) -> str:
        return type(self).__name__


# -- device commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preflight(Command):
    """Gather pre-flight facts: version, content version, free disk, jobs, and run readiness ``checks``
    (panos-upgrade-assurance check names). Answered by ``PreflightResult``; the machine decides."""

    checks: tuple[str, ...]
    min_disk_gb: float
    ANSWERED_BY = ("PreflightResult",)


@dataclass(frozen=True)
class Snapshot(Command):
    """Take a sessions/routes/ARP snapshot (``kind`` pre|post) into ``validation/<serial>/``."""

    kind: str
    hop_index: int
    version: str
    ANSWERED_BY = ("SnapshotTaken",)


@dataclass(frozen=True)
class Backup(Command):
    """Export the running configuration into ``backups/<serial>/`` before the hop's install."""

    hop_index: int
    version: str
    ANSWERED_BY = ("BackupTaken",)


@dataclass(frozen=True)
class SoftwareCheck(Command):
    """``request system software check`` (asks the update server); API timeout ``timeout`` seconds."""

    timeout: float
    ANSWERED_BY = ("SoftwareList",)


@dataclass(frozen=True)
class SoftwareInfo(Command):
    """``request system software info`` (the device's local list); API timeout ``timeout`` seconds."""

    timeout: float
    ANSWERED_BY = ("SoftwareList",)


@dataclass(frozen=True)
class ContentDownload(Command):
    """``request content upgrade download latest``; answered by ``JobStarted``."""

    changes_device = True
    ANSWERED_BY = ("JobStarted",)


@dataclass(frozen=True)
class ContentInstall(Command):
    """``request content upgrade install version <version>``; answered by ``JobStarted``."""

    version: str = "latest"
    changes_device = True
    ANSWERED_BY = ("JobStarted",)


@dataclass(frozen=True)
class Download(Command):
    """``request system software download version <version> [sync-to-peer yes]``."""

    version: str
    sync_to_peer: bool = False
    changes_device = True
    ANSWERED_BY = ("JobStarted",)


@dataclass(frozen=True)
class DeleteImage(Command):
    """``delete software version <version>``: remove a downloaded image the device no longer needs, to
    make room for the downloads ahead (image cleanup). PAN-OS refuses the running image and images that
    are not on the device. Answered by ``ImageDeleted``."""

    version: str
    changes_device = True
    ANSWERED_BY = ("ImageDeleted",)


@dataclass(frozen=True)
class Install(Command):
    """``request system software install version <version>``. Never followed by a reboot unless the
    install job finished OK."""

    version: str
    changes_device = True
    ANSWERED_BY = ("JobStarted",)


@dataclass(frozen=True)
class PollJob(Command):
    """``show jobs id <job_id>``; answered by ``JobStatus``."""

    job_id: str
    kind: JobKind
    ANSWERED_BY = ("JobStatus",)


@dataclass(frozen=True)
class ListJobs(Command):
    """``show jobs all``; used when the outcome of a ``kind`` submission (of ``version``, if any) is unknown.
    Answered by ``JobsListed``."""

    kind: JobKind
    version: str = ""
    ANSWERED_BY = ("JobsListed",)


@dataclass(frozen=True)
class Reboot(Command):
    """``request restart system``. A dropped connection or "succeeded with no output" is the expected
    answer: the executor reports those as ``RebootIssued``."""

    changes_device = True
    ANSWERED_BY = ("RebootIssued",)


@dataclass(frozen=True)
class PollReady(Command):
    """One probe of a rebooting device: ``show chassis-ready`` (plus version/uptime when cheap).
    Refused connections, HTTP errors and 403s are answered as ``CommandFailed`` (temporary)."""

    expected_version: str
    ANSWERED_BY = ("DeviceAnswered",)


@dataclass(frozen=True)
class CheckVersion(Command):
    """``show system info``: version and uptime, to verify the hop took effect."""

    expected_version: str
    ANSWERED_BY = ("VersionObserved",)


@dataclass(frozen=True)
class CompareSnapshots(Command):
    """Compare the hop's pre and post snapshots with the margins (percent); save the comparison."""

    pre_path: str
    post_path: str
    hop_index: int
    tcp_session_margin: float
    route_margin: float
    arp_margin: float
    ANSWERED_BY = ("ComparisonResult",)


@dataclass(frozen=True)
class ObserveDevice(Command):
    """Re-observe a device after a restart (system info, chassis-ready, jobs): feed ``LiveDevice`` to
    ``reconciler.machine.resume``. Never stored as ``outstanding``."""

    ANSWERED_BY = ("LiveDevice",)


# -- an HA member's own steps around its reboot (emitted by the member's machine) ----------------------------


@dataclass(frozen=True)
class ReadPairRoles(Command):
    """``show high-availability state`` on this device and on its HA ``peer``, read right before each
    reboot and after it: roles are never assumed. Answered by ``PairRoles`` (the peer's part is empty
    when the peer does not answer, or was not asked: ``with_peer`` false after the reboot, where only this
    member's own state and its view of the peer over the HA links decide)."""

    peer: str
    with_peer: bool = True
    ANSWERED_BY = ("PairRoles",)


@dataclass(frozen=True)
class SuspendSelf(Command):
    """``request high-availability state suspend`` on this device before its reboot: a suspended member
    cannot be (or become, by preemption) active while it restarts. Answered by ``SelfHaDone``."""

    changes_device = True
    ANSWERED_BY = ("SelfHaDone",)


@dataclass(frozen=True)
class FunctionalSelf(Command):
    """``request high-availability state functional`` on this device once it runs the hop's version (or
    to undo a suspend whose failover did not happen). Answered by ``SelfHaDone``."""

    changes_device = True
    ANSWERED_BY = ("SelfHaDone",)


# -- HA pair commands (emitted by reconciler.machine.pair) -------------------------------------------------------------


@dataclass(frozen=True)
class ReadHaState(Command):
    """``show high-availability state`` on ``serial``; answered by ``HaStateObserved``."""

    serial: str
    ANSWERED_BY = ("HaStateObserved",)


@dataclass(frozen=True)
class Suspend(Command):
    """``request high-availability state suspend`` on ``serial`` (fails the pair over to its peer)."""

    serial: str
    changes_device = True
    ANSWERED_BY = ("HaActionDone",)


@dataclass(frozen=True)
class MakeFunctional(Command):
    """``request high-availability state functional`` on ``serial``."""

    serial: str
    changes_device = True
    ANSWERED_BY = ("HaActionDone",)


@dataclass(frozen=True)
class StartMember(Command):
    """Orchestration only: feed ``Begin(sync_to_peer)`` to member ``serial``'s machine. No device call."""

    serial: str
    sync_to_peer: bool = False


@dataclass(frozen=True)
class FailMember(Command):
    """Orchestration only: feed ``Abort(reason, message)`` to member ``serial``'s resting machine."""

    serial: str
    reason: str
    message: str


# The commands a device machine may hold as ``outstanding`` (what device status files can contain).
DEVICE_COMMAND_TYPES: tuple[type[Command], ...] = (
    Preflight,
    Snapshot,
    Backup,
    SoftwareCheck,
    SoftwareInfo,
    ContentDownload,
    ContentInstall,
    Download,
    DeleteImage,
    Install,
    PollJob,
    ListJobs,
    Reboot,
    PollReady,
    CheckVersion,
    CompareSnapshots,
    ReadPairRoles,
    SuspendSelf,
    FunctionalSelf,
)

# Every command by its type name (how records name their outstanding commands): the device machine's and the
# HA pair coordinator's.
COMMAND_TYPES: dict[str, type[Command]] = {
    cls.__name__: cls
    for cls in (
        *DEVICE_COMMAND_TYPES,
        ObserveDevice,
        ReadHaState,
        Suspend,
        MakeFunctional,
        StartMember,
        FailMember,
    )
}


def command_to_json(command: Command) -> dict[str, Any]:
    """``{"type": <class name>, <field>: <value>, ...}``; tuples become lists, enums their value."""
    out: dict[str, Any] = {"type": command.name}
    for f in fields(command):
        value = getattr(command, f.name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, StrEnum):
            value = value.value
        out[f.name] = value
    return out


def command_from_json(data: Mapping[str, Any]) -> Command:
    """Inverse of ``command_to_json``; raise ``ValueError`` for an unknown type or bad fields."""
    name = data.get("type")
    cls = COMMAND_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"outstanding: unknown command type {name!r}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.type == "tuple[str, ...]":
            value = tuple(value)
        elif f.type == "JobKind":
            value = JobKind(value)
        elif f.type == "float" and isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"outstanding: bad {name} command: {exc}") from None
