"""Benchmark: this engine side by side with the peer tool, ``pan-os-upgrade`` (PyPI, by cdot65), issue 18.8.

Run by hand (not part of the test suite)::

    .venv/bin/python tests/bench/bench_peer.py --runs 3            # both tools, time scale 0.02
    .venv/bin/python tests/bench/bench_peer.py --tool peer --runs 1

The same fleet for both: 10 standalone hardware firewalls on 11.1.x, target 11.2.4: one hop, with the base
image 11.2.0 to fetch first, content recent enough (no content step). Each tool gets a fresh simulator of the
same fleet and seed, ``panos-upgrade sim serve`` in its own process on port 443 (the peer has no port option),
loopback addresses only, ``--api-events``. Durations are drawn per device from the seed, so both tools get
nearly the same device work (a refused attempt, e.g. an install while the software manager settles, draws
too, so later durations may differ a little: each run reports its own devices' busy time).

- **engine**: ``device discover`` then ``panos-upgrade apply --auto-approve`` as an operator runs them, in a
  fresh work directory, ``engine.time_scale`` = the simulator's (its waits are simulated seconds),
  ``workers.max`` = the number of firewalls (all at once, as the peer's commands; the default is 5).
- **peer**: pan-os-upgrade 1.3.11 unmodified, from its own virtual environment made on demand (its pins
  conflict with ours; the same environment and settings the integration test ``tests/sim/test_pan_os_upgrade``
  uses: click held below 8.2 for its typer, the en_US.UTF-8 locale, a ``settings.yaml`` that sets only the
  snapshot comparison's thresholds). ``--peer-mode firewall`` (default): its ``pan-os-upgrade firewall``
  command, which upgrades one firewall over a direct connection as the engine's does, 10 of them started
  together; ``--peer-mode batch``: its fleet command, ``pan-os-upgrade batch --inventory=<10 hostnames>``,
  one process whose threads (10 by default) reach the firewalls through Panorama. Each runs
  ``--non-interactive`` in its own directory through ``tests/sim/clients/launcher.py``: the process's
  ``time.sleep``/``time``/``monotonic`` run on the simulator's clock, so every shipped wait and poll interval
  (0.5 s job polls, 30 s download polls, 60 s waits around installs and reboots, 120 s before its post
  snapshot) lasts the same *simulated* time as it would on a real device. If the environment cannot be made
  (no package index, no ``localedef``) or port 443 cannot be bound, the benchmark prints ``SKIP: <why>`` and
  exits 0.

What is compared (both tools on the same footing: both wait in simulated seconds; neither's CPU, network or
start-up time is scaled, so those weigh 1 / time scale = 50x more in simulated terms than on a real fleet):

- **verified**: from launching the tool (``device discover`` for the engine, the 10 processes for the peer)
  until the last firewall is verified on the target, i.e. the first ``show system info`` the firewall answered
  after its upgrade reboot ended (from the simulator's event log, through Panorama too; that answer is how
  both tools read the version). Wall seconds, and simulated seconds (wall / time scale). The headline ratio is peer / engine.
- **from first call**: the same, from the tool's first API request (leaves out process start-up).
- **exit**: launch until every process of the tool exited (each tool's post-upgrade checks included).
- **API calls per firewall-hop**: the simulator's own counters (``status.json``: every request a device
  answered or refused, and connections it dropped while restarting), after the run minus before: the
  firewalls' and Panorama's requests, each once (one Panorama forwarded counts on Panorama only) / 10 hops.
  The engine's discovery and preview are included. Under a scaled clock each call's own latency lasts 50x longer
  in simulated time, so a tool that polls back to back (the peer's 0.5 s job polls) makes fewer calls than
  its real-time schedule; the figure ``install_s_over_half_second`` is what the peer's 0.5 s interval gives
  over the install jobs it polled (job duration / 0.5 s, from the event log).
- **hop idle**: per firewall, from its first download to its verification (simulated seconds), less its own
  busy time: what the tool adds during the hop proper (its waits, checks, late polls), start-up left out;
  ``hop_idle_per_firewall_sim_s`` is the mean over the firewalls.
- **busy**: per firewall, the time its own jobs and reboots took (as ``bench_engine.py``), to show both tools
  had the same device work. ``longest_busy_s`` bounds every tool: with all firewalls at once, none can verify
  the last one before its own downloads, install and reboot are over; ``verified_over_longest_busy`` is how
  far above that bound a tool ends, so peer/engine on verified time can be at most the peer's figure.

Every run is bounded: ``--timeout`` real seconds per tool (its processes are killed past it, the run fails)
and the simulator's ``--duration``. Exit status 1 when a tool did not get every firewall to the target or a
goal (peer/engine >= 3 on verified wall time, >= 10 on API calls per firewall-hop, medians) is missed.
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
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench_engine import busy_time, cli, fresh_status, must  # noqa: E402

from tests.sim.clients.run import LAUNCHER  # noqa: E402
from tests.sim.clients.venv import VenvUnavailable, ensure_locale, ensure_venv  # noqa: E402
from tests.sim.test_pan_os_upgrade import REQUIREMENTS, SETTINGS, VERSION  # noqa: E402

TARGET = "11.2.4"
FROM = ["11.1.4", "11.1.5", "11.1.6"]
MODELS = ["PA-440", "PA-460", "PA-850", "PA-3220", "PA-3410", "PA-5220"]
CONTENT = "9021-9135"
GOAL_FASTER, GOAL_FEWER = 3.0, 10.0
HEADLINE = (
    "verified_wall_s",
    "verified_sim_s",
    "from_first_call_wall_s",
    "exit_wall_s",
    "calls_per_firewall_hop",
    "longest_busy_s",
    "verified_over_longest_busy",
    "hop_idle_per_firewall_sim_s",
)

DESIRED = f"""\
apiVersion: panos-upgrade/v1
windows:
  always: {{days: [daily], start: "00:00", end: "24:00", timezone: UTC}}
