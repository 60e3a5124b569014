"""Version paths: table-driven cases for every rule, the original tool's table, crash resume, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.errors import InputFileError
from reconciler.core.rules import DEFAULT_RULES, FEATURE_RELEASES
from reconciler.core.upgrade_path import (
    DOWNGRADE_REFUSED,
    IMAGES_UNKNOWN,
    NO_PATH,
    ImageOffer,
    PathHop,
    find_path,
    parse_upgrade_paths,
    parse_upgrade_paths_text,
    resolve_path,
    table_target,
    table_to_json,
)
from reconciler.core.version import PanOsVersion

V = PanOsVersion.parse

CATALOG = [
    V(x)
    for x in [
        "9.1.0",
        "9.1.17",
        "10.0.0",
        "10.0.12",
        "10.1.0",
        "10.1.14-h4",
        "10.2.0",
        "10.2.9",
        "10.2.10-h2",
        "10.2.11-b1",
        "11.0.0",
        "11.0.3",
        "11.0.6-h1",
        "11.1.0",
        "11.1.4",
        "11.1.6-h1",
        "11.2.0",
        "11.2.4",
        "12.1.0",
        "12.1.2",
        "12.1.3",
    ]
]


def hops(path: object) -> list[tuple[str, list[str]]]:
    return [(str(h.version), [str(i) for i in h.images]) for h in path.hops]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "case, cur, tgt, ha, expected",
    [
        ("same train, no base", "10.2.9", "10.2.10-h2", False, [("10.2.10-h2", ["10.2.10-h2"])]),
        ("hotfix of the running release", "11.1.4", "11.1.6-h1", True, [("11.1.6-h1", ["11.1.6-h1"])]),
        ("next release needs its base", "10.2.9", "11.0.3", False, [("11.0.3", ["11.0.0", "11.0.3"])]),
        ("target is its own base", "11.1.4", "11.2.0", False, [("11.2.0", ["11.2.0"])]),
        ("12.1's base is 12.1.2", "11.2.4", "12.1.3", True, [("12.1.3", ["12.1.2", "12.1.3"])]),
        ("12.1.2 target is the base", "11.2.4", "12.1.2", False, [("12.1.2", ["12.1.2"])]),
        (
            "standalone skip from 10.1 downloads every base crossed",
            "10.1.14-h4",
            "11.1.6-h1",
            False,
            [("11.1.6-h1", ["10.2.0", "11.0.0", "11.1.0", "11.1.6-h1"])],
        ),
        (
            "HA pairs step through every release, newest maintenance of each",
            "10.1.14-h4",
            "11.1.6-h1",
            True,
            [
                ("10.2.10-h2", ["10.2.0", "10.2.10-h2"]),
                ("11.0.6-h1", ["11.0.0", "11.0.6-h1"]),
                ("11.1.6-h1", ["11.1.0", "11.1.6-h1"]),
            ],
        ),
        (
            "no skipping before 10.1, then a skip of 4",
            "9.1.17",
            "12.1.3",
            False,
            [
                ("10.0.12", ["10.0.0", "10.0.12"]),
                ("10.1.14-h4", ["10.1.0", "10.1.14-h4"]),
                ("11.2.4", ["10.2.0", "11.0.0", "11.1.0", "11.2.0", "11.2.4"]),
                ("12.1.3", ["12.1.2", "12.1.3"]),
            ],
        ),
        (
            "distance 5 needs one intermediate",
            "10.1.14-h4",
            "12.1.3",
            False,
            [
                ("11.2.4", ["10.2.0", "11.0.0", "11.1.0", "11.2.0", "11.2.4"]),
                ("12.1.3", ["12.1.2", "12.1.3"]),
            ],
        ),
    ],
)
def test_auto_paths(case: str, cur: str, tgt: str, ha: bool, expected: list[tuple[str, list[str]]]) -> None:
    path = find_path(V(cur), V(tgt), available=CATALOG, ha=ha)
    assert path.ok, path.detail
    assert expected == hops(path), case
    assert path.source == "auto"


def test_intermediate_never_a_bare_base_or_prerelease() -> None:
    offered = [V(x) for x in ("10.2.0", "10.2.11-b1", "11.0.0", "11.0.2", "11.1.0", "11.1.4")]
    path = find_path(V("10.1.9"), V("11.1.4"), available=[*offered, V("10.1.9")], ha=True)
    assert path.reason == NO_PATH
    assert "10.2" in path.detail
    offered.append(V("10.2.3"))
    path = find_path(V("10.1.9"), V("11.1.4"), available=offered, ha=True)
    assert [str(v) for v in path.versions] == ["10.2.3", "11.0.2", "11.1.4"]


def test_route_avoids_a_train_without_an_installable_release() -> None:
    offered = [v for v in CATALOG if v.feature_release != "11.2"] + [V("11.2.0")]
    path = find_path(V("10.1.14-h4"), V("12.1.3"), available=offered)
    assert [str(v) for v in path.versions] == ["11.1.6-h1", "12.1.3"]


def test_unknown_offer_allows_a_direct_install_only() -> None:
    direct = find_path(V("10.1.14-h4"), V("11.1.6-h1"), available=None)
    assert direct.ok and [str(v) for v in direct.versions] == ["11.1.6-h1"]
    needs_hop = find_path(V("10.1.14-h4"), V("11.1.6-h1"), available=None, ha=True)
    assert needs_hop.reason == IMAGES_UNKNOWN
    assert "explicit path" in needs_hop.detail


def test_target_not_offered_is_no_path() -> None:
    path = find_path(V("10.2.9"), V("11.1.7"), available=CATALOG)
    assert path.reason == NO_PATH and "11.1.7" in path.detail


def test_base_not_offered_is_no_path() -> None:
    offered = [v for v in CATALOG if v != V("12.1.2")]
    path = find_path(V("11.2.4"), V("12.1.3"), available=offered)
    assert path.reason == NO_PATH and "12.1.2" in path.detail


def test_unknown_release_is_no_path() -> None:
    path = find_path(V("10.5.1"), V("11.1.0"))
    assert path.reason == NO_PATH and "10.5" in path.detail


def test_at_target_needs_nothing() -> None:
    path = find_path(V("11.1.4"), V("11.1.4"))
    assert path.ok and path.hops == () and path.images == ()


@pytest.mark.parametrize("cur, tgt", [("11.1.4", "10.2.9"), ("10.2.9-h1", "10.2.9"), ("12.1.3", "11.2.4")])
def test_downgrade_refused_by_default(cur: str, tgt: str) -> None:
    path = find_path(V(cur), V(tgt), available=CATALOG)
    assert path.reason == DOWNGRADE_REFUSED
    assert not path.hops


def test_allowed_downgrade_steps_one_release_at_a_time() -> None:
    path = find_path(V("11.1.4"), V("10.2.9"), available=CATALOG, allow_downgrade=True)
    assert hops(path) == [("11.0.6-h1", ["11.0.6-h1"]), ("10.2.9", ["10.2.9"])]
    same = find_path(V("10.2.10-h2"), V("10.2.9"), available=CATALOG, allow_downgrade=True)
    assert hops(same) == [("10.2.9", ["10.2.9"])]


# --- explicit waypoints --------------------------------------------------------------------------------


def test_explicit_waypoints_are_followed_then_completed() -> None:
    path = find_path(V("10.1.14-h4"), V("11.1.6-h1"), spec=(V("10.2.9"),), available=CATALOG)
    assert hops(path) == [("10.2.9", ["10.2.0", "10.2.9"]), ("11.1.6-h1", ["11.0.0", "11.1.0", "11.1.6-h1"])]
    assert path.source == "explicit"


def test_explicit_waypoints_behind_the_device_or_past_the_target_are_dropped() -> None:
    spec = (V("10.1.0"), V("10.2.9"), V("11.0.3"), V("11.2.4"))
    path = find_path(V("10.2.10-h2"), V("11.1.6-h1"), spec=spec, ha=True, available=CATALOG)
    assert [str(v) for v in path.versions] == ["11.0.3", "11.1.6-h1"]


def test_explicit_waypoint_that_pan_os_refuses_is_no_path() -> None:
    path = find_path(V("10.1.14-h4"), V("11.1.6-h1"), spec=(V("11.0.3"),), ha=True)
    assert path.reason == NO_PATH
    assert "10.1.14-h4 -> 11.0.3" in path.detail and "HA pair" in path.detail


def test_explicit_waypoints_do_not_need_an_offer_for_intermediates() -> None:
    spec = (V("10.2.9"), V("11.0.3"))
    path = find_path(V("10.1.14-h4"), V("11.1.6-h1"), spec=spec, ha=True, available=None)
    assert path.ok and [str(v) for v in path.versions] == ["10.2.9", "11.0.3", "11.1.6-h1"]


# --- the original tool's upgrade_paths.json ---------------------------------------------------------------

ORIGINAL = {"10.0.2": ["10.1.0", "10.5.1", "11.1.0"], "10.5.1": ["11.1.0"], "11.0.0": ["11.0.3", "11.1.0"]}


def test_parse_original_example() -> None:
    table = parse_upgrade_paths(ORIGINAL)
    assert table[V("11.0.0")] == (V("11.0.3"), V("11.1.0"))
    assert table_to_json(table) == ORIGINAL
    assert table_target(table, V("10.0.2")) == V("11.1.0")
    assert table_target(table, V("9.1.0")) is None


def test_table_hops_are_followed_as_written_including_unknown_trains() -> None:
    table = parse_upgrade_paths(ORIGINAL)
    path = find_path(V("10.0.2"), V("11.1.0"), table=table)
    assert path.source == "upgrade_paths.json"
    assert hops(path) == [("10.1.0", ["10.1.0"]), ("10.5.1", ["10.5.0", "10.5.1"]), ("11.1.0", ["11.1.0"])]


def test_table_entry_wins_over_rules_in_auto_mode() -> None:
    table = parse_upgrade_paths({"11.0.0": ["11.0.3", "11.1.0"]})
    path = find_path(V("11.0.0"), V("11.1.0"), table=table)
    assert [str(v) for v in path.versions] == ["11.0.3", "11.1.0"]


def test_table_mode_skips_versions_that_are_not_keys_as_the_original_tool() -> None:
    table = parse_upgrade_paths(ORIGINAL)
    path = find_path(V("10.2.9"), V("11.1.0"), spec="table", table=table)
    assert path.reason == NO_PATH
    assert "skipped, as in the original tool" in path.detail


def test_auto_mode_falls_back_to_rules_then_says_skipped() -> None:
    table = parse_upgrade_paths(ORIGINAL)
    assert find_path(V("10.2.9"), V("11.1.0"), table=table).ok
    path = find_path(V("10.3.1"), V("11.1.0"), table=table)
    assert path.reason == NO_PATH
    assert "not a key of upgrade_paths.json either (skipped, as in the original tool)" in path.detail


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "must be an object"),
        ({"10.1": ["11.0.0"]}, "10.1: not a PAN-OS version"),
        ({"10.1.0": []}, "non-empty list"),
        ({"10.1.0": "11.0.0"}, "non-empty list"),
        ({"10.1.0": [10.2]}, "not PAN-OS versions: 10.2"),
        ({"10.1.0": ["11.0.0", "10.2.0"]}, "increase strictly"),
        ({"10.1.0": ["10.1.0"]}, "increase strictly"),
        ({"10.1.0": ["11.0.0"], " 10.1.0": ["11.0.0"]}, "duplicate start version"),
    ],
)
def test_parse_upgrade_paths_errors(data: object, message: str) -> None:
    with pytest.raises(InputFileError) as exc:
        parse_upgrade_paths(data, "config/upgrade_paths.json")
    assert any(message in e and e.startswith("config/upgrade_paths.json") for e in exc.value.errors)


def test_parse_upgrade_paths_collects_every_error() -> None:
    with pytest.raises(InputFileError) as exc:
        parse_upgrade_paths({"x": ["11.0.0"], "10.1.0": [], "10.2.0": ["11.0.0"]})
    assert len(exc.value.errors) == 2


def test_parse_upgrade_paths_text_reports_the_json_line() -> None:
    with pytest.raises(InputFileError, match=r"^p\.json:2: invalid JSON"):
        parse_upgrade_paths_text('{"10.1.0": ["11.0.0"],\n ]', "p.json")


# --- crash resume ---------------------------------------------------------------------------------------


def test_resume_follows_the_path_from_the_starting_version() -> None:
    """The README's scenario: started at 10.1.0, crashed at 10.5.1; the original path is kept."""
    table = parse_upgrade_paths({"10.1.0": ["10.5.1", "11.1.0"], "10.5.1": ["11.1.0"]})
    point = resolve_path(V("10.1.0"), V("10.5.1"), V("11.1.0"), table=table)
    assert point.index == 1 and not point.diverged
    assert [str(h.version) for h in point.path.hops] == ["10.5.1", "11.1.0"]
    assert [str(h.version) for h in point.remaining] == ["11.1.0"]


