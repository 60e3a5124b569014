"""Every Prometheus metric of panos-upgrade, in one place (prefix ``panos_upgrade_``).

Rules: counters and histograms never carry a per-device label (cardinality); per-device state is exported
as one-hot gauges (one series per phase, exactly one at 1), and every enum value is exported as 0 from the
start so dashboards and alerts never see a missing series. Each ``Metrics`` owns its registry, so tests and
several engines in one process do not collide; ``serve()`` exposes it over HTTP.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Iterable, Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reconciler import __version__
from reconciler.core import plan as plan_mod
from reconciler.machine import Reason
from reconciler.machine.pair import PairReason
from reconciler.machine.records import Mode, Phase

# The ``*_created`` gauges would double every counter and histogram for a value nobody charts.
disable_created_metrics()  # type: ignore[no-untyped-call]

SYNC_STATUSES = ("Synced", "OutOfSync", "Unknown")
# The planner's reasons a device is blocked, verbatim: a reason missing here would be silently dropped.
BLOCK_REASONS: tuple[str, ...] = plan_mod.BLOCK_REASONS
ATTEMPT_RESULTS = ("succeeded", "failed", "cancelled", "dry_run", "downloaded", "skipped")
# ``last_error.reason`` of a failed device: the state machine's reasons and the HA pair coordinator's.
FAILURE_REASONS: tuple[str, ...] = tuple(r.value for r in Reason) + tuple(
    r.value for r in PairReason if r.value not in {x.value for x in Reason}
)
# ``DeviceError.kind`` as the device seam classifies errors (tests keep this list in step with it).
API_ERROR_KINDS = (
    "api",
    "auth",
    "bad-response",
    "busy",
    "http-5xx",
    "internal",
    "not-connected",
    "timeout",
    "tls",
    "unreachable",
)
RECONCILE_RESULTS = ("ok", "error")
# Step and whole-upgrade durations: 30 s ... 8 h.
DURATION_BUCKETS = (
    30,
    60,
    120,
    300,
    600,
    900,
    1200,
    1800,
    2700,
    3600,
    5400,
    7200,
    10800,
    14400,
    21600,
    28800,
)
RECONCILE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

P = "panos_upgrade_"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.build_info = Gauge(
            P + "build_info", "Build information (always 1)", ["version", "python"], registry=r
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)

        self.desired_reload_ok = Gauge(
            P + "desired_state_last_reload_successful",
            "1 if the last desired-state load was valid",
            registry=r,
        )
        self.desired_reload_success_time = Gauge(
            P + "desired_state_last_reload_success_timestamp_seconds",
            "When the desired state was last loaded and found valid (Unix time)",
            registry=r,
        )
        self.desired_info = Gauge(
            P + "desired_state_info", "Desired state in force (always 1)", ["revision", "digest"], registry=r
        )
        # The per-device gauges are made at each scrape from ``_devices`` and ``_reachable`` (DeviceGauges):
        # as prometheus_client children, their ~23 series a device held ~15 KB each (30 MB for 2,000 devices).
        r.register(DeviceGauges(self))
        self.group_blocked = Gauge(
            P + "group_blocked", "1 if the group is blocked for this reason", ["group", "reason"], registry=r
        )
        self.group_window_open = Gauge(
            P + "group_window_open", "1 if the group's maintenance window is open", ["group"], registry=r
        )
        self.group_generation = Gauge(
            P + "group_generation", "Desired-state generation of the group", ["group"], registry=r
        )
        self.group_observed_generation = Gauge(
            P + "group_observed_generation", "Generation the group last converged on", ["group"], registry=r
        )
        self.in_flight = Gauge(P + "upgrades_in_flight", "Devices being upgraded now", registry=r)
        self.devices_stalled = Gauge(
            P + "devices_stalled",
            "Working devices with no progress for longer than any legitimate wait (the watchdog)",
            registry=r,
        )
        self.max_in_flight = Gauge(
            P + "upgrades_max_in_flight", "Configured limit of devices in flight", registry=r
        )
        self.attempts = Counter(
            P + "upgrade_attempts",
            "Finished device upgrade attempts by result",
            ["group", "result"],
            registry=r,
        )
        self.failures = Counter(
            P + "device_failures", "Device upgrade failures by reason", ["group", "reason"], registry=r
        )
        self.api_calls = Counter(
            P + "api_calls", "PAN-OS API calls by command and path", ["command", "path"], registry=r
        )
        self.api_errors = Counter(P + "api_errors", "PAN-OS API errors by kind", ["kind"], registry=r)
        self.step_duration = Histogram(
            P + "step_duration_seconds",
            "Duration of one upgrade step",
            ["step"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.upgrade_duration = Histogram(
            P + "upgrade_duration_seconds",
            "Duration of a whole device (or HA pair member) upgrade",
            ["mode"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.reconcile_duration = Histogram(
            P + "reconcile_duration_seconds",
            "Duration of one reconcile pass",
            buckets=RECONCILE_BUCKETS,
            registry=r,
        )
        self.reconciles = Counter(P + "reconcile", "Reconcile passes by result", ["result"], registry=r)
        self.last_reconcile = Gauge(
            P + "last_successful_reconcile_timestamp_seconds",
            "When the last reconcile pass succeeded",
            registry=r,
        )
        for result in RECONCILE_RESULTS:
            self.reconciles.labels(result)
        for step in Phase:
            self.step_duration.labels(step.value)
        for mode in Mode:
            self.upgrade_duration.labels(mode.value)
        for kind in API_ERROR_KINDS:
            self.api_errors.labels(kind)
        self._devices: dict[str, tuple[str, str, str]] = {}  # serial -> (group, phase, sync)
        self._reachable: dict[str, bool] = {}
        self._lock = threading.Lock()

    # -- per group ------------------------------------------------------------------------------------

    def declare_group(self, group: str) -> None:
        """Export every enum series of a group as 0 so that the first real value never creates a series."""
        for reason in BLOCK_REASONS:
            self.group_blocked.labels(group, reason)
        for result in ATTEMPT_RESULTS:
            self.attempts.labels(group, result)
        for reason in FAILURE_REASONS:
            self.failures.labels(group, reason)
        self.group_window_open.labels(group)
        self.group_generation.labels(group)
        self.group_observed_generation.labels(group)

    def set_group(self, group: str, *, blocked: Iterable[str], window_open: bool) -> None:
        self.declare_group(group)
        blocked_set = set(blocked)
        for reason in BLOCK_REASONS:
            self.group_blocked.labels(group, reason).set(1 if reason in blocked_set else 0)
        self.group_window_open.labels(group).set(1 if window_open else 0)

    # -- per device -----------------------------------------------------------------------------------

    def set_device(
        self, serial: str, group: str, phase: str, sync: str, reachable: bool | None = None
    ) -> None:
        """One-hot phase and sync status for a device (all other values of both enums at 0)."""
        if sync not in SYNC_STATUSES:
            raise ValueError(f"unknown sync status {sync!r}")
        with self._lock:
            previous = self._devices.get(serial)
            if previous is not None and previous[0] != group:
                self._forget(serial)
            self._devices[serial] = (group, phase, sync)
            if reachable is not None:
                self._reachable[serial] = reachable

    def retain_devices(self, serials: Iterable[str]) -> None:
        """Drop the series of devices no longer in the inventory."""
        keep = set(serials)
        with self._lock:
            for serial in [s for s in self._devices if s not in keep]:
                self._forget(serial)

    def _forget(self, serial: str) -> None:
        """Drop a device's series (its group's): the caller holds ``_lock``."""
        self._devices.pop(serial, None)
        self._reachable.pop(serial, None)

    def device_series(
        self,
    ) -> tuple[
        list[tuple[str, str, str, float]], list[tuple[str, str, str, float]], list[tuple[str, str, float]]
    ]:
        """(phase, sync status, reachable) samples of every device, one-hot: (serial, group, value, 0/1)."""
        with self._lock:
            devices = list(self._devices.items())
            reachable = dict(self._reachable)
        phases = [
            (s, g, p.value, 1.0 if p.value == phase else 0.0) for s, (g, phase, _) in devices for p in Phase
        ]
        syncs = [(s, g, x, 1.0 if x == sync else 0.0) for s, (g, _, sync) in devices for x in SYNC_STATUSES]
        up = [(s, g, 1.0 if reachable[s] else 0.0) for s, (g, _, _) in devices if s in reachable]
        return phases, syncs, up

    def sync_counts(self) -> Mapping[str, int]:
        with self._lock:
            counts = dict.fromkeys(SYNC_STATUSES, 0)
            for _, _, sync in self._devices.values():
                counts[sync] += 1
            return counts

    # -- calls ------------------------------------------------------------------------------------------

    def api_call(self, command: str, error_kind: str | None, path: str = "direct") -> None:
        """The device seam's ``on_call`` hook; ``path``: ``direct`` or ``panorama`` (through Panorama)."""
        self.api_calls.labels(command, path).inc()
        if error_kind is not None:
            self.api_errors.labels(error_kind).inc()

    def set_desired(self, *, ok: bool, when: float, revision: str = "", digest: str = "") -> None:
        """A desired-state load at Unix time ``when``. A rejected load keeps the info of the state in force."""
        self.desired_reload_ok.set(1 if ok else 0)
        if ok:
            self.desired_reload_success_time.set(when)
            self.desired_info.clear()
            self.desired_info.labels(revision or "unknown", digest).set(1)

    def observe_reconcile(self, seconds: float, *, ok: bool, when: float) -> None:
        """One reconcile pass that took ``seconds`` and ended at Unix time ``when``."""
        self.reconcile_duration.observe(seconds)
        self.reconciles.labels("ok" if ok else "error").inc()
        if ok:
            self.last_reconcile.set(when)


