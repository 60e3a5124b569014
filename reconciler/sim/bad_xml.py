"""What a firewall answers under the ``bad_xml`` fault: malformed or unexpected XML in place of the real
answer to an operational command (HTTP 200, so only the client's parsing can notice).

Each mode stands for something seen from real management planes or proxies, or for a hostile answer a
client must survive: a truncated body, bytes that are not XML, an empty body, an HTML page, an envelope with
no ``<result>``, well-formed XML of an unexpected shape, the right shape with nonsense values, an entity
expansion bomb and an external entity (XXE) reference.
"""

from __future__ import annotations

import re

MODES = (
    "truncated",
    "garbage",
    "empty",
    "html",
    "no_result",
    "unexpected",
    "bad_values",
    "entity_bomb",
    "xxe",
)

_LEAF_TEXT = re.compile(r">([^<>]+)</")

_ENTITY_BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE response [\n  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">\n'
    + "".join(f'  <!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n' for i in range(9))
    + ']>\n<response status="success"><result><system><serial>&j;</serial></system></result></response>'
)

_XXE = (
    '<?xml version="1.0"?>\n<!DOCTYPE response [<!ENTITY leak SYSTEM "file:///etc/hostname">]>\n'
    '<response status="success"><result><system><serial>&leak;</serial>'
    "<sw-version>&leak;</sw-version></system></result></response>"
)


def corrupt(body: str, mode: str) -> str:
    """The answer sent instead of ``body`` under ``mode`` (one of ``MODES``)."""
    if mode == "truncated":
        return body[: max(1, len(body) // 2)]
    if mode == "garbage":
        return "\x00\x01 this is not XML <<< >>> &&& \ufffd"
    if mode == "empty":
        return ""
    if mode == "html":
        return (
            "<html><head><title>Login</title></head><body><form action='/php/login.php'></form></body></html>"
        )
    if mode == "no_result":
        return '<response status="success"/>'
    if mode == "unexpected":
        return '<response status="success"><result><unexpected attr="1"><nested/></unexpected></result></response>'
    if mode == "bad_values":
        return _LEAF_TEXT.sub(">\u00b2\u2603 -1 ../../x</", body)
    if mode == "entity_bomb":
        return _ENTITY_BOMB
    if mode == "xxe":
        return _XXE
    raise ValueError(f"unknown bad_xml mode {mode!r}; known: {', '.join(MODES)}")
