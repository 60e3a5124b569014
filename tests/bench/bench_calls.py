"""Benchmark: the device seam's cost per API call (CPU and calls per second), TLS verified.

Run by hand (not part of the test suite)::

    .venv/bin/python tests/bench/bench_calls.py                       # 200 firewalls, 50 threads
    .venv/bin/python tests/bench/bench_calls.py --latency-ms 50 --calls 20

The simulator runs as ``panos-upgrade sim serve`` in its own process, as in ``bench_discovery.py``. This
process drives the product's ``FirewallClient`` (real pan-os-python, TLS verified against the simulator's CA):

- ``sequential``: one client, ``--calls`` x 10 ``show system info`` calls in a row (its API key generated
  before timing);
- ``parallel``: ``--threads`` threads, one client per firewall (``--firewalls`` of them), each firewall
  asked ``--calls`` times (``show system info``), API keys generated before timing.

Reported (one JSON line each): calls, wall seconds, calls/s, this process's CPU milliseconds per call, the
TLS connections the simulator accepted during the phase (``connections`` in its status) and the machine's
load average (a shared machine's figures vary with it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_discovery import configure, start_simulator

from reconciler.device.client import FirewallClient, firewall_credentials, firewall_endpoint


def sim_connections(status_path: Path, after: float, timeout: float = 60.0) -> int:
    """Connections the simulator accepted, from a ``status.json`` written after ``after`` (epoch); -1 when
    the simulator does not count them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = json.loads(status_path.read_text())
        except (OSError, ValueError):
            status = {}
        if status.get("wall_time", 0) > after:
            return sum(status["connections"].values()) if "connections" in status else -1
        time.sleep(0.25)
    raise SystemExit("the simulator wrote no fresh status.json")


def phase(name: str, run: Any, calls: int, status: Path) -> None:
    before = sim_connections(status, time.time())
    cpu0, t0 = time.process_time(), time.perf_counter()
    run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    after = sim_connections(status, time.time())
    print(json.dumps({
        "phase": name, "calls": calls, "wall_s": round(wall, 2), "calls_per_s": round(calls / wall, 1),
        "cpu_ms_per_call": round(cpu / calls * 1000, 3),
        "tls_connections": after - before if before >= 0 else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--firewalls", type=int, default=200)
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--calls", type=int, default=10, help="calls per firewall (parallel phase)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--base-address", default="127.34.0.0")
    args = parser.parse_args()
    args.ha_pairs = 0

    tmp = Path(tempfile.mkdtemp(prefix="bench-calls-"))
    proc, info = start_simulator(args, tmp / "sim")
    status = Path(info["status"])
    try:
        cfg = configure(tmp / "work", info)
        creds = firewall_credentials(cfg)
        clients = [
            FirewallClient(firewall_endpoint(cfg, d["address"]), creds, serial=d["serial"])
            for d in info["devices"][: args.firewalls]
        ]
        with ThreadPoolExecutor(args.threads) as pool:  # API keys first, outside the timing
            list(pool.map(lambda c: c.system_info(), clients))
        print(json.dumps({"firewalls": len(clients), "threads": args.threads, "latency_ms": args.latency_ms}))

        one, sequential = clients[0], args.calls * 10

        def in_a_row() -> None:
            for _ in range(sequential):
                one.system_info()

        phase("sequential", in_a_row, sequential, status)

        def parallel() -> None:
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(lambda c: [c.system_info() for _ in range(args.calls)], clients))

        phase("parallel", parallel, len(clients) * args.calls, status)
        return 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    raise SystemExit(main())