defaults:
  maintenanceWindows: [always]
  failureBudget: 100
groups:
  - name: all
    select: {{ha: false}}
    target: "{TARGET}"
    maxParallel: 100
"""


def fleet(n: int, seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    devices = [
        {
            "serial": f"0130{i:08d}",
            "hostname": f"site-{i:02d}",
            "model": rnd.choice(MODELS),
            "version": rnd.choice(FROM),
            "content_version": CONTENT,
            "device_group": "sites",
            "free_disk_mb": 9000,
        }
        for i in range(n)
    ]
    return {"seed": seed, "devices": devices}


class Skip(Exception):
    """The benchmark cannot run here (printed as SKIP)."""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tool", choices=("both", "engine", "peer"), default="both")
    parser.add_argument(
        "--peer-mode",
        choices=("firewall", "batch"),
        default="firewall",
        help="the peer's 'firewall' command once per firewall (direct), or one 'batch' through Panorama",
    )
    parser.add_argument("--firewalls", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=0.02)
    parser.add_argument("--runs", type=int, default=1, help="repeat and report medians")
    parser.add_argument(
        "--timeout", type=float, help="real seconds per tool and run (default 600 + 8,000 simulated seconds)"
    )
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--venv", type=Path, default=ROOT / ".pytest_cache" / "d" / f"pan-os-upgrade-{VERSION}"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp directories")
    args = parser.parse_args()
    if args.timeout is None:
        args.timeout = 600 + 8000 * args.time_scale
    tools = ["engine", "peer"] if args.tool == "both" else [args.tool]
    try:
        peer = install_peer(args.venv) if "peer" in tools else None
        results: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for n in range(args.runs):
            for tool in tools:
                print(f"run {n + 1}/{args.runs} {tool}: load average {os.getloadavg()}", flush=True)
                results[tool].append(run_once(args, tool, peer))
    except Skip as why:
        print(f"SKIP: {why}")
        return 0
    summary: dict[str, Any] = {
        "time_scale": args.time_scale,
        "firewalls": args.firewalls,
        "runs": args.runs,
        "peer_mode": args.peer_mode,
    }
    ok = True
    for tool, runs in results.items():
        ok = ok and all(r["on_target"] == args.firewalls for r in runs)
        summary[tool] = {
            "median": {k: statistics.median(r[k] for r in runs) for k in HEADLINE},
            "all": {k: [r[k] for r in runs] for k in HEADLINE},
        }
    if len(results) == 2:
        eng, peer_m = summary["engine"]["median"], summary["peer"]["median"]
        faster = peer_m["verified_wall_s"] / eng["verified_wall_s"]
        fewer = peer_m["calls_per_firewall_hop"] / eng["calls_per_firewall_hop"]
        summary["peer_over_engine"] = {
            "verified_wall": round(faster, 2),
            "from_first_call_wall": round(
                peer_m["from_first_call_wall_s"] / eng["from_first_call_wall_s"], 2
            ),
            "exit_wall": round(peer_m["exit_wall_s"] / eng["exit_wall_s"], 2),
            "calls_per_firewall_hop": round(fewer, 1),
            "hop_idle": round(
                peer_m["hop_idle_per_firewall_sim_s"] / max(1, eng["hop_idle_per_firewall_sim_s"]), 2
            ),
        }
        ok = ok and faster >= GOAL_FASTER and fewer >= GOAL_FEWER
    print(json.dumps(summary, indent=2))
    print(
        "PASS"
        if ok
        else f"FAIL: not every firewall on {TARGET}, or a goal missed (>= {GOAL_FASTER}x, >= {GOAL_FEWER}x)"
    )
    return 0 if ok else 1


def install_peer(directory: Path) -> tuple[Path, dict[str, str]]:
    """The peer's Python and the environment it needs (LOCPATH where en_US.UTF-8 had to be made)."""
    try:
        python = ensure_venv(directory, REQUIREMENTS, "pan_os_upgrade")
        locales = ensure_locale(directory.with_name("locales"))
    except VenvUnavailable as why:
        raise Skip(f"pan-os-upgrade cannot be installed here: {why}") from None
    return python, ({} if locales is None else {"LOCPATH": str(locales)})


