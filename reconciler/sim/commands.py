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
from collections.abc import Iterable
from dataclasses import dataclass, field


class CommandSyntaxError(ValueError):
    """The ``cmd`` parameter is not well-formed XML (PAN-OS: code 18, malformed command)."""


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    params: dict[str, str] = field(default_factory=dict)

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

    def visit(el: ET.Element) -> None:
        text = (el.text or "").strip()
        name = el.get("name")
        if name is not None:
            params[el.tag] = name.strip()
        elif text:
            params[el.tag] = text
        else:
            words.append(el.tag)
        for child in el:
            visit(child)

    visit(root)
    return _normalise(Command(tuple(words), params))


def _normalise(cmd: Command) -> Command:
    """Fold the spellings of one command into one: ``show arp entry all`` == ``<entry name='all'/>``."""
    w = cmd.words
    if w[:4] == ("show", "system", "state", "filter") and len(w) == 5:
        return Command(w[:3], {**cmd.params, "filter": w[4]})
    if w == ("show", "arp", "entry", "all"):
        return Command(("show", "arp"), {**cmd.params, "entry": "all"})
    return cmd


class CommandTree:
    """The known command keys, to explain an unknown one the way PAN-OS does (code 17)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._children: dict[tuple[str, ...], set[str]] = {}
        for key in keys:
            words = tuple(key.split())
            for i in range(len(words)):
                self._children.setdefault(words[:i], set()).add(words[i])

    def explain(self, words: tuple[str, ...]) -> str:
        """`` show -> foo  is unexpected`` for the first word that does not belong."""
        for i, word in enumerate(words):
            if word not in self._children.get(words[:i], set()):
                parent = words[i - 1] if i else ""
                return f" {parent} -> {word}  is unexpected" if parent else f" {word}  is unexpected"
        last = words[-1] if words else ""
        return f" {last}  is unexpected" if not self._children.get(words) else f" {last} -> is incomplete"
