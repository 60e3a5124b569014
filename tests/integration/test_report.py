"""Issue 14.12: ``panos-upgrade report`` writes a Markdown or HTML report of a rollout from the work directory:
per device the hops with their pre/post snapshot comparison and margins, time per hop and phase, failures
with their reasons; untrusted names escaped, no secret."""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import FleetSpec
from tests.integration.fleet_env import fleet_env
from tests.integration.test_engine import dev, group

HOSTILE = 'fw-<script>alert("x")</script>|*bold*'


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_report_of_a_rollout_in_markdown_and_html(tmp_path: Path, runner: CliRunner) -> None:
    fleet = FleetSpec(
        devices=(
            dev("001", "11.1.2"),
            dev("002", "11.1.2", faults=(Fault.create("install_fail"),)),
        )
    )
    with fleet_env(tmp_path, fleet, time_scale=0.004, base_address="127.225.0.0") as env:
        # A hostname nobody vetted (it comes from Panorama): the report must show it as text.
        data = json.loads(env.paths.inventory_file.read_text())
        next(d for d in data["devices"] if d["serial"] == "001")["hostname"] = HOSTILE
        env.paths.inventory_file.write_text(json.dumps(data))

        def cli(*args: str) -> object:
            return runner.invoke(app, ["--work-dir", str(env.paths.root), *args])

        env.write_desired(group("11.1.6-h1"))
        applied = cli("apply", "-f", str(env.desired), "--auto-approve", "--timeout", "120")
        assert 2 == applied.exit_code, applied.output  # type: ignore[attr-defined]
        assert "11.1.6-h1" == env.sim.device("001").version

        out = tmp_path / "out"
        markdown = cli("report", "--output", str(out / "rollout.md"))
        assert 0 == markdown.exit_code, markdown.output + markdown.stderr  # type: ignore[attr-defined]
        page = cli("report", "--format", "html", "-o", str(out / "rollout.html"))
        assert 0 == page.exit_code, page.output + page.stderr  # type: ignore[attr-defined]
        md = (out / "rollout.md").read_text()
        doc = (out / "rollout.html").read_text()
        stdout = cli("report").output  # type: ignore[attr-defined]
        assert md == stdout.replace(stdout.splitlines()[2], md.splitlines()[2])  # same, but the time

        # Both devices, their versions and outcome; the failure with its reason and phase.
        assert "Devices: 2 (1 done, 1 failed)" in md
        assert "| 001 |" in md and "| 11.1.2 | 11.1.6-h1 | 11.1.6-h1 | done |" in md, md
        assert "| 002 |" in md and "failed (install-failed)" in md
        failures = md.split("## Failures", 1)[1].split("## Per device", 1)[0]
        assert "install-failed" in failures and "| install |" in failures, failures
        # Per hop of 001: the pre/post comparison with its margins, time per phase.
        section = md.split("### 001", 1)[1].split("### 002", 1)[0]
        assert "| 1 | 11.1.6-h1 | success |" in section or "| 1 | 11.1.6-h1 | passed |" in section, section
        for phase in ("preflight", "install", "reboot", "postflight"):
            assert f"{phase} " in section, (phase, section)
        for check in ("tcp\\_sessions", "routes", "arp"):
            assert f"| {check} |" in section, (check, section)
        assert "| pass |" in section and " %" in section

        # The hostile hostname is text in both formats, never markup.
        assert "<script>" not in md and "&lt;script&gt;" in md and "\\|\\*bold\\*" in md
        assert "<script>" not in doc and html.escape(HOSTILE, quote=True) in doc
        tags = _Tags()
        tags.feed(doc)
        assert "script" not in tags.tags and {"html", "table", "td"} <= set(tags.tags)
        assert "install-failed" in doc and "tcp_sessions" in doc

        # No secret: the firewall and Panorama passwords appear nowhere.
        for key in ("firewall.password", "panorama.password"):
            secret = env.config.secret(key)
            assert secret and secret not in md and secret not in doc, key

        only = cli("report", "--group", "nope")
        assert 1 == only.exit_code and "nope" in only.stderr  # type: ignore[attr-defined]
