"""A large simulated rollout under the daemon, and the safety invariants read from the simulator's event
log (shared by the chaos, fault and load tests).

The fleet is generated (seeded) over six Panorama device groups: four are managed by the desired state,
``emea`` is managed but its only maintenance window lies in the past (never open), and ``apac`` is in no
group (unmanaged). Nothing may ever change on an ``emea`` or ``apac`` firewall.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.version import PanOsVersion
from reconciler.sim.fleet import FleetSpec
from reconciler.sim.generate import generate_fleet
from reconciler.workdir import schemas
from reconciler.workdir.layout import WorkPaths
from tests import safety
from tests.reliability.daemon_proc import MUTATING_EVENTS, DaemonProcess
from tests.safety import Violation

TARGETS = {"branches": "11.1.6-h1", "datacenter": "11.2.7", "dmz": "11.1.6-h1", "retail": "11.2.7"}
CLOSED_WINDOW_GROUP = "emea"
UNMANAGED_GROUP = "apac"
ROLLOUT_CONFIG = {
    "daemon.allow_root": "true",
    "daemon.resync_interval": 3,
    "discovery.interval": 0,
    "metrics.enabled": "false",
}


def fleet(firewalls: int, ha_pairs: int, seed: int) -> FleetSpec:
    return generate_fleet(firewalls=firewalls, ha_pairs=ha_pairs, device_groups=6, seed=seed)


def desired_yaml(*, max_parallel: int, failure_budget: str = "20%", canary: int | None = 2) -> str:
    """The desired state of a rollout (body after the apiVersion line)."""
    common = (
        f'    maxParallel: {max_parallel}\n    failureBudget: "{failure_budget}"\n'
        "    validation: {minDiskGb: 1, tcpSessionMargin: 60, routeMargin: 5, arpMargin: 50}\n"
    )
    groups = []
    for name, target in TARGETS.items():
        stage = "    stage: downloaded\n" if name == "dmz" else ""
        waves = f"    waves: {{canary: {canary}}}\n" if name == "branches" and canary else ""
        groups.append(
            f"  - name: {name}\n    select: {{deviceGroups: [{name}]}}\n"
            f'    target: "{target}"\n{stage}{waves}{common}'
        )
    groups.append(
        f"  - name: {CLOSED_WINDOW_GROUP}\n    select: {{deviceGroups: [{CLOSED_WINDOW_GROUP}]}}\n"
        '    target: "11.2.7"\n'
        "    maintenanceWindows: [{from: 2020-01-01, until: 2020-01-02}]\n" + common
    )
    return "groups:\n" + "".join(groups)


class EventTail:
    """Reads the simulator's event log incrementally (re-parsing 100,000 lines per poll would not do)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.events: list[dict[str, Any]] = []
        self._partial = b""

    def poll(self) -> list[dict[str, Any]]:
        """The events appended since the last call."""
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        new = [json.loads(line) for line in lines if line.strip()]
        self.events.extend(new)
        return new


# -- status files ---------------------------------------------------------------------------------------------

_SCHEMAS = {"devices": "device-status", "jobs": "job-status"}


def invalid_status_files(paths: WorkPaths) -> list[str]:
    """Every status file that is not valid JSON (or not valid against its schema), right now."""
    bad = []
    for path in sorted(paths.status_dir.rglob("*.json")):
        if path.name.startswith("."):
            continue  # an atomic write's temporary file: never read by anyone
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            continue  # replaced between listing and reading
        except ValueError as exc:
            bad.append(f"{path.name}: {exc}")
            continue
        schema = _SCHEMAS.get(path.parent.name) or ("daemon-status" if path.name == "daemon.json" else None)
        if schema is not None:
            problems = schemas.errors(schema, doc)
            if problems:
                bad.append(f"{path.name}: {problems[0]}")
    return bad


def leftover_temp_files(paths: WorkPaths) -> int:
    return sum(1 for p in paths.root.rglob(".*.tmp"))


