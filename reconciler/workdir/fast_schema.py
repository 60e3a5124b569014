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

The schema is turned into the source of one Python function (checks inlined, a nested function per
``anyOf`` branch), compiled once: about 0.3 s for 10,000 status files where nested closures took 1.3 s and
jsonschema 15 s. Only the schema's own values reach the source, as literals (``repr``) or as constants
passed by name (compiled patterns, sets of allowed values).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "readOnly", "writeOnly"}
)
_OBJECT_KEYWORDS = ("properties", "additionalProperties", "required")
# Each test is the draft-07 type, or a subset of it (integer: not the floats 1.0, 2.0... it also accepts).
_TYPES = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
    "integer": "(isinstance({v}, int) and not isinstance({v}, bool))",
    "number": "(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
}
# Failing comparisons for numbers; written so that NaN fails the exclusive ones (left to jsonschema).
_BOUNDS = {"minimum": "{v} < {c}", "maximum": "{v} > {c}", "exclusiveMinimum": "not {v} > {c}",
           "exclusiveMaximum": "not {v} < {c}"}  # fmt: skip
_KIND_TYPES = {"str": "string", "list": "array"}
_LENGTHS = {"minLength": ("str", "<"), "maxLength": ("str", ">"), "minItems": ("list", "<"),
            "maxItems": ("list", ">")}  # fmt: skip


class _Unsupported(Exception):
    pass


_MISSING = object()


def compile_check(schema: Any) -> Check | None:
    """A sound predicate for ``schema`` (see the module docstring), or None if it uses unsupported keywords."""
    gen = _Source()
    try:
        name = gen.function(schema)
    except _Unsupported:
        return None
    namespace: dict[str, Any] = {"_MISSING": _MISSING, "_SCALARS": (str, int, bool), **gen.constants}
    exec(compile("\n".join(gen.lines), "<fast_schema>", "exec"), namespace)  # our schema's own source
    check: Check = namespace[name]
    return check


def _scalar_values(values: list[Any]) -> frozenset[tuple[type, Any]]:
    """``enum``/``const`` values as (exact type, value): True never matches 1 nor 1.0 "1". Non-scalar values
    (lists, objects) and floats (NaN, 1 == 1.0) are left to jsonschema."""
    return frozenset((type(v), v) for v in values if v is None or type(v) in (str, int, bool))


