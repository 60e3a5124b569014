"""Load desired-state YAML: line numbers, duplicate keys, unquoted versions, the JSON Schema, the semantics.

Every problem of every file is collected and reported together as ``InputFileError`` whose ``errors`` are
``file:line: path: message`` lines (path like ``groups[2].target``; ``(root)`` for the document itself).
Nothing is accepted unless everything is valid.

YAML is parsed into nodes (libyaml when available) and converted here rather than by PyYAML's constructor,
so that each value keeps its line, and so that YAML 1.1 surprises are caught where they happen:

- a duplicate key is an error (PyYAML silently keeps the last one);
- ``target: 10.10`` is the float 10.1 to YAML: a version that is not a quoted string is reported with a
  hint instead of a bare type error;
- ``start: 1:30`` is the sexagesimal integer 90 to YAML, and ``from: 2026-12-15`` a date: such scalars are
  kept as the text that was written;
- mapping keys are always their text (``yes:`` stays ``"yes"``, not True).

File reading is the only I/O here; ``load_texts`` does the same from strings.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import gc
import math
import stat
import subprocess
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError

from reconciler.core.desired import DesiredState, DesiredStateInvalid, build
from reconciler.core.errors import InputFileError
from reconciler.core.rules import spelled_out
from reconciler.core.upgrade_path import UpgradePathTable, parse_upgrade_paths_text
from reconciler.workdir import schemas

SCHEMA = "desired-state"
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000  # alias expansion ("billion laughs") is cut off here
MAX_DEPTH = 64
SUFFIXES = (".yaml", ".yml")

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"
# Keys whose values are versions: numbers there are almost always unquoted versions.
_VERSION_KEYS = ("target", "path")

PathT = tuple[str | int, ...]


@dataclass
class _Doc:
    """One YAML document: its data, and the line of every value and mapping key (1-based)."""

    file: str
    data: Any
    lines: dict[PathT, int] = field(default_factory=dict)
    key_lines: dict[PathT, int] = field(default_factory=dict)
    numbers: dict[PathT, str] = field(default_factory=dict)
    non_finite: dict[PathT, str] = field(default_factory=dict)

    def line(self, path: Iterable[str | int], *, key: bool = False) -> int:
        p = tuple(path)
        if key and p in self.key_lines:
            return self.key_lines[p]
        while p not in self.lines and p:
            p = p[:-1]
        return self.lines.get(p, 1)


class _TooBig(Exception):
    pass


class _Walker:
    """Turn a composed node tree into plain data, recording lines and refusing duplicate keys."""

    def __init__(self, doc: _Doc, errors: list[str]) -> None:
        self.doc = doc
        self.errors = errors
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def walk(self, node: yaml.Node, path: PathT, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            raise _TooBig
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: PathT) -> Any:
        if node.tag == _STR:  # most scalars: the text is the value, no constructor needed
            return node.value
        if node.tag == _TIMESTAMP or (node.tag == _INT and ":" in node.value):
            return node.value
        value = self.constructor.construct_object(node, deep=True)
        if node.tag in (_INT, _FLOAT) and not isinstance(value, bool):
            self.doc.numbers[path] = node.value
            if isinstance(value, float) and not math.isfinite(value):
                self.doc.non_finite[path] = node.value
        return value

    def _mapping(self, node: yaml.MappingNode, path: PathT, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        own = [(k, v) for k, v in node.value if k.tag != _MERGE]
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        taken = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                continue
            # "<<: *anchor" (or a list of anchors): the mapping's own keys win, then earlier sources.
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for src in sources:
                if not isinstance(src, yaml.MappingNode):
                    continue
                for k, v in src.value:
                    if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE and k.value not in taken:
                        taken.add(k.value)
                        merged.append((k, v))
        pairs = [*merged, *own]
        for key_node, value_node in pairs:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.errors.append(
                    f"{self.doc.file}:{line}: {schemas.json_path(path)}: mapping keys must be plain text"
                )
                continue
            key = str(key_node.value)
            if key in first_line:
                self.errors.append(
                    f"{self.doc.file}:{line}: {schemas.json_path((*path, key))}: "
                    f"duplicate key {_shown(key)} (first at line {first_line[key]})"
                )
                continue
            first_line[key] = line
            self.doc.key_lines[(*path, key)] = line
            out[key] = self.walk(value_node, (*path, key), depth + 1)
        return out


def _parse_yaml(name: str, text: str, errors: list[str]) -> list[_Doc]:
    """Compose every document of ``text``; syntax errors, empty files and oversized ones become errors."""
    if not text.strip() or all(
        line.lstrip().startswith("#") or not line.strip() for line in text.splitlines()
    ):
        errors.append(f"{name}:1: (root): file is empty (a desired-state file needs apiVersion and groups)")
        return []
    docs: list[_Doc] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        lines = text.splitlines()
        tab = mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]
        hint = " (YAML does not allow tabs for indentation; use spaces)" if tab else ""
        errors.append(f"{name}:{line}: (syntax): {what}{hint}")
        return []
    except yaml.reader.ReaderError as exc:
        # Not a MarkedYAMLError: its position is a character offset, and str(exc) spans two lines.
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        errors.append(
            f"{name}:{line}: (syntax): character U+{char:04X} is not allowed in YAML ({exc.reason})"
        )
        return []
    except yaml.YAMLError as exc:
        errors.append(f"{name}:1: (syntax): {_short(' '.join(str(exc).split()))}")
        return []
    for node in nodes:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
            continue
        doc = _Doc(name, None)
        try:
            doc.data = _Walker(doc, errors).walk(node, ())
        except _TooBig:
            errors.append(
                f"{name}:{node.start_mark.line + 1}: (root): document too large or too deeply nested"
            )
            continue
        except yaml.MarkedYAMLError as exc:  # e.g. a tag no safe constructor knows ('=' is one)
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else node.start_mark.line + 1
            what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
            errors.append(f"{name}:{line}: (syntax): {_short(what)}")
            continue
        except yaml.YAMLError as exc:
            errors.append(
                f"{name}:{node.start_mark.line + 1}: (syntax): {_short(' '.join(str(exc).split()))}"
            )
            continue
        docs.append(doc)
    if not docs and not errors:
        errors.append(f"{name}:1: (root): file is empty (a desired-state file needs apiVersion and groups)")
    return docs


def _unquoted_versions(doc: _Doc, errors: list[str]) -> set[PathT]:
    """Report numbers where versions belong; return their paths so the schema's type error is not repeated."""
    found = set()
    for path, text in doc.numbers.items():
        keys = [p for p in path if isinstance(p, str)]
        if not keys or keys[-1] not in _VERSION_KEYS:
            continue
        full = spelled_out(text)
        value = _number_text(text)
        errors.append(
            f"{doc.file}:{doc.line(path)}: {schemas.json_path(path)}: {text} is not a version string: YAML reads "
            f'it as the number {value}; quote versions and write them in full, e.g. "{full}"'
        )
        found.add(path)
    return found


