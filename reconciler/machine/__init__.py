"""The per-device upgrade state machine: a transition table, and nothing else. No I/O, no clock, no logging.

    step(record, observation, now, settings) -> Step(record, commands, requeue_after)
    resume(record, live_device, now, settings) -> Step          (after a restart)

The executor runs ``Step.commands`` after ``Step.requeue_after`` seconds, feeds each command's answer (or
``CommandFailed``) back with ``step``, and persists every returned record before running its commands. An
observation that is not legal in the record's phase, or that does not answer the outstanding command,
raises ``IllegalTransition`` and changes nothing. A step with no commands means "wait for someone else":
the scheduler (``Begin`` from pending / next_hop), the HA pair coordinator, or an operator request.

Contract details the executor relies on:

* At most one command is outstanding per device (``record.outstanding``; ``record.due_at`` says when).
  Feed one device's observations one at a time; a new ``Step`` replaces any not-yet-run commands.
* Requests (begin, cancel, hold, release, retry, abort) may be fed whenever no command of the device is
  executing. A cancel or hold at an unsafe point (install submitted .. version verified) is recorded in
  ``pending_request`` and the outstanding command is re-emitted; the device is held at the next safe point.
* ``Install`` is emitted at most once per need: after an ambiguous submission failure the machine asks for
  ``ListJobs`` and re-attaches to the job instead of installing twice. A failed install never reboots.
* Dry-run never emits a command whose ``changes_device`` is true.
* ``Step.requeue_after`` is ``None`` exactly when ``Step.commands`` is empty.

Modules: ``table`` (the rows and ``step``), one module per stretch of the upgrade (``preflight``,
``downloads``, ``reboot``, ``postflight``), ``failures`` (command errors), ``requests`` (operator requests
at safe points), ``resume``, ``moves`` (building blocks), ``settings``, ``diagram``; what they work on:
``records`` (the status-file record), ``commands`` (what a device is asked to do), ``observations`` (what
answers it); and the HA pair coordinator, ``pair`` (``pair_step``), a second pure machine over two members. ``python -m reconciler.machine --mermaid`` prints
the diagram kept in docs/state-machine.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.machine.diagram import mermaid, transition_table
    from reconciler.machine.moves import IllegalTransition, Reason, Step, content_below, is_safe_point
    from reconciler.machine.records import (
        ACTIVE_PHASES,
        DISRUPTIVE_PHASES,
        RESTING_PHASES,
        TERMINAL_PHASES,
        Instant,
        Mode,
        Phase,
        iso,
        to_instant,
    )
    from reconciler.machine.resume import resume
    from reconciler.machine.settings import DEFAULT_READINESS_CHECKS, DEFAULT_SETTINGS, MachineSettings
    from reconciler.machine.table import TABLE, Transition, accepts, step

# Each name is imported from its module on first use: a reader of records (``plan`` reading status files)
# does not build the transition table and the observations (~25 ms of imports, issue 18.5).
_FROM = {
    **dict.fromkeys(("mermaid", "transition_table"), "diagram"),
    **dict.fromkeys(("IllegalTransition", "Reason", "Step", "content_below", "is_safe_point"), "moves"),
    **dict.fromkeys(
        (
            "ACTIVE_PHASES",
            "DISRUPTIVE_PHASES",
            "RESTING_PHASES",
            "TERMINAL_PHASES",
            "Instant",
            "Mode",
            "Phase",
            "iso",
            "to_instant",
        ),
        "records",
    ),
    "resume": "resume",
    **dict.fromkeys(("DEFAULT_READINESS_CHECKS", "DEFAULT_SETTINGS", "MachineSettings"), "settings"),
    **dict.fromkeys(("TABLE", "Transition", "accepts", "step"), "table"),
}


def __getattr__(name: str) -> Any:
    module = _FROM.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ACTIVE_PHASES",
    "DEFAULT_READINESS_CHECKS",
    "DEFAULT_SETTINGS",
    "DISRUPTIVE_PHASES",
    "RESTING_PHASES",
    "TABLE",
    "TERMINAL_PHASES",
    "IllegalTransition",
    "Instant",
    "MachineSettings",
    "Mode",
    "Phase",
    "Reason",
    "Step",
    "Transition",
    "accepts",
    "content_below",
    "is_safe_point",
    "iso",
    "mermaid",
    "resume",
    "step",
    "to_instant",
    "transition_table",
]
