"""Pure parsers of PAN-OS XML API responses into our values (no I/O; fuzzed by tests).

Each parser takes the ``<response>`` element (or its ``<result>``) and returns a frozen value, or raises
``ResponseFormatError`` naming the command and what was missing. Shapes follow PANOS-NOTES.md.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from reconciler.core.version import PanOsVersion


class ResponseFormatError(ValueError):
    """A device answered with XML we cannot understand (missing element, bad value)."""


def _result(root: ET.Element) -> ET.Element:
    if root.tag == "result":
        return root
    res = root.find("result")
    if res is None:
        raise ResponseFormatError("response has no <result>")
    return res


def _text(el: ET.Element | None, path: str, default: str = "") -> str:
    if el is None:
        return default
    found = el.find(path)
    if found is None or found.text is None:
        return default
    return found.text.strip()


def _yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "1")


def _digits(value: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²', which ``int()`` refuses."""
    return value.isascii() and value.isdigit()


@dataclass(frozen=True)
class SystemInfo:
    serial: str
    hostname: str
    model: str
    sw_version: str
    mgmt_ip: str = ""
    app_version: str = ""
    uptime: str = ""
    family: str = ""


def system_info(root: ET.Element) -> SystemInfo:
    system = _result(root).find("system")
    if system is None:
        raise ResponseFormatError("show system info: no <system> element")
    serial = _text(system, "serial")
    version = _text(system, "sw-version")
    if not serial or not version:
        raise ResponseFormatError("show system info: <serial> or <sw-version> missing")
    return SystemInfo(
        serial=serial,
        hostname=_text(system, "hostname"),
        model=_text(system, "model"),
        sw_version=version,
        mgmt_ip=_text(system, "ip-address"),
        app_version=_text(system, "app-version"),
        uptime=_text(system, "uptime"),
        family=_text(system, "family"),
    )


@dataclass(frozen=True)
class PanoramaHa:
    """Panorama's own ``show high-availability state``: no ``<group>`` wrapper, states such as
    ``primary-active`` (pan-os-ansible ``panos_facts`` PanoramaHa; the ``palo_alto`` gem)."""

    enabled: bool
    local_state: str = ""
    peer_version: str = ""
    peer_state: str = ""
    peer_connected: bool = False
    peer_address: str = ""
    local_version: str = ""
    running_sync: str = ""

    def as_ha_state(self) -> HaState:
        """The firewall-shaped view the upgrade machine reads: states without the priority prefix
        (``primary-active`` -> ``active``). Panorama HA carries no sessions, so there is no state sync to
        wait for: it counts as complete while the peer is connected over the HA link. The running
        configuration cannot synchronise while the two run different releases (half-way through an
        upgrade); the pair coordinator asks for it only before a hop and after both members finished."""
        if not self.enabled:
            return HaState(enabled=False)
        sync = self.running_sync
        return HaState(
            enabled=True,
            local_state=panorama_role(self.local_state),
            peer_state=panorama_role(self.peer_state) if self.peer_connected else "",
            peer_connected=self.peer_connected,
            peer_address=self.peer_address,
            local_version=self.local_version,
            peer_version=self.peer_version,
            state_sync="complete" if self.peer_connected else "",
            running_sync=sync,
            mode="active-passive",
        )


def panorama_role(state: str) -> str:
    """A Panorama HA state without its priority prefix: ``secondary-passive`` -> ``passive``."""
    state = state.strip().lower()
    for prefix in ("primary-", "secondary-"):
        if state.startswith(prefix):
            return state[len(prefix) :]
    return state


def panorama_ha(root: ET.Element) -> PanoramaHa:
    res = _result(root)
    if not _yes(_text(res, "enabled", "no")):
        return PanoramaHa(enabled=False)
    local, peer = res.find("local-info"), res.find("peer-info")
    return PanoramaHa(
        enabled=True,
        local_state=_text(local, "state").lower(),
        peer_version=_text(peer, "build-rel"),
        peer_state=_text(peer, "state").lower(),
        peer_connected=_text(peer, "conn-status").lower() == "up",
        peer_address=_text(peer, "mgmt-ip").split("/")[0],
        local_version=_text(local, "build-rel"),
        running_sync=_text(res, "running-sync"),
    )


