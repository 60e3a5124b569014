"""The desired state: what operators declare (DESIGN.md section 4), as frozen records. Pure: no I/O.

``build(documents)`` turns already-parsed, schema-valid documents (``schemas/desired-state.schema.json``)
into a ``DesiredState``, applying ``defaults``, resolving named windows and global deny windows into each
group, and running the checks a schema cannot express. It raises ``DesiredStateInvalid`` listing every
``Problem`` with the document index and the path inside it, so the loader (``reconciler.workdir.desired_load``) can
report ``file:line: path: message``.

``DesiredState.to_json()`` is the normalised form: one document with every group fully explicit (defaults
applied, windows inline). It is itself a valid input of ``build``, and its canonical JSON is what the
``digest`` hashes, so reformatting, comments, moving groups between files or naming a window does not
change the digest, while any change of meaning does.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from reconciler.core.inventory import Inventory
from reconciler.core.selectors import Selection, Selector, assign
from reconciler.core.upgrade_path import PathSpec, UpgradePathTable, table_to_json
from reconciler.core.version import PanOsVersion
from reconciler.core.windows import (
    DAY_NAMES,
    DateWindow,
    Schedule,
    WeeklyWindow,
    Window,
    format_clock,
    format_duration,
    parse_clock,
    parse_days,
    parse_duration,
    parse_local_datetime,
)

API_VERSION = "panos-upgrade/v1"
# Bounds of every number (docs/desired-state.md, "Bounds"; the schema says the same): beyond them a value is a
# typo, and an unbounded one would overflow the arithmetic of the planner far from where it was written.
MAX_COUNT = 100_000  # canary and failure-budget counts
MAX_PERCENT = 100.0  # validation margins
MAX_DISK_GB = 1000.0  # minDiskGb
STAGES = ("installed", "downloaded")
# panos-upgrade-assurance's readiness check names (its ``CheckType``); kept here as data so the pure core
# does not import the device library.
READINESS_CHECKS = (
    "active_support",
    "arp_entry_exist",
    "candidate_config",
    "certificates_requirements",
    "config_locks",
    "content_version",
    "dp_cpu_utilization",
    "dynamic_updates",
    "environmentals",
    "expired_licenses",
    "free_disk_space",
    "global_jumbo_frame",
    "ha",
    "ip_sec_tunnel_status",
    "jobs",
    "mp_cpu_utilization",
    "mp_mem_utilization",
    "ntp_sync",
    "panorama",
    "planes_clock_sync",
    "session_exist",
)
GLOBAL_KEYS = ("paused", "allowDowngrade", "defaults", "denyWindows", "panorama")
PANORAMA_GROUP = "panorama"
"""The name Panorama's own unit goes by in plans, status files and metrics (the top-level ``panorama:``
block); a group of that name is refused while the block is declared."""

_PERCENT = re.compile(r"^([0-9]{1,3})%$")

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One semantic error: ``doc`` indexes the documents given to ``build``; ``path`` leads to the value."""

    doc: int
    path: Path
    message: str


