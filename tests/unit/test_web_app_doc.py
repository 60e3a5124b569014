"""docs/web-app.md and examples/{jobs,commands,csv}: every example validates against its schema or parser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reconciler.core.inventory import Device, Inventory
from reconciler.jobs import bulk_csv
from reconciler.jobs.queue import JobSpec
from reconciler.workdir import schemas

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "web-app.md"
_BLOCK = re.compile(r"<!-- schema: ([a-z-]+) -->\n```json\n(.*?)\n```", re.S)


def doc_examples() -> list[tuple[str, str]]:
    return _BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_the_doc_has_an_example_of_every_web_app_format() -> None:
    assert {"job-file", "job-status", "command-file", "command-outcome"} == {
        name for name, _ in doc_examples()
    }


@pytest.mark.parametrize(("schema", "text"), doc_examples())
def test_doc_examples_validate(schema: str, text: str) -> None:
    assert [] == schemas.errors(schema, json.loads(text))


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "jobs").glob("*.json")), ids=lambda p: p.name)
def test_job_examples_validate_and_are_named_after_their_id(path: Path) -> None:
    data = json.loads(path.read_text())
    assert [] == schemas.errors("job-file", data)
    assert JobSpec.from_json(data).job_id == data["job_id"]


@pytest.mark.parametrize(
    "path", sorted((ROOT / "examples" / "commands").glob("*.json")), ids=lambda p: p.name
)
def test_command_examples_validate(path: Path) -> None:
    assert [] == schemas.errors("command-file", json.loads(path.read_text()))


def test_csv_examples_parse() -> None:
    serials = [f"00123456789{i}" for i in range(6)]
    pairs = ((serials[2], serials[3]), (serials[4], serials[5]))
    members = [(a, b) for x, y in pairs for a, b in ((x, y), (y, x))]
    inv = Inventory.of(
        [Device(s, device_type="standalone", ha_state="standalone", sw_version="10.2.9") for s in serials[:2]]
        + [Device(a, device_type="ha_pair", peer_serial=b, sw_version="10.2.9") for a, b in members]
    )
    csv_dir = ROOT / "examples" / "csv"
    for name in ("serials.csv", "standalone_devices.csv"):
        assert 2 == len(bulk_csv.read_standalone(csv_dir / name, inv, pair_hint="x"))
    assert 2 == len(bulk_csv.read_ha_pairs(csv_dir / "ha_pairs.csv", inv, standalone_hint="x"))