def start_sim(
    args: argparse.Namespace, tmp: Path, base_address: str
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    (tmp / "fleet.yaml").write_text(yaml.safe_dump(fleet(args.firewalls, args.seed)))
    state = tmp / "sim"
    cmd = [
        sys.executable, "-m", "reconciler", "sim", "serve", "--fleet", str(tmp / "fleet.yaml"),
        "--state-dir", str(state), "--time-scale", str(args.time_scale), "--port", "443",
        "--base-address", base_address, "--api-events", "--duration", str(args.timeout + 300),
    ]  # fmt: skip
    log = (tmp / "sim.out").open("w")
    sim = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (state / "sim.json").exists():
        if sim.poll() is not None or time.monotonic() > deadline:
            stop(sim)
            out = (tmp / "sim.out").read_text()
            if "443" in out and ("ermission" in out or "in use" in out):
                raise Skip(
                    f"the simulator cannot listen on port 443 (the peer has no port option): {out[-300:]}"
                )
            raise SystemExit(f"simulator did not start:\n{out}")
        time.sleep(0.1)
    return sim, json.loads((state / "sim.json").read_text())


def stop(proc: subprocess.Popen[Any], group: bool = False) -> None:
    if proc.poll() is not None:
        return
    if group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait(30)


def run_once(args: argparse.Namespace, tool: str, peer: tuple[Path, dict[str, str]] | None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-peer-{tool}-"))
    # Each tool its own simulator on its own addresses (a fresh fleet, same seed).
    sim, info = start_sim(args, tmp, "127.118.0.0" if tool == "engine" else "127.119.0.0")
    try:
        before = fresh_status(Path(info["status"]), after=time.time())
        with open(info["events"], "rb") as fh:
            n_events_before = sum(1 for _ in fh)
        if tool == "engine":
            t0, t_exit, detail = run_engine(args, info, tmp)
        else:
            assert peer is not None
            t0, t_exit, detail = run_peer(args, info, tmp, *peer)
        after = fresh_status(Path(info["status"]), after=time.time())
        result = analyse(args, info, t0, t_exit, before, after, n_events_before)
        result.update(detail)
        result["load_average_after"] = os.getloadavg()
        print(json.dumps(result, indent=2), flush=True)
        return result
    finally:
        stop(sim)
        if args.keep:
            print(f"kept {tmp}")
        else:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)


def run_engine(
    args: argparse.Namespace, info: dict[str, Any], tmp: Path
) -> tuple[float, float, dict[str, Any]]:
    work, desired = tmp / "work", tmp / "desired"
    desired.mkdir()
    (desired / "fleet.yaml").write_text(DESIRED)
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
        "engine.time_scale": args.time_scale,
        "workers.max": args.firewalls,  # all at once, as the peer's 10 processes
        "metrics.enabled": "false",
    }
    for key, value in settings.items():
        must(cli(work, "config", "set", "--", key, str(value)))  # "--": a password may begin with "-"
    t0 = time.time()
    must(cli(work, "device", "discover", timeout=args.timeout))
    t_disc = time.time()
    remaining = max(10.0, args.timeout - (t_disc - t0))
    apply_cmd = [
        sys.executable, "-m", "reconciler", "--work-dir", str(work),
        "apply", "--auto-approve", "-f", str(desired), "--timeout", str(remaining),
    ]  # fmt: skip
    with (tmp / "apply.out").open("w") as log:
        apply = subprocess.Popen(apply_cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = apply.wait(remaining + 60)
        except subprocess.TimeoutExpired:
            stop(apply, group=True)
            code = -1
    t_exit = time.time()
    print(
        f"engine: discover {t_disc - t0:.1f} s, apply exit {code} after {t_exit - t_disc:.1f} s", flush=True
    )
    return t0, t_exit, {"discover_wall_s": round(t_disc - t0, 1), "exit_codes": [code]}


def run_peer(
    args: argparse.Namespace, info: dict[str, Any], tmp: Path, python: Path, extra_env: dict[str, str]
) -> tuple[float, float, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(extra_env)
    launch = [str(python), str(LAUNCHER), repr(args.time_scale), "pan_os_upgrade.main:app"]
    if args.peer_mode == "batch":  # one process, its threads (10 by default) through Panorama
        creds = info["credentials"]["panorama"]
        inventory = ",".join(d["hostname"] for d in info["devices"])
        commands = [
            (
                "batch",
                [*launch, "batch", f"--hostname={info['panorama']['address']}", f"--inventory={inventory}"],
            )
        ]
    else:  # one process per firewall, straight to it
        creds = info["credentials"]["firewalls"]
        commands = [
            (d["hostname"], [*launch, "firewall", f"--hostname={d['address']}"]) for d in info["devices"]
        ]
    # NAME=VALUE: a generated password may begin with "-".
    common = [f"--username={creds['user']}", f"--password={creds['password']}", f"--version={TARGET}"]
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    t0 = time.time()
    for name, cmd in commands:
        cwd = tmp / "peer" / name
        cwd.mkdir(parents=True)
        (cwd / "settings.yaml").write_text(SETTINGS)
        cmd = [*cmd, *common, "--non-interactive"]
        with (cwd / "out.txt").open("w") as out:
            proc = subprocess.Popen(
                cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        procs.append((name, proc, cwd))
    deadline = t0 + args.timeout
    codes: dict[str, int] = {}
    exited: dict[str, float] = {}
    while len(codes) < len(procs) and time.time() < deadline:
        for serial, proc, _ in procs:
            if serial not in codes and proc.poll() is not None:
                codes[serial], exited[serial] = proc.returncode, time.time()
        time.sleep(0.05)
    for serial, proc, _ in procs:
        if serial not in codes:
            stop(proc, group=True)
            codes[serial], exited[serial] = -1, time.time()
    t_exit = max(exited.values())
    said_done = 0
    for _, _, cwd in procs:
        log = cwd / "logs" / "upgrade.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        said_done += text.count("Device rebooted to the target version successfully")
    print(f"peer: exits {sorted(Counter(codes.values()).items())} after {t_exit - t0:.1f} s", flush=True)
    return t0, t_exit, {"exit_codes": sorted(codes.values()), "peer_said_done": said_done}


def analyse(
    args: argparse.Namespace,
    info: dict[str, Any],
    t0: float,
    t_exit: float,
    before: dict[str, Any],
    after: dict[str, Any],
    n_events_before: int,
) -> dict[str, Any]:
    scale = args.time_scale
    firewalls = {d["serial"]: d for d in info["devices"]}
    with open(info["events"]) as fh:
        events = [json.loads(line) for n, line in enumerate(fh) if n >= n_events_before]
    busy, _ = busy_time(events, firewalls, scale)
    # Verified: the first "show system info" a firewall answered after its upgrade reboot ended.
    rebooted: dict[str, float] = {}
    verified: dict[str, float] = {}
    first_call = None
    first_download: dict[str, float] = {}
    install_jobs: dict[tuple[str, str], float] = {}
    install_sim_s = 0.0
    for ev in events:
        serial, kind = ev.get("serial", ""), ev["event"]
        if kind == "api":
            first_call = first_call or ev["wall_time"]
            serial = ev.get("target") or serial  # a request Panorama forwarded: the firewall answered
        if kind == "reboot_end" and ev.get("result") == "upgraded" and ev.get("version") == TARGET:
            rebooted[serial] = ev["wall_time"]
            verified.pop(serial, None)
        elif kind == "api" and ev.get("request") == "op:show system info" and serial in rebooted:
            verified.setdefault(serial, ev["wall_time"])
        elif kind == "download_start":
            first_download.setdefault(serial, ev["wall_time"])
        elif kind == "install_start":
            install_jobs[(serial, str(ev.get("job")))] = ev["sim_time"]
        elif kind == "install_end" and (serial, str(ev.get("job"))) in install_jobs:
            install_sim_s += ev["sim_time"] - install_jobs.pop((serial, str(ev.get("job"))))
    versions = {d["serial"]: d["version"] for d in after["devices"]}
    longest_busy = max(busy.values(), default=0.0)
    # The hop proper, per firewall: from its first download to its verification, and the part of it that
    # the firewall was not busy (the tool's own waits, checks and late polls; start-up left out).
    spans = {s: verified[s] - first_download[s] for s in verified if s in first_download}
    idle = [spans[s] - busy.get(s, 0.0) for s in spans]
    on_target = sum(1 for s in firewalls if versions.get(s) == TARGET and s in verified)
    last_verified = max(verified.values()) if verified else float("nan")
    # Each request once: the firewalls' own, and Panorama's (a request it forwards also counts on the
    # firewall as "... (via panorama)": not again).
    calls: Counter[str] = Counter()
    pano = info["panorama"]["serial"]
    for serial in [*firewalls, pano]:
        c = Counter(after["api_calls"].get(serial, {}))
        c.subtract(Counter(before["api_calls"].get(serial, {})))
        calls.update({k: n for k, n in c.items() if n > 0 and not k.endswith(" (via panorama)")})
    pano_calls = sum(after["api_calls"].get(pano, {}).values()) - sum(
        before["api_calls"].get(pano, {}).values()
    )
    hops = len(firewalls)
    return {
        "firewalls": len(firewalls),
        "on_target": on_target,
        "verified_wall_s": round(last_verified - t0, 1),
        "verified_sim_s": round((last_verified - t0) / scale),
        "from_first_call_wall_s": round(last_verified - (first_call or t0), 1),
        "startup_to_first_call_wall_s": round((first_call or t0) - t0, 2),
        "exit_wall_s": round(t_exit - t0, 1),
        "exit_sim_s": round((t_exit - t0) / scale),
        "calls_per_firewall_hop": round(sum(calls.values()) / hops, 1),
        "top_calls_per_firewall_hop": {cmd: round(n / hops, 1) for cmd, n in calls.most_common(10)},
        "panorama_calls": pano_calls,
        "hop_span_max_sim_s": round(max(spans.values(), default=0.0) / scale),
        "hop_idle_per_firewall_sim_s": round(statistics.mean(idle) / scale) if idle else None,
        "busy_per_firewall_s": round(sum(busy.values()) / len(firewalls), 1),
        "busy_per_firewall_sim_s": round(sum(busy.values()) / len(firewalls) / scale),
        "longest_busy_s": round(longest_busy, 1),
        # No tool can verify the last firewall before its own jobs and reboots are over.
        "verified_over_longest_busy": round((last_verified - t0) / longest_busy, 2) if longest_busy else None,
        # What the peer's 0.5 s job poll (pan-os-python's syncjob) makes of the install jobs at real time.
        "install_s_over_half_second": round(install_sim_s / 0.5 / hops),
    }


if __name__ == "__main__":
    raise SystemExit(main())
