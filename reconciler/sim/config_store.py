"""Candidate and running configuration, config and commit locks, and commits, per device.

PAN-OS keeps a *candidate* configuration that ``type=config`` writes change and a *running* one that a
commit replaces; ``check pending-changes`` says whether they differ, ``action=get`` reads the candidate and
``action=show`` the running configuration. Sources:

- [XMLAPI] PAN-OS XML API guide, "Configuration API" (``type=config&action=set|edit|delete|get|show``,
  ``xpath``, ``element``) and "Commit Configuration (API)" (``type=commit&cmd=<commit></commit>``, a job);
  a successful write answers ``<response status="success" code="20"><msg>command succeeded</msg>``
  (code 20 "command succeeded" in the guide's error-code table; the same body in the fixtures of pango and
  other clients).
- [PANOSPY] pan-os-python ``panos/base.py``: ``add_config_lock``/``remove_config_lock``/``add_commit_lock``/
  ``remove_commit_lock`` send ``<request><config-lock><add><comment>..`` (and ``remove``), and recognise the
  refusals ``Config for scope shared is currently locked by ...``, ``You already own a config lock for
  scope ...``, ``Config is not currently locked for scope ...``, ``Commit lock is already held ...`` and
  ``Commit lock is not currently held ...``; ``check_config_locks``/``check_commit_locks`` look for any
  ``entry`` under ``show config-locks``/``show commit-locks``; ``pending_changes`` reads ``check
  pending-changes`` (``yes``/``no``); ``_commit`` reads ``result/job`` and treats an answer without one as
  "no commit needed"; ``revert_to_running_configuration`` sends ``<load><config><from>running-config.xml``.
- [PALOALTO-GEM] the ``palo_alto`` Ruby gem (``show_locks``): a lock ``entry``'s ``name`` attribute is the
  admin, with ``name`` (the location, ``shared``), ``type`` and ``comment`` (``(null)`` when none) children.

The configuration itself is generated from the device's state (``config_xml``) and the committed writes are
replayed over it, so a committed ``preemptive no`` really turns an HA member's preemption off. Wording that
no public source shows is marked *(inferred)* in docs/simulator.md.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.sim.jobs import Job

SCOPE = "shared"
NO_CHANGES = "There are no changes to commit."  # (inferred wording)
_STEP = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[@name='([^']*)'\])?$")


class ConfigError(Exception):
    """A config request PAN-OS refuses: ``<response status="error" code=...><msg>...``."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Write:
    action: str  # set | edit | delete
    xpath: str
    element: str
    admin: str


@dataclass
class Lock:
    admin: str
    comment: str
    created_wall: float


@dataclass
class ConfigStore:
    """One device's configuration state. ``base`` renders the device's generated configuration."""

    base: Callable[[], str]
    committed: list[Write] = field(default_factory=list)
    pending: list[Write] = field(default_factory=list)
    config_locks: dict[str, Lock] = field(default_factory=dict)
    commit_locks: dict[str, Lock] = field(default_factory=dict)
    commit_job: Job | None = None

    # -- reading -------------------------------------------------------------------------------------------

    def running(self) -> ET.Element:
        root = ET.fromstring(self.base())
        for write in self.committed:
            apply(root, write)
        return root

    def candidate(self) -> ET.Element:
        root = self.running()
        for write in self.pending:
            apply(root, write)
        return root

    def has_pending_changes(self) -> bool:
        if not self.pending:
            return False
        return ET.tostring(self.candidate()) != ET.tostring(self.running())

    def pending_admins(self) -> list[str]:
        return sorted({w.admin for w in self.pending}) if self.has_pending_changes() else []

    # -- writing -------------------------------------------------------------------------------------------

    def write(self, action: str, xpath: str, element: str, admin: str) -> None:
        """Check and record one ``set``/``edit``/``delete`` on the candidate configuration."""
        self._check_config_lock(admin)
        steps = parse_xpath(xpath)
        if steps is None:
            raise ConfigError("Invalid xpath", "6")  # [XMLAPI] code 6: bad xpath
        if action in ("set", "edit"):
            if not element.strip():
                raise ConfigError("Missing parameter: element", "18")  # (inferred wording)
            try:
                fragment = ET.fromstring(f"<root>{element}</root>")
            except ET.ParseError:
                raise ConfigError("Malformed element", "18") from None  # (inferred wording)
            if action == "edit":
                tag, name = steps[-1] if steps else ("config", None)
                top = list(fragment)
                if len(top) != 1 or top[0].tag != tag or (name is not None and top[0].get("name") != name):
                    # The edited node's own element must be given (inferred wording; code 12 invalid object).
                    raise ConfigError(f"edit: element must be the <{tag}> the xpath names", "12")
        write = Write(action, xpath, element, admin)
        probe = self.candidate()
        if action == "delete" and not find(probe, steps):
            raise ConfigError("Object doesn't exist", "7")  # (inferred wording; code 7 object not present)
        apply(probe, write)
        self.pending.append(write)

    def revert(self) -> None:
        self.pending.clear()

    # -- locks [PANOSPY] [PALOALTO-GEM] ----------------------------------------------------------------------

    def _check_config_lock(self, admin: str) -> None:
        for owner in self.config_locks:
            if owner != admin:
                raise ConfigError(f"Config for scope {SCOPE} is currently locked by {owner}", "13")

    def add_config_lock(self, admin: str, comment: str, wall: float) -> None:
        if admin in self.config_locks:
            raise ConfigError(f"You already own a config lock for scope {SCOPE}", "13")
        self._check_config_lock(admin)
        self.config_locks[admin] = Lock(admin, comment or "(null)", wall)

    def remove_config_lock(self, admin: str) -> None:
        if not self.config_locks:
            raise ConfigError(f"Config is not currently locked for scope {SCOPE}", "13")
        if admin not in self.config_locks:
            owner = next(iter(self.config_locks))
            raise ConfigError(f"Config for scope {SCOPE} is currently locked by {owner}", "13")
        del self.config_locks[admin]

    def add_commit_lock(self, admin: str, comment: str, wall: float) -> None:
        if self.commit_locks:
            owner = next(iter(self.commit_locks))
            raise ConfigError(f"Commit lock is already held by {owner}", "13")
        self.commit_locks[admin] = Lock(admin, comment or "(null)", wall)

    def remove_commit_lock(self, admin: str, of: str | None = None) -> None:
        who = of or admin
        if who not in self.commit_locks:
            raise ConfigError(f"Commit lock is not currently held by {who}", "13")
        del self.commit_locks[who]

    # -- commit --------------------------------------------------------------------------------------------

    def commit_refusal(self, admin: str) -> ConfigError | None:
        """Why a commit by ``admin`` cannot start now (None: it can)."""
        for owner in self.commit_locks:
            if owner != admin:
                return ConfigError(f"Commit lock is currently held by {owner}", "13")  # (inferred wording)
        for owner in self.config_locks:
            if owner != admin:
                return ConfigError(f"Config for scope {SCOPE} is currently locked by {owner}", "13")
        if self.commit_job is not None and not self.commit_job.finished:
            # (inferred wording) PAN-OS runs one commit at a time.
            return ConfigError("Another commit is in progress. Please try again later.", "13")
        return None

    def take_pending(self) -> list[Write]:
        """The writes a commit starting now carries (later writes stay pending)."""
        return list(self.pending)

    def commit_done(self, taken: list[Write]) -> None:
        self.committed.extend(taken)
        taken_ids = {id(w) for w in taken}
        self.pending = [w for w in self.pending if id(w) not in taken_ids]


