"""A rollout report (``panos-upgrade report``) as Markdown or as one self-contained HTML page.

Every value from the work directory is untrusted text (hostnames, group names, device messages): HTML
escapes it with ``html.escape`` (quotes too); Markdown writes it as one line with the characters Markdown or
inline HTML would read (``| * _ ` [ ] < > & \\``) escaped, so a hostile name renders as text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime

from reconciler.core.display import one_line
from reconciler.workdir.rollout import CheckRow, DeviceRow, HopRow, Rollout

TITLE = "PAN-OS upgrade rollout report"

_MD_SPECIAL = {
    "\\": "\\\\",
    "|": "\\|",
    "*": "\\*",
    "_": "\\_",
    "`": "\\`",
    "[": "\\[",
    "]": "\\]",
    "#": "\\#",
    "<": "&lt;",
    ">": "&gt;",
    "&": "&amp;",
}


def md(text: object) -> str:
    """``text`` safe inside a Markdown table cell or paragraph."""
    return "".join(_MD_SPECIAL.get(ch, ch) for ch in one_line(str(text)))


def h(text: object) -> str:
    """``text`` safe inside HTML (element content or a quoted attribute)."""
    return html.escape(one_line(str(text)), quote=True)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def check_cells(check: CheckRow) -> list[str]:
    """NAME, BEFORE, AFTER, CHANGE, ALLOWED DROP, RESULT (plain text, to be escaped by the renderer)."""
    drop = check.drop_pct
    change = "-" if drop is None else ("0.0 %" if drop == 0 else f"{-drop:+.1f} %")
    allowed = "-" if check.allowed_drop_pct is None else f"{check.allowed_drop_pct:g} %"
    result = "pass" if check.passed else "BREACH" + (f": {check.detail}" if check.detail else "")
    return [check.name, _count(check.before), _count(check.after), change, allowed, result]


CHECK_HEADER = ["check", "before", "after", "change", "allowed drop", "result"]
DEVICE_HEADER = ["device", "hostname", "group", "from", "now", "target", "status", "attempt", "duration"]


def _device_cells(d: DeviceRow) -> list[str]:
    return [
        d.serial,
        d.hostname or "-",
        d.group or (f"job {d.job_id}" if d.job_id else "-"),
        d.starting_version or "-",
        d.current_version or "-",
        d.target_version or "-",
        d.status + (f" ({d.failure_reason})" if d.failure_reason else ""),
        str(d.attempt),
        duration(d.seconds),
    ]


def _phases(hop: HopRow) -> str:
    return ", ".join(f"{p} {duration(s)}" for p, s in hop.phase_seconds.items()) or "-"


def _summary_lines(rollout: Rollout, generated_at: datetime) -> list[str]:
    counts = ", ".join(f"{n} {status}" for status, n in rollout.counts.items()) or "none"
    lines = [
        f"Generated {generated_at.isoformat(timespec='seconds')}",
        f"Devices: {len(rollout.devices)} ({counts})",
    ]
    if rollout.revisions:
        lines.append("Desired revision(s): " + ", ".join(rollout.revisions))
    if rollout.unreadable:
        lines.append(f"Status files that could not be read: {len(rollout.unreadable)}")
    return lines


# -- Markdown ------------------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(md(c) for c in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    return out


def to_markdown(rollout: Rollout, generated_at: datetime) -> str:
    lines = [f"# {TITLE}", ""]
    lines += [f"- {md(line)}" for line in _summary_lines(rollout, generated_at)] + [""]
    lines += ["## Devices", ""]
    lines += [*_md_table(DEVICE_HEADER, (_device_cells(d) for d in rollout.devices)), ""]
    failed = rollout.failed
    lines += ["## Failures", ""]
    if not failed:
        lines += ["None.", ""]
    else:
        lines += [
            *_md_table(
                ["device", "hostname", "reason", "phase", "message"],
                (
                    [d.serial, d.hostname, d.failure_reason, d.failure_phase, d.failure_message]
                    for d in failed
                ),
            ),
            "",
        ]
    lines += ["## Per device: hops, time per phase, pre/post snapshot comparison", ""]
    for d in rollout.devices:
        lines += [f"### {md(d.serial)} {md(d.hostname)}", ""]
        if not d.hops:
            lines += ["No hop recorded.", ""]
            continue
        lines += [
            *_md_table(
                ["hop", "version", "outcome", "duration", "time per phase"],
                (
                    [str(hop.index), hop.version, hop.outcome, duration(hop.seconds), _phases(hop)]
                    for hop in d.hops
                ),
            ),
            "",
        ]
        for hop in d.hops:
            if hop.checks:
                lines += [f"Hop {hop.index} ({md(hop.version)}), snapshots before and after:", ""]
                lines += [*_md_table(CHECK_HEADER, (check_cells(c) for c in hop.checks)), ""]
    for problem in rollout.unreadable:
        lines.append(f"- unreadable: {md(problem)}")
    return "\n".join(lines).rstrip() + "\n"


# -- HTML ----------------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "th,td{border:1px solid #bbb;padding:0.25em 0.6em;text-align:left;vertical-align:top}"
    "th{background:#eee}.failed,.breach{color:#a00;font-weight:bold}"
)


def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]], flag: int | None = None) -> list[str]:
    out = ["<table>", "<tr>" + "".join(f"<th>{h(c)}</th>" for c in header) + "</tr>"]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            bad = flag is not None and i == flag and (cell.startswith("failed") or cell.startswith("BREACH"))
            cells.append(f'<td class="failed">{h(cell)}</td>' if bad else f"<td>{h(cell)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return [*out, "</table>"]


def to_html(rollout: Rollout, generated_at: datetime) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{h(TITLE)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{h(TITLE)}</h1>",
        "<ul>" + "".join(f"<li>{h(line)}</li>" for line in _summary_lines(rollout, generated_at)) + "</ul>",
        "<h2>Devices</h2>",
    ]
    out += _html_table(DEVICE_HEADER, (_device_cells(d) for d in rollout.devices), flag=6)
    out.append("<h2>Failures</h2>")
    if not rollout.failed:
        out.append("<p>None.</p>")
    else:
        out += _html_table(
            ["device", "hostname", "reason", "phase", "message"],
            (
                [d.serial, d.hostname, d.failure_reason, d.failure_phase, d.failure_message]
                for d in rollout.failed
            ),
        )
    out.append("<h2>Per device: hops, time per phase, pre/post snapshot comparison</h2>")
    for d in rollout.devices:
        out.append(f"<h3>{h(d.serial)} {h(d.hostname)}</h3>")
        if not d.hops:
            out.append("<p>No hop recorded.</p>")
            continue
        out += _html_table(
            ["hop", "version", "outcome", "duration", "time per phase"],
            (
                [str(hop.index), hop.version, hop.outcome, duration(hop.seconds), _phases(hop)]
                for hop in d.hops
            ),
            flag=2,
        )
        for hop in d.hops:
            if hop.checks:
                out.append(f"<p>Hop {hop.index} ({h(hop.version)}), snapshots before and after:</p>")
                out += _html_table(CHECK_HEADER, (check_cells(c) for c in hop.checks), flag=5)
    if rollout.unreadable:
        out.append("<ul>" + "".join(f"<li>unreadable: {h(p)}</li>" for p in rollout.unreadable) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
