"""Loading desired-state YAML: every error as file:line: path: message, YAML traps, files and directories."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.core.errors import InputFileError
from reconciler.core.version import PanOsVersion
from reconciler.workdir.desired_load import desired_files, load, load_texts, read_upgrade_paths, validate

GOOD = """\
apiVersion: panos-upgrade/v1
groups:
  - name: branches
    select: {deviceGroups: [branches]}
    target: "11.1.6-h1"
"""


def errors_of(text: str, name: str = "d.yaml") -> list[str]:
    with pytest.raises(InputFileError) as exc:
        load_texts([(name, textwrap.dedent(text))])
    return exc.value.errors


def test_good_file_loads() -> None:
    state = load_texts([("d.yaml", GOOD)])
    assert [g.name for g in state.groups] == ["branches"]
    assert state.groups[0].target == PanOsVersion.parse("11.1.6-h1")


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {deviceGroups: [a]}
                target: 10.10
            """,
            "d.yaml:5: groups[0].target: 10.10 is not a version string: YAML reads it as the number 10.1; "
            'quote versions and write them in full, e.g. "10.10.0"',
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            defaults:
              target: 11
            groups:
              - {name: a, select: {all: true}}
            """,
            "d.yaml:3: defaults.target: 11 is not a version string",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {deviceGroups: [a]}
                target: "11.1.0"
                path: ["10.2.9", 11.0]
            """,
            "d.yaml:6: groups[0].path[1]: 11.0 is not a version string",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {deviceGroups: [a]}
                target: "11.1.0"
                maxparalel: 3
            """,
            "d.yaml:6: groups[0].maxparalel: unknown field 'maxparalel' (did you mean 'maxParallel'?)",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {deviceGroups: [a]}
                target: "11.1.0"
                target: "11.2.0"
            """,
            "d.yaml:6: groups[0].target: duplicate key 'target' (first at line 5)",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {deviceGroups: [a]}
                target: "11.1.0"
                stage: instaled
            """,
            "d.yaml:6: groups[0].stage: 'instaled' is not one of 'installed', 'downloaded' (did you mean 'installed'?)",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                target: "11.1.0"
            """,
            "d.yaml:3: groups[0]: missing required field 'select'",
        ),
        (
            """\
            apiVersion: panos-upgrade/v2
            groups: []
            """,
            "d.yaml:1: apiVersion: must be 'panos-upgrade/v1', got 'panos-upgrade/v2'",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {deviceGroups: [a]}
                target: "11.1"
            """,
            "d.yaml:5: groups[0].target: '11.1' is not valid here: expected a PAN-OS version in quotes",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {deviceGroups: [a]}
                target: "11.1.0"
                maxParallel: "5"
            """,
            "d.yaml:6: groups[0].maxParallel: expected a whole number, got string '5'",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {deviceGroups: [a]}
                target: "11.1.0"
                maintenanceWindows:
                  - {days: [sat], start: "1:30", end: "05:00"}
            """,
            "d.yaml:7: groups[0].maintenanceWindows[0].start: '1:30' is not valid here: expected local wall-clock",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {deviceGroups: [a]}
                target: "11.1.0"
                maintenanceWindows:
                  - {days: [sat], start: 1:30, end: "05:00"}
            """,
            # YAML 1.1 reads 1:30 as the sexagesimal number 90; we keep the text and report it
            "d.yaml:7: groups[0].maintenanceWindows[0].start: '1:30' is not valid here",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {deviceGroups: [a]}
                target: "11.1.0"
                maintenanceWindows:
                  - {from: "2026-12-15"}
            """,
            "d.yaml:7: groups[0].maintenanceWindows[0]: missing required field 'until'",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {deviceGroups: [a], bogus: 1}
                target: "11.1.0"
            """,
            "d.yaml:4: groups[0].select.bogus: unknown field 'bogus'",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
              - name: a
                select: {}
                target: "11.1.0"
            """,
            "d.yaml:4: groups[0].select: must not be empty",
        ),
        (
            """\
            apiVersion: panos-upgrade/v1
            groups:
            \t- name: a
            """,
            "d.yaml:3: (syntax): ",
        ),
        (
            """\
            - a
            - b
            """,
            "d.yaml:1: (root): expected a mapping, got a list",
        ),
    ],
)
def test_error_messages_carry_file_line_and_path(text: str, expected: str) -> None:
    errors = errors_of(text)
    assert any(e.startswith(expected) for e in errors), errors


def test_tab_indentation_gets_a_hint() -> None:
    errors = errors_of("apiVersion: panos-upgrade/v1\ngroups:\n\t- name: a\n")
    assert "tabs" in errors[0] and errors[0].startswith("d.yaml:3:")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n...\n"])
def test_empty_files_are_rejected(text: str) -> None:
    assert errors_of(text) == [
        "d.yaml:1: (root): file is empty (a desired-state file needs apiVersion and groups)"
    ]


def test_every_error_is_reported_at_once_in_line_order() -> None:
    errors = errors_of(
        """\
        apiVersion: panos-upgrade/v1
        groups:
          - name: a
            select: {deviceGroups: [a]}
            target: 10.1
            colour: blue
          - name: b
            select: {deviceGroups: [b]}
            target: "11.1.0"
            stage: both
        """
    )
    assert [e.split(":")[1] for e in errors] == ["5", "6", "10"]


SEMANTIC = """\
apiVersion: panos-upgrade/v1
windows:
  weekend: {days: [sat], start: "01:00", end: "05:00", timezone: Europe/Berlin}
groups:
  - name: a
    select: {deviceGroups: [a]}
    target: "11.1.0"
    path: ["10.2.9", "10.1.5"]
    maintenanceWindows: [weekend, nosuch]
    denyWindows:
      - {from: "2026-12-15", until: "2026-12-01"}
      - {start: "01:00", end: "02:00", timezone: Mars/Base}
      - {start: "01:00", end: "01:00"}
      - {days: [funday], start: "01:00", end: "02:00"}
    waves: {canary: "150%", soak: 1h}
  - name: b
    select: {deviceGroups: [b]}
  - name: a
    select: {deviceGroups: [c]}
    target: "11.1.0"
"""


def test_semantic_errors_have_lines_too() -> None:
    errors = errors_of(SEMANTIC)
    expected = [
        "d.yaml:8: groups[0].path[1]: path hops must increase: 10.1.5 comes after 10.2.9",
        "d.yaml:9: groups[0].maintenanceWindows[1]: unknown window 'nosuch' (windows: weekend)",
        "d.yaml:11: groups[0].denyWindows[0].until: window ends (2026-12-01) before it starts (2026-12-15)",
        "d.yaml:12: groups[0].denyWindows[1].timezone: unknown time zone 'Mars/Base'",
        "d.yaml:13: groups[0].denyWindows[2].end: start and end are equal",
        "d.yaml:14: groups[0].denyWindows[3].days: not a day of the week: 'funday'",
        "d.yaml:15: groups[0].waves.canary: expected a count or a percentage from 1% to 100%, got '150%'",
        "d.yaml:16: groups[1]: group 'b' has no target",
        "d.yaml:18: groups[2].name: group 'a' is already defined in d.yaml",
    ]
    assert len(errors) == len(expected), errors
    for want, got in zip(expected, errors, strict=True):
        assert got.startswith(want), (want, got)


def test_overlapping_groups_are_rejected() -> None:
    errors = errors_of(
        """\
        apiVersion: panos-upgrade/v1
        groups:
          - name: a
            select: {serials: ["001", "002"]}
            target: "11.1.0"
          - name: b
            select: {serials: ["002", "003"]}
            target: "11.1.0"
          - name: everything
            select: {all: true}
            target: "11.1.0"
        """
    )
    assert errors[0].startswith(
        "d.yaml:7: groups[1].select: selects serial(s) 002 that group 'a' selects too"
    )
    assert any(e.startswith("d.yaml:10: groups[2].select: selects every device of group 'a'") for e in errors)


def test_overlap_is_fine_when_the_wide_group_excludes() -> None:
    state = load_texts(
        [
            (
                "d.yaml",
                """\
apiVersion: panos-upgrade/v1
groups:
  - name: canaries
    select: {serials: ["001"]}
    target: "11.1.0"
  - name: rest
    select: {deviceGroups: [branches]}
    exclude: {serials: ["001"]}
    target: "11.1.0"
""",
            )
        ]
    )
    assert len(state.groups) == 2


def test_yaml_merge_keys_and_anchors_work() -> None:
    state = load_texts(
        [
            (
                "d.yaml",
                """\
apiVersion: panos-upgrade/v1
groups:
  - &base
    name: a
    select: {deviceGroups: [a]}
    target: "11.1.0"
    maxParallel: 3
  - <<: *base
    name: b
    select: {deviceGroups: [b]}
""",
            )
        ]
    )
    assert [(g.name, g.max_parallel) for g in state.groups] == [("a", 3), ("b", 3)]


def test_alias_bomb_is_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i, name in enumerate("bcdefgh"):
        prev = "abcdefgh"[i]
        bomb += f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]\n"
    errors = errors_of(bomb)
    assert "too large or too deeply nested" in errors[0]


def test_yes_as_a_key_stays_text() -> None:
    errors = errors_of(
        """\
        apiVersion: panos-upgrade/v1
        yes: 1
        groups: []
        """
    )
    assert "unknown field 'yes'" in errors[0]


def test_directory_merges_files_and_reports_each_file(tmp_path: Path) -> None:
    (tmp_path / "00-globals.yaml").write_text(
        "apiVersion: panos-upgrade/v1\nwindows:\n  night: {start: '22:00', end: '04:00'}\n"
        "defaults:\n  maintenanceWindows: [night]\n  maxParallel: 4\n"
    )
    (tmp_path / "10-branches.yaml").write_text(GOOD)
    (tmp_path / "notes.txt").write_text("not yaml: [")
    (tmp_path / ".hidden.yaml").write_text("garbage: [")
    state = load(tmp_path, revision="abc123")
    assert state.groups[0].max_parallel == 4
    assert state.groups[0].schedule.maintenance[0].name == "night"
    assert state.revision == "abc123" and state.identity == "abc123"
    assert [Path(s).name for s in state.sources] == ["00-globals.yaml", "10-branches.yaml"]
    (tmp_path / "20-more.yaml").write_text(
        "apiVersion: panos-upgrade/v1\ndefaults: {maxParallel: 2}\ngroups: []\n"
    )
    errors = validate(tmp_path)
    assert errors == [
        f"{tmp_path / '20-more.yaml'}:2: defaults: already set in {tmp_path / '00-globals.yaml'}; set it in one file only"
    ]


def test_directory_without_yaml(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"no \*\.yaml files"):
        desired_files(tmp_path)
    with pytest.raises(InputFileError, match="no such file"):
        desired_files(tmp_path / "missing.yaml")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_bytes(b"apiVersion: \xff\xfe\n")
    assert "not UTF-8" in validate(f)[0]


def test_upgrade_paths_file_is_part_of_the_digest(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(GOOD)
    table_file = tmp_path / "upgrade_paths.json"
    plain = load(f, upgrade_paths=table_file)  # missing table file = no table
    table_file.write_text('{"10.2.9": ["11.0.3", "11.1.6-h1"]}')
    with_table = load(f, upgrade_paths=table_file)
    assert with_table.upgrade_paths == read_upgrade_paths(table_file)
    assert plain.digest != with_table.digest
    table_file.write_text('{"10.2.9": ["9.0.0"]}')
    with pytest.raises(InputFileError, match="increase strictly"):
        load(f, upgrade_paths=table_file)


def test_digest_ignores_comments_and_layout() -> None:
    a = load_texts([("a.yaml", GOOD)])
    b = load_texts(
        [
            (
                "b.yaml",
                "# comment\napiVersion: panos-upgrade/v1\ngroups:\n- {name: branches, target: '11.1.6-h1', "
                "select: {deviceGroups: [branches]}, stage: installed}\n",
            )
        ]
    )
    assert a.digest == b.digest
    c = load_texts([("a.yaml", GOOD.replace("11.1.6-h1", "11.1.6"))])
    assert c.digest != a.digest
