"""Which devices a group manages. Pure: matches desired-state selectors against an ``Inventory``.

A group's ``Selection`` is a list of clauses (``select:`` a mapping or a list of mappings) and a list of
exclusion clauses. A clause holds criteria; a device matches a clause when it meets *every* criterion given
(AND), and meets a criterion when *any* of its values matches (OR). A device belongs to the group when it
matches any select clause and no exclude clause.

Criteria: ``device_groups`` (Panorama device group, exact), ``serials`` (exact), ``hostnames`` and
``models`` (shell globs, case-insensitive), ``ha_pairs`` (the serial of either member selects both),
``ha`` (True: members of HA pairs only; False: standalone firewalls only) and ``all`` (every device).

``assign`` gives each device at most one group: a device matched by two groups is a conflict (the planner
blocks it), one matched by none is unmanaged (never touched).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from reconciler.core.inventory import Device, Inventory

CRITERIA = ("deviceGroups", "serials", "hostnames", "models", "haPairs", "ha", "all")
"""Selector keys as written in the desired state."""


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.lower()))


@dataclass(frozen=True)
class Selector:
    """One clause: every non-empty criterion must match. An empty clause matches nothing."""

    device_groups: frozenset[str] = frozenset()
    serials: frozenset[str] = frozenset()
    hostnames: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    ha_pairs: frozenset[str] = frozenset()
    ha: bool | None = None
    all: bool = False

    @property
    def empty(self) -> bool:
        criteria = (self.device_groups, self.serials, self.hostnames, self.models, self.ha_pairs, self.all)
        return not any(criteria) and self.ha is None

    def matches(self, device: Device) -> bool:
        if self.empty:
            return False
        if self.device_groups and device.device_group not in self.device_groups:
            return False
        if self.serials and device.serial not in self.serials:
            return False
        if self.ha_pairs and not (device.serial in self.ha_pairs or (device.peer_serial in self.ha_pairs)):
            return False
        if self.ha is not None and device.is_ha != self.ha:
            return False
        if self.hostnames and not any(_glob(p).match(device.hostname.lower()) for p in self.hostnames):
            return False
        return not self.models or any(_glob(p).match(device.model.lower()) for p in self.models)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.all:
            out["all"] = True
        if self.device_groups:
            out["deviceGroups"] = sorted(self.device_groups)
        if self.serials:
            out["serials"] = sorted(self.serials)
        if self.hostnames:
            out["hostnames"] = list(self.hostnames)
        if self.models:
            out["models"] = list(self.models)
        if self.ha_pairs:
            out["haPairs"] = sorted(self.ha_pairs)
        if self.ha is not None:
            out["ha"] = self.ha
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Selector:
        return cls(
            device_groups=frozenset(data.get("deviceGroups", ())),
            serials=frozenset(data.get("serials", ())),
            hostnames=tuple(data.get("hostnames", ())),
            models=tuple(data.get("models", ())),
            ha_pairs=frozenset(data.get("haPairs", ())),
            ha=data.get("ha"),
            all=bool(data.get("all", False)),
        )


@dataclass(frozen=True)
class Selection:
    """A group's select clauses (OR) minus its exclude clauses."""

    include: tuple[Selector, ...]
    exclude: tuple[Selector, ...] = ()

    def matches(self, device: Device) -> bool:
        return any(s.matches(device) for s in self.include) and not any(
            s.matches(device) for s in self.exclude
        )

    def explicit_serials(self) -> frozenset[str]:
        """Serials this selection names outright (a clause holding only ``serials``), minus exclusions
        that name serials; used to report certain overlaps without an inventory."""
        named: set[str] = set()
        for s in self.include:
            if s.serials and s == Selector(serials=s.serials):
                named |= s.serials
        for s in self.exclude:
            if s.serials and s == Selector(serials=s.serials):
                named -= s.serials
        return frozenset(named)


@dataclass(frozen=True)
class Assignment:
    """The result of ``assign``: ``group_of`` serial -> its one group; ``conflicts`` serial -> the groups
    (two or more, in desired-state order) that all matched it. Serials in neither are unmanaged."""

    group_of: Mapping[str, str] = field(default_factory=dict)
    conflicts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def members(self, group: str) -> list[str]:
        return sorted(s for s, g in self.group_of.items() if g == group)