@dataclass(frozen=True)
class HaState:
    """``show high-availability state`` of one firewall. ``local_state`` is 'standalone' when HA is off."""

    enabled: bool
    local_state: str = "standalone"
    peer_state: str = ""
    peer_connected: bool = False
    peer_serial: str = ""
    peer_address: str = ""
    local_version: str = ""
    peer_version: str = ""
    state_sync: str = ""
    running_sync: str = ""
    mode: str = ""

    @property
    def healthy_pair(self) -> bool:
        """Peer connected, state-sync complete, running config synchronized."""
        return (
            self.enabled
            and self.peer_connected
            and self.state_sync.lower() == "complete"
            and self.running_sync.lower() == "synchronized"
        )


def ha_state(root: ET.Element) -> HaState:
    res = _result(root)
    enabled = _yes(_text(res, "enabled", "no"))
    if not enabled:
        return HaState(enabled=False)
    group = res.find("group")
    if group is None:
        raise ResponseFormatError("show high-availability state: HA enabled but no <group>")
    local = group.find("local-info")
    peer = group.find("peer-info")
    return HaState(
        enabled=True,
        local_state=_text(local, "state", "unknown").lower() or "unknown",
        peer_state=_text(peer, "state").lower(),
        peer_connected=_text(peer, "conn-status").lower() == "up",
        peer_serial=_text(peer, "serial-num") or _text(peer, "serial"),
        peer_address=_text(peer, "mgmt-ip"),
        local_version=_text(local, "build-rel"),
        peer_version=_text(peer, "build-rel"),
        state_sync=_text(local, "state-sync"),
        running_sync=_text(group, "running-sync"),
        mode=_text(group, "mode"),
    )


@dataclass(frozen=True)
class PanoramaDevice:
    serial: str
    hostname: str
    mgmt_ip: str
    model: str
    sw_version: str
    connected: bool
    ha_state: str = ""
    peer_serial: str = ""


# What a serial may look like (the inventory schema's pattern): it names files (status/devices/<serial>.json),
# so a device-supplied value outside it (``../x``, a newline) is never used as one.
SERIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def valid_serial(serial: str) -> bool:
    return SERIAL.fullmatch(serial) is not None


def panorama_devices(root: ET.Element) -> list[PanoramaDevice]:
    devices = _result(root).find("devices")
    if devices is None:
        return []
    out = []
    for entry in devices.findall("entry"):
        serial = entry.get("name") or _text(entry, "serial")
        if not serial:
            raise ResponseFormatError("show devices: an <entry> without a serial")
        out.append(
            PanoramaDevice(
                serial=serial,
                hostname=_text(entry, "hostname"),
                mgmt_ip=_text(entry, "ip-address"),
                model=_text(entry, "model"),
                sw_version=_text(entry, "sw-version"),
                connected=_yes(_text(entry, "connected", "no")),
                ha_state=_text(entry, "ha/state").lower(),
                peer_serial=_text(entry, "ha/peer/serial"),
            )
        )
    return out


def device_groups(root: ET.Element) -> dict[str, str]:
    """serial -> device group name, from ``show devicegroups``."""
    groups = _result(root).find("devicegroups")
    membership: dict[str, str] = {}
    if groups is None:
        return membership
    for dg in groups.findall("entry"):
        name = dg.get("name", "")
        for dev in dg.findall("devices/entry"):
            serial = dev.get("name") or _text(dev, "serial")
            if serial:
                membership[serial] = name
    return membership


@dataclass(frozen=True)
class SoftwareImage:
    version: PanOsVersion
    filename: str = ""
    size_mb: int = 0
    downloaded: bool = False
    current: bool = False
    latest: bool = False
    uploaded: bool = False


def software_images(root: ET.Element) -> list[SoftwareImage]:
    """``request system software check|info`` -> every image entry (order not relied upon)."""
    versions = _result(root).find("sw-updates/versions")
    if versions is None:
        raise ResponseFormatError("software info: no <sw-updates><versions>")
    out = []
    for entry in versions.findall("entry"):
        raw = _text(entry, "version")
        version = PanOsVersion.try_parse(raw)
        if version is None:
            continue  # an entry we cannot order (e.g. a private build) is ignored, not fatal
        size = _text(entry, "size", "0")
        out.append(
            SoftwareImage(
                version=version,
                filename=_text(entry, "filename"),
                size_mb=int(size) if _digits(size) else 0,
                downloaded=_yes(_text(entry, "downloaded", "no")),
                current=_yes(_text(entry, "current", "no")),
                latest=_yes(_text(entry, "latest", "no")),
                uploaded=_yes(_text(entry, "uploaded", "no")),
            )
        )
    return out


