"""Device-supplied text made safe to show: in a terminal table, and in a spreadsheet.

Hostnames, models and versions come from firewalls and Panorama, and a device can say anything. In a table a
newline would split one device over two lines and an escape sequence would repaint the terminal; in a CSV
opened by a spreadsheet, ``=HYPERLINK(...)`` is a formula (CSV injection, OWASP).
"""

from __future__ import annotations

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def one_line(text: str) -> str:
    """``text`` with every non-printable character (newline, escape, ...) written as its escape: one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def spreadsheet_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it: a formula's first character is prefixed with
    ``'``, and control characters are escaped (one row per device)."""
    if text.startswith(_FORMULA_STARTS):
        text = "'" + text
    return one_line(text)
