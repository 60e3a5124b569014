"""The README's configuration reference and newcomer commands stay true."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.workdir import config
from reconciler.workdir.config import KEYS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_config_reference_is_the_generated_table() -> None:
    assert config.markdown_reference() in README, "regenerate: python -m reconciler.workdir.config --markdown"


def test_every_config_key_is_documented_with_its_default() -> None:
    for key in KEYS.values():
        row = re.search(rf"^\| `{re.escape(key.name)}` \| {key.type} \| `([^`]*)` \|", README, re.M)
        assert row, f"{key.name} missing from README configuration reference"
        if isinstance(key.default, bool):
            default = "true" if key.default else "false"
        else:
            default = str(key.default) if key.default != "" else "(empty)"
        assert default == row.group(1), key.name


def test_readme_documents_no_unknown_key() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", README, re.M))
    assert documented == set(KEYS)


def test_the_two_newcomer_commands_are_present() -> None:
    commands = re.findall(r"^    (python3 -m venv .venv && .*)$", README, re.M)
    assert 2 <= len(commands)
    # The test command ends with pytest and its options (.ci/run runs exactly this line).
    assert any(re.search(r"&& \.venv/bin/pytest( -[^&|;]*)?$", c) for c in commands)
