"""Benchmark: peak memory of the daemon driving 2,000 firewalls and of the simulator serving them (HTTPS).

Run by hand (not part of the test suite)::

    .venv/bin/python tests/bench/bench_memory.py --runs 3               # the whole rollout, three times
    .venv/bin/python tests/bench/bench_memory.py --max-seconds 120      # stop the rollout after 120 s

The rollout is the reliability suite's load test (``tests/reliability/test_load.py``): 2,000 generated
firewalls (200 HA pairs, six device groups, seed 23), its desired state with one wave per group, 200 in
flight (``workers.max`` and ``maxParallel``), time scale 0.005, TLS verified against the simulator's CA.
Unlike the load test, the simulator runs in its own process (``panos-upgrade sim serve``, HTTPS) so that
each process is measured alone; the work directory is set up as an operator does it (``init``, ``config
set``, ``device discover``), then ``panos-upgrade daemon run -f DESIRED`` runs until the rollout settles
(nothing in flight, the device phases unchanged over four reads of ``status/daemon.json`` 2 s apart) or
``--max-seconds`` pass, and is stopped with SIGTERM.

Measured from outside, in ``/proc/<pid>/status`` of each process, sampled every 0.5 s:

- **peak RSS** = ``VmHWM`` (the kernel's high-water mark of resident memory, so no peak between two samples
  is missed), read just before the process is stopped;
- RSS (``VmRSS``) 15 s after the daemon started and at the end, and the most threads seen;
- the simulator's ``VmHWM`` once it listens (before any request) and at the end (after serving the rollout).

Goals (issue 18.7): daemon <= 150 MB, simulator <= 200 MB. ``--runs N`` repeats the whole run (fresh
simulator and work directory) and prints the median of each figure with the load average of each run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from reconciler.workdir.layout import WorkPaths  # noqa: E402
from tests.reliability import rollout  # noqa: E402
from tests.reliability.daemon_proc import DaemonProcess  # noqa: E402

GOALS_MB = {"daemon_peak_rss_mb": 150.0, "sim_peak_rss_mb": 200.0}
HEADLINE = (
    "daemon_peak_rss_mb",
    "daemon_rss_15s_mb",
    "daemon_rss_end_mb",
    "daemon_threads_max",
    "sim_peak_rss_at_start_mb",
    "sim_peak_rss_mb",
    "rollout_s",
)


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS (kB) and Threads of ``pid``; empty once it is gone."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    except OSError:
        return {}
    return out


def cli(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "reconciler", "--work-dir", str(work), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)


def must(result: subprocess.CompletedProcess[str]) -> str:
    if result.returncode != 0:
        raise SystemExit(f"{result.args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--firewalls", type=int, default=2000)
    parser.add_argument("--ha-pairs", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=200, help="workers.max and maxParallel")
    parser.add_argument("--time-scale", type=float, default=0.005)
    parser.add_argument("--runs", type=int, default=1, help="repeat and report medians")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop the rollout after this")
    parser.add_argument("--base-address", default="127.33.0.0")
    parser.add_argument("--keep", action="store_true", help="keep the temp directories")
    parser.add_argument(
        "--daemon-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set in the daemon's environment only (e.g. PYTHONTRACEMALLOC=1); repeatable",
    )
    args = parser.parse_args()
    results = []
    for n in range(args.runs):
        print(f"run {n + 1}/{args.runs}: load average {os.getloadavg()}", flush=True)
        results.append(run_once(args))
    summary = {
        "fleet": f"{args.firewalls} firewalls ({args.ha_pairs} HA pairs), {args.in_flight} in flight",
        "time_scale": args.time_scale,
        "runs": args.runs,
        "median": {k: statistics.median(r[k] for r in results) for k in HEADLINE},
        "all": {k: [r[k] for r in results] for k in HEADLINE},
        "load_average": [r["load_average"] for r in results],
        "goals_mb": GOALS_MB,
    }
    print(json.dumps(summary, indent=2))
    missed = [k for k, goal in GOALS_MB.items() if summary["median"][k] > goal]
    print("PASS" if not missed else f"FAIL: above the goal: {', '.join(missed)}")
    return 0 if not missed else 1


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    sim_dir, work, desired = tmp / "sim", tmp / "work", tmp / "desired"
    sim_cmd = [
        sys.executable, "-m", "reconciler", "sim", "serve", "--state-dir", str(sim_dir),
        "--firewalls", str(args.firewalls), "--ha-pairs", str(args.ha_pairs), "--device-groups", "6",
        "--seed", "23", "--time-scale", str(args.time_scale), "--port", "0",
        "--base-address", args.base_address, "--duration", str(args.max_seconds + 1800),
    ]  # fmt: skip
    sim = subprocess.Popen(sim_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    daemon: DaemonProcess | None = None
    try:
        deadline = time.monotonic() + 600
        while not (sim_dir / "sim.json").exists():
            if sim.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"simulator did not start:\n{sim.communicate()[0]}")
            time.sleep(0.1)
        sim_at_start = proc_status(sim.pid)
        info = json.loads((sim_dir / "sim.json").read_text())
        pano, fw = info["credentials"]["panorama"], info["credentials"]["firewalls"]
        must(cli(work, "init"))
        settings: dict[str, Any] = {
            **rollout.ROLLOUT_CONFIG,
            "panorama.host": info["panorama"]["address"],
            "panorama.port": info["port"],
            "panorama.username": pano["user"],
            "panorama.password": pano["password"],
            "panorama.ca_bundle": info["ca_path"],
            "panorama.rate_limit": 100000,
            "firewall.username": fw["user"],
            "firewall.password": fw["password"],
            "firewall.port": info["port"],
            "firewall.ca_bundle": info["ca_path"],
            "workers.max": args.in_flight,
            "daemon.resync_interval": 10,
        }
        for key, value in settings.items():
            # "--": a generated password may begin with "-" (it would be read as an option)
            must(cli(work, "config", "set", "--", key, str(value)))
        print(must(cli(work, "device", "discover")).splitlines()[0], flush=True)
        desired.mkdir()
        (desired / "fleet.yaml").write_text(
            "apiVersion: panos-upgrade/v1\n" + rollout.desired_yaml(max_parallel=args.in_flight, canary=None)
        )
        paths = WorkPaths(work)
        env = dict(item.split("=", 1) for item in args.daemon_env)
        daemon = DaemonProcess(paths, desired, env=env).start()
        t0 = time.monotonic()
        settled = rollout.Settled(daemon)
        rss_15s = threads = 0
        last: dict[str, int] = {}
        sim_last: dict[str, int] = {}
        next_settle_check = t0 + 2
        while time.monotonic() - t0 < args.max_seconds:
            if not daemon.alive():
                raise SystemExit(f"the daemon died; see {daemon.stderr}")
            last = proc_status(daemon.pid) or last
            sim_last = proc_status(sim.pid) or sim_last
            threads = max(threads, last.get("Threads", 0))
            if not rss_15s and time.monotonic() - t0 >= 15:
                rss_15s = last.get("VmRSS", 0)
            if time.monotonic() >= next_settle_check:
                next_settle_check += 2
                try:
                    if settled():
                        break
                except (OSError, ValueError, KeyError):
                    pass  # daemon.json not written yet
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        last = proc_status(daemon.pid) or last
        sim_last = proc_status(sim.pid) or sim_last
        code = daemon.stop(timeout=300)
        try:
            counts = json.loads(paths.daemon_status_file.read_text()).get("counts_by_phase")
        except (OSError, ValueError):
            counts = None  # stopped before its first pass wrote status/daemon.json
        result = {
            "daemon_peak_rss_mb": round(last["VmHWM"] / 1024, 1),
            "daemon_rss_15s_mb": round(rss_15s / 1024, 1),
            "daemon_rss_end_mb": round(last["VmRSS"] / 1024, 1),
            "daemon_threads_max": threads,
            "daemon_exit": code,
            "sim_peak_rss_at_start_mb": round(sim_at_start["VmHWM"] / 1024, 1),
            "sim_peak_rss_mb": round(sim_last["VmHWM"] / 1024, 1),
            "sim_rss_end_mb": round(sim_last["VmRSS"] / 1024, 1),
            "rollout_s": round(elapsed, 1),
            "settled": elapsed < args.max_seconds,
            "counts_by_phase": counts,
            "load_average": os.getloadavg(),
        }
        print(json.dumps(result), flush=True)
        return result
    finally:
        if daemon is not None and daemon.alive():
            daemon.stop(timeout=300)
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(60)
        except subprocess.TimeoutExpired:
            sim.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)


if __name__ == "__main__":
    raise SystemExit(main())
