"""Security: secrets stay secret, TLS is verified, a wrong password does not storm, root is refused, and
drop folders trust nothing (DESIGN.md section 10)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import urllib.request
from collections import Counter
from functools import partial
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from reconciler.jobs import operator_requests, queue
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import Credentials, FleetSpec, HaSpec
from reconciler.sim.tls import CertificateAuthority
from reconciler.workdir.config import Config
from tests.integration.fleet_env import FleetEnv, fleet_env
from tests.integration.test_engine import dev, group
from tests.reliability import hostile
from tests.reliability.conftest import block
from tests.reliability.daemon_proc import DaemonProcess
from tests.reliability.figures import TestFigures

# Distinctive values, with characters that URL-encoding and JSON escaping would change.
PANORAMA_PASSWORD = "Pano#S3cret!q7/x+z"
FIREWALL_PASSWORD = "Fw#S3cret!k9=w&y"


def cli(
    env: FleetEnv, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "--work-dir", str(env.paths.root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(extra_env or {})},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def forms(secret: str) -> set[str]:
    """The ways a secret could be written down: as is, URL-encoded, JSON-escaped."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


# -- secrets ------------------------------------------------------------------------------------------------


def test_known_secrets_appear_nowhere_after_a_full_run(tmp_path: Path, figures: TestFigures) -> None:
    fleet = FleetSpec(
        devices=(
            dev("501", "10.2.9"),
            dev("502", "11.1.2", ha=HaSpec("503", priority=10)),
            dev("503", "11.1.2", ha=HaSpec("502", priority=20)),
            dev("504", "11.1.2", faults=(Fault.create("install_fail", count=5),)),
            dev("505", "11.1.2", faults=(Fault.create("wrong_credentials"),)),
        )
    ).with_credentials(Credentials("admin", PANORAMA_PASSWORD), Credentials("admin", FIREWALL_PASSWORD))
    port = free_port()
    config = {
        "daemon.allow_root": "true",
        "daemon.resync_interval": 2,
        "logging.level": "DEBUG",
        "metrics.enabled": "true",
        "metrics.listen": f"127.0.0.1:{port}",
    }
    with fleet_env(tmp_path, fleet, time_scale=0.002, base_address=block(), **config) as env:
        env.write_desired(group("11.1.6-h1", 'failureBudget: "100%"'))
        outputs = [cli(env, "plan", "-f", str(env.desired), "--out", str(env.paths.root / "saved-plan.json"))]
        daemon = DaemonProcess(env.paths, env.desired).start()
        try:
            daemon.wait_for(
                lambda: all(env.sim.device(s).version == "11.1.6-h1" for s in ("501", "502", "503")),
                120,
                "the healthy devices to converge",
            )
            daemon.wait_for(lambda: _settled(env), 60, "the failing devices to settle")
            metrics_text = (
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
            )
        finally:
            assert 0 == daemon.stop()
        for args in (
            ("config", "show"),
            ("config", "show", "--json"),
            ("config", "get", "firewall.password"),
            ("device", "list"),
            ("device", "status", "505"),
            ("job", "list"),
            ("plan", "-f", str(env.desired), "--json"),
            ("daemon", "status", "--json"),
            ("--debug", "device", "validate", "505"),
        ):
            outputs.append(cli(env, *args))
        keys = [env.sim.world.api_key(d) for d in env.sim.world.devices()]
    secrets = [PANORAMA_PASSWORD, FIREWALL_PASSWORD, *keys]
    texts: dict[str, bytes] = {"metrics": metrics_text.encode(), "daemon stderr": daemon.stderr.read_bytes()}
    for out in outputs:
        texts[" ".join(out.args[4:])] = (out.stdout + out.stderr).encode()
    for path in env.paths.root.rglob("*"):
        if path.is_file() and path != env.paths.config_file:
            texts[str(path.relative_to(env.paths.root))] = path.read_bytes()
    leaks = [
        f"{where}: {secret[:6]}..."
        for where, data in texts.items()
        for secret in secrets
        for form in forms(secret)
        if form.encode() in data
    ]
    figures.add("violations", len(leaks))
    figures.note("secret scan", {"files and outputs": len(texts), "secret values": len(secrets)})
    assert [] == leaks
    assert 0o600 == stat.S_IMODE(env.paths.config_file.stat().st_mode)
    assert FIREWALL_PASSWORD in env.paths.config_file.read_text(), "the scan looked for what is really there"
    assert any(len(t) > 1000 for t in texts.values()) and len(texts) > 20


