"""The PAN-OS upgrade rules table: base images, release order and allowed skips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.rules import DEFAULT_RULES, FEATURE_RELEASES, UpgradeRules, spelled_out
from reconciler.core.version import PanOsVersion

V = PanOsVersion.parse
R = DEFAULT_RULES


@pytest.mark.parametrize(
    "train, base",
    [("9.1", "9.1.0"), ("10.0", "10.0.0"), ("10.1", "10.1.0"), ("11.2", "11.2.0"), ("12.1", "12.1.2")],
)
def test_base_image(train: str, base: str) -> None:
    assert R.base_image(train) == V(base)


def test_base_override_is_data() -> None:
    rules = UpgradeRules(base_overrides={"11.2": "11.2.1"})
    assert rules.base_image("11.2") == V("11.2.1")
    assert rules.base_image("12.1") == V("12.1.0")


@pytest.mark.parametrize(
    "src, dst, ha, ok",
    [
        ("9.1", "10.0", False, True),
        ("9.1", "10.1", False, False),  # no skipping up to 10.0
        ("10.0", "10.2", False, False),
        ("10.0", "10.1", False, True),
        ("10.1", "11.1", False, True),  # standalone skip from 10.1 on
        ("10.1", "11.2", False, True),  # distance 4
        ("10.1", "12.1", False, False),  # distance 5
        ("10.2", "12.1", False, True),
        ("10.2", "11.1", True, False),  # HA pairs: one release at a time
        ("10.2", "11.0", True, True),
        ("10.2", "10.2", True, True),
        ("11.1", "10.2", False, True),  # downgrade direction is not a skip
        ("11.2", "12.1", True, True),  # there is no 12.0: 11.2 -> 12.1 is one step
    ],
)
def test_can_jump(src: str, dst: str, ha: bool, ok: bool) -> None:
    assert R.can_jump(src, dst, ha=ha) is ok


@pytest.mark.parametrize(
    "cur, tgt, bases",
    [
        ("10.2.9", "10.2.12-h1", []),
        ("10.2.9", "11.0.3", ["11.0.0"]),
        ("10.2.9", "11.1.6-h1", ["11.0.0", "11.1.0"]),
        ("11.2.4", "12.1.3", ["12.1.2"]),
        ("11.1.0", "11.2.0", ["11.2.0"]),  # target is its own base
        ("11.1.4", "10.2.9", []),
    ],
)
def test_required_bases(cur: str, tgt: str, bases: list[str]) -> None:
    assert R.required_bases(V(cur), V(tgt)) == [V(b) for b in bases]


def test_trains_between() -> None:
    assert R.trains_between("10.1", "11.1") == ["10.2", "11.0", "11.1"]
    assert R.trains_between("11.1", "11.1") == []


def test_unknown_release_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown feature release '10\.5'"):
        R.index("10.5")
    assert not R.knows("10.5") and R.knows("12.1")


def test_rules_are_hashable_and_compare_by_value() -> None:
    assert hash(R) == hash(UpgradeRules())
    assert R == UpgradeRules()
    assert R != UpgradeRules(base_overrides={})


def test_release_table_is_ordered() -> None:
    parsed = [V(f"{t}.0") for t in FEATURE_RELEASES]
    assert parsed == sorted(parsed)


trains = st.sampled_from(FEATURE_RELEASES)


@given(trains, trains, st.booleans())
def test_max_jump_bounds_can_jump(a: str, b: str, ha: bool) -> None:
    d = R.distance(a, b)
    assert R.can_jump(a, b, ha=ha) == (d <= R.max_jump(a, ha=ha))
    if ha and d > 1:
        assert not R.can_jump(a, b, ha=True)


@given(trains, trains)
def test_required_bases_are_one_per_train_crossed(a: str, b: str) -> None:
    cur, tgt = R.base_image(a), V(f"{b}.5")
    bases = R.required_bases(cur, tgt)
    if R.distance(a, b) <= 0:
        assert bases == []
    else:
        assert [x.feature_release for x in bases] == R.trains_between(a, b)


@pytest.mark.parametrize(
    "short, full",
    [("12.1", "12.1.2"), ("11.1", "11.1.0"), ("13.4", "13.4.0"), ("11", "11.0.0"), ("10.2.9", "10.2.9")],
)
def test_a_version_written_short_is_spelled_out_as_a_real_one(short: str, full: str) -> None:
    assert spelled_out(short) == full


# -- downgrades (rollback) ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cur, tgt",
    [
        ("11.1.6", "11.1.4"),  # a previous maintenance release
        ("11.1.6-h1", "11.1.6"),  # a hotfix back to its release
        ("11.1.4", "11.0.3"),  # the previous feature release
        ("10.2.9", "10.1.3"),  # from 10.2: 10.1.3 is the documented floor
        ("10.2.9", "10.1.14-h2"),
        ("10.2.9", "10.2.1"),  # within 10.2 the floor does not apply
        ("12.1.3", "11.2.5"),  # 11.2 is the release before 12.1 (there is no 12.0)
    ],
)
def test_supported_downgrades_are_not_refused(cur: str, tgt: str) -> None:
    assert None is R.downgrade_refusal(V(cur), V(tgt))


@pytest.mark.parametrize(
    "cur, tgt, words",
    [
        ("10.2.9", "10.1.2", "only to 10.1.3 or later"),
        ("10.2.0", "10.1.0", "only to 10.1.3 or later"),
        ("11.1.4", "10.2.9", "one feature release at a time"),
        ("10.2.9", "10.0.5", "one feature release at a time"),
        ("12.1.3", "11.1.6", "one feature release at a time"),
    ],
)
def test_unsupported_downgrades_are_refused_with_the_rule(cur: str, tgt: str, words: str) -> None:
    refusal = R.downgrade_refusal(V(cur), V(tgt))
    assert refusal is not None and words in refusal


@pytest.mark.parametrize("cur, tgt", [("11.1.4", "11.1.6"), ("10.1.2", "10.2.0"), ("11.1.4", "11.1.4")])
def test_an_upgrade_or_the_same_version_is_no_downgrade(cur: str, tgt: str) -> None:
    assert None is R.downgrade_refusal(V(cur), V(tgt))
