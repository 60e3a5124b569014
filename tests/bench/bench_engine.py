"""Benchmark: the upgrade engine converging 1,000 simulated firewalls (600 standalone + 200 HA pairs), 2 hops.

Run by hand (not part of the test suite)::

    .venv/bin/python tests/bench/bench_engine.py                          # the issue's fleet
    .venv/bin/python tests/bench/bench_engine.py --standalone 60 --pairs 20 --workers 10   # a quick look

Set-up, as an operator would do it: ``panos-upgrade sim serve`` runs the fleet in its own process
(``--time-scale``, ``--api-events``); a fresh work directory is initialised and pointed at it (TLS verified
against the simulator's CA, ``workers.max`` = ``--workers``, ``engine.time_scale`` = the simulator's);
``panos-upgrade device discover``. The orchestrator measured here is a child process that runs the engine
exactly as ``apply --auto-approve`` does after its preview: ``open_session`` (metrics not served), load the
records, ``drive(until_settled=True, resync=2.0)`` with apply's progress view (one line per phase change,
stdout to a file). ``apply`` itself is not used because its preview says "nothing to do" while every device
is blocked on ``images-unknown`` (multi-hop paths need each device's image list, which only the engine's
passes fetch). Standalone firewalls run 9.1.x and target 10.1.14-h9 (9.1 -> 10.0.12 ->
10.1.14-h9: no feature release may be skipped before 10.1), HA pairs run 10.2.x and target 11.1.6-h1
(10.2 -> 11.0.6 -> 11.1.6-h1: HA members go one feature release at a time), so every device has 2 hops, each
needing a base image and a target image. Two groups, ``maxParallel`` above ``workers.max``, an always-open
window, generous validation margins (post-flight never waits for tables to refill).

Figures (how each is computed):

- makespan: from the moment ``apply`` is launched to the last device's ``finished_at`` (wall clock).
- unit: a standalone firewall, or an HA pair. A standalone's span is ``finished_at - started_at`` of its
  status file (``status/devices/<serial>.json``: ``started_at`` is the first hop's ``Begin``, ``finished_at``
  the entry into ``done``). A pair's span runs from its first member's ``started_at`` to its last member's
  ``finished_at`` (the members never overlap on a hop, so this is the pair's chain).
- device-time: the slot-seconds the engine's in-flight limit accounts: the sum over DEVICES of the time
  from the device's unit's start to the device's ``finished_at``. A standalone's slot is its own span; an
  HA pair takes both members' slots when its first member starts (the member waiting for its turn is
  counted in flight, so that a started pair never waits for capacity half-upgraded) and each member
  frees its slot when it finishes. The same figure is computed independently from the simulator's event
  log: a device's span runs from its first ``api`` event ``op:show system info`` (the pre-flight's first
  request; the planner's earlier image-list probe is not counted) to its last ``api`` event (the last
  post-flight request), and pairs reserve from their first member's first pre-flight request.
- for information, ``ratio_own_records`` counts each device only from its own ``started_at`` (a pair's
  waiting member not counted): the gap to ``ratio_records`` is what reserving a pair's two slots costs.
- lower bound = max(longest unit span, device-time / workers.max); ratio = makespan / lower bound. The
  target (``--target-ratio``, 1.10) must hold for both device-time sources.
- for information, a bound from the devices' own work alone: per device, the simulated durations of its
  download, install, content and reboot jobs (``*_start`` to ``*_end`` in the event log, times the time
  scale); a pair counts both members. ``ratio_busy`` = makespan / that bound and ``device_span_over_busy``
  (device-time / busy time) show what orchestration adds around each device (pre-/post-flight, polling
  lag, API latency), which the target ratio above does not see.
- ``seen_after_s``: after each job or reboot ends in the simulator, how long until the device's next
  API request (the poll that notices it); ``of_busy`` = the sum of those lags / the devices' busy time.
- peak in flight: the most device slots (as above) held at once (must be <= workers.max for the lower bound
  to be a bound); mean in flight = device-time / makespan.
- API calls per device per hop: the simulator's call counters (``status.json``) after apply minus before
  (discovery excluded; the planner's image-list probes included), divided by devices x 2.
- orchestrator CPU seconds and peak RSS: ``wait4`` rusage of the engine process.

Exit status 1 when the ratio is above the target or a device did not converge.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
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
# A device's upgrade starts with the pre-flight's first request; the planner's image-list probe (a
# software check, with the client's keygen) comes earlier and is not part of the device's span.
PREFLIGHT_FIRST = "op:show system info"
# What a device itself takes, whoever orchestrates it (simulator jobs and reboots, in simulated seconds).
BUSY_EVENTS = ("download", "install", "reboot", "content_download", "content_install")
CONTENT = "8899-8769"  # recent enough for 10.1 and 11.1: no content update step
HOPS = 2


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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--standalone", type=int, default=600)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--time-scale", type=float, default=0.005)
    parser.add_argument("--target-ratio", type=float, default=1.10)
    parser.add_argument("--timeout", type=float, default=3600.0, help="apply --timeout (real seconds)")
    parser.add_argument("--base-address", default="127.32.0.0")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    parser.add_argument("--profile", default="", help="run apply under this command prefix (e.g. py-spy)")
    parser.add_argument("--engine-child", nargs=2, metavar=("WORK", "DESIRED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_child:
        return engine_child(Path(args.engine_child[0]), Path(args.engine_child[1]), args.timeout)

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
            must(cli(work, "config", "set", key, str(value)))
        t_disc = time.time()
        print(must(cli(work, "device", "discover")).splitlines()[0], flush=True)
        print(f"discovery: {time.time() - t_disc:.1f} s", flush=True)
        before = fresh_status(Path(info["status"]), after=time.time())
        with open(info["events"], "rb") as fh:
            n_events_before = sum(1 for _ in fh)

        apply_cmd = [
            *(args.profile.split() if args.profile else []),
            sys.executable, __file__, "--engine-child", str(work), str(desired), "--timeout", str(args.timeout),
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
            }
        )
        print(json.dumps(result, indent=2))
        ok = (
            result["converged"] == result["devices"]
            and result["ratio_records"] <= args.target_ratio
            and result["ratio_sim_log"] <= args.target_ratio
        )
        print("PASS" if ok else f"FAIL: target ratio {args.target_ratio} missed or devices not converged")
        return 0 if ok else 1
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


def engine_child(work: Path, desired: Path, timeout: float) -> int:
    """The orchestrator: what ``apply --auto-approve`` runs once the plan is approved."""
    import threading

    from reconciler.cli import progress_view
    from reconciler.engine.session import drive, open_session
    from reconciler.workdir import logs
    from reconciler.workdir.config import Config
    from reconciler.workdir.layout import WorkPaths
    from reconciler.workdir.lock import DaemonLock

    paths = WorkPaths(work)
    cfg = Config.load(paths.config_file)
    logs.setup(
        paths,
        level=cfg.get("logging.level"),
        max_size_mb=cfg.get("logging.max_size_mb"),
        retention_days=cfg.get("logging.retention_days"),
    )
    for secret in cfg.secrets():
        logs.register_secret(secret)
    with DaemonLock(paths.lock_file):
        session = open_session(paths, cfg, desired_path=desired, serve_metrics=False)
        try:
            session.reconciler.load_records()
            with progress_view.open_view(session) as view:
                result = drive(
                    session,
                    stop=threading.Event(),
                    until_settled=True,
                    resync=2.0,
                    on_tick=view.tick,
                    deadline=time.monotonic() + timeout,
                )
        finally:
            session.close()
    return 0 if result.plan is not None and not result.plan.changes else 2


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
    spans: dict[str, tuple[float, float]] = {}
    for serial, rec in records.items():
        if rec.get("started_at") and rec.get("finished_at"):
            spans[serial] = (epoch(rec["started_at"]), epoch(rec["finished_at"]))
    # Simulator view: first and last API request per device during apply.
    api: dict[str, list[float]] = {}
    busy: dict[str, float] = defaultdict(float)
    opened: dict[tuple[str, str, str], float] = {}
    ended: dict[str, tuple[str, float]] = {}  # serial -> (what ended, wall time) until the next request
    lags: dict[str, list[float]] = defaultdict(list)
    with open(info["events"]) as fh:
        for n, line in enumerate(fh):
            if n < n_events_before:
                continue
            ev = json.loads(line)
            kind, _, edge = ev["event"].rpartition("_")
            if kind in BUSY_EVENTS and edge in ("start", "end"):
                key = (ev["serial"], kind, str(ev.get("job", "")))
                if edge == "start":
                    opened[key] = ev["sim_time"]
                elif key in opened:
                    busy[ev["serial"]] += (ev["sim_time"] - opened.pop(key)) * args.time_scale
                    ended[ev["serial"]] = (kind, ev["wall_time"])
            if ev["event"] != "api" or ev["serial"] not in devices:
                continue
            if ev["serial"] in ended:
                what, when = ended.pop(ev["serial"])
                lags[what].append(ev["wall_time"] - when)
            if ev["serial"] in api:
                api[ev["serial"]][1] = ev["wall_time"]
            elif ev["request"] == PREFLIGHT_FIRST:
                api[ev["serial"]] = [ev["wall_time"], ev["wall_time"]]
    units: list[list[str]] = []
    seen: set[str] = set()
    for serial, dev in devices.items():
        if serial in seen:
            continue
        peer = dev.get("ha_peer")
        unit = [serial, peer] if peer else [serial]
        seen.update(unit)
        units.append(unit)

    def unit_span(unit: list[str], source: dict[str, Any]) -> float:
        got = [source[s] for s in unit if s in source]
        return max(e for _, e in got) - min(s for s, _ in got) if got else 0.0

    def slots(source: dict[str, Any]) -> dict[str, tuple[float, float]]:
        """Each device's slot: from its unit's start (a pair reserves both members' slots when its first
        member starts, as the engine counts them) to the device's own end."""
        out = {}
        for unit in units:
            got = [source[s] for s in unit if s in source]
            if got:
                begin = min(b for b, _ in got)
                out.update({s: (begin, source[s][1]) for s in unit if s in source})
        return out

    own_time_rec = sum(e - s for s, e in spans.values())
    spans_log = {s: (b, e) for s, (b, e) in api.items()}
    spans, spans_log = slots(spans), slots(spans_log)
    device_time_rec = sum(e - s for s, e in spans.values())
    device_time_log = sum(e - s for s, e in spans_log.values())
    device_time_busy = sum(busy.values())
    longest_busy = max(sum(busy[s] for s in u) for u in units)
    lb_busy = max(longest_busy, device_time_busy / args.workers)
    longest_rec = max(unit_span(u, spans) for u in units)
    longest_log = max(unit_span(u, spans_log) for u in units)
    makespan = max(e for _, e in spans.values()) - t0
    lb_rec = max(longest_rec, device_time_rec / args.workers)
    lb_log = max(longest_log, device_time_log / args.workers)
    lb_own = max(longest_rec, own_time_rec / args.workers)
    # Peak concurrency of devices between started_at and finished_at.
    edges = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    live = peak = 0
    for _, delta in edges:
        live += delta
        peak = max(peak, live)
    first_start = min(s for s, _ in spans.values())
    # Devices in flight at each tenth of the makespan (how fast the engine fills its slots, and the tail).
    timeline = [sum(1 for s, e in spans.values() if s <= t0 + makespan * k / 10 < e) for k in range(10)]
    # API calls per device per hop (apply only), split standalone / HA member, with the top commands.
    calls: dict[str, Counter[str]] = {}
    for serial in devices:
        now_c = Counter(after["api_calls"].get(serial, {}))
        now_c.subtract(Counter(before["api_calls"].get(serial, {})))
        calls[serial] = +now_c
    per_kind: dict[str, list[int]] = defaultdict(list)
    commands: dict[str, Counter[str]] = defaultdict(Counter)
    for serial, c in calls.items():
        kind = "ha_member" if devices[serial].get("ha_peer") else "standalone"
        per_kind[kind].append(sum(c.values()))
        commands[kind].update(c)
    pano_calls = sum(Counter(after["api_calls"].get(info["panorama"]["serial"], {})).values()) - sum(
        Counter(before["api_calls"].get(info["panorama"]["serial"], {})).values()
    )
    calls_summary = {
        kind: {
            "devices": len(v),
            "per_device_per_hop": round(sum(v) / len(v) / HOPS, 1),
            "top_commands_per_device_per_hop": {
                cmd: round(n / len(v) / HOPS, 2) for cmd, n in commands[kind].most_common(12)
            },
        }
        for kind, v in per_kind.items()
    }
    phases = Counter(r.get("phase") or r.get("upgrade_status") for r in records.values())
    return {
        "devices": len(devices),
        "units": len(units),
        "converged": converged,
        "phases": dict(phases),
        "makespan_s": round(makespan, 1),
        "startup_to_first_begin_s": round(first_start - t0, 1),
        "device_time_records_s": round(device_time_rec, 1),
        "device_time_sim_log_s": round(device_time_log, 1),
        "longest_unit_records_s": round(longest_rec, 1),
        "longest_unit_sim_log_s": round(longest_log, 1),
        "lower_bound_records_s": round(lb_rec, 1),
        "lower_bound_sim_log_s": round(lb_log, 1),
        "ratio_records": round(makespan / lb_rec, 3),
        "ratio_sim_log": round(makespan / lb_log, 3),
        "own_device_time_records_s": round(own_time_rec, 1),
        "ratio_own_records": round(makespan / lb_own, 3),
        "device_busy_s": round(device_time_busy, 1),
        "lower_bound_busy_s": round(lb_busy, 1),
        "ratio_busy": round(makespan / lb_busy, 3),
        "device_span_over_busy": round(own_time_rec / device_time_busy, 2),
        "seen_after_s": {
            what: {
                "mean": round(sum(v) / len(v), 3),
                "max": round(max(v), 3),
                "of_busy": round(sum(v) / total, 3),
            }
            for what, v in sorted(lags.items())
            for total in [sum(busy.values()) or 1.0]
        },
        "peak_in_flight": peak,
        "mean_in_flight": round(device_time_rec / makespan, 1),
        "in_flight_at_tenths": timeline,
        "mean_device_span_s": round(own_time_rec / max(1, len(spans)), 1),
        "api_calls": calls_summary,
        "api_calls_total": sum(sum(c.values()) for c in calls.values()),
        "api_calls_panorama": pano_calls,
        "api_calls_per_s": round(sum(sum(c.values()) for c in calls.values()) / makespan, 1),
    }


if __name__ == "__main__":
    raise SystemExit(main())
