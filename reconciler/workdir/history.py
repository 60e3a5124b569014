"""A device's timeline (``panos-upgrade device history``): from the audit log and its status record.

Events, oldest first, each a dict with ``ts``, ``kind`` and what is known of ``phase``, ``from_phase``, ``hop``,
``job_id``, ``attempt``, ``reason``, ``detail`` and ``actor``:

- ``phase``: a phase change, as the engine recorded it in ``audit/audit.jsonl`` (with the failure reason);
- ``command``: a device-changing command sent to it (download, install, reboot, delete an image, ...);
- ``operator``: an operator request (hold, release, retry, cancel) and its outcome;
- ``hop``: a finished hop from its status record's ``history`` (its validation outcome).
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.core.errors import StoreError
from reconciler.workdir import store
from reconciler.workdir.layout import WorkPaths


def device_timeline(paths: WorkPaths, serial: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The events of ``serial`` (oldest first) and its status record (None if it has none)."""
    events: list[dict[str, Any]] = []
    try:
        lines = paths.audit_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("serial") != serial:
            continue
        action = str(entry.get("action", ""))
        if action == "phase":
            kind = "phase"
            detail = str(entry.get("message") or "")
        elif action.startswith("operator-"):
            kind = "operator"
            detail = f"{action[len('operator-') :]}: {entry.get('result')}" + (
                f" ({entry['message']})" if entry.get("message") else ""
            )
        else:
            kind = "command"
            raw = entry.get("command")
            command: dict[str, Any] = raw if isinstance(raw, dict) else {}
            target = command.get("version") or command.get("image") or ""
            detail = f"{action} {target}".strip()
        events.append(
            {
                "ts": entry.get("ts"),
                "kind": kind,
                "phase": entry.get("to_phase"),
                "from_phase": entry.get("from_phase"),
                "hop": entry.get("hop"),
                "job_id": entry.get("job_id") or None,
                "attempt": entry.get("attempt"),
                "reason": entry.get("reason"),
                "detail": detail,
                "actor": entry.get("actor"),
            }
        )
    record: dict[str, Any] | None = None
    try:
        data = store.read_json(paths.device_status_file(serial))
        record = data if isinstance(data, dict) else None
    except (FileNotFoundError, StoreError):
        record = None
    for hop in (record or {}).get("history") or []:
        if isinstance(hop, dict):
            events.append(
                {
                    "ts": hop.get("finished_at"),
                    "kind": "hop",
                    "phase": None,
                    "from_phase": None,
                    "hop": hop.get("version"),
                    "job_id": None,
                    "attempt": None,
                    "reason": None,
                    "detail": f"hop {hop.get('version')} finished: validation {hop.get('outcome')}",
                    "actor": None,
                }
            )
    events.sort(key=lambda e: str(e["ts"] or ""))
    return events, record