class DesiredStateInvalid(ValueError):
    """``build`` found problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the desired state: {problems[0].message}")
        self.problems = problems


@dataclass(frozen=True)
class Amount:
    """A count, or a percentage of a total (``"10%"``) rounded up to at least 1."""

    value: int
    percent: bool = False

    @classmethod
    def parse(cls, raw: Any) -> Amount:
        if isinstance(raw, int) and not isinstance(raw, bool):
            if raw < 0:
                raise ValueError(f"must not be negative: {raw}")
            if raw > MAX_COUNT:
                raise ValueError(f"must be at most {MAX_COUNT:,}, got {str(raw)[:24]}")
            return cls(raw)
        m = _PERCENT.match(raw) if isinstance(raw, str) else None
        if not m or not 1 <= int(m[1]) <= 100:
            raise ValueError(f"expected a count or a percentage from 1% to 100%, got {raw!r}")
        return cls(int(m[1]), True)

    def of(self, total: int) -> int:
        if not self.percent:
            return self.value
        return max(1, math.ceil(self.value * total / 100)) if total > 0 else 0

    def to_json(self) -> int | str:
        return f"{self.value}%" if self.percent else self.value

    def __str__(self) -> str:
        return str(self.to_json())


@dataclass(frozen=True)
class Waves:
    """A canary wave of ``canary`` units (an HA pair is one unit), then the rest, ``soak`` apart."""

    canary: Amount
    soak: timedelta = timedelta(0)

    def to_json(self) -> dict[str, Any]:
        return {"canary": self.canary.to_json(), "soak": format_duration(self.soak)}


@dataclass(frozen=True)
class Validation:
    """Post-flight comparison margins (percent) and minimum free disk; None = the config's default.
    ``report_only``: a breach is recorded but does not fail the device."""

    tcp_session_margin: float | None = None
    route_margin: float | None = None
    arp_margin: float | None = None
    min_disk_gb: float | None = None
    report_only: bool = False

    _KEYS = (
        ("tcpSessionMargin", "tcp_session_margin"),
        ("routeMargin", "route_margin"),
        ("arpMargin", "arp_margin"),
        ("minDiskGb", "min_disk_gb"),
    )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, a) for k, a in self._KEYS if getattr(self, a) is not None}
        out["reportOnly"] = self.report_only
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Validation:
        values = {a: float(data[k]) for k, a in cls._KEYS if data.get(k) is not None}
        return cls(**values, report_only=bool(data.get("reportOnly", False)))


@dataclass(frozen=True)
class ImageCleanup:
    """Deleting images a device no longer needs when the downloads ahead do not fit (see
    ``reconciler.machine.disk``); ``keep_previous`` keeps one older release for a rollback."""

    enabled: bool = True
    keep_previous: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "keepPrevious": self.keep_previous}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageCleanup:
        return cls(bool(data.get("enabled", True)), bool(data.get("keepPrevious", True)))


@dataclass(frozen=True)
class Group:
    """One group of devices and how to bring them to ``target``.

    ``max_parallel`` None: only the global ``workers.max`` limits it. ``failure_budget``: new starts in the
    group stop once this many of its devices failed toward the current target and revision.
    ``readiness_checks`` None: the engine's default set.
    """

    name: str
    selection: Selection
    target: PanOsVersion
    stage: str = "installed"
    path: PathSpec = "auto"
    max_parallel: int | None = None
    failure_budget: Amount = field(default_factory=lambda: Amount(1))
    schedule: Schedule = field(default_factory=Schedule)
    waves: Waves | None = None
    validation: Validation = field(default_factory=Validation)
    readiness_checks: tuple[str, ...] | None = None
    image_cleanup: ImageCleanup = field(default_factory=ImageCleanup)
    paused: bool = False
    allow_downgrade: bool = False
    description: str = ""
    connection: str | None = None  # direct|panorama|auto; None: the firewall.connection setting

    @property
    def download_only(self) -> bool:
        return self.stage == "downloaded"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["select"] = [s.to_json() for s in self.selection.include]
        if self.selection.exclude:
            out["exclude"] = [s.to_json() for s in self.selection.exclude]
        out["target"] = str(self.target)
        out["stage"] = self.stage
        out["path"] = self.path if isinstance(self.path, str) else [str(v) for v in self.path]
        if self.max_parallel is not None:
            out["maxParallel"] = self.max_parallel
        out["failureBudget"] = self.failure_budget.to_json()
        out["maintenanceWindows"] = [window_to_json(w) for w in self.schedule.maintenance]
        out["denyWindows"] = [window_to_json(w) for w in self.schedule.deny]
        if self.waves is not None:
            out["waves"] = self.waves.to_json()
        out["validation"] = self.validation.to_json()
        if self.readiness_checks is not None:
            out["readinessChecks"] = list(self.readiness_checks)
        if self.image_cleanup != ImageCleanup():
            # Only when set: the default leaves the digest of existing desired states unchanged.
            out["imageCleanup"] = self.image_cleanup.to_json()
        out["paused"] = self.paused
        out["allowDowngrade"] = self.allow_downgrade
        if self.connection is not None:
            # Only when set: existing desired states keep their digest. Not part of group_digest: how a
            # firewall is reached does not change the work done on it.
            out["connection"] = self.connection
        return out


@dataclass(frozen=True)
class DesiredState:
    """The whole desired state. ``digest`` (``sha256:...``) covers the normalised content and the
    ``upgrade_paths`` table; ``revision`` is whatever the caller knows (a git commit), never computed here.
    ``identity`` is what the engine records as the desired revision a device worked toward."""

    groups: tuple[Group, ...]
    paused: bool = False
    upgrade_paths: UpgradePathTable = field(default_factory=dict, hash=False)
    revision: str | None = field(default=None, compare=False)
    sources: tuple[str, ...] = field(default=(), compare=False)
    panorama: Group | None = None
    """Panorama's own target (the ``panorama:`` block) as a group named ``PANORAMA_GROUP`` selecting no
    firewall: the planner applies it to the discovered Panorama and its HA peer."""
    digest: str = field(init=False, compare=False)
    _group_digests: dict[str, tuple[Group, str]] = field(
        init=False, compare=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        body: dict[str, Any] = {"desired": self.to_json()}
        if self.upgrade_paths:
            body["upgrade_paths"] = table_to_json(self.upgrade_paths)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        object.__setattr__(self, "digest", "sha256:" + hashlib.sha256(canonical.encode()).hexdigest())

    @property
    def identity(self) -> str:
        return self.revision or self.digest

    def group_digest(self, group: Group) -> str:
        """The digest of what ``group`` means for its devices (``sha256:...``): the one definition of "the
        revision a device record belongs to". It covers what changes the work done on a device: the target,
        stage, path (with the ``upgrade_paths`` table unless the path is an explicit list), allowDowngrade,
        validation margins, readiness checks and image cleanup. It leaves out what only paces or selects
        (selectors, windows, waves, maxParallel, failureBudget, paused, description), the group's name, the
        file's layout and comments, and the git revision: a failure counts until this digest changes (or an
        operator retries the device)."""
        cached = self._group_digests.get(group.name)
        if cached is not None and cached[0] is group:
            return cached[1]
        body: dict[str, Any] = {
            k: v
            for k, v in group.to_json().items()
            if k in ("target", "stage", "path", "allowDowngrade", "validation", "readinessChecks")
        }
        body["imageCleanup"] = group.image_cleanup.to_json()
        if not isinstance(group.path, tuple) and self.upgrade_paths:
            body["upgradePaths"] = table_to_json(self.upgrade_paths)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
        self._group_digests[group.name] = (group, digest)
        return digest

    def group(self, name: str) -> Group | None:
        """The group called ``name``; ``PANORAMA_GROUP`` is Panorama's own when the block is declared."""
        if name == PANORAMA_GROUP and self.panorama is not None:
            return self.panorama
        return next((g for g in self.groups if g.name == name), None)

    def __iter__(self) -> Iterator[Group]:
        return iter(self.groups)

    @property
    def planned_groups(self) -> tuple[Group, ...]:
        """Every group the planner plans: Panorama's (when declared) first, then ``groups``."""
        return (self.panorama, *self.groups) if self.panorama is not None else self.groups

    def with_revision(self, revision: str | None) -> DesiredState:
        # The digest does not cover the revision: a copy keeps it instead of hashing every group again.
        if revision == self.revision:
            return self
        new = copy.copy(self)
        object.__setattr__(new, "revision", revision)
        return new

    def with_upgrade_paths(self, table: UpgradePathTable) -> DesiredState:
        return replace(self, upgrade_paths=dict(table))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "paused": self.paused,
            "groups": [g.to_json() for g in self.groups],
        }
        if self.panorama is not None:  # only when declared: existing desired states keep their digest
            out["panorama"] = panorama_to_json(self.panorama)
        return out