def _non_finite(doc: _Doc, errors: list[str]) -> set[PathT]:
    """Report ``.nan`` and ``.inf``: a NaN passes every range check of a schema (each comparison is false)."""
    for path, text in doc.non_finite.items():
        errors.append(
            f"{doc.file}:{doc.line(path)}: {schemas.json_path(path)}: {_shown(text)} is not a finite number"
        )
    return set(doc.non_finite)


def _not_a_mapping(doc: _Doc, errors: list[str]) -> bool:
    """A document that is not a mapping is reported without its content: it may be any file that landed
    in the desired-state directory (a key, a password file), and errors go to logs and status files."""
    if isinstance(doc.data, dict):
        return False
    if isinstance(doc.data, str):
        got = f"a string ({len(doc.data):,} characters, not shown)"
    elif isinstance(doc.data, list):
        got = f"a list ({len(doc.data):,} items, not shown)"
    else:
        got = f"a {'boolean' if isinstance(doc.data, bool) else 'number'} (not shown)"
    errors.append(
        f"{doc.file}:{doc.line(())}: (root): expected a mapping, got {got}; a desired-state file is a "
        "mapping with apiVersion and groups"
    )
    return True


def _number_text(text: str) -> str:
    try:
        return repr(float(text)) if "." in text else str(int(text))
    except ValueError:
        return text


