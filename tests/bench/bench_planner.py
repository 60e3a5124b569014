"""Benchmarks of planning: ``panos-upgrade plan`` for 10,000 devices in 200 groups (the whole process, with
its inventory and status files), loading those files, the planning itself, validating a 200-group desired
file, and validating 3,000 groups (the overlap check between groups used to be pairwise: 45 s).

It also times a reconcile pass of the engine over the same 10,000 devices (their records in the executor, as
the daemon holds them) after one device's record changed: the planner's memo re-plans that device and its
group only (``Reconciler.plan_and_start``, metrics on, nothing contacted).

Targets (issue 18.5): ``plan`` for 10,000 devices <= 1.5 s whole process; the planning itself <= 0.3 s with
windows open; a pass with one change <= 50 ms; validating 200 groups < 0.5 s; 3,000 groups <= 1 s. Run by
hand:

    .venv/bin/python tests/bench/bench_planner.py

Prints the median of several runs of each (load and wall times on a shared machine vary: the machine's
load average is printed) and exits non-zero if a target is missed. The fleet is realistic: a tenth of the
devices in HA pairs, every device with its own observed list of offered and downloaded images, waves,
windows (open at the planning time) and parallel limits in every group. The work directory written for the
whole-process figure holds ``inventory.json`` and a status file for every device (a previous rollout: most
done with their hop history and downloaded images, some in progress, some failed), as ``plan`` reads them.
The first ``plan`` reads every status file and writes ``status/plan-view-cache.json`` (printed on its own
line); the figure is the median of the three after it, which take each unchanged file's view from that
cache (a fleet's files change between two plans only as devices move). Loading the status files is timed
both ways: every file read (``load_status(cached=False)``) and from the cache.
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.core.desired import DesiredState
from reconciler.core.inventory import Device, Inventory
from reconciler.core.observed import Observed
from reconciler.core.planner import plan
from reconciler.core.progress import DeviceProgress
from reconciler.core.version import PanOsVersion
from reconciler.device.parsers import SoftwareImage
from reconciler.engine.executor import Executor
from reconciler.engine.metrics import Metrics
from reconciler.engine.reconcile import Reconciler
from reconciler.machine import MachineSettings
from reconciler.machine.records import DeviceRecord, Hop, HopOutcome, HopResult, Phase, new_record
from reconciler.workdir import inventory_store, plan_inputs, record_store
from reconciler.workdir.config import Config
from reconciler.workdir.desired_load import load_texts
from reconciler.workdir.layout import WorkPaths

GROUPS = 200
DEVICES = 10_000
PLAN_TARGET_S = 0.3
PASS_TARGET_S = 0.05
PROCESS_TARGET_S = 1.5
VALIDATE_TARGET_S = 0.5
LARGE_GROUPS = 3_000
LARGE_TARGET_S = 1.0

CATALOG = [
    "9.1.17", "10.0.12", "10.1.0", "10.1.14-h9", "10.2.0", "10.2.9", "10.2.13-h3", "11.0.0", "11.0.6", "11.1.0",
    "11.1.4", "11.1.6-h1", "11.2.0", "11.2.7", "12.1.2", "12.1.3",
]  # fmt: skip
RUNNING = ["10.1.14-h9", "10.2.9", "10.2.13-h3", "11.0.6", "11.1.4", "11.1.6-h1"]
TARGETS = ["11.1.6-h1", "11.2.7", "12.1.3"]


def desired_yaml(groups: int = GROUPS) -> str:
    lines = [
        "apiVersion: panos-upgrade/v1",
        "windows:",
        '  weekend: {days: [sat, sun], start: "01:00", end: "05:00", timezone: Europe/Berlin}',
        '  nights: {days: [mon-fri], start: "22:00", end: "04:00", timezone: America/New_York}',
        "denyWindows:",
        '  - {name: year-end, from: "2026-12-20", until: "2027-01-04", timezone: Europe/Berlin}',
        "defaults:",
        "  maxParallel: 5",
        "  failureBudget: 2",
        "  maintenanceWindows: [weekend, nights]",
        "  validation: {tcpSessionMargin: 5, routeMargin: 0, arpMargin: 1}",
        "groups:",
    ]
    for i in range(groups):
        lines += [
            f"  - name: group-{i:03d}",
            f"    description: Generated group {i}",
            f"    select: {{deviceGroups: [dg-{i:03d}]}}",
            f"    exclude: {{serials: [X{i:05d}]}}",
            f'    target: "{TARGETS[i % len(TARGETS)]}"',
            f"    stage: {'downloaded' if i % 10 == 9 else 'installed'}",
            f'    waves: {{canary: "{5 + i % 20}%", soak: 30m}}',
            "    readinessChecks: [ha, ntp_sync, free_disk_space]",
        ]
    return "\n".join(lines) + "\n"


def fleet(seed: int = 1) -> tuple[Inventory, dict[str, Observed], dict[str, DeviceProgress]]:
    rng = random.Random(seed)
    devices: list[Device] = []
    observed: dict[str, Observed] = {}
    status: dict[str, DeviceProgress] = {}
    catalog = [PanOsVersion.parse(v) for v in CATALOG]
    n = 0
    while n < DEVICES:
        group = f"dg-{n % GROUPS:03d}"
        version = rng.choice(RUNNING)
        if rng.random() < 0.1 and n + 1 < DEVICES:
            a, b = f"P{n:06d}", f"P{n + 1:06d}"
            for s, peer, state in ((a, b, "active"), (b, a, "passive")):
                devices.append(Device(s, f"fw-{group}-{s}", model="PA-3220", sw_version=version,
                                      device_group=group, device_type="ha_pair", ha_state=state, peer_serial=peer))  # fmt: skip
            serials = [a, b]
            n += 2
        else:
            s = f"S{n:06d}"
            devices.append(Device(s, f"fw-{group}-{s}", model="PA-440", sw_version=version, device_group=group,
                                  device_type="standalone", ha_state="standalone"))  # fmt: skip
            serials = [s]
            n += 1
        for s in serials:
            # each device reports its own list, as a software check would
            observed[s] = Observed(
                PanOsVersion.parse(version),
                tuple(catalog),
                tuple(rng.sample(catalog, 3)),
                observed_at=datetime(2026, 11, 27, tzinfo=UTC),
            )
            roll = rng.random()
            if roll < 0.05:
                status[s] = DeviceProgress(s, "in_progress", target=PanOsVersion.parse(TARGETS[0]))
            elif roll < 0.07:
                status[s] = DeviceProgress(s, "failed", target=PanOsVersion.parse(TARGETS[0]), reason="bench")
            elif roll < 0.2:
                status[s] = DeviceProgress(
                    s,
                    "done",
                    target=PanOsVersion.parse(TARGETS[0]),
                    finished_at=datetime(2026, 11, 27, tzinfo=UTC),
                )
    return Inventory.of(devices), observed, status


CPU: dict[str, float] = {}  # median CPU seconds of each figure (wall time on a shared machine is noise)


def median_of(runs: int, fn: Callable[[], object], label: str = "") -> float:
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU[label] = statistics.median(cpu)
    return statistics.median(times)


def cpu_ms(label: str) -> str:
    return f"CPU {CPU[label] * 1000:.0f} ms"


def records(inventory: Inventory) -> list[DeviceRecord]:
    """Each device's record as a finished rollout leaves it: most done with their hop history and downloaded
    images, some still downloading, some failed."""
    out = []
    rng = random.Random(3)
    when = datetime(2026, 11, 20, tzinfo=UTC)
    for d in inventory:
        target = TARGETS[0]
        start = "10.1.14-h9" if d.sw_version == target else d.sw_version
        hops = Hop.for_path(start, ["11.0.6", target] if start.startswith("10.") else [target])
        rec = new_record(
            serial=d.serial, starting_version=start, target_version=target, hops=hops, now=when,
            hostname=d.hostname, group=f"group-{d.device_group[3:]}", desired_revision="r1",
        )  # fmt: skip
        images = tuple(i for h in hops for i in h.images)
        roll = rng.random()
        if roll < 0.05:
            rec = replace(
                rec, phase=Phase.DOWNLOAD_TARGET, started_at=rec.updated_at, downloaded_versions=images[:1]
            )
        elif roll < 0.07:
            rec = replace(rec, phase=Phase.FAILED, finished_at=rec.updated_at, current_version=start)
        else:
            history = tuple(
                HopResult(h.version, rec.updated_at, rec.updated_at, HopOutcome.PASSED) for h in hops
            )
            rec = replace(
                rec, phase=Phase.DONE, current_version=d.sw_version, current_path_index=len(hops),
                started_at=rec.updated_at, finished_at=rec.updated_at, downloaded_versions=images,
                history=history, progress=100,
            )  # fmt: skip
        out.append(rec)
    return out


def work_dir(root: Path, inventory: Inventory, desired: str) -> WorkPaths:
    """A work directory as a finished rollout leaves it: inventory.json and one status file per device."""
    subprocess.run(
        [sys.executable, "-m", "reconciler", "--work-dir", str(root), "init"], check=True, capture_output=True
    )
    paths = WorkPaths(root)
    (paths.root / "desired").mkdir(exist_ok=True)
    (paths.root / "desired" / "fleet.yaml").write_text(desired)
    inventory_store.save(paths, inventory)
    writer = record_store.RecordWriter(paths)  # several files at a time: one after the other took minutes
    for rec in records(inventory):
        writer.save(rec)
    writer.close()
    return paths


class _NoRunner:
    """The executor's runner in the pass benchmark: a pass plans and starts, it never runs a command."""

    def run(self, serial: str, command: object) -> object:
        raise AssertionError(f"a pass ran {command} on {serial}")