# -- XPath subset and the three write actions ---------------------------------------------------------------


def parse_xpath(xpath: str) -> list[tuple[str, str | None]] | None:
    """``/config/a/b[@name='x']`` -> ``[("a", None), ("b", "x")]``; None when not in the supported subset."""
    text = xpath.strip().replace('"', "'").rstrip("/")
    if not text.startswith("/config"):
        return None
    rest = text[len("/config") :]
    if not rest:
        return []
    if not rest.startswith("/"):
        return None
    steps: list[tuple[str, str | None]] = []
    for part in _split(rest[1:]):
        m = _STEP.match(part)
        if m is None:
            return None
        steps.append((m.group(1), m.group(2)))
    return steps


def _split(path: str) -> list[str]:
    """Split on ``/`` outside ``[...]`` (entry names may hold a slash, e.g. ``ethernet1/1``)."""
    parts, depth, cur = [], 0, ""
    for ch in path:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "/" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _children(parent: ET.Element, tag: str, name: str | None) -> list[ET.Element]:
    return [c for c in parent if c.tag == tag and (name is None or c.get("name") == name)]


def find(root: ET.Element, steps: list[tuple[str, str | None]]) -> list[ET.Element]:
    nodes = [root]
    for tag, name in steps:
        nodes = [c for n in nodes for c in _children(n, tag, name)]
    return nodes


def _make_path(root: ET.Element, steps: list[tuple[str, str | None]]) -> ET.Element:
    """The node at ``steps``, creating missing ones ([XMLAPI]: ``set`` creates the path it names)."""
    node = root
    for tag, name in steps:
        found = _children(node, tag, name)
        node = found[0] if found else ET.SubElement(node, tag, {"name": name} if name is not None else {})
    return node


def _merge(target: ET.Element, source: ET.Element) -> None:
    """``set`` semantics: merge ``source``'s children into ``target`` (entries by name, ``member`` values
    added once, other leaves replaced)."""
    for child in source:
        if child.tag == "member":
            if not any(m.tag == "member" and m.text == child.text for m in target):
                target.append(_copy(child))
            continue
        name = child.get("name")
        same = _children(target, child.tag, name)
        if name is None:
            same = [c for c in same if c.get("name") is None]
        if not same:
            target.append(_copy(child))
        elif len(child) == 0:
            same[0].text = child.text
        else:
            same[0].text = None
            _merge(same[0], child)


def _copy(el: ET.Element) -> ET.Element:
    return ET.fromstring(ET.tostring(el))


def apply(root: ET.Element, write: Write) -> None:
    steps = parse_xpath(write.xpath) or []
    if write.action == "set":
        _merge(_make_path(root, steps), ET.fromstring(f"<root>{write.element}</root>"))
    elif write.action == "edit":
        new = ET.fromstring(f"<root>{write.element}</root>")[0]
        if not steps:
            return
        parent = _make_path(root, steps[:-1])
        tag, name = steps[-1]
        old = _children(parent, tag, name)
        if old:
            index = list(parent).index(old[0])
            parent.remove(old[0])
            parent.insert(index, new)
        else:
            parent.append(new)
    elif write.action == "delete":
        if not steps:
            return
        for parent in find(root, steps[:-1]):
            for child in _children(parent, *steps[-1]):
                parent.remove(child)
