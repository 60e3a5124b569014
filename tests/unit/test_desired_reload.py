"""Loading the same desired-state texts again (the engine does at every pass) gives the state already built
(issue 18.5): the same object, with the revision asked for; changed or invalid texts are parsed again."""

from __future__ import annotations

import pytest

from reconciler.core.errors import InputFileError
from reconciler.workdir.desired_load import load_texts

TEXT = 'apiVersion: panos-upgrade/v1\ngroups:\n  - {name: br, select: {deviceGroups: [br]}, target: "11.1.6-h1"}\n'


def test_the_same_texts_give_the_same_state_with_the_revision_asked_for() -> None:
    first = load_texts([("a.yaml", TEXT)], revision="r1")
    assert load_texts([("a.yaml", TEXT)], revision="r1") is first
    again = load_texts([("a.yaml", TEXT)], revision="r2")
    assert again == first and again.revision == "r2" and first.revision == "r1"


def test_changed_texts_are_parsed_again_and_invalid_ones_always_fail() -> None:
    first = load_texts([("a.yaml", TEXT)])
    changed = load_texts([("a.yaml", TEXT.replace("11.1.6-h1", "11.2.7"))])
    assert str(changed.groups[0].target) == "11.2.7" and changed.digest != first.digest
    bad = TEXT.replace('"11.1.6-h1"', "11.1")
    for _ in range(2):
        with pytest.raises(InputFileError):
            load_texts([("a.yaml", bad)])
    assert load_texts([("a.yaml", TEXT)]) == first
