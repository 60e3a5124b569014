"""Where a device's own span goes beyond its busy time, from a kept ``bench_engine.py --keep`` directory.

``bench_engine.py`` reports ``device_span_over_busy`` (the tool's span of each device, from its status file's
``started_at`` to ``finished_at``, over the busy time the simulator logged for it). This splits the rest, the
time inside a device's span when the device itself was busy with nothing, by what ended each idle stretch:

- an answered API request (the simulator's ``api`` events, logged with ``--api-events``, which the bench
  sets): the stretch from the previous mark (the span's start, the previous answer, or the end of a busy
  period) to that answer is counted against the request's label (``op:show jobs all``, ...). It holds the
  engine's own wait before sending it (a poll interval, a retry delay, the loop's latency) and the call's
  round trip;
- the start of a busy period (a job or reboot the device began): counted as ``start <kind>``;
- the span's end after the last mark: ``after the last answer``.

Busy periods are the bench's own (jobs and reboots from ``*_start`` to ``*_end``, HA settle from a member's
``booting``/``initial`` state to the next state). Figures are device seconds (wall seconds / time scale),
per device-hop, split standalone / HA member. Usage::

    .venv/bin/python tests/bench/bench_engine.py --fleet small --runs 1 --keep
    .venv/bin/python tests/bench/span_gaps.py /tmp/bench-engine-XXXX [--top 15]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

JOB_EVENTS = ("download", "install", "reboot", "content_download", "content_install")
SETTLING = ("booting", "initial")
HOPS = 2


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kept", type=Path, help="a directory kept by bench_engine.py --keep")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--hops", type=int, default=HOPS)
    parser.add_argument("--workers", type=int, default=50, help="the run's workers.max (small fleet: 50)")
    args = parser.parse_args()
    info = json.loads((args.kept / "sim" / "sim.json").read_text())
    scale = float(info.get("time_scale") or 0.02)
    devices = {d["serial"]: d for d in info["devices"]}
    spans: dict[str, tuple[float, float]] = {}
    for f in (args.kept / "work" / "status" / "devices").glob("*.json"):
        rec = json.loads(f.read_text())
        if (
            "done" in (rec.get("phase"), rec.get("upgrade_status"))
            and rec.get("started_at")
            and rec.get("finished_at")
        ):
            spans[f.stem] = (epoch(rec["started_at"]), epoch(rec["finished_at"]))

    busy: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    answers: dict[str, list[tuple[float, str]]] = defaultdict(list)
    opened: dict[tuple[str, str, str], float] = {}
    settling: dict[str, float] = {}
    with (args.kept / "sim" / "events.jsonl").open() as fh:
        for line in fh:
            ev = json.loads(line)
            serial = ev.get("serial", "")
            if serial not in spans:
                continue
            kind, _, edge = ev["event"].rpartition("_")
            if kind in JOB_EVENTS and edge in ("start", "end"):
                key = (serial, kind, str(ev.get("job", "")))
                if edge == "start":
                    opened[key] = ev["wall_time"]
                elif key in opened:
                    busy[serial].append((opened.pop(key), ev["wall_time"], kind))
            elif ev["event"] == "ha_state":
                if ev["to"] in SETTLING:
                    settling.setdefault(serial, ev["wall_time"])
                elif serial in settling:
                    busy[serial].append((settling.pop(serial), ev["wall_time"], "ha_settle"))
            elif ev["event"] == "api":
                answers[serial].append((ev["wall_time"], ev["request"]))

    idle: dict[str, Counter[str]] = {"standalone": Counter(), "ha_member": Counter()}
    totals: dict[str, Counter[str]] = {"standalone": Counter(), "ha_member": Counter()}
    for serial, (start, end) in spans.items():
        kind = "ha_member" if devices[serial].get("ha_peer") else "standalone"
        marks: list[tuple[float, int, str, float]] = []  # (time, order, label, busy end)
        for b, e, what in busy[serial]:
            if start <= b < end:
                marks.append((b, 0, f"start {what}", e))
        for t, label in answers[serial]:
            if start <= t <= end:
                marks.append((t, 1, label, t))
        marks.sort()
        cursor, busy_until, own_busy = start, start, 0.0
        for t, _, label, until in marks:
            if t < busy_until:  # inside a busy period (a poll while the device works): not idle
                busy_until = max(busy_until, until)
                continue
            gap = t - max(cursor, busy_until)
            if gap > 0:
                idle[kind][label] += gap / scale
            if label.startswith("start "):
                own_busy += (min(until, end) - t) / scale
                busy_until = until
            cursor = max(t, busy_until)
        tail = end - max(cursor, busy_until)
        if tail > 0:
            idle[kind]["after the last answer"] += tail / scale
        totals[kind]["devices"] += 1
        totals[kind]["span"] += (end - start) / scale
        totals[kind]["busy"] += own_busy

    for kind in ("standalone", "ha_member"):
        n = totals[kind]["devices"]
        if not n:
            continue
        hops = n * args.hops
        span, own_busy = totals[kind]["span"], totals[kind]["busy"]
        gap = sum(idle[kind].values())
        print(
            f"{kind}: {n} devices; per device-hop: span {span / hops:.1f} s, busy {own_busy / hops:.1f} s, "
            f"idle {gap / hops:.1f} s ({gap / own_busy:.1%} of busy)"
        )
        for label, secs in idle[kind].most_common(args.top):
            print(f"  {secs / hops:7.1f} s  {secs / own_busy:6.1%}  {label}")
    packing(devices, spans, args.workers)
    return 0


def packing(devices: dict[str, Any], spans: dict[str, tuple[float, float]], workers: int) -> None:
    """How well the units were packed into ``workers`` slots: each unit's span as it ran (a pair from its
    first member's start to its last member's end, holding one slot), laid out longest first on the slots
    by a scheduler that knew every span in advance (LPT), against the run's own first start to last end."""
    units: list[list[str]] = []
    seen: set[str] = set()
    for serial, dev in devices.items():
        if serial in seen or serial not in spans:
            continue
        unit = [s for s in (serial, dev.get("ha_peer")) if s and s in spans]
        seen.update(unit)
        units.append(unit)
    lengths = [max(spans[s][1] for s in u) - min(spans[s][0] for s in u) for u in units]
    slots = [0.0] * max(1, workers)
    for length in sorted(lengths, reverse=True):
        slots[slots.index(min(slots))] += length
    first = min(b for b, _ in spans.values())
    last = max(e for _, e in spans.values())
    print(
        f"packing ({len(units)} units, {workers} slots, wall s): unit spans / slots {sum(lengths) / len(slots):.1f}, "
        f"longest first with every span known {max(slots):.1f}, this run {last - first:.1f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
