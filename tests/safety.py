"""The shared safety oracle: the invariants every simulator event log must satisfy, read from the log alone.

Every integration, reliability, observability and demo test asks it (``tests/conftest.py`` runs the
context-free checks on every event log a test wrote; tests that know their context, such as dry runs,
windows or in-flight limits, call ``check_events`` / ``assert_safe`` with it). It never looks at the
product's records: only at what the simulated devices did (docs/simulator.md "Event log").

    from tests.safety import assert_safe, check_events
    assert_safe(sim.events(), max_in_flight=20, managed={"001", "002"})
    problems = check_events(events, dry_run=True, allow=("install-refused",))

Context-free checks (always on):

- a. ``violation`` events of the simulator's own safety monitor (kind as the simulator names it);
- b. ``active-rebooted``: an HA member restarted while it was active and its peer was up (not rebooting,
  not ``down``/``booting``), from the HA states at ``sim_start``, every ``ha_state`` event and
  ``reboot_start``;
- c. ``needless-suspend``: an ``ha_suspend_request`` on a member not followed, before that member's next
  ``ha_functional_request`` (or the end of the log), by a ``reboot_end`` of it onto another version
  (``upgraded``/``downgraded``): a failover for nothing;
- d. ``both-down``: an HA member restarted while its peer was down (from its ``reboot_start`` until its
  HA is running again after ``reboot_end``); ``both-installing``: both members of a pair running a
  software install at once (``install_start`` .. ``install_end``);
- e. ``install-refused``: an install PAN-OS refused (``install_refused`` event);
- f. ``installed-twice``: a second successful install of one version on one device for the same hop (no
  reboot onto another version, nor a reboot that came back on the old version, in between).

Checks with context (on when the argument is given):

- g. ``managed``: ``unmanaged-change`` -- a device-changing event on a serial outside the set;
- h. ``dry_run``: ``dry-run-change`` -- any device-changing event;
- i. ``change_allowed(serial, wall_time)``: ``outside-window`` -- a device-changing event where it is False;
- j. ``max_in_flight`` (workers.max, devices) and ``groups`` ({name: (serials, maxParallel)}, an HA pair is
  one unit): ``over-max-in-flight`` / ``over-max-parallel`` -- more devices (units) busy at one instant
  than allowed, busy meaning a download, install, content job or reboot running on the device, from the
  device's own start/end events. The tool's in-flight count is at least this, so this is a necessary
  condition.

A log holding several simulator runs (a restart on the same state directory appends) is checked one run
(``sim_start`` .. next ``sim_start``) at a time. ``allow`` names kinds a test provokes on purpose.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Event = dict[str, Any]

# Events that change something on a device (each one the answer to a client's request).
CHANGING_EVENTS = frozenset(
    {
        "download_queued",
        "install_start",
        "reboot_start",
        "ha_suspend_request",
        "ha_functional_request",
        "content_download_start",
        "content_install_start",
    }
)

KINDS: dict[str, str] = {
    "active-rebooted": "an HA member restarted while active with its peer up",
    "both-down": "both members of an HA pair down (restarting, or HA not running yet) at once",
    "both-installing": "both members of an HA pair installing software at once",
    "needless-suspend": "an HA member suspended without then changing version (a needless failover)",
    "install-refused": "an install PAN-OS refused",
    "installed-twice": "one image installed twice on one device for the same hop",
    "reboot-without-install": "a restart asked of a device with no installed image waiting (the simulator's monitor)",
    "foreign-api-key": "a device addressed with an API key another device issued (the simulator's monitor)",
    "ha-version-gap": "an HA member installed a release more than one feature release from its peer's (the simulator's monitor)",
    "past-panorama": "a firewall installed a release its Panorama cannot manage (the simulator's monitor)",
    "unmanaged-change": "a device outside the managed set changed",
    "dry-run-change": "a device changed during a dry run",
    "outside-window": "a device changed outside its maintenance window",
    "over-max-in-flight": "more devices busy at once than workers.max",
    "over-max-parallel": "more units of a group busy at once than its maxParallel",
}
CONTEXT_FREE = (
    "active-rebooted",
    "both-down",
    "both-installing",
    "needless-suspend",
    "install-refused",
    "installed-twice",
)

_NOT_RUNNING = ("down", "booting")  # HA states of a member that cannot take over (docs/simulator.md)
_VERSION_CHANGED = ("upgraded", "downgraded")
_JOBS = {
    "download_start": ("download", "download_end"),
    "install_start": ("install", "install_end"),
    "content_download_start": ("content download", "content_download_end"),
    "content_install_start": ("content install", "content_install_end"),
}
_JOB_ENDS = {end: name for name, end in _JOBS.values()}


@dataclass(frozen=True)
class Violation:
    kind: str
    serials: tuple[str, ...]
    sim_time: float
    detail: str
    source: str = "log"  # "simulator": the simulator's own violation event; "log": computed here
    seq: int | None = None
    run: int = 0  # which simulator run of the log (0 = the first sim_start)

    def __str__(self) -> str:
        where = f" (run {self.run + 1})" if self.run else ""
        return (
            f"{self.kind} [{'+'.join(self.serials)}] at sim {self.sim_time:.1f} s{where}, "
            f"seq {self.seq}, {self.source}: {self.detail}"
        )


class UnsafeLog(AssertionError):
    """``assert_safe`` found violations; ``violations`` holds them."""

    def __init__(self, violations: Sequence[Violation], label: str = "") -> None:
        self.violations = list(violations)
        by_kind = Counter(v.kind for v in violations)
        head = (
            f"{label + ': ' if label else ''}{len(violations)} safety violation(s) in the simulator event log"
        )
        lines = [f"{head} ({', '.join(f'{k} x{n}' for k, n in sorted(by_kind.items()))}):"]
        lines += [f"  - {v}" for v in violations[:60]]
        if len(violations) > 60:
            lines.append(f"  ... and {len(violations) - 60} more")
        super().__init__("\n".join(lines))


def read_events(path: str | Path) -> list[Event]:
    """A ``events.jsonl`` file, parsed; a torn last line (a writer still running) is ignored."""
    out = []
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            if n == len(lines) - 1:
                break
            raise
    return out


def check_events(
    events: Iterable[Event],
    *,
    max_in_flight: int | None = None,
    groups: Mapping[str, tuple[Collection[str], int | None]] | None = None,
    managed: Collection[str] | None = None,
    dry_run: bool = False,
    change_allowed: Callable[[str, float], bool] | None = None,
    allow: Iterable[str] = (),
) -> list[Violation]:
    """Every violation in ``events`` (a parsed event log, in log order), minus the ``allow``-ed kinds."""
    allowed = set(allow)
    found: list[Violation] = []
    for run, segment in enumerate(_runs(list(events))):
        checker = _Run(run, segment)
        checker.context_free()
        checker.context(managed=managed, dry_run=dry_run, change_allowed=change_allowed)
        if max_in_flight is not None or groups:
            checker.in_flight(max_in_flight, groups or {})
        found += checker.found
    return [v for v in _merge(found) if v.kind not in allowed]


def assert_safe(events: Iterable[Event], *, label: str = "", **context: Any) -> None:
    """``check_events`` and raise ``UnsafeLog`` (an AssertionError listing them) if anything was found."""
    violations = check_events(events, **context)
    if violations:
        raise UnsafeLog(violations, label)


def check_log(path: str | Path, **context: Any) -> list[Violation]:
    return check_events(read_events(path), **context)


def counts(violations: Iterable[Violation]) -> dict[str, int]:
    """Violations per kind, every known kind listed (0 when none): for reports."""
    found = Counter(v.kind for v in violations)
    return {kind: found.get(kind, 0) for kind in (*KINDS, *sorted(set(found) - set(KINDS)))}


def coverage(events: Iterable[Event]) -> dict[str, int]:
    """What a log gave the checks to look at (for reports): reboots of HA members (b, d), HA suspends (c),
    software installs (d, f), install requests (e), device-changing events (g-j), simulator runs."""
    out: Counter[str] = Counter()
    members: set[str] = set()
    for e in events:
        kind = e.get("event")
        if kind == "sim_start":
            out["simulator runs"] += 1
            members.update(str(s) for pair in e.get("ha_pairs") or [] for s in pair)
        elif kind == "reboot_start" and (e.get("serial") in members or e.get("peer")):
            out["HA member reboots"] += 1
        elif kind == "ha_suspend_request":
            out["HA suspends"] += 1
        elif kind == "install_end":
            out["installs"] += 1
        if kind in ("install_start", "install_refused"):
            out["install requests"] += 1
        if kind in CHANGING_EVENTS:
            out["device changes"] += 1
    return dict(out)


def ha_pairs(events: Iterable[Event]) -> list[tuple[str, str]]:
    """The HA pairs named by the (first) ``sim_start`` event."""
    for e in events:
        if e.get("event") == "sim_start":
            return [(str(a), str(b)) for a, b in e.get("ha_pairs") or []]
    return []


# -- implementation -----------------------------------------------------------------------------------------


def _runs(events: list[Event]) -> list[list[Event]]:
    """Split at every ``sim_start`` after the first (events before the first belong to the first run)."""
    runs: list[list[Event]] = [[]]
    seen_start = False
    for e in events:
        if e.get("event") == "sim_start":
            if seen_start:
                runs.append([])
            seen_start = True
        runs[-1].append(e)
    return [r for r in runs if r]


def _merge(found: list[Violation]) -> list[Violation]:
    """One entry for a finding both the simulator and this module made (same kind, device and instant)."""
    out: list[Violation] = []
    index: dict[tuple[str, str, float, int], int] = {}
    for v in sorted(found, key=lambda v: (v.run, v.sim_time, v.seq or 0)):
        key = (v.kind, v.serials[0] if v.serials else "", round(v.sim_time, 3), v.run)
        if key in index and out[index[key]].source != v.source:
            first = out[index[key]]
            sources = "+".join(sorted({*first.source.split("+"), v.source}))
            out[index[key]] = Violation(
                first.kind, first.serials, first.sim_time, first.detail, sources, first.seq, first.run
            )
            continue
        index.setdefault(key, len(out))
        out.append(v)
    return out


@dataclass
class _Run:
    run: int
    events: list[Event]
    found: list[Violation] = field(default_factory=list)
    peer: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for e in self.events:
            if e.get("event") == "sim_start":
                for a, b in e.get("ha_pairs") or []:
                    self.peer[str(a)], self.peer[str(b)] = str(b), str(a)
            elif e.get("event") == "reboot_start" and e.get("peer"):
                self.peer.setdefault(str(e["serial"]), str(e["peer"]))  # a log without sim_start pairs

    def add(self, kind: str, e: Event, detail: str, *serials: str, source: str = "log") -> None:
        self.found.append(
            Violation(
                kind,
                tuple(serials) or (str(e.get("serial", "")),),
                float(e.get("sim_time", 0.0)),
                detail,
                source,
                e.get("seq"),
                self.run,
            )
        )

    # a-f ---------------------------------------------------------------------------------------------------

    def context_free(self) -> None:
        ha_state: dict[str, str] = {}
        rebooting: set[str] = set()
        installing: dict[str, Event] = {}
        suspended: dict[str, Event] = {}  # open suspend requests not yet followed by a version change
        installed: dict[str, dict[str, Event]] = defaultdict(dict)  # per device: images installed this hop
        for e in self.events:
            kind, serial = e.get("event"), str(e.get("serial", ""))
            if kind == "sim_start":
                for s, member in (e.get("ha") or {}).items():
                    ha_state[str(s)] = str(member.get("state"))
            elif kind == "violation":
                details = {
                    k: v
                    for k, v in e.items()
                    if k not in ("seq", "sim_time", "wall_time", "serial", "event", "kind")
                }
                peer = details.get("peer")
                self.add(
                    str(e.get("kind")), e, f"simulator: {details}", serial, *([str(peer)] if peer else []),
                    source="simulator",
                )  # fmt: skip
            elif kind == "ha_state":
                ha_state[serial] = str(e.get("to"))
            elif kind == "reboot_start":
                self._reboot_start(e, serial, ha_state, rebooting)
                rebooting.add(serial)
                installing.pop(serial, None)  # an install still running is aborted by the restart
            elif kind == "reboot_end":
                rebooting.discard(serial)
                result = e.get("result")
                if result in _VERSION_CHANGED:
                    suspended.pop(serial, None)
                    installed[serial] = {k: v for k, v in installed[serial].items() if k == e.get("version")}
                elif result == "old-version":
                    installed[serial].clear()  # the image did not take: installing it again is a retry
            elif kind == "install_start":
                peer = self.peer.get(serial)
                if peer is not None and peer in installing:
                    self.add(
                        "both-installing", e,
                        f"{serial} started installing {e.get('version')} while {peer} was installing "
                        f"{installing[peer].get('version')} (since sim {installing[peer].get('sim_time')} s)",
                        serial, peer,
                    )  # fmt: skip
                installing[serial] = e
            elif kind == "install_end":
                installing.pop(serial, None)
                if e.get("result") == "OK":
                    version = str(e.get("version"))
                    before = installed[serial].get(version)
                    if before is not None:
                        self.add(
                            "installed-twice", e,
                            f"{version} installed again (first install ended at sim {before.get('sim_time')} s, "
                            "no reboot onto another version in between)",
                        )  # fmt: skip
                    else:
                        installed[serial][version] = e
            elif kind == "install_refused":
                self.add("install-refused", e, f"{e.get('version')}: {e.get('reason')}")
            elif kind == "ha_suspend_request":
                suspended.setdefault(serial, e)
            elif kind == "ha_functional_request":
                request = suspended.pop(serial, None)
                if request is not None:
                    self.add(
                        "needless-suspend", request,
                        f"suspended at sim {request.get('sim_time')} s and made functional again at sim "
                        f"{e.get('sim_time')} s without a reboot onto another version",
                    )  # fmt: skip
        for serial, request in suspended.items():
            self.add(
                "needless-suspend", request,
                f"suspended at sim {request.get('sim_time')} s; no reboot onto another version before the "
                "log ends (the member is left suspended)",
                serial,
            )  # fmt: skip

    def _reboot_start(self, e: Event, serial: str, ha_state: dict[str, str], rebooting: set[str]) -> None:
        peer = self.peer.get(serial)
        if peer is None:
            return
        peer_down = peer in rebooting or ha_state.get(peer) in _NOT_RUNNING
        mine, theirs = ha_state.get(serial), ha_state.get(peer)
        if peer_down:
            why = "restarting" if peer in rebooting else f"HA {theirs}"
            self.add(
                "both-down",
                e,
                f"{serial} ({mine}) restarted while its peer {peer} was down ({why})",
                serial,
                peer,
            )
        elif mine == "active":
            self.add(
                "active-rebooted", e,
                f"{serial} restarted while active; its peer {peer} was {theirs} (fail over first)",
                serial, peer,
            )  # fmt: skip

    # g-i ---------------------------------------------------------------------------------------------------

    def context(
        self,
        *,
        managed: Collection[str] | None,
        dry_run: bool,
        change_allowed: Callable[[str, float], bool] | None,
    ) -> None:
        managed_set = None if managed is None else {str(s) for s in managed}
        for e in self.events:
            if e.get("event") not in CHANGING_EVENTS:
                continue
            serial = str(e.get("serial", ""))
            what = f"{e['event']}" + (f" {e['version']}" if e.get("version") else "")
            if dry_run:
                self.add("dry-run-change", e, f"{what} during a dry run")
            if managed_set is not None and serial not in managed_set:
                self.add("unmanaged-change", e, f"{what} on a device outside the managed set")
            if change_allowed is not None and not change_allowed(serial, float(e.get("wall_time", 0.0))):
                self.add("outside-window", e, f"{what} at wall time {e.get('wall_time')} (window closed)")

    # j -------------------------------------------------------------------------------------------------------

    def in_flight(
        self, max_in_flight: int | None, groups: Mapping[str, tuple[Collection[str], int | None]]
    ) -> None:
        busy: dict[str, set[tuple[str, Any]]] = defaultdict(set)
        unit = {s: "+".join(sorted((s, p))) for s, p in self.peer.items()}
        limits: dict[str, tuple[set[str] | None, int, str]] = {}
        if max_in_flight is not None:
            limits["workers.max"] = (None, max_in_flight, "over-max-in-flight")
        for name, (serials, limit) in groups.items():
            if limit is not None:
                limits[f"group {name} maxParallel"] = ({str(s) for s in serials}, limit, "over-max-parallel")
        first: dict[str, tuple[Event, list[str], list[str]]] = {}  # first breach: event, units, devices
        peak: Counter[str] = Counter()
        events = self.events
        i = 0
        while i < len(events):
            t = events[i].get("sim_time", 0.0)
            batch = []
            while i < len(events) and events[i].get("sim_time", 0.0) == t:
                batch.append(events[i])
                i += 1
            for e in batch:  # everything at one instant first: start/end order within it is not meaningful
                self._busy_change(e, busy)
            now_busy = {s for s, acts in busy.items() if acts}
            for name, (members, limit, _) in limits.items():
                devices = sorted(now_busy if members is None else now_busy & members)
                # workers.max counts devices; maxParallel counts units (an HA pair is one unit)
                units = devices if members is None else sorted({unit.get(s, s) for s in devices})
                if len(units) > limit:
                    peak[name] = max(peak[name], len(units))
                    first.setdefault(name, (batch[-1], units, devices))
        for name, (e, units, devices) in first.items():
            _, limit, kind = limits[name]
            what = "devices" if kind == "over-max-in-flight" else "units"
            self.add(
                kind, e,
                f"{name} {limit}: {len(units)} {what} busy at once ({', '.join(units)}); peak {peak[name]}",
                *devices,
            )  # fmt: skip

    @staticmethod
    def _busy_change(e: Event, busy: dict[str, set[tuple[str, Any]]]) -> None:
        kind, serial = e.get("event"), str(e.get("serial", ""))
        if kind in _JOBS:
            busy[serial].add((_JOBS[kind][0], e.get("job")))
        elif kind in _JOB_ENDS:
            busy[serial].discard((_JOB_ENDS[kind], e.get("job")))
        elif kind == "reboot_start":
            busy[serial] = {("reboot", None)}  # running jobs end with the restart
        elif kind == "reboot_end":
            busy[serial].discard(("reboot", None))