def group_connections(desired: DesiredState, inventory: Inventory) -> dict[str, str]:
    """serial -> its group's ``connection`` (a group's or ``defaults``), for the devices of ``inventory``
    matched by exactly one group that has one; the others follow the ``firewall.connection`` setting."""
    by_group = {g.name: g.connection for g in desired.groups if g.connection}
    if not by_group:
        return {}
    found = assign([(g.name, g.selection) for g in desired.groups], inventory)
    return {s: by_group[g] for s, g in found.group_of.items() if g in by_group}


def panorama_to_json(group: Group) -> dict[str, Any]:
    """The ``panorama:`` block of Panorama's group, every field explicit (a valid input of ``build``)."""
    return {
        "target": str(group.target),
        "path": group.path if isinstance(group.path, str) else [str(v) for v in group.path],
        "maintenanceWindows": [window_to_json(w) for w in group.schedule.maintenance],
        "denyWindows": [window_to_json(w) for w in group.schedule.deny],
        "paused": group.paused,
    }


def window_to_json(window: Window) -> dict[str, Any]:
    out: dict[str, Any] = {"name": window.name} if window.name else {}
    if isinstance(window, WeeklyWindow):
        out["days"] = [DAY_NAMES[d] for d in sorted(window.days)]
        out.update(start=format_clock(window.start), end=format_clock(window.end), timezone=window.timezone)
    else:
        out.update({"from": window.starts.isoformat(), "until": window.ends.isoformat()})
    return out


