"""The fast schema check in front of jsonschema: it never accepts what jsonschema rejects, it accepts the
common valid files, and the error messages stay jsonschema's."""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.inventory import Device, Inventory
from reconciler.machine.records import Hop, HopOutcome, HopResult, Phase, new_record
from reconciler.workdir import fast_schema, schemas

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _status() -> dict[str, Any]:
    hops = Hop.for_path("10.1.14-h9", ["11.0.6", "11.1.6-h1"])
    rec = new_record(
        serial="S000001", starting_version="10.1.14-h9", target_version="11.1.6-h1", hops=hops, now=NOW,
        hostname="fw-1", group="g", desired_revision="r1",
    )  # fmt: skip
    when = rec.updated_at
    rec = replace(
        rec, phase=Phase.DONE, current_version="11.1.6-h1", current_path_index=len(hops), started_at=when,
        finished_at=when, downloaded_versions=tuple(i for h in hops for i in h.images), progress=100,
        history=tuple(HopResult(h.version, when, when, HopOutcome.PASSED) for h in hops),
    )  # fmt: skip
    return rec.to_json()


def _inventory() -> dict[str, Any]:
    return Inventory.of(
        [
            Device(
                "A1",
                "fw-a",
                model="PA-440",
                sw_version="10.2.9",
                device_group="dg",
                device_type="standalone",
                ha_state="standalone",
            ),
            Device(
                "P1",
                "fw-p",
                model="PA-3220",
                sw_version="10.2.9",
                device_group="dg",
                device_type="ha_pair",
                ha_state="active",
                peer_serial="P2",
            ),
        ]
    ).to_json()


SAMPLES = {"device-status": _status, "inventory": _inventory}

# Values that sit on the edges the fast check must not get wrong: bool vs int, 1.0 vs 1, NaN, near-versions.
EDGE_VALUES = [None, True, False, 0, 1, -1, 1.0, 0.5, math.nan, math.inf, 10**20, "", "x", "10.2.9", "10.2.9-h0",
     "10.2.9-h1", "١٠.2.9", "10.2.9\n", "S1", "-bad", "done", "pending", "upgrade", "standalone", "active",
     [], [None], ["10.2.9"], {}, {"version": "10.2.9", "images": [], "min_content_version": None}]  # fmt: skip
EDGE = st.sampled_from(EDGE_VALUES)
JSON = st.recursive(
    EDGE | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _fresh(value: Any) -> Any:
    """A copy: EDGE's lists and dicts are shared objects, and a later mutation must not change them."""
    return copy.deepcopy(value)


def _mutate(doc: Any, data: st.DataObject) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)))
        if not path:
            return _fresh(data.draw(JSON))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=5))] = _fresh(data.draw(JSON))
        elif action == "add":
            parent.append(_fresh(data.draw(JSON)))
        else:
            parent[path[-1]] = _fresh(data.draw(JSON))
    return doc


def _jsonschema_valid(name: str, instance: Any) -> bool:
    return not any(schemas.validator(name).iter_errors(instance))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_files_read_in_bulk_get_the_fast_check_and_pass_it(name: str) -> None:
    check = fast_schema.compile_check(schemas.load(name))
    assert check is not None
    assert check(SAMPLES[name]())
    assert _jsonschema_valid(name, SAMPLES[name]())


@pytest.mark.parametrize("name", sorted(SAMPLES))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_check_never_accepts_what_jsonschema_rejects(name: str, data: st.DataObject) -> None:
    instance = _mutate(SAMPLES[name](), data)
    check = fast_schema.compile_check(schemas.load(name))
    assert check is not None
    if check(instance):
        assert _jsonschema_valid(name, instance), instance
    # and the messages are jsonschema's, whichever path answered
    limit = schemas.MAX_MESSAGE
    expected = [
        f"{schemas.json_path(e.absolute_path)}: {e.message if len(e.message) <= limit else e.message[: limit - 3] + '...'}"
        for e in sorted(
            schemas.validator(name).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))
        )
    ]
    assert expected == schemas.errors(name, instance)


@settings(max_examples=300, deadline=None)
@given(instance=JSON)
def test_every_shipped_schema_it_compiles_is_sound_on_any_json(instance: Any) -> None:
    for path in sorted(schemas.schema_dir().glob("*.schema.json")):
        name = path.name.removesuffix(".schema.json")
        check = fast_schema.compile_check(schemas.load(name))
        if check is not None and check(instance):
            assert _jsonschema_valid(name, instance), (name, instance)


