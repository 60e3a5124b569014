"""Alert rules pass promtool (syntax and unit tests); the dashboard is well formed."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((ROOT / "grafana" / "panos-upgrade-dashboard.json").read_text())


def test_alert_rules_check(promtool: str) -> None:
    out = subprocess.run(
        [promtool, "check", "rules", str(ROOT / "examples/alerts.yaml")],
        capture_output=True,
        text=True,
    )
    assert 0 == out.returncode, out.stdout + out.stderr
    assert "SUCCESS: 6 rules found" in out.stdout


def test_alert_rules_unit_tests_fire_on_time(promtool: str) -> None:
    out = subprocess.run(
        [promtool, "test", "rules", str(ROOT / "tests/promtool/alerts_test.yaml")],
        capture_output=True,
        text=True,
    )
    assert 0 == out.returncode, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_has_severity_summary_description() -> None:
    import yaml

    rules = yaml.safe_load((ROOT / "examples/alerts.yaml").read_text())["groups"][0]["rules"]
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_dashboard_has_stable_uid_and_variables() -> None:
    assert "panos-upgrade-fleet" == DASHBOARD["uid"]
    names = [v["name"] for v in DASHBOARD["templating"]["list"]]
    assert ["datasource", "group"] == names
    for panel in DASHBOARD["panels"]:
        assert "${datasource}" == panel["datasource"]["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert re.search(r"panos_upgrade_\w+", target["expr"]), panel["title"]


def test_dashboard_covers_the_required_views() -> None:
    titles = " | ".join(p["title"].lower() for p in DASHBOARD["panels"])
    for words in (
        "convergence",
        "phase",
        "in flight",
        "failures",
        "heatmap",
        "blocked",
        "window",
        "desired",
        "reconcile",
    ):
        assert words in titles, words