_JOB_ID = re.compile(r"jobid\s+(\d+)", re.I)


def enqueued_job_id(root: ET.Element) -> str:
    """The job id of a download/install/content command (``<job>N</job>`` or 'enqueued with jobid N')."""
    res = _result(root)
    job = _text(res, "job")
    if job:
        return job
    text = " ".join(t for t in res.itertext())
    m = _JOB_ID.search(text)
    if not m:
        raise ResponseFormatError(f"no job id in response: {text.strip()[:200]!r}")
    return m.group(1)


@dataclass(frozen=True)
class Job:
    id: str
    type: str
    status: str  # ACT | FIN | PEND
    result: str  # PEND | OK | FAIL
    progress: int | None
    details: tuple[str, ...] = field(default_factory=tuple)

    @property
    def finished(self) -> bool:
        return self.status == "FIN"

    @property
    def ok(self) -> bool:
        return self.finished and self.result == "OK"


def job(root: ET.Element) -> Job:
    el = _result(root).find("job")
    if el is None:
        raise ResponseFormatError("show jobs id: no <job>")
    return _job_from(el)


def jobs(root: ET.Element) -> list[Job]:
    return [_job_from(el) for el in _result(root).findall("job") if _text(el, "id")]


def _job_from(el: ET.Element) -> Job:
    status = _text(el, "status")
    progress_raw = _text(el, "progress")
    # A finished download reports its finish time (e.g. 08:32:10) in <progress>, not a percent.
    progress = int(progress_raw) if _digits(progress_raw) else (100 if status == "FIN" else None)
    details = tuple(t.strip() for t in (line.text or "" for line in el.iter("line")) if t.strip())
    return Job(
        id=_text(el, "id"),
        type=_text(el, "type"),
        status=status,
        result=_text(el, "result"),
        progress=progress,
        details=details,
    )


def chassis_ready(root: ET.Element) -> bool:
    return "yes" in "".join(_result(root).itertext()).strip().lower()


_DF_LINE = re.compile(r"^\S+\s+(\S+)\s+(\S+)\s+(\S+)\s+\d+%\s+(\S+)\s*$")
_UNITS = {"K": 1 / 1024 / 1024, "M": 1 / 1024, "G": 1.0, "T": 1024.0}


def free_disk_gb(root: ET.Element, mount: str = "/opt/panrepo") -> float:
    """Free space of the software repository mount (falls back to the largest free mount)."""
    text = "".join(_result(root).itertext())
    free: dict[str, float] = {}
    for line in text.splitlines():
        m = _DF_LINE.match(line.strip())
        if m:
            free[m.group(4)] = _size_gb(m.group(3))
    if not free:
        raise ResponseFormatError("show system disk-space: no df lines")
    return free.get(mount, max(free.values()))


def _size_gb(text: str) -> float:
    unit = text[-1].upper()
    try:
        size = float(text[:-1]) * _UNITS[unit] if unit in _UNITS else float(text) / 1024 / 1024 / 1024
    except ValueError:
        raise ResponseFormatError(f"show system disk-space: bad size {text!r}") from None
    # 'nan' would pass every "enough free space?" comparison.
    if not math.isfinite(size):
        raise ResponseFormatError(f"show system disk-space: bad size {text!r}")
    return size


def message(root: ET.Element) -> str:
    """Human text of a response (``<msg>``/``<line>`` or the result's text)."""
    return " ".join(t.strip() for t in root.itertext() if t.strip())


_UPTIME = re.compile(r"^\s*(?:(\d+)\s+days?,\s*)?(\d+):(\d{2}):(\d{2})\s*$")


def uptime_seconds(text: str) -> int | None:
    """``"3 days, 1:02:03"`` -> seconds; None when the text has another shape."""
    m = _UPTIME.match(text or "")
    if not m:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
