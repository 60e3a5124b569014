"""docs/desired-state.md, desired/ and examples/ cannot drift from the schema and the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.core.desired import READINESS_CHECKS
from reconciler.core.planner import BLOCK_REASONS
from reconciler.core.upgrade_path import parse_upgrade_paths_text
from reconciler.workdir import schemas
from reconciler.workdir.desired_load import load, load_texts

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "desired-state.md"
SCHEMA = schemas.load("desired-state")
_MARKER = re.compile(r"<!-- schema: (\S+) -->")
_ROW = re.compile(r"^\| `([^`]+)` \|")


def documented_tables() -> dict[str, set[str]]:
    """Schema pointer -> the field names of the table that follows its marker."""
    out: dict[str, set[str]] = {}
    pointer = None
    for line in DOC.read_text().splitlines():
        m = _MARKER.search(line)
        if m:
            pointer = m[1]
            out[pointer] = set()
            continue
        if pointer is None:
            continue
        row = _ROW.match(line)
        if row:
            out[pointer].add(row[1])
        elif out[pointer] and not line.startswith("|"):
            pointer = None
    return out


def schema_objects() -> dict[str, set[str]]:
    objects = {"(root)": set(SCHEMA["properties"])}
    for name, sub in SCHEMA["definitions"].items():
        if "properties" in sub:
            objects[f"definitions/{name}"] = set(sub["properties"])
    return objects


def test_every_schema_object_is_documented_field_by_field() -> None:
    assert documented_tables() == schema_objects()


def test_every_readiness_check_and_block_reason_is_documented() -> None:
    text = DOC.read_text()
    assert set(SCHEMA["definitions"]["readinessChecks"]["items"]["enum"]) == set(READINESS_CHECKS)
    for name in READINESS_CHECKS:
        assert f"`{name}`" in text
    reasons = {m for m in re.findall(r"^\| `([a-z-]+)` \| ", text, re.M)}
    assert set(BLOCK_REASONS) <= reasons


def test_yaml_examples_in_the_doc_are_valid() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert blocks
    for block in blocks:
        load_texts([("doc.yaml", block)])


@pytest.mark.parametrize(
    "path",
    ["desired", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples" / "desired").glob("*.yaml"))],
)
def test_shipped_desired_states_are_valid(path: str) -> None:
    state = load(ROOT / path, upgrade_paths=ROOT / "examples" / "upgrade_paths.json")
    assert state.groups


def test_examples_cover_the_documented_cases() -> None:
    names = {p.stem for p in (ROOT / "examples" / "desired").glob("*.yaml")}
    assert {"branch-rollout", "prestage-downloads", "ha-datacenter", "change-freeze"} <= names


def test_original_tool_upgrade_paths_example_parses() -> None:
    table = parse_upgrade_paths_text((ROOT / "examples" / "upgrade_paths.json").read_text())
    assert table
