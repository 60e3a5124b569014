"""One daemon run (a real ``panos-upgrade daemon run`` process against the simulator) fed the whole corpus
of hostile queue and command files, then every bad desired-state file in turn.

Expected: each file is moved to ``rejected/`` unchanged, with a ``.reason`` naming it and the problem; the
daemon never dies, never stalls (later files are still processed) and keeps the last valid desired state;
the simulator's event log shows no change on any device.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from reconciler.sim.fleet import FleetSpec, HaSpec
from reconciler.workdir import schemas
from tests.integration.fleet_env import FleetEnv, fleet_env
from tests.integration.test_engine import dev
from tests.reliability import hostile
from tests.reliability.conftest import block
from tests.reliability.daemon_proc import MUTATING_EVENTS, DaemonProcess, log_text
from tests.reliability.figures import TestFigures

# The desired state in force: every device already runs its target, so any device change is the bad input's.
IN_FORCE = 'groups:\n  - name: dc\n    select: {deviceGroups: [dc]}\n    target: "11.1.2"\n'


@pytest.fixture
def env(tmp_path: Path) -> Iterator[FleetEnv]:
    fleet = FleetSpec(
        devices=(
            dev("001", "11.1.2"),
            dev("002", "11.1.2"),
            dev("003", "11.1.2", ha=HaSpec("004", priority=10)),
            dev("004", "11.1.2", ha=HaSpec("003", priority=20)),
        )
    )
    with fleet_env(
        tmp_path,
        fleet,
        time_scale=0.004,
        base_address=block(),
        **{"daemon.allow_root": "true", "daemon.resync_interval": 2},
    ) as e:
        yield e


def _snapshot(path: Path) -> tuple[str, object]:
    """What must survive the move to rejected/: a link's target, a FIFO, a folder, or the exact bytes."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISFIFO(st.st_mode):
        return ("fifo", st.st_uid)
    if stat.S_ISDIR(st.st_mode):
        return ("dir", sorted(p.name for p in path.iterdir()))
    if st.st_size > 1024 * 1024:
        return ("sparse", st.st_size)
    return ("file", (path.read_bytes(), st.st_uid))


def _drop(folder: Path, outside: Path, kind: str) -> dict[str, tuple[str, tuple[str, object]]]:
    """Put every hostile file of ``kind`` in ``folder``; return name -> (expected reason, snapshot)."""
    dropped: dict[str, tuple[str, tuple[str, object]]] = {}
    staging = outside / f"staging-{kind}"
    staging.mkdir()
    for path in hostile.kept(kind):
        shutil.copyfile(path, staging / path.name)
        dropped[path.name] = (hostile.expected(path), _snapshot(staging / path.name))
    for item in hostile.GENERATED_DROPS if kind == "jobs" else hostile.GENERATED_DROPS[:1]:
        item.write(staging / item.name)
        dropped[item.name] = (item.expect, _snapshot(staging / item.name))
    for name in dropped:  # a rename is what a careful web app does: the daemon never sees half a file
        os.rename(staging / name, folder / name)
    for special in hostile.SPECIAL_JOBS if kind == "jobs" else hostile.SPECIAL_COMMANDS:
        special.make(folder, outside)
        dropped[special.name] = (special.expect, _snapshot(folder / special.name))
    return dropped


def _check_rejected(folder: Path, dropped: dict[str, tuple[str, tuple[str, object]]]) -> list[str]:
    problems = []
    for name, (reason, snapshot) in dropped.items():
        kept = folder / name
        why = folder / f"{name}.reason"
        if not (kept.exists() or kept.is_symlink()) or not why.exists():
            problems.append(f"{name}: not in {folder.name}/ with a .reason")
            continue
        text = why.read_text()
        if not text.startswith(name.split(".json")[0]) or reason not in text:
            problems.append(f"{name}: reason {text.strip()[:200]!r} lacks {reason!r}")
        if _snapshot(kept) != snapshot:
            problems.append(f"{name}: changed on the way to {folder.name}/")
    return problems