def test_resume_at_start_and_at_end() -> None:
    start = resolve_path(V("10.2.9"), V("10.2.9"), V("11.1.6-h1"), available=CATALOG, ha=True)
    assert start.index == 0 and len(start.remaining) == 2
    end = resolve_path(V("10.2.9"), V("11.1.6-h1"), V("11.1.6-h1"), available=CATALOG, ha=True)
    assert end.remaining == () and not end.diverged


def test_resume_of_a_device_changed_by_hand_recomputes_from_where_it_is() -> None:
    point = resolve_path(V("10.2.9"), V("11.0.3"), V("11.1.6-h1"), available=CATALOG, ha=True)
    assert point.diverged and point.index == 0
    assert [str(h.version) for h in point.remaining] == ["11.1.6-h1"]


def test_hop_json_round_trip() -> None:
    hop = PathHop(V("11.1.6-h1"), (V("11.1.0"), V("11.1.6-h1")))
    assert PathHop.from_json(hop.to_json()) == hop


def test_offer_is_reusable_and_hashable() -> None:
    offer = ImageOffer.of(CATALOG)
    assert ImageOffer.of(offer) is offer
    assert hash(offer) == hash(ImageOffer.of(list(reversed(CATALOG))))
    assert find_path(V("10.2.9"), V("11.1.4"), available=offer) == find_path(
        V("10.2.9"), V("11.1.4"), available=CATALOG
    )