# --- build -----------------------------------------------------------------------------------------------


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, doc: int, path: Path, message: str) -> None:
        self.problems.append(Problem(doc, path, message))


def build(
    documents: Sequence[Mapping[str, Any]],
    *,
    names: Sequence[str] | None = None,
    upgrade_paths: UpgradePathTable | None = None,
    revision: str | None = None,
) -> DesiredState:
    """Build the desired state from schema-valid documents (one per YAML document, in file order).

    ``names`` label the documents in messages (file names). Raises ``DesiredStateInvalid`` with every
    problem found; never returns a partly valid state.
    """
    label = list(names) if names is not None else [f"document {i + 1}" for i in range(len(documents))]
    out = _Collector()
    if not documents:
        out.add(0, (), "no desired-state documents")
        raise DesiredStateInvalid(out.problems)
    globals_at: dict[str, int] = {}
    for i, doc in enumerate(documents):
        for key in GLOBAL_KEYS:
            if key in doc:
                if key in globals_at:
                    out.add(i, (key,), f"already set in {label[globals_at[key]]}; set it in one file only")
                else:
                    globals_at[key] = i
    named: dict[str, tuple[int, Any]] = {}
    for i, doc in enumerate(documents):
        for wname, spec in (doc.get("windows") or {}).items():
            if wname in named:
                out.add(
                    i, ("windows", wname), f"window {wname!r} is already defined in {label[named[wname][0]]}"
                )
            else:
                named[wname] = (i, spec)
    windows: dict[str, Window] = {}
    for wname, (i, spec) in named.items():
        w = _window(spec, wname, i, ("windows", wname), out)
        if w is not None:
            windows[wname] = w

    def glob(key: str, default: Any) -> Any:
        return documents[globals_at[key]][key] if key in globals_at else default

    defaults = glob("defaults", {})
    d_doc = globals_at.get("defaults", 0)
    global_deny = _windows(
        glob("denyWindows", []), globals_at.get("denyWindows", 0), ("denyWindows",), windows, out
    )
    default_deny = _windows(defaults.get("denyWindows", []), d_doc, ("defaults", "denyWindows"), windows, out)
    default_maint = _windows(
        defaults.get("maintenanceWindows", []), d_doc, ("defaults", "maintenanceWindows"), windows, out
    )
    allow_downgrade = bool(glob("allowDowngrade", False))

    groups: list[Group] = []
    where: dict[str, tuple[int, Path]] = {}
    for i, doc in enumerate(documents):
        for j, raw in enumerate(doc.get("groups") or []):
            path: Path = ("groups", j)
            name = raw["name"]
            if name in where:
                out.add(i, (*path, "name"), f"group {name!r} is already defined in {label[where[name][0]]}")
                continue
            where[name] = (i, path)
            g = _group(
                raw,
                defaults,
                i,
                path,
                windows,
                (*global_deny, *default_deny),
                default_maint,
                allow_downgrade,
                out,
            )
            if g is not None:
                groups.append(g)
    panorama = None
    if "panorama" in globals_at:
        p_doc = globals_at["panorama"]
        panorama = _panorama(
            glob("panorama", {}), p_doc, windows, (*global_deny, *default_deny), default_maint, out
        )
        if PANORAMA_GROUP in where:
            i, path = where[PANORAMA_GROUP]
            out.add(
                i,
                (*path, "name"),
                f"the group name {PANORAMA_GROUP!r} is Panorama's own while a 'panorama' block is declared "
                f"(in {label[p_doc]}); rename the group",
            )
    if not where and "panorama" not in globals_at and not out.problems:
        out.add(0, (), "the desired state defines no groups")
    _overlaps(groups, where, out)
    if out.problems:
        raise DesiredStateInvalid(out.problems)
    state = DesiredState(
        tuple(groups),
        bool(glob("paused", False)),
        dict(upgrade_paths or {}),
        revision,
        tuple(label),
        panorama=panorama,
    )
    return state


