"""Shared fixtures: an isolated HOME and work directory per test, and a CLI runner."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.workdir.layout import WorkPaths


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME so tests never read or write the real ~/.panos-upgrade.config.json."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("PANOS_UPGRADE_HOME", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("PANOS_UPGRADE_"):
            monkeypatch.delenv(name, raising=False)
    return h


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def work(home: Path, tmp_path: Path, runner: CliRunner) -> WorkPaths:
    """An initialised work directory (via the real ``init`` command)."""
    from reconciler.cli import app

    wd = tmp_path / "work"
    result = runner.invoke(app, ["init", "--work-dir", str(wd)])
    assert result.exit_code == 0, result.output
    return WorkPaths(wd)


# -- the safety oracle after every simulator-backed test --------------------------------------------------------

_SAFETY_SUITES = ("integration", "reliability", "observability")


@pytest.fixture(autouse=True)
def simulator_safety(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """After each integration, reliability or observability test, run the context-free checks of
    ``tests.safety`` (a-f) on every simulator event log the test wrote: simulators started in this process
    (``Simulator.start`` is wrapped to record them) and logs found under the test's ``tmp_path`` (simulators
    in subprocesses: the demo, ``sim serve``). ``@pytest.mark.safety_allow("kind", ...)`` lets a test that
    provokes a violation on purpose allow that kind (with a comment saying why)."""
    try:
        suite = Path(str(request.node.path)).resolve().relative_to(Path(__file__).resolve().parent).parts[0]
    except (ValueError, IndexError):
        suite = ""
    if suite not in _SAFETY_SUITES:
        yield
        return
    from reconciler.sim.simulator import Simulator
    from tests import safety

    logs: list[Path] = []
    original = Simulator.start

    def start(self: Simulator, *args: object, **kwargs: object) -> Simulator:
        logs.append(self.events_path)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Simulator, "start", start)
    yield
    allow = [str(kind) for m in request.node.iter_markers("safety_allow") for kind in m.args]
    unknown = sorted(set(allow) - set(safety.KINDS))
    if unknown:
        pytest.fail(f"safety_allow: unknown kind(s) {unknown}; known: {sorted(safety.KINDS)}")
    tmp = request.node.funcargs.get("tmp_path")
    if isinstance(tmp, Path) and tmp.exists():
        logs += sorted(tmp.rglob("events.jsonl"))
    problems = []
    checked: Counter[str] = Counter()
    for path in dict.fromkeys(p.resolve() for p in logs if p.exists()):
        events = safety.read_events(path)
        violations = safety.check_events(events, allow=allow)
        checked.update(safety.coverage(events) | {"event logs": 1, "violations": len(violations)})
        if violations:
            problems.append(str(safety.UnsafeLog(violations, label=path.name)))
    if checked:  # read by tests/reliability/conftest.py for the reliability report
        request.node.user_properties.append(("safety", dict(checked)))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
