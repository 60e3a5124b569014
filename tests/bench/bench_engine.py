"""Benchmark: ``panos-upgrade apply`` converging a simulated fleet, against the devices' own busy time.

Run by hand (not part of the test suite)::

    .venv/bin/python tests/bench/bench_engine.py --fleet small --runs 3       # 150 devices, 50 in flight
    .venv/bin/python tests/bench/bench_engine.py --fleet large --runs 3       # 1,000 devices, 100 in flight
    .venv/bin/python tests/bench/bench_engine.py --fleet small --time-scale 0.005

Fleets: ``small`` is 90 standalone firewalls + 30 HA pairs with ``workers.max`` 50; ``large`` is 600 standalone
+ 200 HA pairs with ``workers.max`` 100 (``--standalone``, ``--pairs``, ``--workers`` override). Standalone
firewalls run 9.1.x and target 10.1.14-h9 (9.1 -> 10.0.12 -> 10.1.14-h9), HA pairs run 10.2.x and target
11.1.6-h1 (10.2 -> 11.0.6 -> 11.1.6-h1), so every device has 2 hops, each with a base and a target image.
Two groups, ``maxParallel`` above ``workers.max``, an always-open window, generous validation margins.

Set-up, as an operator does it: ``panos-upgrade sim serve`` runs the fleet in its own process
(``--time-scale``, ``--api-events``); a fresh work directory is initialised and pointed at it (TLS verified
against the simulator's CA, ``workers.max``, ``engine.time_scale`` = the simulator's); ``device discover``;
then the measured process is ``panos-upgrade apply --auto-approve -f DESIRED`` exactly as a user runs it
(its preview, the plan table, the live view; ``--profile "py-spy record -o x.svg --"`` prefixes it).

The gate (exit status 1 when missed, or when a device did not converge):

- **lower bound** from the simulator's event log, i.e. from what the devices themselves were busy with,
  whoever orchestrated them. Per device, the simulated durations of its jobs and reboots
  (``download``, ``install``, ``content_download``, ``content_install``: ``*_start`` to ``*_end`` of the same
  job; ``reboot_start`` to ``reboot_end``) plus its HA settle (time its HA state spent in ``booting`` or
  ``initial``, from the ``ha_state`` events), times the time scale. A unit is a standalone firewall or an
  HA pair; a pair's busy time is its members' busy times in sequence (their sum). Bound =
  ``max(longest unit, total busy / workers.max)``.
- **makespan**: from launching ``apply`` to the last device's ``finished_at`` (status files), wall clock.
- ``ratio_busy`` = makespan / bound must be <= ``--target-ratio`` (1.25).

Figures for information (how each is computed):

- ``ratio_records``: the former bound built from the tool's own spans (``started_at`` .. ``finished_at`` of
  the status files, a pair reserving two slots from its first member's start); it grows with the tool's
  own inefficiency, so it is no gate.
- ``device_span_over_busy``: device-time (own spans) / busy time: what orchestration adds around each device.
- ``seen_after``: after each job, reboot or HA settle ends in the simulator, how long until the device's
  next answered API request (the poll that notices it), in simulated seconds (wall lag / time scale):
  median, p95, max, and ``of_busy`` = the sum of those lags / the devices' busy time.
- in flight: peak, mean and at each tenth of the makespan (device slots from the status files).
- API calls per device-hop: the simulator's per-device counters (``status.json``: answered requests, errors
  and connections dropped while a device restarts) after apply minus before (discovery excluded; apply's
  preview probes included), divided by devices x 2 hops; split standalone / HA member, with the top commands.
- orchestrator CPU seconds and peak RSS: ``wait4`` rusage of the ``apply`` process; simulator CPU.

``--runs N`` repeats the whole run (fresh simulator and work directory) and prints the median of each
headline figure; the machine's load average is printed with each run (a shared machine skews wall times).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

STANDALONE = {"from": ["9.1.14-h4", "9.1.16", "9.1.17", "9.1.18", "9.1.19"], "target": "10.1.14-h9"}
HA = {"from": ["10.2.9", "10.2.10", "10.2.11", "10.2.12", "10.2.13"], "target": "11.1.6-h1"}
STANDALONE_MODELS = ["PA-440", "PA-460", "PA-820", "PA-850", "PA-3220", "PA-3410", "PA-VM"]
HA_MODELS = ["PA-850", "PA-3220", "PA-3410", "PA-5220", "PA-VM"]
FLEETS = {"small": (90, 30, 50), "large": (600, 200, 100)}  # standalone, pairs, workers.max
# What a device itself takes, whoever orchestrates it (simulator jobs and reboots, in simulated seconds).
JOB_EVENTS = ("download", "install", "reboot", "content_download", "content_install")
SETTLING = ("booting", "initial")  # HA states of a member that is not yet part of its pair again
CONTENT = "8899-8769"  # recent enough for 10.1 and 11.1: no content update step
HOPS = 2
HEADLINE = (
    "makespan_s",
    "lower_bound_busy_s",
    "ratio_busy",
    "ratio_records",
    "device_span_over_busy",
    "calls_per_device_hop",
    "reboot_seen_after_median_s",
    "reboot_seen_after_p95_s",
    "job_seen_after_median_s",
    "orchestrator_cpu_s",
    "orchestrator_peak_rss_mb",
)


def fleet_yaml(standalone: int, pairs: int, seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    devices: list[dict[str, Any]] = []
    for i in range(standalone):
        devices.append(
            {
                "serial": f"0110{i:08d}",
                "hostname": f"branch-{i:04d}",
                "model": rnd.choice(STANDALONE_MODELS),
                "version": rnd.choice(STANDALONE["from"]),
                "content_version": CONTENT,
                "device_group": "branches",
                "free_disk_mb": 9000,
            }
        )
    for i in range(pairs):
        a, b = f"0120{2 * i:08d}", f"0120{2 * i + 1:08d}"
        model, version = rnd.choice(HA_MODELS), rnd.choice(HA["from"])
        for me, peer, prio in ((a, b, 10), (b, a, 20)):
            devices.append(
                {
                    "serial": me,
                    "hostname": f"dc-{i:04d}-{'a' if me == a else 'b'}",
                    "model": model,
                    "version": version,
                    "content_version": CONTENT,
                    "device_group": "datacenter",
                    "ha": {"peer": peer, "priority": prio},
                    "free_disk_mb": 9000,
                }
            )
    return {"seed": seed, "devices": devices}


DESIRED = """\
apiVersion: panos-upgrade/v1
windows:
  always: {{days: [daily], start: "00:00", end: "24:00", timezone: UTC}}
