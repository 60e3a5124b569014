"""The metric list cannot drift: docs/metrics.md, the registry, the dashboard and the alert rules agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from reconciler.engine.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"panos_upgrade_\w+")
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def exported() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every metric as scraped (counters with ``_total``): name -> (type, label names)."""
    m = Metrics()
    m.declare_group("dc")
    m.set_device("001", "dc", "install", "OutOfSync", reachable=True)
    m.set_desired(ok=True, when=1.0, revision="abc", digest="sha256:x")
    m.api_call("show system info", None)
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for family in m.registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels: list[str] = []
        for sample in family.samples:
            labels += [k for k in sample.labels if k != "le" and k not in labels]
        out[name] = (family.type, tuple(labels))
    return out


def documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    out = {}
    for line in (ROOT / "docs" / "metrics.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`panos_upgrade_"):
            labels = tuple(re.findall(r"`(\w+)`", cells[2]))
            out[cells[0].strip("`")] = (cells[1], labels)
    return out


def used_names(text: str) -> set[str]:
    names = set()
    for name in NAME.findall(text):
        for suffix in HISTOGRAM_SERIES:
            name = name.removesuffix(suffix)
        names.add(name)
    return names


def test_docs_list_every_metric_with_its_type_and_labels() -> None:
    assert exported() == documented()


def test_metric_names_follow_the_prefix_and_unit_conventions() -> None:
    for name, (kind, _) in exported().items():
        assert name.startswith("panos_upgrade_"), name
        if kind == "counter":
            assert name.endswith("_total"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), name
        if "timestamp" in name:
            assert name.endswith("_timestamp_seconds"), name


def test_dashboard_and_alerts_use_only_metrics_that_exist() -> None:
    names = set(exported())
    dashboard = json.loads((ROOT / "grafana" / "panos-upgrade-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v.get("definition", "") for v in dashboard["templating"]["list"]]
    rules = yaml.safe_load((ROOT / "examples" / "alerts.yaml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = used_names("\n".join(exprs))
    assert used and used <= names, used - names