# --- properties -----------------------------------------------------------------------------------------


@st.composite
def catalogs(draw: st.DrawFn) -> list[PanOsVersion]:
    out = []
    for train in FEATURE_RELEASES:
        major, minor = map(int, train.split("."))
        out.append(DEFAULT_RULES.base_image(train))
        for patch in draw(st.lists(st.integers(0, 20), max_size=4)):
            out.append(PanOsVersion(major, minor, patch))
            if draw(st.booleans()):
                out.append(PanOsVersion(major, minor, patch, "h", draw(st.integers(1, 5))))
    return out


@settings(max_examples=300, deadline=None)
@given(catalogs(), st.data(), st.booleans())
def test_path_properties(catalog: list[PanOsVersion], data: st.DataObject, ha: bool) -> None:
    current = data.draw(st.sampled_from(catalog))
    target = data.draw(st.sampled_from(catalog))
    path = find_path(current, target, available=catalog, ha=ha)
    if target < current:
        assert path.reason == DOWNGRADE_REFUSED
        return
    if not path.ok:
        assert path.reason == NO_PATH and path.detail
        return
    chain = [current, *path.versions]
    assert chain[-1] == target  # the path ends at the target
    for prev, hop in zip(chain, path.hops, strict=False):
        assert hop.version > prev  # every hop increases the version
        assert DEFAULT_RULES.can_jump(prev.feature_release, hop.version.feature_release, ha=ha)
        assert hop.images[-1] == hop.version
        assert set(hop.images) <= set(catalog)
        if not prev.same_train(hop.version):  # the base comes along when the train changes
            assert DEFAULT_RULES.base_image(hop.version.feature_release) in hop.images
        if hop.version != target:  # intermediates: no bare base image, the newest of their train
            assert hop.version != DEFAULT_RULES.base_image(hop.version.feature_release)
            same_train = [v for v in catalog if v.same_train(hop.version)]
            assert hop.version == max(same_train)


@pytest.mark.parametrize("cur", ["10.2.9", "11.0.6"])
def test_an_allowed_downgrade_below_the_10_1_3_floor_has_no_path(cur: str) -> None:
    """PAN-OS 10.2 Upgrade Guide, "Upgrade/Downgrade Considerations": from 10.2 only to 10.1.3 or later."""
    path = find_path(V(cur), V("10.1.0"), available=[*CATALOG, V("10.1.0")], allow_downgrade=True)
    assert NO_PATH == path.reason and "10.1.3 or later" in path.detail
    assert not path.hops
