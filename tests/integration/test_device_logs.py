"""The daemon's logs tell each device's story (issue 14.6): every transition, a failure with its reason and a
completion, one line each, in the text log (``tail -f logs/text/...``) and as fields in the JSON log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from reconciler.sim.faults import Fault
from reconciler.sim.fleet import FleetSpec
from tests.integration.fleet_env import fleet_env
from tests.integration.test_daemon import DAEMON_CONFIG, start_daemon, stop
from tests.integration.test_engine import dev, group


def test_the_daemon_logs_every_device_transition_failure_and_completion(tmp_path: Path) -> None:
    spec = FleetSpec(
        devices=(dev("001", "11.1.2"), dev("002", "11.1.2", faults=(Fault.create("install_fail"),)))
    )
    with fleet_env(tmp_path, spec, time_scale=0.004, base_address="127.226.0.0", **DAEMON_CONFIG) as env:
        env.write_desired(group("11.1.6-h1", extra="failureBudget: 5"))
        proc = start_daemon(env, env.desired)
        statuses = env.paths.device_status_dir

        def finished() -> bool:
            phases = []
            for serial in ("001", "002"):
                try:
                    phases.append(json.loads((statuses / f"{serial}.json").read_text())["upgrade_status"])
                except (OSError, ValueError):
                    return False
            return phases == ["done", "failed"]

        try:
            assert env.sim.wait_until(finished, timeout=90)
        finally:
            assert 0 == stop(proc)
        lines = [
            json.loads(x)
            for x in (env.paths.json_logs_dir / "panos-upgrade-daemon.jsonl").read_text().splitlines()
        ]
        device = [d for d in lines if str(d.get("event", "")).startswith("device_")]
        for d in device:
            assert {"serial", "hostname", "group", "hop", "phase"} <= set(d), d
            assert d["group"] == "dc" and d["hostname"] == f"fw-{d['serial']}"
        ok = [d for d in device if d["serial"] == "001"]
        phases = [d["phase"] for d in ok]
        assert phases[0] == "pending" and phases[-1] == "done", phases
        for phase in ("preflight", "download_target", "install", "reboot", "postflight"):
            assert phase in phases, phases
        assert 1 == Counter(phases)["install"], "one line per transition"
        assert ok[-1]["event"] == "device_completed" and ok[-1]["hop"] == "11.1.6-h1"
        failed = [d for d in device if d["serial"] == "002" and d["event"] == "device_failed"]
        assert 1 == len(failed) and failed[0]["level"] == "WARNING" and failed[0]["reason"], failed
        assert failed[0]["hop"] == "11.1.6-h1"
        text = (env.paths.text_logs_dir / "panos-upgrade-daemon.log").read_text()
        assert "fw-001 (001) group dc hop 11.1.6-h1: download_target -> install" in text
        assert f"fw-002 (002) group dc hop 11.1.6-h1: failed in install: {failed[0]['reason']}" in text
        assert "fw-001 (001) group dc: done, on 11.1.6-h1" in text
