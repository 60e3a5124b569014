"""Hostile desired-state directories: files that are links to secrets, files that are not desired state
at all, and fleets of thousands of groups.

What is checked: the content of a file that is not a mapping never reaches an error message (errors go to
the terminal, the logs and ``status/daemon.json``); a link leading out of the directory is refused and the
error says so; validating thousands of groups stays fast (selection is linear, not pairwise).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.core.errors import InputFileError
from reconciler.workdir import desired_load, inventory_store
from reconciler.workdir.layout import WorkPaths
from tests.reliability import hostile
from tests.reliability.figures import TestFigures
from tests.reliability.test_hostile_inputs import invoke

SECRET = "hunter2-s3cr3t-value"
GOOD = 'apiVersion: panos-upgrade/v1\ngroups:\n  - name: dc\n    select: {deviceGroups: [dc]}\n    target: "11.1.2"\n'


@pytest.fixture
def fleet_work(work: WorkPaths) -> WorkPaths:
    inventory_store.save(work, hostile.INVENTORY)
    return work


def _desired_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "desired"
    folder.mkdir()
    (folder / "10-good.yaml").write_text(GOOD)
    return folder


def test_a_desired_file_linked_out_of_the_directory_is_refused_without_showing_its_content(
    tmp_path: Path,
    runner: CliRunner,
    fleet_work: WorkPaths,
    figures: TestFigures,
) -> None:
    figures.add("bad_inputs")
    secret = tmp_path / "secret.txt"
    secret.write_text(f"password {SECRET}\n")
    folder = _desired_dir(tmp_path)
    (folder / "20-secret.yaml").symlink_to(secret)
    for args in (("validate", str(folder)), ("plan", "-f", str(folder))):
        code, out = invoke(runner, fleet_work, *args)
        assert 1 == code, out
        assert f"{folder}/20-secret.yaml:1: (root): a symbolic link leading out of the desired-state" in out
        assert SECRET not in out


def test_a_link_inside_the_directory_is_followed(
    tmp_path: Path,
    runner: CliRunner,
    fleet_work: WorkPaths,
) -> None:
    folder = _desired_dir(tmp_path)
    (folder / "sub").mkdir()
    (folder / "10-good.yaml").rename(folder / "sub" / "good.yaml")
    (folder / "10-good.yaml").symlink_to(folder / "sub" / "good.yaml")
    code, out = invoke(runner, fleet_work, "validate", str(folder))
    assert 0 == code, out


def test_a_file_that_is_not_a_mapping_is_reported_without_its_content(
    tmp_path: Path,
    runner: CliRunner,
    fleet_work: WorkPaths,
    figures: TestFigures,
) -> None:
    folder = _desired_dir(tmp_path)
    cases = {
        "scalar.yaml": f"password {SECRET}\n",
        "key.yaml": f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n",
        "list.yaml": f"- {SECRET}\n- 2\n",
        "passwd.yaml": f"root:x:0:0:{SECRET}:/root:/bin/bash\n",
    }
    for name, text in cases.items():
        figures.add("bad_inputs")
        (folder / name).write_text(text)
        code, out = invoke(runner, fleet_work, "validate", str(folder))
        assert 1 == code, out
        assert f"{folder}/{name}:1: (root): expected a mapping, got a " in out
        assert SECRET not in out, name
        (folder / name).unlink()


def test_validating_three_thousand_groups_finds_every_overlap(figures: TestFigures) -> None:
    """The overlap check used to compare every pair of groups: 2,000 groups took 18 s and 3,000 froze the
    daemon ~45 s per pass. Indexed now; its time is measured by tests/bench/bench_planner.py (goal: 1 s for
    3,000 groups), its growth by the test below, never by a clock here."""
    from tests.bench.bench_planner import desired_yaml

    figures.add("bad_inputs")
    text = desired_yaml(3000)
    # Two overlaps that must still be found among them: a serial named twice, a group covering another.
    text += "  - {name: a-serial, select: {serials: [Z1]}, target: '11.2.7'}\n"
    text += (
        "  - {name: dup-serial, select: {serials: [Z1, Z2]}, exclude: {models: [none]}, target: '11.2.7'}\n"
    )
    text += "  - {name: covers-dg-5, select: {deviceGroups: [dg-005, dg-006]}, target: '11.2.7'}\n"
    started = time.perf_counter()
    with pytest.raises(InputFileError) as refused:
        desired_load.load_texts([("many.yaml", text)])
    elapsed = time.perf_counter() - started
    errors = refused.value.errors
    assert [
        "many.yaml:24014: groups[3001].select: selects serial(s) Z1 that group 'a-serial' selects too",
        "many.yaml:24015: groups[3002].select: selects every device of group 'group-005'",
        "many.yaml:24015: groups[3002].select: selects every device of group 'group-006'",
    ] == errors
    figures.note("validate_3000_groups_s", round(elapsed, 2))


def test_the_overlap_check_grows_linearly_with_the_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted, not timed: the clause comparisons made for three times the groups are about three times as
    many (a pairwise check would make nine times as many)."""
    from reconciler.core import desired
    from tests.bench.bench_planner import desired_yaml

    calls = 0
    covers = desired._covers

    def counting(a: object, b: object) -> bool:
        nonlocal calls
        calls += 1
        return covers(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(desired, "_covers", counting)
    made = []
    for groups in (600, 1800):
        # One catch-all group first: it covers every other group (one overlap each, all reported).
        text = desired_yaml(groups).replace("groups:\n", "groups:\n  - {name: all, select: {all: true}, target: '11.2.7'}\n")
        calls = 0
        with pytest.raises(InputFileError) as refused:
            desired_load.load_texts([("many.yaml", text)])
        assert groups == len(refused.value.errors)
        made.append(calls)
    assert made[0] > 0
    assert made[1] <= 4 * made[0], made