class DeviceGauges(Collector):
    """``device_phase``, ``device_sync_status`` and ``device_reachable``, built at each collection from what
    ``Metrics.set_device`` keeps (the same names, help, labels and values as three labelled gauges)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        phases, syncs, up = self.metrics.device_series()
        return self._families(phases, syncs, up)

    @staticmethod
    def _families(
        phases: Iterable[tuple[str, str, str, float]] = (),
        syncs: Iterable[tuple[str, str, str, float]] = (),
        up: Iterable[tuple[str, str, float]] = (),
    ) -> list[Metric]:
        phase = GaugeMetricFamily(
            P + "device_phase", "One-hot upgrade phase per device", labels=["serial", "group", "phase"]
        )
        for serial, group, value, one in phases:
            phase.add_metric([serial, group, value], one)
        sync = GaugeMetricFamily(
            P + "device_sync_status", "One-hot sync status per device", labels=["serial", "group", "status"]
        )
        for serial, group, value, one in syncs:
            sync.add_metric([serial, group, value], one)
        reachable = GaugeMetricFamily(
            P + "device_reachable", "1 if the device answered its last call", labels=["serial", "group"]
        )
        for serial, group, one in up:
            reachable.add_metric([serial, group], one)
        return [phase, sync, reachable]


def bound_address(server: WSGIServer, listen: str) -> str:
    """``host:port`` where ``server`` really listens: ``listen``'s host with the bound port (``:0`` in the
    setting picks a free port; status files and logs must name the one picked)."""
    host = listen.rpartition(":")[0] or "127.0.0.1"
    return f"{host}:{server.server_port}"


def serve(metrics: Metrics, listen: str) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` on ``host:port`` (port 0 picks a free one: see ``server.server_port``)."""
    host, _, port = listen.rpartition(":")
    server, thread = start_http_server(
        int(port), addr=host.strip("[]") or "127.0.0.1", registry=metrics.registry
    )
    return server, thread
