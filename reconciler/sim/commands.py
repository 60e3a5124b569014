"""Parsing of ``type=op`` commands into a lookup key and parameters.

PAN-OS takes the command as XML. Clients build it from CLI text in two slightly different ways
(pan-python: ``show jobs id "5"``; pan-os-python: the same plus attributes and empty-text quirks), and some
send raw XML such as ``<show><arp><entry name='all'/></arp></show>``. We normalise all of them:

- an element with text is a *parameter* (``<id>5</id>`` -> ``id=5``) and is left out of the key;
- an element with a ``name`` attribute is a parameter too (``<entry name='all'/>`` -> ``entry=all``);
- every other element is a keyword of the key, in document order.

So ``<request><system><software><download><sync-to-peer>yes</sync-to-peer><version>10.2.9</version>…``
has the key ``request system software download`` and the parameters ``sync-to-peer``, ``version``.
CLI text that is not XML is converted first, exactly as pan-python's ``cmd_xml`` does.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class CommandSyntaxError(ValueError):
    """The ``cmd`` parameter is not well-formed XML (PAN-OS: code 18, malformed command)."""


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    params: dict[str, str] = field(default_factory=dict)
    # Where each parameter sat: the tags of its ancestors, outermost first (``version`` inside
    # ``<request><system><software><download>`` -> ``("request", "system", "software", "download")``).
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return " ".join(self.words)

    def get(self, name: str, default: str = "") -> str:
        return self.params.get(name, default)


def cli_to_xml(text: str) -> str:
    """pan-python's conversion: words nest; a following ``"quoted"`` word becomes the element's text."""
    args = text.split()
    out: list[str] = []

    def walk(args: list[str]) -> None:
        if not args:
            return
        arg = args.pop(0)
        if args and re.match(r'^"(.*)"$', args[0]):
            out.append(f"<{arg}>{args.pop(0)[1:-1]}</{arg}>")
            walk(args)
            return
        out.append(f"<{arg}>")
        walk(args)
        out.append(f"</{arg}>")

    walk(args)
    return "".join(out)


def parse_command(cmd: str) -> Command:
    cmd = cmd.strip()
    if not cmd:
        raise CommandSyntaxError("empty command")
    xml = cmd if cmd.startswith("<") else cli_to_xml(cmd)
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise CommandSyntaxError(str(exc)) from None
    words: list[str] = []
    params: dict[str, str] = {}
    parents: dict[str, tuple[str, ...]] = {}

    def visit(el: ET.Element, path: tuple[str, ...]) -> None:
        text = (el.text or "").strip()
        name = el.get("name")
        if name is not None:
            params[el.tag] = name.strip()
            parents[el.tag] = path
        elif text:
            params[el.tag] = text
            parents[el.tag] = path
        else:
            words.append(el.tag)
        for child in el:
            visit(child, (*path, el.tag))

    visit(root, ())
    return _normalise(Command(tuple(words), params, parents))


def _normalise(cmd: Command) -> Command:
    """Fold the spellings of one command into one: ``show arp entry all`` == ``<entry name='all'/>``."""
    w = cmd.words
    if w[:4] == ("show", "system", "state", "filter") and len(w) == 5:
        return Command(w[:3], {**cmd.params, "filter": w[4]}, {**cmd.parents, "filter": w[:3]})
    if w == ("show", "arp", "entry", "all"):
        parents = {**cmd.parents, "entry": ("show", "arp")}
        return Command(("show", "arp"), {**cmd.params, "entry": "all"}, parents)
    return cmd


def path_text(words: tuple[str, ...]) -> str:
    """PAN-OS's way of naming a place in a command: `` request -> system -> software``."""
    return " " + " -> ".join(words)


@dataclass(frozen=True)
class Param:
    """One parameter a command takes: the keyword it must sit directly under (default: the command's
    last word) and, optionally, its allowed values or a check of the value (given the device)."""

    under: str | None = None
    values: tuple[str, ...] | None = None
    check: Callable[[Any, str], bool] | None = None


def param_problem(cmd: Command, spec: Mapping[str, Param], device: Any) -> list[str] | None:
    """Why PAN-OS would refuse ``cmd``'s parameters (code 17 message lines), or None.

    PAN-OS parses an op command against its CLI schema, so an element that is not a keyword of the
    command at that place is refused, and a value outside an enumeration is refused with two lines, as in
    the capture in pan-os-python issue #394 (github.com/PaloAltoNetworks/pan-os-python/issues/394):
    `` request -> content -> upgrade -> install -> version '8503-7125' is not an allowed keyword`` then
    `` request -> content -> upgrade -> install -> version is invalid``. Unknown or misplaced elements get
    `` <path> -> <tag>  is unexpected`` (the shape of the unknown-command answer)."""
    for name, value in cmd.params.items():
        parent = cmd.parents.get(name, cmd.words)
        where = parent if parent else cmd.words[:1]
        param = spec.get(name)
        expected = (param.under if param is not None else None) or (cmd.words[-1] if cmd.words else "")
        if param is None or not parent or parent[-1] != expected:
            return [f"{path_text((*where, name))}  is unexpected"]
        ok = (param.values is None or value in param.values) and (
            param.check is None or param.check(device, value)
        )
        if not ok:
            return [
                f"{path_text((*parent, name))} '{value}' is not an allowed keyword",
                f"{path_text((*parent, name))} is invalid",
            ]
    return None


class CommandTree:
    """The known command keys, to explain an unknown one the way PAN-OS does (code 17)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._children: dict[tuple[str, ...], set[str]] = {}
        for key in keys:
            words = tuple(key.split())
            for i in range(len(words)):
                self._children.setdefault(words[:i], set()).add(words[i])

    def explain(self, words: tuple[str, ...]) -> str:
        """`` show -> system -> foo  is unexpected`` (the path up to the first word that does not belong)."""
        for i, word in enumerate(words):
            if word not in self._children.get(words[:i], set()):
                return f"{path_text(words[: i + 1])}  is unexpected"
        if not words:
            return " is unexpected"
        if self._children.get(words):
            return f"{path_text(words)} -> is incomplete"
        return f"{path_text(words)}  is unexpected"