@functools.cache
def _validator() -> jsonschema.Draft7Validator:
    """The desired-state schema with every ``$ref`` replaced by its definition: the same checks, in half
    the time (resolving references was half of validating 3,000 groups). In draft-07 a ``$ref`` ignores
    its sibling keys, so replacing the whole object keeps the meaning."""
    schema = schemas.load(SCHEMA)
    definitions = schema.get("definitions", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/definitions/"):
                return inline(definitions[ref.removeprefix("#/definitions/")])
            return {k: v if k == "definitions" else inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return jsonschema.Draft7Validator(inline(schema))


def _schema_errors(doc: _Doc, skip: set[PathT], errors: list[str]) -> None:
    validator = _validator()
    seen: set[tuple[PathT, str]] = set()
    for err in validator.iter_errors(doc.data):
        for path, message, on_key in _explain(err):
            if path in skip or any(path[: len(s)] == s for s in skip):
                continue
            if (path, message) in seen:
                continue
            seen.add((path, message))
            errors.append(f"{doc.file}:{doc.line(path, key=on_key)}: {schemas.json_path(path)}: {message}")


def _explain(err: ValidationError) -> list[tuple[PathT, str, bool]]:
    """One or more (path, message, message-is-about-the-key) for a schema error, in operator's words."""
    path: PathT = tuple(err.absolute_path)
    schema: Any = err.schema
    expected: Any = err.validator_value
    if err.validator in ("oneOf", "anyOf") and err.context:
        chosen = _closest_alternative(err)
        if chosen is None:
            return [(path, _expected(err), False)]
        return [item for sub in chosen for item in _explain(sub)]
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list(schema.get("properties", {}))
        out = []
        for extra in sorted(set(err.instance) - set(allowed)):
            close = difflib.get_close_matches(extra, allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(allowed)})"
            out.append(((*path, extra), f"unknown field {_shown(extra)}{hint}", True))
        return out
    if err.validator == "required":
        missing = str(err.message).split("'")[1] if "'" in err.message else err.message
        return [(path, f"missing required field {missing!r}", False)]
    if err.validator == "type":
        return [(path, f"expected {_type_words(err.validator_value)}, got {_describe(err.instance)}", False)]
    if err.validator == "enum":
        options = ", ".join(repr(o) for o in expected)
        close = difflib.get_close_matches(str(err.instance), [str(o) for o in expected], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return [(path, f"{_shown(err.instance)} is not one of {options}{hint}", False)]
    if err.validator == "const":
        return [(path, f"must be {err.validator_value!r}, got {_shown(err.instance)}", False)]
    if err.validator == "pattern":
        what = schema.get("description", f"text matching {expected}")
        return [
            (path, f"{_shown(err.instance)} is not valid here: expected {what[0].lower()}{what[1:]}", False)
        ]
    if err.validator == "minProperties" and err.instance == {}:
        return [(path, "must not be empty", False)]
    return [(path, _short(str(err.message)), False)]


def _closest_alternative(err: ValidationError) -> list[ValidationError] | None:
    """The errors of the ``oneOf`` branch the value was most likely meant for: branches that reject the
    value's type outright are dropped; of the rest, the one with the fewest errors wins (None if none)."""
    branches: dict[Any, list[ValidationError]] = {}
    for sub in err.context or ():
        branches.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
    own = len(err.absolute_path)
    candidates = [
        subs
        for subs in branches.values()
        if not any(s.validator in ("type", "enum", "const") and len(s.absolute_path) == own for s in subs)
    ]
    if not candidates:
        return None
    return min(candidates, key=len)


def _expected(err: ValidationError) -> str:
    schema: Any = err.schema
    description = schema.get("description")
    got = _describe(err.instance)
    if description:
        return f"got {got}; expected {description[0].lower()}{description[1:]}"
    return f"got {got}, which is not allowed here"


def _type_words(value: Any) -> str:
    names = value if isinstance(value, list) else [value]
    words: dict[str, str] = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
             "object": "a mapping", "array": "a list", "null": "nothing"}  # fmt: skip
    return " or ".join(words.get(str(n), str(n)) for n in names)


def _shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut short: an error line must stay readable when the offending value is huge."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value):,} characters)" if isinstance(value, str) else ""
    return f"{text[: limit - 3]}...{size}"


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {_shown(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else type(value).__name__


def _semantic(docs: Sequence[_Doc], exc: DesiredStateInvalid) -> list[str]:
    out = []
    for p in exc.problems:
        doc = docs[p.doc] if p.doc < len(docs) else docs[0]
        out.append(f"{doc.file}:{doc.line(p.path)}: {schemas.json_path(p.path)}: {p.message}")
    return out


def _finish(
    docs: list[_Doc],
    errors: list[str],
    *,
    upgrade_paths: UpgradePathTable | None,
    revision: str | None,
) -> DesiredState:
    for doc in docs:
        if _not_a_mapping(doc, errors):
            continue
        skip = _unquoted_versions(doc, errors) | _non_finite(doc, errors)
        _schema_errors(doc, skip, errors)
    state = None
    if not errors:
        try:
            state = build([d.data for d in docs], names=[d.file for d in docs], upgrade_paths=upgrade_paths,
                          revision=revision)  # fmt: skip
        except DesiredStateInvalid as exc:
            errors.extend(_semantic(docs, exc))
    if errors or state is None:
        raise InputFileError(_summary(errors), _sorted(errors, [d.file for d in docs]))
    return state.with_revision(revision)


def _sorted(errors: list[str], files: list[str]) -> list[str]:
    """Errors in file order, then line order (stable, so one line's errors keep their order)."""
    order = {f: i for i, f in enumerate(dict.fromkeys(files))}

    def key(line: str) -> tuple[int, int]:
        for f, i in order.items():
            if line.startswith(f + ":"):
                num = line[len(f) + 1 :].split(":", 1)[0]
                return i, int(num) if num.isdigit() else 0
        return len(order), 0

    return sorted(errors, key=key)


def _summary(errors: list[str]) -> str:
    if len(errors) == 1:
        return f"invalid desired state: {errors[0]}"
    return f"invalid desired state: {len(errors)} errors"


def load_texts(
    items: Sequence[tuple[str, str]],
    *,
    upgrade_paths: UpgradePathTable | None = None,
    revision: str | None = None,
) -> DesiredState:
    """Parse and validate ``(file name, YAML text)`` pairs as one desired state (see ``load``).

    The last valid state is remembered with the texts it came from: the engine loads the desired state at
    every pass, and the same texts give the same (immutable) state without parsing 200 groups again
    (~150 ms, issue 18.5); invalid texts are parsed every time."""
    key = (tuple(items), upgrade_paths)
    with _last_lock:
        last = _last[0] if _last else None
    if last is not None and last[0] == key:
        return last[1].with_revision(revision)
    errors: list[str] = []
    docs: list[_Doc] = []
    with no_cyclic_gc():
        for name, text in items:
            docs.extend(_parse_yaml(name, text, errors))
        if not items:
            errors.append("(no files): (root): no desired-state files given")
        state = _finish(docs, errors, upgrade_paths=upgrade_paths, revision=revision)
    with _last_lock:
        _last[:] = [(key, state)]
    return state


# The last valid desired state and the texts and upgrade-paths table it was built from (``load_texts``).
_last: list[tuple[tuple[tuple[tuple[str, str], ...], UpgradePathTable | None], DesiredState]] = []
_last_lock = threading.Lock()


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Without the cycle collector for a while: building a desired state (or a plan) allocates tens of
    thousands of objects that all live until the end and form no cycles, and the collector's passes over
    them were about half the time of validating 3,000 groups (and 371 collections, ~0.27 s, of a ``plan``
    of 10,000 devices). Callers bound what they build (``MAX_FILE_BYTES``, ``MAX_NODES``); reference
    counting still frees everything, and the collector runs again right after (if it ran before; a test
    runs many commands in one process)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def desired_files(path: Path) -> list[Path]:
    """The files a desired-state path stands for: the file itself, or a directory's ``*.yaml``/``*.yml``
    (not recursive, hidden files skipped) in name order. Raises ``InputFileError`` if there are none, or
    if one of a directory's files is a symbolic link leading out of that directory (what it points to
    could be any file of the host, and an error message would show a line of it)."""
    if path.is_dir():
        root = path.resolve()
        files = []
        refused = []
        for p in sorted(path.iterdir()):
            if p.suffix not in SUFFIXES or p.name.startswith("."):
                continue
            if p.is_symlink() and not p.resolve().is_relative_to(root):
                refused.append(
                    f"{p}:1: (root): a symbolic link leading out of the desired-state directory {path}; "
                    "refused (copy the file into the directory, or link to a file inside it)"
                )
                continue
            if p.is_file():
                files.append(p)
        if refused:
            raise InputFileError(_summary(refused), refused)
        if not files:
            raise InputFileError(f"{path}: no *.yaml files in this directory")
        return files
    if not path.exists():
        raise InputFileError(f"{path}: no such file or directory")
    _require_regular(path)
    return [path]


def _require_regular(path: Path) -> None:
    """Refuse a FIFO, a device or a socket before opening it: reading one would wait forever."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise InputFileError(f"{path}: not a regular file (a FIFO, device or socket); give a file")


def read_upgrade_paths(path: Path) -> UpgradePathTable:
    """Read the original tool's ``config/upgrade_paths.json``; a missing file is an empty table."""
    if not path.exists():
        return {}
    _require_regular(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read: {exc}") from None
    return parse_upgrade_paths_text(text, str(path))


def load(
    path: Path,
    *,
    upgrade_paths: UpgradePathTable | Path | None = None,
    revision: str | None = None,
) -> DesiredState:
    """Load the desired state at ``path`` (a file or a directory). ``upgrade_paths`` is a parsed table or
    the path of ``upgrade_paths.json`` (missing = none). ``revision`` is recorded as given (e.g. a commit id
    the caller read from git). Raises ``InputFileError`` listing every problem."""
    table = read_upgrade_paths(upgrade_paths) if isinstance(upgrade_paths, Path) else upgrade_paths
    items = []
    errors: list[str] = []
    for f in desired_files(Path(path)):
        try:
            size = f.stat().st_size
            if size > MAX_FILE_BYTES:
                errors.append(f"{f}:1: (root): file is {size} bytes; the limit is {MAX_FILE_BYTES}")
                continue
            items.append((str(f), f.read_text(encoding="utf-8")))
        except UnicodeDecodeError as exc:
            errors.append(f"{f}:1: (root): not UTF-8 text ({exc.reason} at byte {exc.start})")
        except OSError as exc:
            errors.append(f"{f}:1: (root): cannot read: {exc.strerror}")
    if errors:
        raise InputFileError(_summary(errors), errors)
    return load_texts(items, upgrade_paths=table, revision=revision)


def git_revision(path: Path) -> str | None:
    """The git commit of the checkout holding ``path``, as the daemon, ``apply`` and ``plan`` record and show
    it (12 hex digits; None outside git). It names the desired state for people only: whether a failed
    device is retried depends on what its group means (``DesiredState.group_digest``), never on this."""
    directory = path if path.is_dir() else path.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def validate(path: Path, *, upgrade_paths: UpgradePathTable | Path | None = None) -> list[str]:
    """Every problem of the desired state at ``path`` as ``file:line: path: message`` ([] if valid)."""
    try:
        load(path, upgrade_paths=upgrade_paths)
    except InputFileError as exc:
        return list(exc.errors)
    return []


def summary_json(state: DesiredState) -> Mapping[str, Any]:
    """What ``validate --json`` prints for a valid state."""
    return {
        "valid": True,
        "digest": state.digest,
        "groups": [g.name for g in state.groups],
        "files": list(state.sources),
    }
