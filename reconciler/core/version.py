"""``PanOsVersion``: the one place that parses, formats and orders PAN-OS software versions.

Forms seen in the field: ``10.2.9``, ``10.2.9-h1`` (hotfix), ``11.0.0-b1`` (beta) and ``10.0.0-c123``
(pre-release build). Ordering within one maintenance release: betas, then ``-c`` builds, then the release,
then its hotfixes (``10.2.9-b1 < 10.2.9-c3 < 10.2.9 < 10.2.9-h1 < 10.2.9-h2 < 10.2.10``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache, total_ordering
from typing import Any

# ASCII digits only: ``\d`` alone accepts other scripts' digits (``"١٠.2.9"``), which ``int`` converts.
_PATTERN = re.compile(
    r"^(?P<major>[0-9]{1,3})\.(?P<minor>[0-9]{1,3})\.(?P<patch>[0-9]{1,4})"
    r"(?:-(?P<kind>[hbc])(?P<num>[0-9]{1,5}))?$"
)
# Bounds matching the pattern, so that every constructible version formats to text that parses back.
_LIMITS = {"major": 999, "minor": 999, "patch": 9999, "num": 99999}
_RANK = {"b": -2, "c": -1, "": 0, "h": 1}


@total_ordering
@dataclass(frozen=True)
class PanOsVersion:
    """A PAN-OS version such as ``10.2.9-h1``. Construct with ``PanOsVersion.parse``."""

    major: int
    minor: int
    patch: int
    kind: str = ""  # "" | "h" hotfix | "b" beta | "c" pre-release build
    num: int = 0
    _key: tuple[int, int, int, int, int] = field(init=False, repr=False, compare=False, hash=False)
    _text: str = field(init=False, repr=False, compare=False, hash=False)
    _hash: int = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        for name, limit in _LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
                raise ValueError(f"version {name} must be an integer from 0 to {limit}, got {value!r}")
        if self.kind not in _RANK:
            raise ValueError(f"unknown version suffix kind {self.kind!r}")
        if (self.kind == "") != (self.num == 0):
            raise ValueError("a suffix kind needs a positive number and vice versa")
        key = (self.major, self.minor, self.patch, _RANK[self.kind], self.num)
        object.__setattr__(self, "_key", key)
        # Versions key the planner's caches (paths, image offers): hashed once, not at every lookup.
        object.__setattr__(self, "_hash", hash(key))
        base = f"{self.major}.{self.minor}.{self.patch}"
        object.__setattr__(self, "_text", f"{base}-{self.kind}{self.num}" if self.kind else base)

    @classmethod
    def parse(cls, text: Any) -> PanOsVersion:
        """Parse ``text``; raise ``ValueError`` with the offending text for anything else (floats included)."""
        if isinstance(text, PanOsVersion):
            return text
        if type(text) is str and cls is PanOsVersion:
            return _parse_cached(text)
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: Any) -> PanOsVersion:
        if not isinstance(text, str):
            raise ValueError(f"version must be a string like '10.2.9-h1', got {type(text).__name__} {text!r}")
        m = _PATTERN.match(text.strip())
        if not m:
            raise ValueError(f"not a PAN-OS version: {text!r} (expected X.Y.Z or X.Y.Z-hN)")
        kind = m["kind"] or ""
        num = int(m["num"]) if m["num"] else 0
        if kind and num == 0:
            raise ValueError(f"not a PAN-OS version: {text!r} (suffix number must be positive)")
        return cls(int(m["major"]), int(m["minor"]), int(m["patch"]), kind, num)

    @classmethod
    def try_parse(cls, text: Any) -> PanOsVersion | None:
        try:
            return cls.parse(text)
        except ValueError:
            return None

    def __str__(self) -> str:
        return self._text

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, PanOsVersion):
            return NotImplemented
        return self._key < other._key

    @property
    def feature_release(self) -> str:
        """The train, e.g. ``"10.2"`` for ``10.2.9-h1``."""
        return f"{self.major}.{self.minor}"

    @property
    def maintenance(self) -> PanOsVersion:
        """The maintenance release without hotfix or build suffix (``10.2.9`` for ``10.2.9-h1``)."""
        return PanOsVersion(self.major, self.minor, self.patch)

    @property
    def is_hotfix(self) -> bool:
        return self.kind == "h"

    @property
    def is_prerelease(self) -> bool:
        return self.kind in ("b", "c")

    def same_train(self, other: PanOsVersion) -> bool:
        return (self.major, self.minor) == (other.major, other.minor)


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> PanOsVersion:
    """``parse`` of a plain string, remembered: versions are immutable and a fleet's files repeat a few dozen
    of them (reading 10,000 status files parsed 230,000, issue 18.5). Errors are not remembered (raised
    each time, as ``lru_cache`` does not keep exceptions); the cache is bounded."""
    return PanOsVersion._parse(text)
