"""One truth (issue 14): ``plan``, ``apply`` and the daemon's reconcile pass give every device the same
verdict from the same inputs, whatever revision string ``plan`` is given; and a failed device is retried
when its group's meaning changes, not on every commit."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.engine.session import open_session
from reconciler.sim.faults import Fault
from reconciler.sim.fleet import FleetSpec
from tests.integration.fleet_env import HEADER, FleetEnv, fleet_env
from tests.integration.test_engine import dev, group


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
        },
    )
    return out.stdout.strip()


def commit(repo: Path, body: str, message: str) -> None:
    (repo / "fleet.yaml").write_text(HEADER + body)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def cli(runner: CliRunner, env: FleetEnv, *args: str) -> Any:
    return runner.invoke(app, ["--work-dir", str(env.paths.root), *args])


def plan_json(runner: CliRunner, env: FleetEnv, repo: Path, *args: str) -> dict[str, Any]:
    result = cli(runner, env, "plan", "-f", str(repo), "--json", *args)
    assert 0 == result.exit_code, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def verdicts(doc: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {d["serial"]: (d["action"], d["reason"]) for d in doc["devices"]}


def engine_verdicts(env: FleetEnv, repo: Path) -> tuple[dict[str, tuple[str, str | None]], bool]:
    """What the reconcile pass (the one ``apply`` and the daemon run, and the metrics publish) decides."""
    session = open_session(env.paths, env.config, desired_path=repo, serve_metrics=False)
    try:
        session.reconciler.load_records()
        result = session.reconciler.preview(timeout=30)
        assert result.plan is not None, result.error
        halted = next(g.halted for g in result.plan.groups if g.name == "dc")
        return {d.serial: (d.action, d.reason) for d in result.plan.devices}, halted
    finally:
        session.close()


def test_plan_apply_and_the_engine_agree_and_only_a_change_of_meaning_retries(
    tmp_path: Path, runner: CliRunner
) -> None:
    fleet = FleetSpec(
        devices=(
            dev("001", "11.1.2", faults=(Fault.create("install_fail"),)),
            dev("002", "11.1.2"),
        )
    )
    with fleet_env(tmp_path, fleet, base_address="127.224.0.0") as env:
        repo = tmp_path / "gitops"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        commit(repo, group("11.1.6-h1", extra="maxParallel: 1"), "dc to 11.1.6-h1")
        applied = cli(runner, env, "apply", "-f", str(repo), "--auto-approve", "--timeout", "90")
        assert 2 == applied.exit_code, applied.output
        record = json.loads((env.paths.device_status_dir / "001.json").read_text())
        assert "failed" == record["upgrade_status"] and record["group_digest"].startswith("sha256:")
        sha = git(repo, "rev-parse", "HEAD")
        assert record["desired_revision"] == sha[:12]

        failed = (("blocked", "failed"), True)
        # plan without --revision, with the short (7) or full SHA, or any text: the same verdict as the engine.
        engine = engine_verdicts(env, repo)
        assert engine[0]["001"] == failed[0] and engine[1], engine
        for extra in ((), ("--revision", sha[:7]), ("--revision", sha), ("--revision", "anything")):
            doc = plan_json(runner, env, repo, *extra)
            assert verdicts(doc) == engine[0], extra
            assert doc["groups"][0]["halted"] and 1 == doc["groups"][0]["failures"], extra
        assert plan_json(runner, env, repo)["desired"]["revision"] == sha[:12]

        # A comment-only commit, and a pacing change, mean the same for the device: the failure stands.
        commit(repo, group("11.1.6-h1", extra="maxParallel: 1") + "# reviewed by the change board\n", "c")
        assert engine_verdicts(env, repo) == engine
        assert verdicts(plan_json(runner, env, repo)) == engine[0]
        commit(repo, group("11.1.6-h1", extra="maxParallel: 4\nfailureBudget: 3"), "faster")
        assert engine_verdicts(env, repo)[0]["001"] == failed[0]
        assert verdicts(plan_json(runner, env, repo))["001"] == failed[0]

        # A setting that changes what is done to the device (a validation margin) retries it.
        commit(
            repo,
            group("11.1.6-h1", extra="maxParallel: 4\nfailureBudget: 3\nvalidation: {tcpSessionMargin: 30}"),
            "wider margin",
        )
        retried, halted = engine_verdicts(env, repo)
        assert retried["001"] == ("upgrade", None) and not halted
        assert verdicts(plan_json(runner, env, repo)) == retried