class Settled:
    """True once the daemon (this very process) has nothing in flight and its device phases stopped
    changing for ``quiet`` consecutive checks. ``changes_pending`` is not used: an HA member resting behind
    a failed peer keeps counting there."""

    def __init__(self, daemon: DaemonProcess, quiet: int = 4) -> None:
        self.daemon = daemon
        self.quiet = quiet
        self.seen: list[object] = []

    def __call__(self) -> bool:
        status = self.daemon.status()
        last = status["last_reconcile"] or {}
        calm = (
            status["pid"] == self.daemon.pid
            and status["state"] == "running"
            and status["in_flight"] == 0
            and last.get("result") == "ok"
        )
        self.seen = [*self.seen[-(self.quiet - 1) :], status["counts_by_phase"] if calm else None]
        return (
            len(self.seen) == self.quiet
            and self.seen[0] is not None
            and all(x == self.seen[0] for x in self.seen)
        )


# -- invariants from the event log ---------------------------------------------------------------------------


@dataclass
class Invariants:
    # The shared oracle (tests/safety.py): HA safety, refused or repeated installs, changes outside the
    # managed groups or the windows, in-flight limits seen from the devices.
    safety: list[Violation] = field(default_factory=list)
    # Specific to this rollout:
    unasked_reboots: list[str] = field(default_factory=list)
    beyond_target: list[str] = field(default_factory=list)
    installed_when_download_only: list[str] = field(default_factory=list)

    @property
    def violations(self) -> int:
        return sum(len(v) for v in self.__dict__.values())

    def summary(self) -> dict[str, int]:
        specific = {k.replace("_", " "): len(v) for k, v in self.__dict__.items() if k != "safety"}
        return safety.counts(self.safety) | specific

    def __str__(self) -> str:
        lines = [f"{self.violations} violation(s): {self.summary()}"]
        lines += [f"  - {v}" for v in self.safety[:40]]
        lines += [f"  - {k}: {x}" for k, v in self.__dict__.items() if k != "safety" for x in v[:10]]
        return "\n".join(lines)


def check_invariants(
    events: list[dict[str, Any]],
    spec: FleetSpec,
    *,
    max_in_flight: int | None = None,
    max_parallel: dict[str, int] | None = None,
    allow: tuple[str, ...] = (),
) -> Invariants:
    """The rollout's invariants. ``max_parallel``: maxParallel per group name (as in the desired state)."""
    out = Invariants()
    group_of = {d.serial: d.device_group for d in spec.devices}
    managed = {s for s, g in group_of.items() if g != UNMANAGED_GROUP}
    groups = {
        name: ([s for s, g in group_of.items() if g == name], limit)
        for name, limit in (max_parallel or {}).items()
    }
    out.safety = safety.check_events(
        events,
        managed=managed,
        change_allowed=lambda serial, wall: group_of.get(serial) != CLOSED_WINDOW_GROUP,
        max_in_flight=max_in_flight,
        groups=groups,
        allow=allow,
    )
    out.unasked_reboots = _unasked_reboots(events)
    for e in events:
        group = group_of.get(e["serial"])
        if e["event"] not in MUTATING_EVENTS or group is None or group not in TARGETS:
            continue
        if group == "dmz" and e["event"] in ("install_start", "reboot_start"):
            out.installed_when_download_only.append(f"{e['serial']}: {e['event']}")
        version = PanOsVersion.try_parse(str(e.get("version") or ""))
        if version is not None and version > PanOsVersion.parse(TARGETS[group]):
            out.beyond_target.append(f"{e['serial']} ({group}): {e['event']} {version}")
    return out


