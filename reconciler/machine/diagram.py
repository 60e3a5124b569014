"""Render ``TABLE`` for people: a mermaid state diagram and a markdown table (docs/state-machine.md)."""

from __future__ import annotations

from reconciler.machine.records import TERMINAL_PHASES, Phase
from reconciler.machine.table import TABLE, P


def _order(phase: Phase | str) -> int:
    """Sort phases in their declaration order (the order of an upgrade)."""
    return list(Phase).index(Phase(phase))


_GENERIC_EFFECT = {
    "CommandFailed": "retried with backoff, then failed with a reason per command",
    "CancelRequest": "held at a safe point, otherwise held at the next safe point",
    "HoldRequest": "held at a safe point, otherwise held at the next safe point",
}


def mermaid() -> str:
    """The state diagram of ``TABLE`` (mermaid ``stateDiagram-v2``), deterministic."""
    edges: dict[tuple[Phase, Phase], set[str]] = {}
    generic: dict[str, set[Phase]] = {}
    for (source, event), rule in TABLE.items():
        targets = rule.targets
        if rule.generic:
            generic.setdefault(event.__name__, set()).add(source)
            # Errors that do more than retry or fail (e.g. reboot -> wait_ready) are real edges.
            targets = targets - {source, P.FAILED, P.HELD}
        for target in targets:
            edges.setdefault((source, target), set()).add(event.__name__)
    lines = ["stateDiagram-v2", f"    [*] --> {P.PENDING.value}"]
    for (src, dst), events in sorted(edges.items(), key=lambda kv: (_order(kv[0][0]), _order(kv[0][1]))):
        lines.append(f"    {src.value} --> {dst.value} : {' / '.join(sorted(events))}")
    for phase in sorted(TERMINAL_PHASES, key=_order):
        lines.append(f"    {phase.value} --> [*]")
    notes: dict[tuple[str, tuple[Phase, ...]], list[str]] = {}
    for name, phases in generic.items():
        notes.setdefault((_GENERIC_EFFECT[name], tuple(sorted(phases, key=_order))), []).append(name)
    for (effect, sources), names in sorted(notes.items()):
        anchor = P.FAILED if "CommandFailed" in names else P.HELD
        lines += [
            f"    note right of {anchor.value}",
            f"        {' / '.join(sorted(names))} in {', '.join(p.value for p in sources)}: {effect}",
            "    end note",
        ]
    return "\n".join(lines) + "\n"


def transition_table() -> str:
    """The table as markdown rows (phase, observation, possible next phases)."""
    lines = ["| phase | observation | next phase(s) |", "|---|---|---|"]
    for (source, event), rule in sorted(TABLE.items(), key=lambda kv: (_order(kv[0][0]), kv[0][1].__name__)):
        targets = ", ".join(t.value for t in sorted(rule.targets, key=_order))
        lines.append(f"| {source.value} | {event.__name__} | {targets} |")
    return "\n".join(lines) + "\n"
