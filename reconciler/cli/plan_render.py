"""Render a ``Plan`` for people and machines: a text table, versioned JSON, and Markdown for PR comments.

Pure functions from a plan to text. The JSON form is ``Plan.to_json()`` (``format_version`` inside,
``schemas/plan.schema.json``); the other two are for reading and may change between releases.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.core.display import one_line
from reconciler.core.plan import BLOCKED, NONE, UNMANAGED, DevicePlan, GroupSummary, Plan


def to_json_text(plan: Plan) -> str:
    """``Plan.to_json()`` as text: one top-level key a line, and each group and device on a line of its own
    (``json.dumps`` with ``indent`` runs the pure-Python encoder: 0.7 s for 10,000 devices, issue 18.5;
    this form uses the C encoder, and a device stays one line for ``grep``)."""
    data = plan.to_json()
    last = len(data) - 1
    lines = ["{"]
    for i, (key, value) in enumerate(data.items()):
        comma = "," if i < last else ""
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            items = ",\n".join(f"    {json.dumps(v)}" for v in value)
            lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _hops(d: DevicePlan) -> str:
    return " -> ".join(str(h.version) for h in d.hops)


def _action(d: DevicePlan) -> str:
    if d.action == BLOCKED:
        return f"blocked ({d.reason})"
    if d.queued:
        return f"{d.action} (queued)"
    if d.in_progress:
        return f"{d.action} (in progress)"
    return d.action


def _detail(d: DevicePlan) -> str:
    parts = []
    if d.ha_pair:
        parts.append(f"HA {d.ha_member}/2")
    if d.action == BLOCKED:
        parts.append(d.detail)
        if d.hops:
            parts.append(f"then {_hops(d)}")
    elif d.hops:
        parts.append(_hops(d))
        if d.missing_images:
            parts.append("download " + ", ".join(map(str, d.missing_images)))
    elif d.detail:
        parts.append(d.detail)
    return "; ".join(p for p in parts if p)


def summary_line(plan: Plan) -> str:
    """The plan's counts in one line (the table's last but one line)."""
    counts = plan.counts()
    unmanaged = sum(1 for d in plan.devices if d.reason == UNMANAGED and d.action == NONE)
    revision = f", revision {plan.desired_revision}" if plan.desired_revision else ""
    return (
        f"{len(plan.devices)} devices: {counts['upgrade']} to upgrade, {counts['download']} to download, "
        f"{counts['blocked']} blocked, {counts['none'] - unmanaged} converged, {unmanaged} unmanaged "
        f"(desired {plan.desired_digest[:19]}{revision})"
    )


def _group_line(g: GroupSummary) -> str:
    if g.window_open:
        window = "window open"
    else:
        window = f"{g.window_reason}" + (
            f" until {g.next_window_change.isoformat()}" if g.next_window_change else ""
        )
    waves = ", ".join(f"wave {w.number} {w.state} ({w.converged}/{w.units})" for w in g.waves)
    parallel = f"{g.in_progress}/{g.max_parallel}" if g.max_parallel else f"{g.in_progress}"
    flags = " SUSPENDED (operator)" if g.suspended else ""
    flags += " PAUSED" if g.paused else ""
    flags += " HALTED" if g.halted else ""
    return (
        f"{g.name}: target {g.target} ({g.stage}), {g.devices} devices, {window}, {waves}, "
        f"failures {g.failures}/{g.failure_budget}, in progress {parallel}{flags}"
    )


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


_COLUMNS = ("GROUP", "WAVE", "ORDER", "SERIAL", "HOSTNAME", "CURRENT", "TARGET", "ACTION", "DETAIL")


def _row(d: DevicePlan) -> list[str]:
    return [
        d.group or "-",
        str(d.wave) if d.wave is not None else "-",
        str(d.order) if d.order is not None else "-",
        d.serial,
        one_line(d.hostname) or "-",
        one_line(d.current) or "?",
        d.target or "-",
        _action(d),
        _detail(d),
    ]


def to_table(plan: Plan) -> str:
    """The default human view: one line per managed device, then the groups, then a summary."""
    lines = []
    if plan.partial:
        lines.append(f"Partial plan: only {', '.join(plan.targets)}")
    if plan.paused:
        lines.append("The desired state is PAUSED: nothing new starts.")
    shown = [d for d in plan.devices if not (d.reason == UNMANAGED and d.action == NONE)]
    if shown:
        lines.extend(_table([list(_COLUMNS), *(_row(d) for d in shown)]))
    else:
        lines.append("No managed devices.")
    if plan.groups:
        lines.append("")
        lines.append("Groups:")
        lines.extend(f"  {_group_line(g)}" for g in plan.groups)
    lines.append("")
    lines.append(summary_line(plan))
    lines.append("Changes pending." if plan.changes else "No changes.")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(plan: Plan) -> str:
    """A pull-request comment: summary, groups, and every device that is not converged."""
    lines = ["## panos-upgrade plan", ""]
    if plan.partial:
        lines += [f"> Partial plan: only {', '.join(plan.targets)}", ""]
    if plan.paused:
        lines += ["> **The desired state is paused**: nothing new starts.", ""]
    lines += [f"**{'Changes pending' if plan.changes else 'No changes'}** - {_md(summary_line(plan))}", ""]
    if plan.groups:
        lines += [
            "| Group | Target | Stage | Devices | Window | Waves | Failures | Blocked |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for g in plan.groups:
            window = "open" if g.window_open else f"closed ({g.window_reason})"
            waves = ", ".join(f"{w.number}: {w.state}" for w in g.waves)
            blocked = ", ".join(f"{k} {v}" for k, v in g.blocked.items()) or "-"
            failures = f"{g.failures}/{g.failure_budget}" + (" **halted**" if g.halted else "")
            lines.append(
                f"| {_md(g.name)} | `{g.target}` | {g.stage} | {g.devices} | {window} | {waves} | {failures} | {blocked} |"
            )
        lines.append("")
    pending = [d for d in plan.devices if d.action != NONE]
    if pending:
        lines += [
            "| Device | Group | Wave | Current | Target | Action | Detail |",
            "|---|---|---|---|---|---|---|",
        ]
        for d in pending:
            name = f"{one_line(d.hostname)} ({d.serial})" if d.hostname else d.serial
            lines.append(
                f"| {_md(name)} | {_md(d.group or '-')} | {d.wave or '-'} | `{d.current or '?'}` | "
                f"`{d.target or '-'}` | {_md(_action(d))} | {_md(_detail(d))} |"
            )
        lines.append("")
    converged = sum(1 for d in plan.devices if d.action == NONE and d.reason != UNMANAGED)
    lines.append(f"{converged} device(s) already converged.")
    return "\n".join(lines) + "\n"