def _unasked_reboots(events: Iterable[dict[str, Any]]) -> list[str]:
    """A reboot is asked for when an install of the version it activates succeeded since the last reboot;
    any other reboot (no pending version, or a second one for the same install) is a violation."""
    installed: dict[str, set[str]] = defaultdict(set)
    bad = []
    for e in events:
        serial = e["serial"]
        if e["event"] == "install_end" and e.get("result") == "OK":
            installed[serial].add(str(e["version"]))
        elif e["event"] == "reboot_start":
            pending = e.get("pending")
            if not pending or pending not in installed[serial]:
                bad.append(
                    f"{serial}: reboot with pending {pending!r} (installed {sorted(installed[serial])})"
                )
            installed[serial].clear()
    return bad


# -- the end state ------------------------------------------------------------------------------------------------


def plan_json(paths: WorkPaths, desired: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "--work-dir",
            str(paths.root),
            "plan",
            "-f",
            str(desired),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


@dataclass
class EndState:
    converged: int = 0
    failed_or_held: int = 0
    blocked: dict[str, int] = field(default_factory=dict)
    unmanaged: int = 0
    unexplained: list[str] = field(default_factory=list)
    # Per managed serial: "converged", "failed <reason>", "held", "blocked <reason>".
    outcome: dict[str, str] = field(default_factory=dict)


def end_state(paths: WorkPaths, desired: Path) -> EndState:
    """Every managed device converged, or failed/held/blocked with a reason; nothing left to start.

    An HA member whose peer failed or is held rests until an operator acts on the peer; the plan still
    shows it as an upgrade in progress, so it is counted here as blocked by its peer."""
    out = EndState()
    blocked: Counter[str] = Counter()
    devices = plan_json(paths, desired)["devices"]
    reason_of = {d["serial"]: d["reason"] for d in devices}
    for d in devices:
        serial = d["serial"]
        peer = next((s for s in (d["ha_pair"] or "").split("+") if s and s != serial), None)
        if d["action"] != "blocked" and peer is not None and reason_of.get(peer) in ("failed", "held"):
            blocked[f"HA peer {reason_of[peer]}"] += 1
            done = "converged, " if d["action"] == "none" else ""
            out.outcome[serial] = f"{done}blocked HA peer {reason_of[peer]}"
            continue
        if d["group"] is None or d["reason"] == "unmanaged":
            out.unmanaged += 1
        elif d["action"] == "none":
            out.converged += 1
            out.outcome[serial] = "converged"
        elif d["action"] == "blocked" and d["reason"]:
            if d["reason"] in ("failed", "held"):
                record = json.loads(paths.device_status_file(serial).read_text())
                error = record.get("last_error") or {}
                if not error.get("message") and d["reason"] == "failed":
                    out.unexplained.append(f"{serial}: failed without a message")
                out.failed_or_held += 1
                out.outcome[serial] = f"{d['reason']} {error.get('reason') or ''}".strip()
            else:
                blocked[d["reason"]] += 1
                out.outcome[serial] = f"blocked {d['reason']}"
        else:
            out.unexplained.append(f"{serial}: {d['action']} {d['reason']} {d['detail'][:80]}")
            out.outcome[serial] = f"unexplained {d['action']} {d['reason']}"
    out.blocked = dict(sorted(blocked.items()))
    return out


def stalled(paths: WorkPaths) -> tuple[int | None, list[dict[str, Any]]]:
    """The daemon's watchdog as ``status/daemon.json`` shows it right now: (the writer's pid, its ``stalled``
    list: working devices with no transition past any legitimate wait)."""
    doc = json.loads(paths.daemon_status_file.read_text())
    return doc.get("pid"), list(doc.get("stalled") or [])


def device_summary(paths: WorkPaths, serial: str) -> str:
    """A device's status file in one line (phase, last error, message), for failure reports."""
    try:
        record = json.loads(paths.device_status_file(serial).read_text())
    except (OSError, ValueError) as exc:
        return f"{serial}: status file unreadable ({exc})"
    error = record.get("last_error") or {}
    return (
        f"{serial}: phase {record.get('upgrade_status')}, updated {record.get('updated_at')}, "
        f"last_error {error.get('reason')}: {error.get('message')!r}, message {record.get('upgrade_message')!r}"
    )
