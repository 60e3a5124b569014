"""Benchmark: one simulator process holding N firewalls + Panorama, hammered by C concurrent clients.

Run by hand (not part of the test suite)::

    .venv/bin/python tests/bench/bench_sim.py                      # 2,000 firewalls, 50 clients, HTTPS
    .venv/bin/python tests/bench/bench_sim.py --latency-ms 50      # with 50 ms added per call
    .venv/bin/python tests/bench/bench_sim.py --firewalls 500 --http

The simulator runs as ``panos-upgrade sim serve`` in its own process; the clients run here in a thread pool
(each request a new TCP + TLS connection with ``Connection: close``, as pan-python does), verifying the
simulator's CA. Reported: start-up time, listening sockets held, the server's RSS (``VmRSS`` at the end)
and peak RSS (``VmHWM``, once listening and at the end; goal for 2,000 HTTPS firewalls <= 200 MB, issue
18.7), and requests/s for ``keygen`` and ``show system info`` on every firewall.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (its high-water mark) of ``pid``, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def listening_sockets(pid: int) -> int:
    """LISTEN sockets owned by ``pid`` (inode match between /proc/PID/fd and /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
            count += 1
    return count


def call(
    address: str, port: int, ctx: ssl.SSLContext | None, params: dict[str, str], timeout: float
) -> ET.Element:
    body = urllib.parse.urlencode(params)
    if ctx is None:
        conn: http.client.HTTPConnection = http.client.HTTPConnection(address, port, timeout=timeout)
    else:
        conn = http.client.HTTPSConnection(address, port, timeout=timeout, context=ctx)
    try:
        conn.request("POST", "/api/", body, {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
        return ET.fromstring(data)
    finally:
        conn.close()


def phase(name: str, jobs: list[Any], fn: Any, concurrency: int) -> tuple[list[Any], dict[str, Any]]:
    errors = 0
    results: list[Any] = []
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for outcome in pool.map(lambda j: _safe(fn, j), jobs):
            if isinstance(outcome, Exception):
                errors += 1
            results.append(outcome)
    elapsed = time.perf_counter() - start
    stats = {"phase": name, "requests": len(jobs), "errors": errors, "seconds": round(elapsed, 2),
             "requests_per_s": round(len(jobs) / elapsed, 1)}  # fmt: skip
    print(json.dumps(stats))
    return results, stats


def _safe(fn: Any, job: Any) -> Any:
    try:
        return fn(job)
    except Exception as exc:  # a benchmark counts failures instead of stopping at the first
        return exc


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--firewalls", type=int, default=2000)
    parser.add_argument("--ha-pairs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--http", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of 'show system info' over every firewall"
    )
    parser.add_argument("--base-address", default="127.30.0.0")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    cmd = [
        sys.executable, "-m", "reconciler", "sim", "serve", "--state-dir", str(state), "--firewalls",
        str(args.firewalls), "--ha-pairs", str(args.ha_pairs), "--device-groups", "8", "--port", "0",
        "--base-address", args.base_address, "--latency-ms", str(args.latency_ms), "--duration", "900",
    ] + (["--http"] if args.http else [])  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (state / "sim.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                print(proc.communicate()[0], file=sys.stderr)
                return 1
            time.sleep(0.05)
        startup = time.perf_counter() - t0
        info = json.loads((state / "sim.json").read_text())
        ctx = None if args.http else ssl.create_default_context(cafile=info["ca_path"])
        port = info["port"]
        creds = info["credentials"]["firewalls"]
        addresses = [d["address"] for d in info["devices"]]
        print(json.dumps({"firewalls": len(addresses), "startup_s": round(startup, 2), "port": port,
                          "scheme": info["scheme"], "concurrency": args.concurrency,
                          "latency_ms": args.latency_ms,
                          "server_peak_rss_at_start_mb": round(rss_mb(proc.pid, "VmHWM"), 1)}))  # fmt: skip

        def keygen(address: str) -> str:
            root = call(
                address,
                port,
                ctx,
                {"type": "keygen", "user": creds["user"], "password": creds["password"]},
                30,
            )
            return root.findtext("result/key") or ""

        keys, _ = phase("keygen", addresses, keygen, args.concurrency)
        pairs = [(a, k) for a, k in zip(addresses, keys, strict=True) if isinstance(k, str)]
        cmd_xml = "<show><system><info></info></system></show>"

        def system_info(pair: tuple[str, str]) -> str:
            root = call(pair[0], port, ctx, {"type": "op", "cmd": cmd_xml, "key": pair[1]}, 30)
            return root.findtext("result/system/sw-version") or ""

        for n in range(args.rounds):
            versions, _ = phase(f"show system info #{n + 1}", pairs, system_info, args.concurrency)
        ok = sum(1 for v in versions if isinstance(v, str) and v)
        print(json.dumps({"server_pid": proc.pid, "listening_sockets": listening_sockets(proc.pid),
                          "server_rss_mb": round(rss_mb(proc.pid), 1),
                          "server_peak_rss_mb": round(rss_mb(proc.pid, "VmHWM"), 1),
                          "system_info_ok": ok, "load_average": os.getloadavg()}))  # fmt: skip
        return 0 if ok == len(addresses) else 2
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    raise SystemExit(main())