class _Catalog:
    """A device client that only lists the catalogue (the image lists a pass fetches once per device)."""

    def software_check(self, timeout: float | None = None) -> list[SoftwareImage]:
        return [SoftwareImage(PanOsVersion.parse(v)) for v in CATALOG]


def pass_with_one_change(root: Path, desired: DesiredState, inventory: Inventory, now: datetime) -> float:
    """Median seconds of a reconcile pass after one device's record changed (a download's progress), the
    engine holding every device's record; two passes first (the first plans everything, the second starts
    what may start)."""
    paths = WorkPaths(root)
    paths.device_status_dir.mkdir(parents=True)
    executor = Executor(paths, _NoRunner(), threads=1, clock=lambda: now)  # type: ignore[arg-type]
    reconciler = Reconciler(
        paths, Config({"workers.max": 100}), executor, client_for=lambda serial: _Catalog(), metrics=Metrics(),
        clock=lambda: now, desired_path=root / "desired",
    )  # fmt: skip
    executor.on_transition = reconciler.on_transition
    settings = MachineSettings()
    for rec in records(inventory):
        executor.adopt(rec, settings)
    reconciler.plan_and_start(desired, inventory)
    deadline = time.monotonic() + 120
    while reconciler.probing and time.monotonic() < deadline:  # the image lists of devices needing them
        time.sleep(0.05)
    reconciler.plan_and_start(desired, inventory)
    reconciler.plan_and_start(desired, inventory)
    moving = [r for r in executor.records.values() if r.phase is Phase.DOWNLOAD_TARGET]
    times, cpu = [], []
    for i in range(5):
        rec = moving[i]
        executor.put(rec.with_changes(progress=rec.progress + 10, message=f"downloading {i}"), settings)
        start, start_cpu = time.perf_counter(), time.process_time()
        reconciler.plan_and_start(desired, inventory)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    reconciler.close()
    executor.close(wait=False)
    CPU["pass"] = statistics.median(cpu)
    return statistics.median(times)