class _Source:
    """Python source of functions ``_fN(x) -> bool``, each failing with ``return False`` at the first check
    its argument does not pass."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._variables = 0

    def constant(self, value: Any) -> str:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def variable(self) -> str:
        self._variables += 1
        return f"v{self._variables}"

    def function(self, schema: Any) -> str:
        name = f"_f{len(self.constants)}"
        self.constants[name] = None  # reserves the name; the definition below replaces it
        body: list[str] = []
        self.emit(schema, "x", body, 1)
        self.lines += [f"def {name}(x):", *body, "    return True"]
        return name

    def emit(self, schema: Any, v: str, out: list[str], depth: int) -> None:
        pad = "    " * depth
        if schema is True:
            return
        if schema is False:
            out.append(f"{pad}return False")
            return
        if not isinstance(schema, dict):
            raise _Unsupported("schema is not an object")
        # After a single type's check (emitted first, returning False on a mismatch) the later checks need
        # not test the type again.
        single = schema.get("type")
        known = single if isinstance(single, str) else None
        for key, value in sorted(schema.items(), key=lambda kv: kv[0] != "type"):
            if key in _ANNOTATIONS or key in _OBJECT_KEYWORDS:
                continue
            if key == "type":
                names = value if isinstance(value, list) else [value]
                if not names or any(not isinstance(n, str) or n not in _TYPES for n in names):
                    raise _Unsupported(f"type {value!r}")
                out.append(f"{pad}if not ({' or '.join(_TYPES[n].format(v=v) for n in names)}): return False")
            elif key in ("enum", "const"):
                allowed = self.constant(_scalar_values(value if key == "enum" else [value]))
                out.append(
                    f"{pad}if not (({v} is None or type({v}) in _SCALARS) and (type({v}), {v}) in {allowed}):"
                    " return False"
                )
            elif key == "pattern":
                if not isinstance(value, str):
                    raise _Unsupported("pattern")
                search = self.constant(re.compile(value).search)
                guard = "" if known == "string" else f"isinstance({v}, str) and "
                out.append(f"{pad}if {guard}{search}({v}) is None: return False")
            elif key in _BOUNDS:
                if type(value) not in (int, float):
                    raise _Unsupported(f"{key} {value!r}")
                fails = _BOUNDS[key].format(v=v, c=self.constant(value))
                out.append(
                    f"{pad}if isinstance({v}, (int, float)) and not isinstance({v}, bool) and {fails}: return False"
                )
            elif key in _LENGTHS:
                if type(value) is not int:
                    raise _Unsupported(f"{key} {value!r}")
                kind, op = _LENGTHS[key]
                guard = "" if known == _KIND_TYPES[kind] else f"isinstance({v}, {kind}) and "
                out.append(f"{pad}if {guard}len({v}) {op} {value}: return False")
            elif key == "items":
                if not isinstance(value, (dict, bool)):
                    raise _Unsupported("items as a list of schemas")
                item = self.variable()
                body: list[str] = []
                if known == "array":
                    self.emit(value, item, body, depth + 1)
                    if body:
                        out += [f"{pad}for {item} in {v}:", *body]
                else:
                    self.emit(value, item, body, depth + 2)
                    if body:
                        out += [f"{pad}if isinstance({v}, list):", f"{pad}    for {item} in {v}:", *body]
            elif key in ("anyOf", "allOf"):
                if not isinstance(value, list) or not value:
                    raise _Unsupported(key)
                if key == "allOf":
                    for sub in value:
                        self.emit(sub, v, out, depth)
                else:
                    branches = [self.function(sub) for sub in value]
                    out.append(f"{pad}if not ({' or '.join(f'{b}({v})' for b in branches)}): return False")
            else:
                raise _Unsupported(key)
        if any(k in schema for k in _OBJECT_KEYWORDS):
            self.emit_object(schema, v, out, depth, checked=known == "object")

    def emit_object(
        self, schema: dict[str, Any], v: str, out: list[str], depth: int, *, checked: bool
    ) -> None:
        """The object keywords; ``checked``: ``v`` is known to be an object here."""
        if checked:
            depth -= 1
        pad = "    " * (depth + 1)
        props = schema.get("properties", {})
        required = schema.get("required", [])
        additional = schema.get("additionalProperties", True)
        if not isinstance(props, dict) or not isinstance(required, list):
            raise _Unsupported("properties/required")
        if not all(isinstance(r, str) for r in [*required, *props]):
            raise _Unsupported("required")
        body: list[str] = []
        if required:
            body.append(f"{pad}if not {v}.keys() >= {self.constant(frozenset(required))}: return False")
        known = self.constant(frozenset(props))
        if additional is False:
            body.append(f"{pad}if not {v}.keys() <= {known}: return False")
        elif additional is not True and additional != {}:
            key, value = self.variable(), self.variable()
            extra: list[str] = []
            self.emit(additional, value, extra, depth + 3)
            if extra:
                body += [
                    f"{pad}for {key}, {value} in {v}.items():",
                    f"{pad}    if {key} not in {known}:",
                    *extra,
                ]
        for name, sub in props.items():
            w = self.variable()
            checks: list[str] = []
            if name in required:
                self.emit(sub, w, checks, depth + 1)
                if checks:
                    body += [f"{pad}{w} = {v}[{name!r}]", *checks]
            else:
                self.emit(sub, w, checks, depth + 2)
                if checks:
                    body += [
                        f"{pad}{w} = {v}.get({name!r}, _MISSING)",
                        f"{pad}if {w} is not _MISSING:",
                        *checks,
                    ]
        if body:
            out += body if checked else [f"{'    ' * depth}if isinstance({v}, dict):", *body]