def _candidates(clause: Selector, inventory: Inventory, by_group: Mapping[str, list[Device]]) -> list[Device]:
    """A superset of the devices ``clause`` can match, found through an index where one applies."""
    if clause.serials or clause.ha_pairs:
        serials = set(clause.serials) | set(clause.ha_pairs)
        if clause.ha_pairs:
            serials |= {p.peer_serial for s in clause.ha_pairs if (p := inventory.get(s)) is not None}
        return [d for s in sorted(serials) if (d := inventory.get(s)) is not None]
    if clause.device_groups:
        return [d for g in sorted(clause.device_groups) for d in by_group.get(g, ())]
    return list(inventory.devices.values())


def assign(selections: Sequence[tuple[str, Selection]], inventory: Inventory) -> Assignment:
    """Match every ``(group name, selection)`` against ``inventory``; O(devices) per group at worst, and
    proportional to the matched devices when a clause names serials or device groups."""
    by_group: dict[str, list[Device]] = {}
    for d in inventory.devices.values():
        by_group.setdefault(d.device_group, []).append(d)
    matched: dict[str, list[str]] = {}
    for name, selection in selections:
        seen: set[str] = set()
        for clause in selection.include:
            for d in _candidates(clause, inventory, by_group):
                if d.serial in seen or not clause.matches(d):
                    continue
                if any(x.matches(d) for x in selection.exclude):
                    continue
                seen.add(d.serial)
                matched.setdefault(d.serial, []).append(name)
    group_of = {s: gs[0] for s, gs in matched.items() if len(gs) == 1}
    conflicts = {s: tuple(gs) for s, gs in matched.items() if len(gs) > 1}
    return Assignment(group_of, conflicts)


def _nearest(value: str, names: Sequence[str]) -> list[str]:
    close = difflib.get_close_matches(value, names, n=3, cutoff=0.6)
    if not close:
        lowered = {n.lower(): n for n in names}
        close = [lowered[c] for c in difflib.get_close_matches(value.lower(), list(lowered), n=3, cutoff=0.6)]
    return close


def selector_warnings(selections: Sequence[tuple[str, Selection]], inventory: Inventory) -> list[str]:
    """What in the selections matches nothing in ``inventory``: each ``select`` value that names no device
    group, serial, hostname or model of the inventory (with the nearest existing names, so a typo such
    as ``deviceGroups: [brances]`` is caught), and each group that selects no device at all. Warnings,
    not errors: a device group may be empty on purpose, or not discovered yet."""
    device_groups = sorted({d.device_group for d in inventory if d.device_group})
    serials = sorted(d.serial for d in inventory)
    hostnames = sorted({d.hostname for d in inventory if d.hostname})
    models = sorted({d.model for d in inventory if d.model})
    assignment = assign(selections, inventory)
    selected = set(assignment.group_of.values()) | {g for gs in assignment.conflicts.values() for g in gs}
    out: list[str] = []
    for name, selection in selections:
        for i, clause in enumerate(selection.include):
            where = f"group {name!r}: select" + (f"[{i}]" if len(selection.include) > 1 else "")
            checks: list[tuple[str, str, Sequence[str], Sequence[str], bool]] = [
                ("deviceGroups", "device group", sorted(clause.device_groups), device_groups, False),
                ("serials", "serial", sorted(clause.serials), serials, False),
                ("haPairs", "serial", sorted(clause.ha_pairs), serials, False),
                ("hostnames", "hostname", clause.hostnames, hostnames, True),
                ("models", "model", clause.models, models, True),
            ]
            for key, noun, values, names, is_glob in checks:
                for value in values:
                    glob = _glob(value) if is_glob else None
                    if any(glob.match(n.lower()) for n in names) if glob else value in names:
                        continue
                    line = f"{where}.{key}: {value!r} matches no {noun} in the inventory"
                    near = _nearest(value, names)
                    if near:
                        line += "; did you mean " + " or ".join(repr(n) for n in near) + "?"
                    out.append(line)
        if name not in selected:
            out.append(f"group {name!r}: selects no device of the inventory ({len(inventory)} devices)")
    return out