@pytest.mark.parametrize(
    ("schema", "instance", "fast"),
    [
        ({"type": "integer"}, 3, True),
        ({"type": "integer"}, True, False),  # jsonschema: a boolean is not an integer
        ({"type": "integer"}, 1.0, False),  # jsonschema accepts it; the fast check leaves it to jsonschema
        ({"type": "number"}, False, False),
        ({"type": ["string", "null"]}, None, True),
        ({"enum": [1, "a"]}, True, False),
        ({"enum": [True]}, 1, False),
        ({"const": 1}, 1, True),
        ({"const": 1}, 1.0, False),
        ({"pattern": "b"}, "abc", True),  # search, not match, as jsonschema
        ({"pattern": "^b"}, "abc", False),
        ({"pattern": "^b"}, 7, True),  # applies to strings only
        ({"minimum": 0}, -1, False),
        ({"minimum": 0}, "x", True),
        ({"maxLength": 2}, "abc", False),
        ({"required": ["a"], "properties": {"a": {"type": "string"}}}, {"a": 1}, False),
        ({"required": ["a"]}, [], True),  # applies to objects only
        ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}, False),
        ({"additionalProperties": {"type": "string"}}, {"b": "x"}, True),
        ({"items": {"type": "string"}}, ["a", 1], False),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, None, True),
        ({"allOf": [{"type": "string"}, {"maxLength": 1}]}, "ab", False),
    ],
)
def test_fast_check_cases(schema: dict[str, Any], instance: Any, fast: bool) -> None:
    check = fast_schema.compile_check(schema)
    assert check is not None
    assert check(instance) is fast
    if fast:
        jsonschema.Draft7Validator(schema).validate(instance)


@pytest.mark.parametrize(
    "schema",
    [
        {"not": {"type": "string"}},  # a cautious False inside would become a wrong True
        {"oneOf": [{"type": "integer"}, {"type": "number"}]},
        {"$ref": "#/definitions/x", "definitions": {"x": {}}},
        {"format": "ipv4"},
        {"items": [{"type": "string"}]},
        {"properties": {"a": {"uniqueItems": True}}},
    ],
)
def test_anything_else_is_left_to_jsonschema(schema: dict[str, Any]) -> None:
    assert fast_schema.compile_check(schema) is None


KEYS = st.sampled_from(["a", "b", "c'", ""])
LEAF_SCHEMAS = st.one_of(
    st.booleans(),
    st.builds(
        lambda t: {"type": t},
        st.sampled_from(["object", "array", "string", "boolean", "null", "integer", "number"]),
    ),
    st.builds(lambda ts: {"type": ts}, st.lists(st.sampled_from(["string", "null", "integer"]), min_size=1)),
    st.builds(lambda vs: {"enum": vs}, st.lists(EDGE, min_size=1, max_size=4)),
    st.builds(lambda v: {"const": v}, EDGE),
    st.builds(lambda p: {"pattern": p}, st.sampled_from(["^a", "b", "^[0-9]+$", ""])),
    st.builds(
        lambda k, n: {k: n},
        st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]),
        st.integers(-2, 2) | st.sampled_from([0.5, -0.5]),
    ),
    st.builds(
        lambda k, n: {k: n},
        st.sampled_from(["minLength", "maxLength", "minItems", "maxItems"]),
        st.integers(0, 3),
    ),
)


def _combine(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(lambda s: {"items": s}, inner),
        st.builds(lambda ss: {"anyOf": ss}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda ss: {"allOf": ss}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(
            lambda props, req, extra: {"properties": props, "required": req, "additionalProperties": extra},
            st.dictionaries(KEYS, inner, max_size=3),
            st.lists(KEYS, max_size=2, unique=True),
            st.booleans() | inner,
        ),
        st.builds(
            lambda a, b: {**a, **b} if isinstance(a, dict) and isinstance(b, dict) else a, inner, inner
        ),
    )


SCHEMAS = st.recursive(LEAF_SCHEMAS, _combine, max_leaves=6)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=SCHEMAS, instances=st.lists(JSON, min_size=1, max_size=4))
def test_any_schema_of_the_supported_keywords_is_checked_soundly(schema: Any, instances: list[Any]) -> None:
    check = fast_schema.compile_check(schema)
    assert check is not None
    validator = jsonschema.Draft7Validator(schema)
    edges = [[v] for v in EDGE_VALUES] + [{"a": v, "b": v} for v in EDGE_VALUES]
    for instance in [*instances, *EDGE_VALUES, *edges]:
        if check(instance):
            assert validator.is_valid(instance), (schema, instance)