def _settled(env: FleetEnv) -> bool:
    status = json.loads(env.paths.daemon_status_file.read_text())
    return bool(status["in_flight"] == 0 and status["counts_by_phase"].get("failed", 0) >= 1)


def test_a_config_with_secrets_readable_by_others_is_warned_about(work: object, tmp_path: Path) -> None:
    from reconciler.workdir.layout import WorkPaths

    assert isinstance(work, WorkPaths)
    cfg = Config.load(work.config_file)
    cfg.set("firewall.password", FIREWALL_PASSWORD)
    cfg.save()
    assert 0o600 == stat.S_IMODE(work.config_file.stat().st_mode)
    quiet = subprocess.run(
        [sys.executable, "-m", "reconciler", "--work-dir", str(work.root), "config", "show"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "holds secrets" not in quiet.stderr
    os.chmod(work.config_file, 0o644)
    loud = subprocess.run(
        [sys.executable, "-m", "reconciler", "--work-dir", str(work.root), "config", "show"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 0 == loud.returncode
    assert f"{work.config_file} holds secrets but has mode 644; run 'chmod 600" in loud.stderr
    logged = "".join(p.read_text() for p in work.text_logs_dir.glob("*.log"))
    assert "holds secrets but has mode 644" in logged, "the warning is in the log file too"
    assert FIREWALL_PASSWORD not in loud.stdout + loud.stderr + logged


# -- TLS ------------------------------------------------------------------------------------------------------


def test_a_certificate_from_another_ca_is_refused_unless_verification_is_off(
    tmp_path: Path, figures: TestFigures
) -> None:
    fleet = FleetSpec(devices=(dev("601", "11.1.2"),))
    other_ca = CertificateAuthority(tmp_path / "other-ca").ca_path
    with fleet_env(tmp_path, fleet, base_address=block()) as env:
        keygens = len(env.sim.events("keygen"))  # the fixture's own discovery, with the right CA
        attempts = []
        for settings in (
            {"panorama.ca_bundle": str(other_ca), "firewall.ca_bundle": str(other_ca)},
            {"panorama.ca_bundle": "", "firewall.ca_bundle": ""},  # the system store
        ):
            _configure(env, settings)
            refused = cli(env, "device", "discover")
            attempts.append(refused)
            assert 1 == refused.returncode
            assert "TLS certificate not trusted" in refused.stderr, refused.stderr
            assert "Traceback" not in refused.stderr
        figures.add("bad_inputs", len(attempts))
        assert keygens == len(env.sim.events("keygen")), "credentials never went to an untrusted endpoint"
        firewall = cli(env, "device", "validate", "601")
        assert 0 != firewall.returncode
        assert "TLS certificate not trusted" in firewall.stdout + firewall.stderr
        assert keygens == len(env.sim.events("keygen"))
        _configure(env, {"panorama.verify_tls": "false", "firewall.verify_tls": "false"})
        allowed = cli(env, "device", "discover")
        assert 0 == allowed.returncode, allowed.stderr
        assert "TLS verification is OFF for" in allowed.stderr + _logs(env), "turning it off is logged"
        assert keygens < len(env.sim.events("keygen"))


def _configure(env: FleetEnv, values: dict[str, str]) -> None:
    cfg = Config.load(env.paths.config_file)
    for key, value in values.items():
        cfg.set(key, value)
    cfg.save()


def _logs(env: FleetEnv) -> str:
    return "".join(p.read_text(errors="replace") for p in env.paths.text_logs_dir.glob("*.log"))


# -- wrong password ----------------------------------------------------------------------------------------


def test_a_wrong_password_gives_one_clear_error_and_a_bounded_number_of_attempts(
    tmp_path: Path, figures: TestFigures
) -> None:
    fleet = FleetSpec(devices=(dev("701", "11.1.2"), dev("702", "11.1.2")))
    config = {"daemon.allow_root": "true", "daemon.resync_interval": 1}
    with fleet_env(tmp_path, fleet, time_scale=0.003, base_address=block(), **config) as env:
        _configure(env, {"firewall.password": "not-the-password", "panorama.password": "nor-this-one"})
        discover = cli(env, "device", "discover")
        assert 1 == discover.returncode
        errors = [line for line in discover.stderr.splitlines() if line.startswith("error:")]
        assert 1 == len(errors) and "authentication failed (invalid credentials)" in errors[0], (
            discover.stderr
        )
        panorama_keygens = env.sim.api_calls(env.sim.panorama_serial).get("keygen", 0)
        validate = cli(env, "device", "validate", "701")
        assert 0 != validate.returncode
        assert "authentication failed (invalid credentials)" in validate.stdout + validate.stderr
        # The daemon with a wrong firewall password: one attempt per device, then failed with reason auth.
        env.write_desired(group("11.1.6-h1", 'failureBudget: "100%"'))
        daemon = DaemonProcess(env.paths, env.desired).start()
        try:
            daemon.wait_for(
                lambda: daemon.status()["counts_by_phase"].get("failed", 0) == 2, 60, "both devices to fail"
            )
            calls_at_failure = {s: env.sim.api_calls(s).get("keygen", 0) for s in ("701", "702")}
            _sleep_passes(daemon, 4)
        finally:
            assert 0 == daemon.stop()
        keygens = {s: env.sim.api_calls(s).get("keygen", 0) for s in ("701", "702")}
        reasons = {
            s: json.loads(env.paths.device_status_file(s).read_text())["last_error"] for s in ("701", "702")
        }
    figures.note("keygen attempts", {"panorama (discover)": panorama_keygens, **keygens})
    storm = [s for s, n in keygens.items() if n > 3 or n > calls_at_failure[s] + 1]
    figures.add("violations", len(storm))
    assert panorama_keygens <= 3
    assert [] == storm, f"keygen attempts per firewall: {keygens} (at failure: {calls_at_failure})"
    for serial, error in reasons.items():
        assert "invalid credentials" in error["message"], (serial, error)


def _sleep_passes(daemon: DaemonProcess, n: int) -> None:
    """Let ``n`` more reconcile passes happen (each one would retry a device if it were going to)."""
    for _ in range(n):
        seen = _last_pass(daemon)
        daemon.wait_for(partial(_passed_since, daemon, seen), 30, "a pass")


def _last_pass(daemon: DaemonProcess) -> str:
    return str((daemon.status()["last_reconcile"] or {}).get("at", ""))


def _passed_since(daemon: DaemonProcess, seen: str) -> bool:
    return _last_pass(daemon) > seen


# -- root ------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can show the refusal")
def test_the_daemon_refuses_to_run_as_root_unless_allowed(work: object) -> None:
    from reconciler.workdir.layout import WorkPaths

    assert isinstance(work, WorkPaths)
    run = subprocess.run(
        [sys.executable, "-m", "reconciler", "--work-dir", str(work.root), "daemon", "run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert 1 == run.returncode
    assert "error: refusing to run the daemon as root" in run.stderr
    assert not work.lock_file.exists() or not work.pid_file.exists(), "it stopped before taking the lock"


# -- drop folders ----------------------------------------------------------------------------------------------


def test_drop_files_owned_by_others_or_linked_outside_the_work_dir_are_rejected(
    work: object, tmp_path: Path, figures: TestFigures
) -> None:
    from reconciler.workdir import inventory_store
    from reconciler.workdir.layout import WorkPaths

    assert isinstance(work, WorkPaths)
    inventory_store.save(work, hostile.INVENTORY)
    outside = tmp_path / "outside"
    outside.mkdir()
    for special in hostile.SPECIAL_JOBS:
        special.make(work.queue("pending"), outside)
    for special in hostile.SPECIAL_COMMANDS:
        special.make(work.commands("incoming"), outside)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    assert [] == queue.read_pending(work, hostile.INVENTORY)
    assert [] == operator_requests.read_incoming(work, inventory=hostile.INVENTORY)
    figures.add("bad_inputs", len(hostile.SPECIAL_JOBS) + len(hostile.SPECIAL_COMMANDS))
    reasons: Counter[str] = Counter()
    for folder, specials in (
        (work.queue("rejected"), hostile.SPECIAL_JOBS),
        (work.commands("rejected"), hostile.SPECIAL_COMMANDS),
    ):
        for special in specials:
            reason = (folder / f"{special.name}.reason").read_text()
            assert special.expect in reason, reason
            reasons[special.expect.split(" (")[0]] += 1
    assert before == {p.name: p.read_bytes() for p in outside.iterdir()}, "link targets are never touched"
    assert (work.queue("rejected") / "linked.json").is_symlink(), "the link itself is kept, not its target"
    assert hostile.FOREIGN_UID == (work.queue("rejected") / "foreign.json").lstat().st_uid