def main() -> int:
    print(f"load average {os.getloadavg()}")
    text = desired_yaml()
    validate_s = median_of(5, lambda: load_texts([("bench.yaml", text)]), "validate")
    large = desired_yaml(LARGE_GROUPS)
    large_s = median_of(3, lambda: load_texts([("large.yaml", large)]), "large")
    desired = load_texts([("bench.yaml", text)])
    inventory, observed, status = fleet()
    now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # a Saturday 03:00 in Berlin: the weekend window is open
    result = plan(desired, inventory, observed, status, now)
    counts = result.counts()
    plan_s = median_of(
        5, lambda: plan(desired, inventory, observed, status, now + timedelta(seconds=1)), "plan"
    )
    print(f"desired state: {len(desired.groups)} groups, {len(text.splitlines())} lines")
    print(f"fleet: {len(inventory)} devices, {len(result.groups)} groups, actions {counts}")
    print(
        f"validate 200-group file: {validate_s * 1000:.0f} ms, {cpu_ms('validate')} "
        f"(target < {VALIDATE_TARGET_S * 1000:.0f} ms)"
    )
    print(
        f"validate {LARGE_GROUPS:,} groups:  {large_s * 1000:.0f} ms, {cpu_ms('large')} "
        f"(target <= {LARGE_TARGET_S * 1000:.0f} ms)"
    )
    print(
        f"plan 10,000 devices:     {plan_s * 1000:.0f} ms, {cpu_ms('plan')} "
        f"(target <= {PLAN_TARGET_S * 1000:.0f} ms)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-pass-") as tmp:
        pass_s = pass_with_one_change(Path(tmp), desired, inventory, now)
    print(
        f"pass, one change:        {pass_s * 1000:.1f} ms, {cpu_ms('pass')} "
        f"(target <= {PASS_TARGET_S * 1000:.0f} ms)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-planner-") as tmp:
        paths = work_dir(Path(tmp) / "work", inventory, text)
        inventory_s = median_of(3, lambda: plan_inputs.load_inventory(paths), "inventory")
        uncached_s = median_of(3, lambda: plan_inputs.load_status(paths, cached=False), "uncached")
        cmd = [sys.executable, "-m", "reconciler", "--work-dir", str(paths.root), "plan", "-f",
               str(paths.root / "desired"), "--json"]  # fmt: skip
        process, process_cpu = [], []
        for i in range(4):  # the first one builds status/plan-view-cache.json: reported apart
            start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            process.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            process_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if done.returncode not in (0, 2):
                raise SystemExit(f"plan failed: {done.stderr}")
            if i == 0:
                status_s = median_of(3, lambda: plan_inputs.load_status(paths), "status")
        first_s, CPU["first"] = process.pop(0), process_cpu.pop(0)
        process_s = statistics.median(process)
        CPU["process"] = statistics.median(process_cpu)
    print(f"load inventory.json:     {inventory_s * 1000:.0f} ms, {cpu_ms('inventory')}")
    print(f"load 10,000 status files: {uncached_s * 1000:.0f} ms, {cpu_ms('uncached')} (every file read)")
    print(
        f"  ... from the cache:    {status_s * 1000:.0f} ms, {cpu_ms('status')} (files unchanged since the last plan)"
    )
    print(
        f"'plan', first run:       {first_s * 1000:.0f} ms, {cpu_ms('first')} (reads every file, writes the cache)"
    )
    print(
        f"'plan' whole process:    {process_s * 1000:.0f} ms, {cpu_ms('process')} "
        f"(target <= {PROCESS_TARGET_S * 1000:.0f} ms; median of the 3 runs after the first)"
    )
    met = (
        validate_s < VALIDATE_TARGET_S
        and plan_s <= PLAN_TARGET_S
        and pass_s <= PASS_TARGET_S
        and large_s <= LARGE_TARGET_S
        and process_s <= PROCESS_TARGET_S
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