def _panorama(
    raw: Mapping[str, Any],
    doc: int,
    windows: Mapping[str, Window],
    deny_inherited: tuple[Window, ...],
    maint_default: tuple[Window, ...],
    out: _Collector,
) -> Group | None:
    """The ``panorama:`` block as Panorama's group. It inherits only windows from ``defaults`` (never a
    firewall group's target, path or pacing): one unit, no waves, no readiness checks of a firewall."""
    before = len(out.problems)
    path: Path = ("panorama",)
    target = _version(raw.get("target"), doc, (*path, "target"), out)
    spec: PathSpec = "auto"
    raw_path = raw.get("path", "auto")
    if isinstance(raw_path, list):
        hops = [_version(v, doc, (*path, "path", k), out) for k, v in enumerate(raw_path)]
        if all(h is not None for h in hops):
            spec = tuple(h for h in hops if h is not None)
            _check_hops(spec, target, doc, (*path, "path"), out)
    else:
        spec = raw_path
    if "maintenanceWindows" in raw:
        maint = _windows(raw["maintenanceWindows"], doc, (*path, "maintenanceWindows"), windows, out)
    else:
        maint = maint_default
    deny = _windows(raw.get("denyWindows", []), doc, (*path, "denyWindows"), windows, out)
    if len(out.problems) > before or target is None:
        return None
    return Group(
        name=PANORAMA_GROUP,
        selection=Selection(()),
        target=target,
        path=spec,
        max_parallel=1,
        schedule=Schedule(maint, tuple(dict.fromkeys((*deny_inherited, *deny)))),
        readiness_checks=(),
        paused=bool(raw.get("paused", False)),
        description="Panorama",
    )


def _group(
    raw: Mapping[str, Any],
    defaults: Mapping[str, Any],
    doc: int,
    path: Path,
    windows: Mapping[str, Window],
    deny_inherited: tuple[Window, ...],
    maint_default: tuple[Window, ...],
    allow_downgrade: bool,
    out: _Collector,
) -> Group | None:
    before = len(out.problems)

    def get(key: str, default: Any = None) -> Any:
        return raw[key] if key in raw else defaults.get(key, default)

    def at(key: str) -> tuple[int, Path]:
        return (doc, (*path, key)) if key in raw else (doc, ("defaults", key))

    target: PanOsVersion | None = None
    if get("target") is None:
        out.add(doc, path, f"group {raw['name']!r} has no target (set 'target' here or in 'defaults')")
    else:
        target = _version(get("target"), *at("target"), out)
    spec: PathSpec = "auto"
    raw_path = get("path", "auto")
    if isinstance(raw_path, list):
        hops = [_version(v, at("path")[0], (*at("path")[1], k), out) for k, v in enumerate(raw_path)]
        if all(h is not None for h in hops):
            spec = tuple(h for h in hops if h is not None)
            _check_hops(spec, target, *at("path"), out)
    else:
        spec = raw_path
    include = [Selector.from_json(c) for c in _clauses(raw["select"])]
    exclude = [Selector.from_json(c) for c in _clauses(raw.get("exclude", []))]
    for k, clause in enumerate(include):
        if clause.empty:
            out.add(doc, (*path, "select", k) if isinstance(raw["select"], list) else (*path, "select"),
                    "selects nothing: give at least one of deviceGroups, serials, hostnames, models, haPairs, ha, all")  # fmt: skip
    if "maintenanceWindows" in raw:
        maint = _windows(raw["maintenanceWindows"], doc, (*path, "maintenanceWindows"), windows, out)
    else:
        maint = maint_default
    deny = _windows(raw.get("denyWindows", []), doc, (*path, "denyWindows"), windows, out)
    budget = _amount(get("failureBudget", 1), *at("failureBudget"), out, minimum=1)
    waves = None
    if get("waves") is not None:
        raw_waves = get("waves")
        canary = _amount(raw_waves["canary"], at("waves")[0], (*at("waves")[1], "canary"), out, minimum=1)
        soak = _duration(raw_waves.get("soak", 0), at("waves")[0], (*at("waves")[1], "soak"), out)
        if canary is not None and soak is not None:
            waves = Waves(canary, soak)
    checks = get("readinessChecks")
    validation = _validation({**defaults.get("validation", {}), **raw.get("validation", {})}, doc, path, out)
    if len(out.problems) > before or target is None or budget is None or validation is None:
        return None
    return Group(
        name=raw["name"],
        selection=Selection(tuple(include), tuple(exclude)),
        target=target,
        stage=get("stage", "installed"),
        path=spec,
        max_parallel=get("maxParallel"),
        failure_budget=budget,
        schedule=Schedule(maint, tuple(dict.fromkeys((*deny_inherited, *deny)))),
        waves=waves,
        validation=validation,
        readiness_checks=tuple(checks) if checks is not None else None,
        image_cleanup=ImageCleanup.from_json(
            {**defaults.get("imageCleanup", {}), **raw.get("imageCleanup", {})}
        ),
        paused=bool(raw.get("paused", False)),
        allow_downgrade=bool(get("allowDowngrade", allow_downgrade)),
        description=raw.get("description", ""),
        connection=get("connection"),
    )


