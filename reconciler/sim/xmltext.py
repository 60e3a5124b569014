"""Small, fast builders for the XML text the simulator answers with.

Responses are built as strings (not ElementTree) because the simulator answers thousands of requests a
second; every value goes through ``esc``. The envelope shapes follow PANOS-NOTES.md "Responses and errors".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr


def esc(value: Any) -> str:
    return escape(str(value))


def leaf(tag: str, value: Any = None) -> str:
    """``<tag>value</tag>``; ``<tag/>`` for None or an empty string."""
    if value is None or value == "":
        return f"<{tag}/>"
    return f"<{tag}>{esc(value)}</{tag}>"


def node(tag: str, *children: str, attrs: Mapping[str, Any] | None = None) -> str:
    """``<tag attrs>children</tag>`` where the children are already XML text."""
    attr_text = "".join(f" {k}={quoteattr(str(v))}" for k, v in (attrs or {}).items())
    inner = "".join(children)
    if not inner:
        return f"<{tag}{attr_text}/>"
    return f"<{tag}{attr_text}>{inner}</{tag}>"


def fields(mapping: Mapping[str, Any]) -> str:
    """One leaf per item, in order (values that are already XML are passed as ``Raw``)."""
    out = []
    for key, value in mapping.items():
        out.append(f"<{key}>{value.text}</{key}>" if isinstance(value, Raw) else leaf(key, value))
    return "".join(out)


def entries(items: Iterable[Mapping[str, Any]], *, tag: str = "entry") -> str:
    return "".join(node(tag, fields(item)) for item in items)


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class Raw:
    """A value that is already XML text (for ``fields``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def success(result: str, *, code: str | None = None) -> str:
    """``<response status="success" [code]><result>…</result></response>``."""
    code_attr = f' code="{code}"' if code else ""
    return f'<response status="success"{code_attr}><result>{result}</result></response>'


def error(*lines: str, code: str | None = None) -> str:
    """An op error: ``<response status="error" [code]><msg><line>…</line>…</msg></response>``."""
    code_attr = f' code="{code}"' if code else ""
    body = "".join(f"<line>{cdata(line)}</line>" for line in lines)
    return f'<response status="error"{code_attr}><msg>{body}</msg></response>'


def bad_request(message: str) -> str:
    """The body of an HTTP 400 (a missing or illegal request parameter): the message sits in
    ``<result><msg>``, not in ``<msg><line>`` as op errors have it (PANOS-NOTES.md "Responses and errors";
    API guide, "PAN-OS XML API Error Codes": 400 Bad request, "a required parameter is missing, an illegal
    parameter value is used")."""
    return f'<response status="error" code="400"><result><msg>{esc(message)}</msg></result></response>'


# The exact shapes PAN-OS uses for authentication failures (note the spaces and single quotes).
INVALID_CREDENTIALS = (
    "<response status = 'error' code = '403'><result><msg>Invalid credentials.</msg></result></response>"
)
INVALID_CREDENTIAL_KEYGEN = (
    "<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>"
)