def test_daemon_fed_the_whole_corpus_rejects_everything_keeps_it_and_touches_nothing(
    env: FleetEnv, tmp_path: Path, figures: TestFigures
) -> None:
    env.write_desired(IN_FORCE)
    outside = tmp_path / "outside"
    outside.mkdir()
    daemon = DaemonProcess(env.paths, env.desired).start()
    try:
        daemon.wait_for(lambda: daemon.status()["desired"]["valid"], 60, "the valid desired state")
        daemon.wait_for(lambda: daemon.status()["last_reconcile"] is not None, 60, "a first pass")
        jobs = _drop(env.paths.queue("pending"), outside, "jobs")
        commands = _drop(env.paths.commands("incoming"), outside, "commands")
        figures.add("bad_inputs", len(jobs) + len(commands))
        daemon.wait_for(
            lambda: (
                not any(env.paths.queue("pending").iterdir())
                and not any(env.paths.commands("incoming").iterdir())
            ),
            90,
            "every dropped file to be handled",
        )
        # The queue keeps flowing after the corpus: a good command behind it is still applied.
        (env.paths.commands("incoming") / "after.json").write_text('{"command": "hold", "serial": "002"}')
        daemon.wait_for(
            lambda: (env.paths.commands("processed") / "after.outcome.json").exists(), 60, "a good command"
        )
        desired_files = _feed_bad_desired_files(daemon, env, tmp_path)
        figures.add("bad_inputs", desired_files)
        assert daemon.alive()
        status = daemon.status()
        assert [] == schemas.errors("daemon-status", status)
        assert status["desired"]["in_force"] and status["desired"]["valid"]
    finally:
        code = daemon.stop()
    assert 0 == code
    problems = _check_rejected(env.paths.queue("rejected"), jobs)
    problems += _check_rejected(env.paths.commands("rejected"), commands)
    touched = [e for e in env.sim.events() if e["event"] in MUTATING_EVENTS]
    logged = log_text(env.paths)
    stalls = [line for line in logged.splitlines() if "failed; retried" in line or "pass failed" in line]
    figures.add("violations", len(problems) + len(touched) + len(stalls))
    assert [] == problems
    assert [] == touched, "no device was changed by bad input"
    assert [] == stalls, "no bad file made a pass or the queue fail"
    assert not list(env.paths.job_status_dir.iterdir()), "no job was accepted"
    for special in (outside / "valid-elsewhere.json", outside / "secret.json"):
        assert special.exists(), "a link's target is never moved or removed"


def _feed_bad_desired_files(daemon: DaemonProcess, env: FleetEnv, tmp_path: Path) -> int:
    """Add each bad desired-state file next to the valid one; the daemon must name it, act on nothing,
    and keep the last valid state in force. Returns the number of files fed."""
    generated = tmp_path / "generated-desired"
    generated.mkdir()
    files = list(hostile.kept("desired"))
    for item in hostile.GENERATED_DESIRED:
        item.write(generated / item.name)
        files.append(generated / item.name)
    previous: Path | None = None
    for path in files:
        name = f"zz-{path.name}"
        shutil.copyfile(path, env.desired / f".{name}")
        os.rename(env.desired / f".{name}", env.desired / name)
        if previous is not None:
            previous.unlink()
        previous = env.desired / name
        daemon.wait_for(partial(name_in_error, daemon, name), 30, f"the daemon to report {name}")
        assert daemon.status()["desired"]["in_force"]
    assert previous is not None
    previous.unlink()
    daemon.wait_for(lambda: daemon.status()["desired"]["valid"], 30, "the valid state again")
    time.sleep(0.5)  # one more resync with the good state: still nothing to do
    return len(files)


def name_in_error(daemon: DaemonProcess, name: str) -> bool:
    desired = daemon.status()["desired"]
    return not desired["valid"] and name in (desired["error"] or "")
