"""Every panel query of the Grafana dashboard returns data from a real Prometheus scraping a simulated rollout.

A real ``prometheus`` (loopback, free port, temporary storage, 1 s scrape interval) scrapes the metrics the
engine serves on ``metrics.listen`` while ``rollout.py`` runs (three groups, one outside its window and one
paused, an HA pair, one failing install). Then, through Prometheus's HTTP API, each panel target must return
at least one finite sample: range targets through ``/api/v1/query_range`` over the run, instant targets
(``"instant": true``) through ``/api/v1/query`` at its end.

Grafana variables are substituted as Grafana would for this setup:

=====================  ===========  ======================================================================
variable               value        why
=====================  ===========  ======================================================================
``$group``             ``.*``       the variable's ``allValue`` ("All", the default)
``$__interval``        ``1s``       the query step used here
``$__rate_interval``   ``4s``       Grafana's max($__interval + scrape interval, 4 x scrape interval)
``$__range``           run length   the dashboard time range (the run), in whole seconds
=====================  ===========  ======================================================================

Any other variable in a query fails the test, so a new one cannot slip through unchecked.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.engine.loop import drive
from tests.integration.fleet_env import fleet_env
from tests.observability import rollout
from tests.observability.prometheus_server import PrometheusApi, free_port, running_prometheus

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((ROOT / "grafana" / "panos-upgrade-dashboard.json").read_text())
SIM_BLOCK = "127.240.0.0"
SCRAPE_INTERVAL = 1.0
STEP = 1.0
RATE_INTERVAL = "4s"
VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in rows."""
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def targets() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{p['title']} [{t.get('refId', '?')}]", t)
        for p in panels(DASHBOARD["panels"])
        for t in p.get("targets", [])
    ]


def substitute(expr: str, range_seconds: int) -> str:
    values = {
        "group": ".*",
        "__interval": f"{STEP:g}s",
        "__rate_interval": RATE_INTERVAL,
        "__range": f"{range_seconds}s",
    }

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise AssertionError(f"unknown Grafana variable ${name} in {expr!r}: give it a value here")
        return values[name]

    return VARIABLE.sub(one, expr)


def finite_samples(result: list[dict[str, Any]]) -> int:
    values = [s["value"][1] for s in result if "value" in s]
    values += [v[1] for s in result for v in s.get("values", [])]
    return sum(1 for v in values if math.isfinite(float(v)))


def test_every_dashboard_panel_query_returns_data_from_a_real_prometheus(
    tmp_path: Path, prometheus_bin: str, promtool: str
) -> None:
    metrics_port = free_port()
    listen = f"127.0.0.1:{metrics_port}"
    config = {"metrics.enabled": "true", "metrics.listen": listen}
    with (
        running_prometheus(prometheus_bin, tmp_path / "prometheus", listen, SCRAPE_INTERVAL) as prom,
        fleet_env(tmp_path, rollout.fleet(), time_scale=0.003, base_address=SIM_BLOCK, **config) as env,
    ):
        env.write_desired(rollout.DESIRED)
        session = env.session(serve_metrics=True)
        try:
            assert session.metrics_server is not None, f"metrics not served on {listen}"
            assert prom.wait_for('up{job="panos-upgrade"} == 1', timeout=15), "never scraped"
            started = time.time()
            session.reconciler.load_records()
            drive(
                session,
                stop=threading.Event(),
                until_settled=True,
                resync=1.0,
                deadline=time.monotonic() + 90,
            )
            finished = len(rollout.SUCCEED) + 1
            # The last scrape must have seen the end of the rollout before the queries run.
            assert prom.wait_for(
                f"sum(panos_upgrade_upgrade_attempts_total) == {finished}"
                " and on() panos_upgrade_upgrades_in_flight == 0",
                timeout=15,
            )
            ended = time.time()
            body = urllib.request.urlopen(f"http://{listen}/metrics", timeout=10).read()
            check_panels(prom, started, ended)
            check_known_values(prom)
            check_group_variable(prom)
        finally:
            session.close()
    lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert (0, b"", b"") == (lint.returncode, lint.stdout, lint.stderr)


def check_panels(prom: PrometheusApi, started: float, ended: float) -> None:
    start, end = started - SCRAPE_INTERVAL, ended
    empty = []
    checked = 0
    for name, target in targets():
        expr = substitute(target["expr"], max(1, round(end - start)))
        if target.get("instant"):
            result = prom.query(expr, at=end)
        else:
            result = prom.query_range(expr, start, end, STEP)
        checked += 1
        if finite_samples(result) == 0:
            empty.append(f"{name}: {expr}")
    assert checked >= 14
    assert [] == empty, "panel queries without data"


def check_known_values(prom: PrometheusApi) -> None:
    # Scraped mid-rollout, not only at the end.
    peak = prom.scalar("max_over_time(panos_upgrade_upgrades_in_flight[10m])")
    assert peak is not None and peak >= 2
    attempts = {
        r["metric"]["result"]: float(r["value"][1])
        for r in prom.query('sum by (result) (panos_upgrade_upgrade_attempts_total{group="dc"})')
    }
    assert len(rollout.SUCCEED) == attempts["succeeded"] and 1 == attempts["failed"]
    blocked = {
        (r["metric"]["group"], r["metric"]["reason"]) for r in prom.query("panos_upgrade_group_blocked == 1")
    }
    expected = {(g, reason) for g, (_, reason) in rollout.BLOCKED.items()} | {("dc", "failed")}
    assert expected == blocked
    closed = prom.query("panos_upgrade_group_window_open == 0")
    assert ["branch"] == [r["metric"]["group"] for r in closed]
    since = prom.scalar("time() - panos_upgrade_last_successful_reconcile_timestamp_seconds")
    assert since is not None and 0 <= since < 120
    assert 1 == prom.scalar("panos_upgrade_desired_state_last_reload_successful")


def check_group_variable(prom: PrometheusApi) -> None:
    variable = next(v for v in DASHBOARD["templating"]["list"] if v["name"] == "group")
    match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
    assert match, variable["definition"]
    metric, label = match.groups()
    values = prom.get(f"/api/v1/label/{label}/values", **{"match[]": metric})
    assert set(rollout.GROUPS) == set(values)