defaults:
  maintenanceWindows: [always]
  failureBudget: 1000
  validation: {{minDiskGb: 1, tcpSessionMargin: 100, routeMargin: 100, arpMargin: 100}}
groups:
  - name: branches
    select: {{deviceGroups: [branches], ha: false}}
    target: "{standalone}"
    maxParallel: {parallel}
  - name: datacenter
    select: {{ha: true}}
    target: "{ha}"
    maxParallel: {parallel}
"""


def cli(work: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "reconciler", "--work-dir", str(work), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


def must(result: subprocess.CompletedProcess[str]) -> str:
    if result.returncode != 0:
        raise SystemExit(f"{result.args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def fresh_status(path: Path, after: float, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            status = {}
        if status.get("wall_time", 0) > after:
            return status
        time.sleep(0.25)
    raise SystemExit("the simulator wrote no fresh status.json")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def sample_rss(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fleet", choices=sorted(FLEETS), default="small")
    parser.add_argument("--standalone", type=int, help="standalone firewalls (default: the fleet's)")
    parser.add_argument("--pairs", type=int, help="HA pairs (default: the fleet's)")
    parser.add_argument("--workers", type=int, help="workers.max (default: the fleet's)")
    parser.add_argument("--time-scale", type=float, default=0.02)
    parser.add_argument("--target-ratio", type=float, default=1.25, help="makespan / busy-time bound")
    parser.add_argument("--runs", type=int, default=1, help="repeat and report medians")
    parser.add_argument("--timeout", type=float, default=3600.0, help="apply --timeout (real seconds)")
    parser.add_argument("--base-address", default="127.32.0.0")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the temp directories")
    parser.add_argument("--profile", default="", help="run apply under this command prefix (e.g. py-spy)")
    args = parser.parse_args()
    standalone, pairs, workers = FLEETS[args.fleet]
    args.standalone = standalone if args.standalone is None else args.standalone
    args.pairs = pairs if args.pairs is None else args.pairs
    args.workers = workers if args.workers is None else args.workers
    results = []
    for n in range(args.runs):
        print(f"run {n + 1}/{args.runs}: load average {os.getloadavg()}", flush=True)
        results.append(run_once(args))
    ok = all(r["converged"] == r["devices"] for r in results)
    summary = {
        "fleet": f"{args.standalone} standalone + {args.pairs} HA pairs, workers.max {args.workers}",
        "time_scale": args.time_scale,
        "runs": args.runs,
        "median": {k: statistics.median(r[k] for r in results) for k in HEADLINE},
        "all": {k: [r[k] for r in results] for k in HEADLINE},
        "target_ratio": args.target_ratio,
    }
    print(json.dumps(summary, indent=2))
    ok = ok and summary["median"]["ratio_busy"] <= args.target_ratio
    print("PASS" if ok else f"FAIL: ratio_busy above {args.target_ratio} or devices not converged")
    return 0 if ok else 1


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    sim_dir, work, desired = tmp / "sim", tmp / "work", tmp / "desired"
    fleet_file = tmp / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(fleet_yaml(args.standalone, args.pairs, args.seed)))
    desired.mkdir()
    parallel = max(args.workers, args.standalone, args.pairs)
    (desired / "fleet.yaml").write_text(
        DESIRED.format(standalone=STANDALONE["target"], ha=HA["target"], parallel=parallel)
    )
    sim_cmd = [
        sys.executable, "-m", "reconciler", "sim", "serve", "--fleet", str(fleet_file),
        "--state-dir", str(sim_dir), "--time-scale", str(args.time_scale), "--port", "0",
        "--base-address", args.base_address, "--api-events", "--duration", str(args.timeout + 600),
    ]  # fmt: skip
    sim = subprocess.Popen(sim_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (sim_dir / "sim.json").exists():
            if sim.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"simulator did not start:\n{sim.communicate()[0]}")
            time.sleep(0.1)
        info = json.loads((sim_dir / "sim.json").read_text())
        pano, fw = info["credentials"]["panorama"], info["credentials"]["firewalls"]
        must(cli(work, "init"))
        settings = {
            "panorama.host": info["panorama"]["address"],
            "panorama.port": info["port"],
            "panorama.username": pano["user"],
            "panorama.password": pano["password"],
            "panorama.ca_bundle": info["ca_path"],
            "firewall.username": fw["user"],
            "firewall.password": fw["password"],
            "firewall.port": info["port"],
            "firewall.ca_bundle": info["ca_path"],
            "workers.max": args.workers,
            "engine.time_scale": args.time_scale,
            "metrics.enabled": "false",
        }
        for key, value in settings.items():
            # "--": a generated password may begin with "-" (it would be read as an option)
            must(cli(work, "config", "set", "--", key, str(value)))
        t_disc = time.time()
        print(must(cli(work, "device", "discover")).splitlines()[0], flush=True)
        print(f"discovery: {time.time() - t_disc:.1f} s", flush=True)
        before = fresh_status(Path(info["status"]), after=time.time())
        with open(info["events"], "rb") as fh:
            n_events_before = sum(1 for _ in fh)

        apply_cmd = [
            *(args.profile.split() if args.profile else []),
            sys.executable, "-m", "reconciler", "--work-dir", str(work),
            "apply", "--auto-approve", "-f", str(desired), "--timeout", str(args.timeout),
        ]  # fmt: skip
        log = (tmp / "apply.out").open("w")
        sim_cpu0 = proc_cpu_s(sim.pid)
        t0 = time.time()
        apply = subprocess.Popen(apply_cmd, stdout=log, stderr=subprocess.STDOUT)
        peak_rss_sampled = 0.0
        while True:
            pid, status, usage = os.wait4(apply.pid, os.WNOHANG)
            if pid:
                break
            peak_rss_sampled = max(peak_rss_sampled, sample_rss(apply.pid))
            time.sleep(0.5)
        t_end = time.time()
        apply.returncode = os.waitstatus_to_exitcode(status)
        sim_cpu = proc_cpu_s(sim.pid) - sim_cpu0
        log.close()
        after = fresh_status(Path(info["status"]), after=t_end)
        print(f"apply exit {apply.returncode} after {t_end - t0:.1f} s (output: {tmp / 'apply.out'})")

        result = analyse(args, info, work, t0, before, after, n_events_before)
        result.update(
            {
                "apply_wall_s": round(t_end - t0, 1),
                "apply_exit": apply.returncode,
                "orchestrator_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                "orchestrator_cpu_user_s": round(usage.ru_utime, 1),
                "orchestrator_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "orchestrator_peak_rss_sampled_mb": round(peak_rss_sampled, 1),
                "simulator_cpu_s": round(sim_cpu, 1),
                "time_scale": args.time_scale,
                "workers_max": args.workers,
                "load_average_after": os.getloadavg(),
            }
        )
        print(json.dumps(result, indent=2), flush=True)
        return result
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(60)
        except subprocess.TimeoutExpired:
            sim.kill()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
        else:
            print(f"kept {tmp}")


def busy_time(
    events: list[dict[str, Any]], devices: dict[str, Any], scale: float
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(busy seconds per device, lags per kind in simulated seconds) from the apply's part of the event log.

    Busy: jobs and reboots (``*_start`` .. ``*_end``) and HA settle (``booting``/``initial``), in wall seconds.
    Lag: from such an end to the device's next answered API request."""
    busy: dict[str, float] = defaultdict(float)
    opened: dict[tuple[str, str, str], float] = {}
    settling: dict[str, float] = {}
    ended: dict[str, dict[str, float]] = defaultdict(
        dict
    )  # serial -> what ended -> wall time, until a request
    lags: dict[str, list[float]] = defaultdict(list)
    for ev in events:
        serial = ev.get("serial", "")
        kind, _, edge = ev["event"].rpartition("_")
        if kind in JOB_EVENTS and edge in ("start", "end"):
            key = (serial, kind, str(ev.get("job", "")))
            if edge == "start":
                opened[key] = ev["sim_time"]
            elif key in opened:
                busy[serial] += (ev["sim_time"] - opened.pop(key)) * scale
                ended[serial][kind] = ev["wall_time"]
        elif ev["event"] == "ha_state":
            if ev["to"] in SETTLING:
                settling.setdefault(serial, ev["sim_time"])
            elif serial in settling:
                busy[serial] += (ev["sim_time"] - settling.pop(serial)) * scale
                ended[serial]["ha_settle"] = ev["wall_time"]
        elif ev["event"] == "api" and serial in devices and ended.get(serial):
            for what, when in ended.pop(serial).items():
                lags[what].append((ev["wall_time"] - when) / scale)
    return busy, lags


