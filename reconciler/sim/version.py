"""PAN-OS software version strings as the simulated firewalls see them (the simulator's own parser).

The simulator is a stand-in for PAN-OS and must not share the product's assumptions, so it does not use
the product's version code (``reconciler/sim`` imports nothing from the rest of ``reconciler``; see
tests/sim/test_rules_independent.py).

Forms: ``X.Y.Z`` (a maintenance release, ``X.Y.0`` usually the feature release's base image), ``X.Y.Z-hN``
(hotfix N of that maintenance release, e.g. ``11.1.6-h1``, ``9.1.17-h3``), and the pre-release builds
``X.Y.Z-bN`` (beta) and ``X.Y.Z-cN`` (internal build) that appear on early-access boxes. Palo Alto Networks
names software this way in the update server's list (``request system software check``; "Software Updates",
https://docs.paloaltonetworks.com/pan-os/11-1/pan-os-upgrade/upgrade-pan-os/upgrade-the-firewall-pan-os).

Ordering: by X, Y, Z; within one maintenance release, pre-release builds before the release, hotfixes after
it in number order: ``10.2.9-b1 < 10.2.9-c2 < 10.2.9 < 10.2.9-h1 < 10.2.9-h2 < 10.2.10``.
"""

from __future__ import annotations

import re
from typing import Any

_FORM = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)(?:-([hbc])([1-9][0-9]*))?")
# Where a suffix sorts relative to the bare maintenance release.
_SUFFIX_ORDER = {"b": 0, "c": 1, "": 2, "h": 3}


class SimVersionError(ValueError):
    """Text that is not a PAN-OS version."""


class Version:
    """One PAN-OS version. Immutable and hashable; build with ``Version.parse``."""

    __slots__ = ("_text", "feature", "number", "patch", "suffix")

    feature: tuple[int, int]
    patch: int
    suffix: str
    number: int
    _text: str

    def __init__(self, major: int, minor: int, patch: int, suffix: str = "", number: int = 0) -> None:
        if suffix not in _SUFFIX_ORDER or (suffix == "") != (number == 0) or min(major, minor, patch) < 0:
            raise SimVersionError(f"not a PAN-OS version: {major}.{minor}.{patch} {suffix!r} {number}")
        object.__setattr__(self, "feature", (major, minor))
        object.__setattr__(self, "patch", patch)
        object.__setattr__(self, "suffix", suffix)
        object.__setattr__(self, "number", number)
        text = f"{major}.{minor}.{patch}" + (f"-{suffix}{number}" if suffix else "")
        object.__setattr__(self, "_text", text)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Version is immutable")

    @classmethod
    def parse(cls, text: Any) -> Version:
        """``"11.1.6-h1"`` -> Version. Also takes a Version, or any object whose ``str()`` is a version
        (the product's version objects that tests hand to ``DeviceSpec``), but never a number: ``10.2`` as
        a float is not a version."""
        if isinstance(text, Version):
            return text
        if isinstance(text, bool | int | float) or text is None:
            raise SimVersionError(f"not a PAN-OS version: {text!r} (write it as a string, e.g. '10.2.9')")
        raw = str(text).strip()
        m = _FORM.fullmatch(raw)
        if m is None:
            raise SimVersionError(f"not a PAN-OS version: {raw!r} (expected X.Y.Z or X.Y.Z-hN)")
        return cls(int(m[1]), int(m[2]), int(m[3]), m[4] or "", int(m[5] or 0))

    @classmethod
    def try_parse(cls, text: Any) -> Version | None:
        try:
            return cls.parse(text)
        except SimVersionError:
            return None

    # -- parts -----------------------------------------------------------------------------------------

    @property
    def major(self) -> int:
        return self.feature[0]

    @property
    def minor(self) -> int:
        return self.feature[1]

    @property
    def feature_release(self) -> str:
        """``"10.2"`` for ``10.2.9-h1``: the train, what the upgrade-path rules are about."""
        return f"{self.feature[0]}.{self.feature[1]}"

    @property
    def maintenance(self) -> Version:
        """``10.2.9`` for ``10.2.9-h1``."""
        return Version(self.feature[0], self.feature[1], self.patch)

    @property
    def is_hotfix(self) -> bool:
        return self.suffix == "h"

    @property
    def is_prerelease(self) -> bool:
        return self.suffix in ("b", "c")

    def same_train(self, other: Version) -> bool:
        return self.feature == other.feature

    # -- order -----------------------------------------------------------------------------------------

    def sort_key(self) -> tuple[int, int, int, int, int]:
        return (*self.feature, self.patch, _SUFFIX_ORDER[self.suffix], self.number)

    @staticmethod
    def _other_key(other: object) -> tuple[int, int, int, int, int] | None:
        """Ordering also works against foreign version objects by their text (see ``parse``)."""
        if isinstance(other, Version):
            return other.sort_key()
        if isinstance(other, str):
            return None
        found = Version.try_parse(other) if hasattr(other, "major") else None
        return found.sort_key() if found is not None else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._text == other._text

    def __hash__(self) -> int:
        return hash(("sim-version", self._text))

    def __lt__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self.sort_key() < key

    def __le__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self.sort_key() <= key

    def __gt__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self.sort_key() > key

    def __ge__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self.sort_key() >= key

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Version({self._text!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Version.parse, (self._text,))
