"""Benchmark: discovery of a 2,000-firewall fleet answering at a realistic 50 ms per call.

Run by hand (not part of the test suite)::

    .venv/bin/python tests/bench/bench_discovery.py                 # 2,000 firewalls, 100 HA pairs
    .venv/bin/python tests/bench/bench_discovery.py --firewalls 500 --target 5

The simulator runs as ``panos-upgrade sim serve --latency-ms 50`` in its own process (production never
shares a GIL with its firewalls). This process then runs the product's discovery exactly as
``device discover`` does: ``reconciler.device.discovery.discover`` with the real ``FirewallClient`` factory built
from the work directory's config (TLS verified against the simulator's CA), the DEFAULT number of workers
(``discovery.workers``) and the default Panorama rate limit. The only addition is an ``on_call`` hook that
timestamps each firewall's calls for the per-device latency figure.

Two passes, each timed as ``device discover`` works (issue 18.6): the first from an empty work directory
(discovery, then writing ``inventory.json``); the second a re-discovery (reading the previous
``inventory.json``, discovery with it as ``previous``, writing the new one).

Reported (one JSON line each): wall time of each pass, API calls the simulator counted and calls/s,
per-device latency (first call to last answer; p50/p95/max), this process's CPU seconds and RSS, and the
machine's load average (wall times on a shared machine vary with it).
Exit status 1 when a pass takes longer than ``--target`` seconds (default 10) or a device is unknown.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from reconciler.cli.init_cmd import initialise
from reconciler.device import discovery
from reconciler.device.client import (
    FirewallClient,
    firewall_credentials,
    firewall_endpoint,
    panorama_from_config,
)
from reconciler.workdir import inventory_store
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_simulator(args: argparse.Namespace, state: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [
        sys.executable, "-m", "reconciler", "sim", "serve", "--state-dir", str(state),
        "--firewalls", str(args.firewalls), "--ha-pairs", str(args.ha_pairs), "--device-groups", "8",
        "--seed", "7", "--port", "0", "--base-address", args.base_address,
        "--latency-ms", str(args.latency_ms), "--duration", "900",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not (state / "sim.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"simulator did not start:\n{proc.communicate()[0]}")
        time.sleep(0.05)
    return proc, json.loads((state / "sim.json").read_text())


def configure(work: Path, info: dict[str, Any]) -> Config:
    """A work directory whose config points at the simulator; everything else left at its default."""
    paths = WorkPaths(work)
    initialise(paths)
    cfg = Config.load(paths.config_file)
    pano, fw = info["credentials"]["panorama"], info["credentials"]["firewalls"]
    for key, value in {
        "panorama.host": info["panorama"]["address"],
        "panorama.port": info["port"],
        "panorama.username": pano["user"],
        "panorama.password": pano["password"],
        "panorama.ca_bundle": info["ca_path"],
        "firewall.username": fw["user"],
        "firewall.password": fw["password"],
        "firewall.port": info["port"],
        "firewall.ca_bundle": info["ca_path"],
    }.items():
        cfg.set(key, str(value))
    cfg.save()
    return cfg


def sim_api_calls(status_path: Path, after: float, timeout: float = 60.0) -> dict[str, dict[str, int]]:
    """The simulator's per-device call counters from a ``status.json`` written after ``after`` (epoch)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = json.loads(status_path.read_text())
        except (OSError, ValueError):
            status = {}
        if status.get("wall_time", 0) > after:
            calls: dict[str, dict[str, int]] = status["api_calls"]
            return calls
        time.sleep(0.25)
    raise SystemExit("the simulator wrote no fresh status.json")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--firewalls", type=int, default=2000)
    parser.add_argument("--ha-pairs", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--target", type=float, default=10.0, help="seconds a discovery pass may take")
    parser.add_argument("--base-address", default="127.31.0.0")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-discovery-"))
    proc, info = start_simulator(args, tmp / "sim")
    try:
        cfg = configure(tmp / "work", info)
        workers = int(cfg.get("discovery.workers"))
        creds = firewall_credentials(cfg)
        started: dict[str, float] = {}
        finished: dict[str, float] = {}
        client_calls = [0]
        lock = threading.Lock()

        def factory(host: str, serial: str) -> FirewallClient:
            started[serial] = time.perf_counter()

            def on_call(verb: str, error_kind: str | None, path: str) -> None:
                with lock:
                    client_calls[0] += 1
                finished[serial] = time.perf_counter()

            return FirewallClient(firewall_endpoint(cfg, host), creds, serial=serial, on_call=on_call)

        print(json.dumps({"firewalls": len(info["devices"]), "ha_pairs": args.ha_pairs,
                          "latency_ms": args.latency_ms, "workers": workers,
                          "panorama_rate_limit_per_min": cfg.get("panorama.rate_limit"),
                          "verify_tls": cfg.get("firewall.verify_tls")}))  # fmt: skip
        print(json.dumps({"load_average": os.getloadavg()}))
        paths = WorkPaths(tmp / "work")
        sim_cpu0 = proc_cpu_s(proc.pid)
        cpu0, t0 = time.process_time(), time.perf_counter()
        inv = discovery.discover(
            panorama_from_config(cfg),
            factory,
            workers=workers,
            retry_attempts=int(cfg.get("discovery.retry_attempts")),
            now="2026-01-01T00:00:00+00:00",
        )
        inventory_store.save(paths, inv)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        sim_cpu = proc_cpu_s(proc.pid) - sim_cpu0
        end_epoch = time.time()

        first_probe = min(started.values()) - t0 if started else 0.0
        latencies = sorted(finished[s] - started[s] for s in finished if s in started)
        calls = sim_api_calls(Path(info["status"]), after=end_epoch)
        pano_serial = info["panorama"]["serial"]
        fw_calls = sum(sum(c.values()) for s, c in calls.items() if s != pano_serial)
        pano_calls = sum(calls.get(pano_serial, {}).values())
        by_type = {t: sum(1 for d in inv if d.device_type == t) for t in ("standalone", "ha_pair", "unknown")}
        # The second pass: a re-discovery over the inventory just written.
        t1 = time.perf_counter()
        previous = inventory_store.load(paths, required=False)
        again = discovery.discover(
            panorama_from_config(cfg),
            factory,
            workers=workers,
            retry_attempts=int(cfg.get("discovery.retry_attempts")),
            now="2026-01-01T01:00:00+00:00",
            previous=previous,
        )
        inventory_store.save(paths, again)
        rediscovery = time.perf_counter() - t1
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result = {
            "discovery_wall_s": round(wall, 2),
            "rediscovery_wall_s": round(rediscovery, 2),
            "panorama_phase_s": round(first_probe, 2),
            "probe_phase_s": round(wall - first_probe, 2),
            "devices": len(inv),
            **by_type,
            "pairs": len(inv.pairs()),
            "api_calls_firewalls": fw_calls,
            "api_calls_panorama": pano_calls,
            "calls_per_device": round(fw_calls / max(1, len(inv)), 2),
            "calls_per_s": round((fw_calls + pano_calls) / wall, 1),
            "firewall_calls_per_s_probe_phase": round(fw_calls / max(1e-9, wall - first_probe), 1),
            "device_latency_s": {
                "p50": round(statistics.median(latencies), 3) if latencies else None,
                "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 3) if latencies else None,
                "max": round(latencies[-1], 3) if latencies else None,
            },
            "client_cpu_s": round(cpu, 2),
            "simulator_cpu_s": round(sim_cpu, 2),  # the first pass; the simulator shares this machine's cores
            "client_cpu_share_of_one_core": round(cpu / wall, 2),
            "client_rss_mb": round(rss_mb(), 1),
            "client_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "server_rss_mb": round(rss_mb(proc.pid), 1),
            "target_s": args.target,
        }
        print(json.dumps(result))
        ok = (
            max(wall, rediscovery) <= args.target
            and by_type["unknown"] == 0
            and len(inv) == len(again) == len(info["devices"])
        )
        print("PASS" if ok else "FAIL: target missed or devices unknown")
        return 0 if ok else 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    raise SystemExit(main())