def _clauses(raw: Any) -> list[Mapping[str, Any]]:
    return list(raw) if isinstance(raw, list) else [raw]


def _version(raw: Any, doc: int, path: Path, out: _Collector) -> PanOsVersion | None:
    try:
        return PanOsVersion.parse(raw)
    except ValueError as exc:
        out.add(doc, path, str(exc))
        return None


def _check_hops(
    hops: tuple[PanOsVersion, ...], target: PanOsVersion | None, doc: int, path: Path, out: _Collector
) -> None:
    for k in range(1, len(hops)):
        if hops[k] <= hops[k - 1]:
            out.add(doc, (*path, k), f"path hops must increase: {hops[k]} comes after {hops[k - 1]}")
    if target is not None and hops and hops[-1] > target:
        out.add(doc, (*path, len(hops) - 1), f"path hop {hops[-1]} is beyond the target {target}")


def _amount(raw: Any, doc: int, path: Path, out: _Collector, *, minimum: int) -> Amount | None:
    try:
        amount = Amount.parse(raw)
    except ValueError as exc:
        out.add(doc, path, str(exc))
        return None
    if not amount.percent and amount.value < minimum:
        out.add(doc, path, f"must be at least {minimum}")
        return None
    return amount


def _validation(raw: Mapping[str, Any], doc: int, path: Path, out: _Collector) -> Validation | None:
    """The margins and minimum disk, each a finite number within its bounds (NaN passes a schema's range)."""
    ok = True
    for key, _ in Validation._KEYS:
        value = raw.get(key)
        if value is None:
            continue
        top = MAX_DISK_GB if key == "minDiskGb" else MAX_PERCENT
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top:
            out.add(doc, (*path, "validation", key), f"must be a number from 0 to {top:g}")
            ok = False
    return Validation.from_json(raw) if ok else None


def _duration(raw: Any, doc: int, path: Path, out: _Collector) -> timedelta | None:
    try:
        return parse_duration(raw)
    except ValueError as exc:
        out.add(doc, path, str(exc))
        return None


def _windows(
    refs: Sequence[Any], doc: int, path: Path, named: Mapping[str, Window], out: _Collector
) -> tuple[Window, ...]:
    result: list[Window] = []
    for k, ref in enumerate(refs):
        if isinstance(ref, str):
            if ref in named:
                result.append(named[ref])
            else:
                known = ", ".join(sorted(named)) or "none defined"
                out.add(doc, (*path, k), f"unknown window {ref!r} (windows: {known})")
            continue
        w = _window(ref, ref.get("name", ""), doc, (*path, k), out)
        if w is not None:
            result.append(w)
    return tuple(result)


