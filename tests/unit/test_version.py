"""PanOsVersion: parsing, formatting and the total order of PAN-OS versions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.version import PanOsVersion

V = PanOsVersion.parse

versions = st.builds(
    lambda major, minor, patch, suffix: PanOsVersion(major, minor, patch, *suffix),
    st.integers(0, 999),
    st.integers(0, 999),
    st.integers(0, 9999),
    st.one_of(st.just(("", 0)), st.tuples(st.sampled_from("hbc"), st.integers(1, 99999))),
)


@given(versions)
def test_format_then_parse_round_trips(v: PanOsVersion) -> None:
    assert V(str(v)) == v
    assert str(V(str(v))) == str(v)


@given(versions, versions)
def test_order_is_total_and_consistent_with_equality(a: PanOsVersion, b: PanOsVersion) -> None:
    assert sum((a < b, a == b, a > b)) == 1
    assert (a <= b) == (a < b or a == b)
    if a == b:
        assert hash(a) == hash(b)
        assert str(a) == str(b)


@given(versions, versions, versions)
def test_order_is_transitive(a: PanOsVersion, b: PanOsVersion, c: PanOsVersion) -> None:
    lo, mid, hi = sorted([a, b, c])
    assert lo <= mid <= hi
    assert lo <= hi


@given(st.lists(versions, max_size=20))
def test_sorting_is_stable_under_text_round_trip(vs: list[PanOsVersion]) -> None:
    assert sorted(V(str(v)) for v in vs) == sorted(vs)


@pytest.mark.parametrize(
    "text, fields",
    [
        ("10.2.9", (10, 2, 9, "", 0)),
        ("10.2.9-h1", (10, 2, 9, "h", 1)),
        ("11.1.0", (11, 1, 0, "", 0)),
        ("12.1.2", (12, 1, 2, "", 0)),
        ("9.1.17", (9, 1, 17, "", 0)),
        ("11.0.0-b1", (11, 0, 0, "b", 1)),
        ("10.0.0-c123", (10, 0, 0, "c", 123)),
        (" 10.1.14-h4 ", (10, 1, 14, "h", 4)),
    ],
)
def test_parse_table(text: str, fields: tuple[int, int, int, str, int]) -> None:
    v = V(text)
    assert (v.major, v.minor, v.patch, v.kind, v.num) == fields


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "10.2",
        "10",
        "10.2.9.1",
        "v10.2.9",
        "10.2.9-h",
        "10.2.9-h0",
        "10.2.9-x1",
        "10.2.9h1",
        "10.2.9-H1",
        "1000.0.0",
        "١٠.2.9",  # Arabic-Indic digits: int() would accept them, we must not
        "10.2.9-h1-h2",
        10.1,
        10,
        None,
        True,
    ],
)
def test_parse_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        V(bad)
    assert PanOsVersion.try_parse(bad) is None


def test_parse_of_a_float_says_it_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        V(10.1)


@pytest.mark.parametrize(
    "args",
    [
        (-1, 0, 0),
        (0, -1, 0),
        (1000, 0, 0),
        (10, 2, 10000),
        (10, 2, 9, "h", 0),
        (10, 2, 9, "", 1),
        (10, 2, 9, "x", 1),
    ],
)
def test_constructor_refuses_values_that_would_not_round_trip(args: tuple) -> None:
    with pytest.raises(ValueError):
        PanOsVersion(*args)


def test_constructor_refuses_bool_components() -> None:
    with pytest.raises(ValueError):
        PanOsVersion(True, 0, 0)


def test_documented_order_within_one_maintenance_release() -> None:
    chain = ["10.2.9-b1", "10.2.9-c3", "10.2.9", "10.2.9-h1", "10.2.9-h2", "10.2.10-b1", "10.2.10", "10.10.0"]
    parsed = [V(t) for t in chain]
    assert sorted(reversed(parsed)) == parsed


def test_numeric_not_lexical_order() -> None:
    assert V("10.2.10") > V("10.2.9")
    assert V("10.10.0") > V("10.2.99")
    assert V("11.0.0") > V("10.10.0")


def test_properties() -> None:
    v = V("10.2.9-h1")
    assert v.feature_release == "10.2"
    assert v.maintenance == V("10.2.9")
    assert v.is_hotfix and not v.is_prerelease
    assert V("11.0.0-b1").is_prerelease
    assert v.same_train(V("10.2.0")) and not v.same_train(V("10.1.9"))


def test_parse_accepts_an_existing_version() -> None:
    v = V("10.2.9")
    assert V(v) is v


def test_not_equal_to_its_text() -> None:
    assert V("10.2.9") != "10.2.9"
    with pytest.raises(TypeError):
        _ = V("10.2.9") < "10.2.9"  # type: ignore[operator]


def test_usable_as_dict_key_and_in_sets() -> None:
    assert len({V("10.2.9"), V(" 10.2.9"), V("10.2.9-h1")}) == 2


def test_parse_remembers_strings_but_not_errors() -> None:
    assert PanOsVersion.parse("10.2.9-h1") is PanOsVersion.parse("10.2.9-h1")
    assert PanOsVersion.parse(" 10.2.9 ") == PanOsVersion.parse("10.2.9")
    for _ in range(2):  # an error is raised every time, never remembered as a value
        with pytest.raises(ValueError, match="not a PAN-OS version"):
            PanOsVersion.parse("10.2.9-h0")
    with pytest.raises(ValueError, match="must be a string"):
        PanOsVersion.parse(["10.2.9"])  # unhashable: not looked up in the cache
