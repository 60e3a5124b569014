"""Benchmarks of the pure core: planning 10,000 devices in 200 groups, validating a 200-group desired file,
and validating 3,000 groups (the overlap check between groups used to be pairwise: 3,000 groups took ~45 s).

Targets (issue 5): planning < 1 s, validating < 0.5 s; issue 19: 3,000 groups in <= 1 s. Run by hand:

    .venv/bin/python tests/bench/bench_planner.py

Prints the best of several runs of each and exits non-zero if a target is missed. The fleet is realistic:
a fifth of the devices in HA pairs, every device with its own observed list of offered and downloaded
images, some devices with engine progress, waves, windows and parallel limits in every group.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from reconciler.core.inventory import Device, Inventory
from reconciler.core.observed import Observed
from reconciler.core.planner import plan
from reconciler.core.progress import DeviceProgress
from reconciler.core.version import PanOsVersion
from reconciler.workdir.desired_load import load_texts

GROUPS = 200
DEVICES = 10_000
PLAN_TARGET_S = 1.0
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


def best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    text = desired_yaml()
    validate_s = best_of(5, lambda: load_texts([("bench.yaml", text)]))
    large = desired_yaml(LARGE_GROUPS)
    large_s = best_of(3, lambda: load_texts([("large.yaml", large)]))
    desired = load_texts([("bench.yaml", text)])
    inventory, observed, status = fleet()
    now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    result = plan(desired, inventory, observed, status, now)
    counts = result.counts()
    plan_s = best_of(5, lambda: plan(desired, inventory, observed, status, now + timedelta(seconds=1)))
    print(f"desired state: {len(desired.groups)} groups, {len(text.splitlines())} lines")
    print(f"fleet: {len(inventory)} devices, {len(result.groups)} groups, actions {counts}")
    print(f"validate 200-group file: {validate_s * 1000:.0f} ms (target < {VALIDATE_TARGET_S * 1000:.0f} ms)")
    print(
        f"validate {LARGE_GROUPS:,} groups:  {large_s * 1000:.0f} ms (target <= {LARGE_TARGET_S * 1000:.0f} ms)"
    )
    print(f"plan 10,000 devices:     {plan_s * 1000:.0f} ms (target < {PLAN_TARGET_S * 1000:.0f} ms)")
    met = validate_s < VALIDATE_TARGET_S and plan_s < PLAN_TARGET_S and large_s <= LARGE_TARGET_S
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
