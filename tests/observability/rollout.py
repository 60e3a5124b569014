"""The small simulated rollout the observability tests watch.

Three groups: ``dc`` (two standalone firewalls, an HA pair and one firewall whose install fails) rolls out;
``branch`` waits outside its maintenance window (a date window long past, so it is closed whenever the test
runs); ``lab`` is paused. Every panel of the dashboard has something to show: phases, in flight, attempts
succeeded and failed, failures by reason, step and upgrade durations, blocked reasons, windows.
"""

from __future__ import annotations

from reconciler.core.version import PanOsVersion
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import DeviceSpec, FleetSpec, HaSpec

TARGET = "11.1.6-h1"
START = "11.1.2"
SUCCEED = ("s01", "s02", "h01", "h02")
FAIL = "f01"
FAIL_REASON = "install-failed"
BLOCKED = {"branch": ("b01", "outside-window"), "lab": ("l01", "paused")}
GROUPS = ("dc", "branch", "lab")


def _dev(serial: str, device_group: str, **kw: object) -> DeviceSpec:
    return DeviceSpec(
        serial,
        f"fw-{serial}",
        version=PanOsVersion.parse(START),
        device_group=device_group,
        **kw,  # type: ignore[arg-type]
    )


def fleet() -> FleetSpec:
    return FleetSpec(
        devices=(
            _dev("s01", "dc"),
            _dev("s02", "dc"),
            _dev("h01", "dc", ha=HaSpec("h02", priority=10)),
            _dev("h02", "dc", ha=HaSpec("h01", priority=20)),
            _dev(FAIL, "dc", faults=(Fault.create("install_fail"),)),
            _dev("b01", "branch"),
            _dev("l01", "lab"),
        )
    )


DESIRED = f"""\
groups:
  - name: dc
    select: {{deviceGroups: [dc]}}
    target: "{TARGET}"
    failureBudget: 5
    validation: {{tcpSessionMargin: 60, routeMargin: 0, arpMargin: 0}}
  - name: branch
    select: {{deviceGroups: [branch]}}
    target: "{TARGET}"
    maintenanceWindows: [{{from: "2020-01-01", until: "2020-01-02"}}]
  - name: lab
    select: {{deviceGroups: [lab]}}
    target: "{TARGET}"
    paused: true
"""