def _window(spec: Mapping[str, Any], name: str, doc: int, path: Path, out: _Collector) -> Window | None:
    tz = spec.get("timezone", "UTC")
    try:
        if "from" in spec:
            starts = parse_local_datetime(spec["from"], tz)
            ends = parse_local_datetime(spec["until"], tz)
            if ends <= starts:
                out.add(
                    doc, (*path, "until"), f"window ends ({spec['until']}) before it starts ({spec['from']})"
                )
                return None
            return DateWindow(starts, ends, name)
        days = parse_days(spec.get("days", ["daily"]))
        start, end = parse_clock(spec["start"]), parse_clock(spec["end"])
        if start == end:
            out.add(doc, (*path, "end"), "start and end are equal; write 00:00 to 24:00 for a whole day")
            return None
        if start == 24 * 60:
            out.add(doc, (*path, "start"), "a window cannot start at 24:00; write 00:00")
            return None
        return WeeklyWindow(days, start, end, tz, name)
    except ValueError as exc:
        key = "timezone" if "time zone" in str(exc) else ("days" if "day of the week" in str(exc) else "")
        out.add(doc, (*path, key) if key else path, str(exc))
        return None


def _covers(a: Selector, b: Selector) -> bool:
    """True when every device ``b`` can match is certainly matched by ``a`` as well."""
    if b.empty:
        return False
    if a == Selector(all=True):
        return True
    if a.device_groups and a == Selector(device_groups=a.device_groups):
        return bool(b.device_groups) and b.device_groups <= a.device_groups
    if a.serials and a == Selector(serials=a.serials):
        return bool(b.serials) and b.serials <= a.serials
    return False


def _overlaps(groups: Sequence[Group], where: Mapping[str, tuple[int, Path]], out: _Collector) -> None:
    """Report overlaps that hold whatever the inventory: a device can belong to one group only.

    For each pair of groups (earlier ``a``, later ``b``, reported on ``b``): serials both name outright, else
    a clause of one that covers a clause of the other (``_covers``). Pairs are found through indexes of the
    serials, device groups and ``all`` clauses, so the work grows with the groups and the overlaps found,
    not with every pair of groups (3,000 groups used to take a minute)."""
    explicit = [g.selection.explicit_serials() for g in groups]
    named_by: dict[str, list[int]] = {}
    for y, serials in enumerate(explicit):
        for serial in serials:
            named_by.setdefault(serial, []).append(y)
    shared: dict[tuple[int, int], set[str]] = {}
    for serial, owners in named_by.items():
        for i, x in enumerate(owners):
            for y in owners[i + 1 :]:
                shared.setdefault((x, y), set()).add(serial)
    covering = _covering_pairs(groups)
    pairs = sorted(set(shared) | {(min(p), max(p)) for p in covering})
    for x, y in pairs:
        a, b = groups[x], groups[y]
        doc, path = where[b.name]
        if (x, y) in shared:
            listed = ", ".join(sorted(shared[(x, y)])[:5])
            out.add(doc, (*path, "select"), f"selects serial(s) {listed} that group {a.name!r} selects too")
        elif (x, y) in covering:
            out.add(
                doc,
                (*path, "select"),
                f"overlaps group {a.name!r}: every device this clause selects is in {a.name!r}",
            )
        else:
            out.add(doc, (*path, "select"), f"selects every device of group {a.name!r}")


def _covering_pairs(groups: Sequence[Group]) -> set[tuple[int, int]]:
    """``(x, y)`` for each group ``x`` without exclusions having a clause that covers a clause of ``y``."""
    everything = Selector(all=True)
    alls: list[int] = []
    by_group: dict[str, set[int]] = {}
    by_serial: dict[str, set[int]] = {}
    for x, g in enumerate(groups):
        if g.selection.exclude:
            continue
        for c in g.selection.include:
            if c == everything:
                alls.append(x)
            elif c.device_groups and c == Selector(device_groups=c.device_groups):
                for name in c.device_groups:
                    by_group.setdefault(name, set()).add(x)
            elif c.serials and c == Selector(serials=c.serials):
                for serial in c.serials:
                    by_serial.setdefault(serial, set()).add(x)
    found: set[tuple[int, int]] = set()
    for y, g in enumerate(groups):
        for c2 in g.selection.include:
            if c2.empty:
                continue
            candidates = set(alls)
            # A covering clause holds all of c2's device groups (or serials): any one of them finds it.
            if c2.device_groups:
                candidates |= by_group.get(min(c2.device_groups), set())
            if c2.serials:
                candidates |= by_serial.get(min(c2.serials), set())
            for x in candidates:
                if (
                    x != y
                    and (x, y) not in found
                    and any(_covers(c1, c2) for c1 in groups[x].selection.include)
                ):
                    found.add((x, y))
    return found
