"""A fast yes/no check for the common case of a draft-07 schema, in front of jsonschema (issue 18.5).

``compile_check(schema)`` turns a schema into a plain Python predicate, or returns None when the schema uses
anything it does not know. The predicate is *sound*, never exact: it answers True only for instances that
jsonschema's ``Draft7Validator`` accepts, and may answer False for some that it accepts too (a float such as
``1.0`` where an integer is required, a dict or a float compared with ``enum``/``const``). Callers therefore
treat True as "valid" and anything else as "ask jsonschema", which also writes every error message: the
checks made and the messages given stay exactly jsonschema's.

Supported keywords: ``type``, ``properties``, ``required``, ``additionalProperties``, ``items`` (one schema),
``enum``, ``const``, ``pattern``, ``minimum``/``maximum`` and their exclusive forms, ``minLength``/
``maxLength``, ``minItems``/``maxItems``, ``anyOf``, ``allOf``, boolean schemas and annotations (``title``,
``description``, ``default``...). Everything else (``$ref``, ``format``, ``oneOf``, ``not``, ``if``...) makes
the whole schema unsupported: ``not`` and ``oneOf`` would turn a cautious False into a wrong True.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sized
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "readOnly", "writeOnly"}
)
_NUMBER = (int, float)


class _Unsupported(Exception):
    pass


def compile_check(schema: Any) -> Check | None:
    """A sound predicate for ``schema`` (see the module docstring), or None if it uses unsupported keywords."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None


def _type_check(name: Any) -> Check:
    # Each is the draft-07 type, or a subset of it (integer: not the floats 1.0, 2.0... it also accepts).
    if name == "object":
        return lambda x: isinstance(x, dict)
    if name == "array":
        return lambda x: isinstance(x, list)
    if name == "string":
        return lambda x: isinstance(x, str)
    if name == "boolean":
        return lambda x: isinstance(x, bool)
    if name == "null":
        return lambda x: x is None
    if name == "integer":
        return lambda x: isinstance(x, int) and not isinstance(x, bool)
    if name == "number":
        return lambda x: isinstance(x, _NUMBER) and not isinstance(x, bool)
    raise _Unsupported(f"type {name!r}")


def _scalar_values(values: list[Any]) -> frozenset[tuple[type, Any]]:
    """``enum``/``const`` values as (exact type, value): True never matches 1 nor 1.0 "1". Non-scalar values
    (lists, objects) and floats (NaN, 1 == 1.0) are left to jsonschema."""
    out = set()
    for v in values:
        if v is None or type(v) in (str, int, bool):
            out.add((type(v), v))
    return frozenset(out)


def _compile(schema: Any) -> Check:
    if schema is True:
        return lambda x: True
    if schema is False:
        return lambda x: False
    if not isinstance(schema, dict):
        raise _Unsupported("schema is not an object")
    checks = [
        _keyword(key, value)
        for key, value in schema.items()
        if key not in _ANNOTATIONS and key not in ("properties", "additionalProperties", "required")
    ]
    if any(k in schema for k in ("properties", "additionalProperties", "required")):
        checks.append(_object_check(schema))
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]
    return _all_of(tuple(checks))


def _keyword(key: str, value: Any) -> Check:
    if key == "type":
        tests = tuple(_type_check(n) for n in (value if isinstance(value, list) else [value]))
        return tests[0] if len(tests) == 1 else _any_of(tests)
    if key in ("enum", "const"):
        return _one_of_values(_scalar_values(value if key == "enum" else [value]))
    if key == "pattern":
        return _pattern(re.compile(value).search)
    if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if not isinstance(value, _NUMBER) or isinstance(value, bool):
            raise _Unsupported(f"{key} {value!r}")
        return _bound(key, value)
    if key in ("minLength", "maxLength", "minItems", "maxItems"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Unsupported(f"{key} {value!r}")
        return _length(str if key.endswith("Length") else list, key.startswith("min"), value)
    if key == "items":
        if not isinstance(value, (dict, bool)):
            raise _Unsupported("items as a list of schemas")
        return _items(_compile(value))
    if key in ("anyOf", "allOf"):
        if not isinstance(value, list) or not value:
            raise _Unsupported(key)
        subs = tuple(_compile(s) for s in value)
        return _any_of(subs) if key == "anyOf" else _all_of(subs)
    raise _Unsupported(key)


def _any_of(tests: tuple[Check, ...]) -> Check:
    return lambda x: any(f(x) for f in tests)


def _all_of(tests: tuple[Check, ...]) -> Check:
    return lambda x: all(f(x) for f in tests)


def _one_of_values(allowed: frozenset[tuple[type, Any]]) -> Check:
    return lambda x: (x is None or type(x) in (str, int, bool)) and (type(x), x) in allowed


def _pattern(search: Callable[[str], Any]) -> Check:
    return lambda x: not isinstance(x, str) or search(x) is not None


def _length(kind: type[Sized], at_least: bool, n: int) -> Check:
    if at_least:
        return lambda x: not isinstance(x, kind) or len(x) >= n
    return lambda x: not isinstance(x, kind) or len(x) <= n


def _items(item: Check) -> Check:
    return lambda x: not isinstance(x, list) or all(item(i) for i in x)


def _bound(key: str, limit: float) -> Check:
    def number(x: Any) -> bool:
        return isinstance(x, _NUMBER) and not isinstance(x, bool)

    if key == "minimum":
        return lambda x: not number(x) or not x < limit
    if key == "maximum":
        return lambda x: not number(x) or not x > limit
    if key == "exclusiveMinimum":
        return lambda x: not number(x) or x > limit
    return lambda x: not number(x) or x < limit


def _object_check(schema: dict[str, Any]) -> Check:
    props = schema.get("properties", {})
    required = schema.get("required", [])
    additional = schema.get("additionalProperties", True)
    if not isinstance(props, dict) or not isinstance(required, list):
        raise _Unsupported("properties/required")
    if not all(isinstance(r, str) for r in required):
        raise _Unsupported("required")
    compiled = {name: _compile(sub) for name, sub in props.items()}
    # Properties that accept anything need no call.
    checked = {name: f for name, f in compiled.items() if props[name] is not True and props[name] != {}}
    required_t = tuple(required)
    extra: Check | None
    if additional is True or additional == {}:
        extra = None
    elif additional is False:
        extra = _never
    else:
        extra = _compile(additional)

    def check(x: Any) -> bool:
        if not isinstance(x, dict):
            return True
        for r in required_t:
            if r not in x:
                return False
        for key, value in x.items():
            f = checked.get(key)
            if f is not None:
                if not f(value):
                    return False
            elif key not in compiled and extra is not None and not extra(value):
                return False
        return True

    return check


def _never(_: Any) -> bool:
    return False