def analyse(
    args: argparse.Namespace,
    info: dict[str, Any],
    work: Path,
    t0: float,
    before: dict[str, Any],
    after: dict[str, Any],
    n_events_before: int,
) -> dict[str, Any]:
    devices = {d["serial"]: d for d in info["devices"]}
    records = {f.stem: json.loads(f.read_text()) for f in (work / "status" / "devices").glob("*.json")}
    converged = sum(
        1 for r in records.values() if r.get("upgrade_status") == "done" or r.get("phase") == "done"
    )
    own: dict[str, tuple[float, float]] = {}
    for serial, rec in records.items():
        if rec.get("started_at") and rec.get("finished_at"):
            own[serial] = (epoch(rec["started_at"]), epoch(rec["finished_at"]))
    with open(info["events"]) as fh:
        events = [json.loads(line) for n, line in enumerate(fh) if n >= n_events_before]
    busy, lags = busy_time(events, devices, args.time_scale)
    units: list[list[str]] = []
    seen: set[str] = set()
    for serial, dev in devices.items():
        if serial in seen:
            continue
        peer = dev.get("ha_peer")
        unit = [serial, peer] if peer else [serial]
        seen.update(unit)
        units.append(unit)

    total_busy = sum(busy.values())
    longest_busy = max(sum(busy[s] for s in u) for u in units)
    lb_busy = max(longest_busy, total_busy / args.workers)
    if not own:
        raise SystemExit("no device finished: nothing to measure (see apply.out with --keep)")
    makespan = max(e for _, e in own.values()) - t0
    # The tool's own spans (the former bound): a pair reserves both slots from its first member's start.
    slots: dict[str, tuple[float, float]] = {}
    for unit in units:
        got = [own[s] for s in unit if s in own]
        if got:
            begin = min(b for b, _ in got)
            slots.update({s: (begin, own[s][1]) for s in unit if s in own})
    own_time = sum(e - s for s, e in own.values())
    slot_time = sum(e - s for s, e in slots.values())
    longest_rec = max(
        max(slots[s][1] for s in u if s in slots) - min(slots[s][0] for s in u if s in slots)
        for u in units
        if any(s in slots for s in u)
    )
    lb_rec = max(longest_rec, slot_time / args.workers)
    edges = sorted([(s, 1) for s, _ in slots.values()] + [(e, -1) for _, e in slots.values()])
    live = peak = 0
    for _, delta in edges:
        live += delta
        peak = max(peak, live)
    first_start = min(s for s, _ in slots.values())
    timeline = [sum(1 for s, e in slots.values() if s <= t0 + makespan * k / 10 < e) for k in range(10)]
    # API calls per device-hop (apply only), split standalone / HA member, with the top commands.
    per_kind: dict[str, list[int]] = defaultdict(list)
    commands: dict[str, Counter[str]] = defaultdict(Counter)
    for serial in devices:
        c = Counter(after["api_calls"].get(serial, {}))
        c.subtract(Counter(before["api_calls"].get(serial, {})))
        c = +c
        kind = "ha_member" if devices[serial].get("ha_peer") else "standalone"
        per_kind[kind].append(sum(c.values()))
        commands[kind].update(c)
    pano = info["panorama"]["serial"]
    pano_calls = sum(Counter(after["api_calls"].get(pano, {})).values()) - sum(
        Counter(before["api_calls"].get(pano, {})).values()
    )
    calls_total = sum(sum(v) for v in per_kind.values())
    job_lags = [x for what, v in lags.items() if what not in ("reboot", "ha_settle") for x in v]
    phases = Counter(r.get("phase") or r.get("upgrade_status") for r in records.values())
    return {
        "devices": len(devices),
        "units": len(units),
        "converged": converged,
        "phases": dict(phases),
        "makespan_s": round(makespan, 1),
        "startup_to_first_begin_s": round(first_start - t0, 1),
        "device_busy_s": round(total_busy, 1),
        "longest_unit_busy_s": round(longest_busy, 1),
        "lower_bound_busy_s": round(lb_busy, 1),
        "ratio_busy": round(makespan / lb_busy, 3),
        "lower_bound_records_s": round(lb_rec, 1),
        "ratio_records": round(makespan / lb_rec, 3),
        "device_span_over_busy": round(own_time / total_busy, 2),
        "reboot_seen_after_median_s": round(statistics.median(lags["reboot"]), 1) if lags["reboot"] else None,
        "reboot_seen_after_p95_s": round(quantile(lags["reboot"], 0.95), 1),
        "job_seen_after_median_s": round(statistics.median(job_lags), 1) if job_lags else None,
        "seen_after_s": {
            what: {
                "n": len(v),
                "median": round(statistics.median(v), 1),
                "p95": round(quantile(v, 0.95), 1),
                "max": round(max(v), 1),
                "of_busy": round(sum(v) * args.time_scale / (total_busy or 1.0), 3),
            }
            for what, v in sorted(lags.items())
        },
        "peak_in_flight": peak,
        "mean_in_flight": round(slot_time / makespan, 1),
        "in_flight_at_tenths": timeline,
        "calls_per_device_hop": round(calls_total / len(devices) / HOPS, 1),
        "api_calls": {
            kind: {
                "devices": len(v),
                "per_device_hop": round(sum(v) / len(v) / HOPS, 1),
                "top_commands_per_device_hop": {
                    cmd: round(n / len(v) / HOPS, 2) for cmd, n in commands[kind].most_common(12)
                },
            }
            for kind, v in per_kind.items()
        },
        "api_calls_total": calls_total,
        "api_calls_panorama": pano_calls,
    }


if __name__ == "__main__":
    raise SystemExit(main())
