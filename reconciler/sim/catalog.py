"""The software and content catalog the simulated update server offers, and the hardware models.

The default catalog holds realistic trains 9.1 … 12.1 with maintenance releases and ``-hN`` hotfixes
(12.1's base image being 12.1.2, as ``reconciler.sim.rules`` says), image sizes, release dates and the minimum
content (App-ID) release each feature release needs. A fleet file may replace it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.sim import rules
from reconciler.sim.version import Version

_TRAINS: dict[str, tuple[str, ...]] = {
    "9.1": ("9.1.0", "9.1.3", "9.1.9", "9.1.14", "9.1.14-h4", "9.1.16", "9.1.17", "9.1.18", "9.1.19"),
    "10.0": ("10.0.0", "10.0.4", "10.0.8", "10.0.11", "10.0.12"),
    "10.1": ("10.1.0", "10.1.3", "10.1.6", "10.1.9", "10.1.11", "10.1.12", "10.1.14", "10.1.14-h9"),
    "10.2": (
        "10.2.0", "10.2.3", "10.2.4", "10.2.7", "10.2.9", "10.2.9-h1", "10.2.10", "10.2.11", "10.2.12",
        "10.2.13", "10.2.13-h3",
    ),
    "11.0": ("11.0.0", "11.0.1", "11.0.3", "11.0.4", "11.0.6"),
    "11.1": ("11.1.0", "11.1.2", "11.1.3", "11.1.4", "11.1.5", "11.1.6", "11.1.6-h1"),
    "11.2": ("11.2.0", "11.2.3", "11.2.4", "11.2.5", "11.2.7"),
    "12.1": ("12.1.2", "12.1.3"),
}  # fmt: skip

# First release year/month of each train (release dates of maintenance releases follow from it).
_TRAIN_DATES: dict[str, tuple[int, int]] = {
    "9.1": (2019, 12), "10.0": (2020, 7), "10.1": (2021, 6), "10.2": (2022, 2), "11.0": (2022, 11),
    "11.1": (2023, 11), "11.2": (2024, 6), "12.1": (2025, 8),
}  # fmt: skip


_CONTENT: tuple[str, ...] = (
    "8750-8340",
    "8790-8421",
    "8820-8530",
    "8860-8688",
    "8899-8769",
    "8950-8936",
    "9001-9082",
    "9010-9110",
    "9021-9135",
)


def _stable(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


@dataclass(frozen=True)
class SoftwareImage:
    """One PAN-OS image on the update server. ``size_mb`` is what a download takes on /opt/panrepo."""

    version: Version
    size_mb: int
    released_on: str

    def to_json(self) -> dict[str, Any]:
        return {"version": str(self.version), "size_mb": self.size_mb, "released_on": self.released_on}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SoftwareImage:
        return cls(Version.parse(data["version"]), int(data["size_mb"]), str(data["released_on"]))


@dataclass(frozen=True)
class ContentRelease:
    """One content (App-ID + threat) release, e.g. ``8799-8509``."""

    version: str
    released_on: str
    size_mb: int = 70

    @property
    def number(self) -> int:
        return int(self.version.split("-")[0])

    @property
    def key(self) -> tuple[int, int]:
        major, _, minor = self.version.partition("-")
        return int(major), int(minor or 0)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "released_on": self.released_on, "size_mb": self.size_mb}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContentRelease:
        return cls(str(data["version"]), str(data["released_on"]), int(data.get("size_mb", 70)))


def content_number(version: str) -> int:
    """``8799-8509`` -> 8799 (the App-ID release number minimum-content rules compare)."""
    head = version.split("-")[0]
    return int(head) if head.isdigit() else 0


@dataclass(frozen=True)
class Catalog:
    """What ``request system software check`` and ``request content upgrade check`` offer."""

    images: tuple[SoftwareImage, ...]
    content: tuple[ContentRelease, ...]
    min_content: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        index = {img.version: img for img in self.images}
        if len(index) != len(self.images):
            raise ValueError("catalog lists an image twice")
        object.__setattr__(self, "_index", index)

    def image(self, version: Version | str) -> SoftwareImage | None:
        index: dict[Version, SoftwareImage] = self._index  # type: ignore[attr-defined]
        return index.get(Version.parse(version))

    def versions(self) -> list[Version]:
        return sorted(img.version for img in self.images)

    def latest(self) -> Version:
        return max(img.version for img in self.images)

    def train(self, train: str) -> list[Version]:
        return sorted(img.version for img in self.images if img.version.feature_release == train)

    def latest_content(self) -> ContentRelease:
        return max(self.content, key=lambda c: c.key)

    def content_release(self, version: str) -> ContentRelease | None:
        return next((c for c in self.content if c.version == version), None)

    def min_content_for(self, version: Version) -> int:
        return rules.min_content(version.feature_release, self.min_content)

    def to_json(self) -> dict[str, Any]:
        return {
            "software": [img.to_json() for img in sorted(self.images, key=lambda i: i.version)],
            "content": [c.to_json() for c in self.content],
            "min_content": dict(self.min_content),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Catalog:
        default = default_catalog()
        images = tuple(SoftwareImage.from_json(d) for d in data.get("software", [])) or default.images
        content = tuple(ContentRelease.from_json(d) for d in data.get("content", [])) or default.content
        min_content = dict(default.min_content)
        min_content.update({str(k): int(v) for k, v in data.get("min_content", {}).items()})
        return cls(images, content, min_content)


def _image(version: str) -> SoftwareImage:
    v = Version.parse(version)
    train = v.feature_release
    year, month = _TRAIN_DATES[train]
    position = _TRAINS[train].index(version)
    months = month - 1 + position * 2
    released = f"{year + months // 12:04d}/{months % 12 + 1:02d}/{5 + _stable(version) % 20:02d} 10:{_stable(train) % 60:02d}:00"
    jitter = _stable(version) % 200
    if v == rules.base_image(train):
        size = 1000 + jitter * 2
    elif v.is_hotfix:
        size = 300 + jitter
    else:
        size = 450 + jitter * 2
    return SoftwareImage(v, size, released)


def default_catalog() -> Catalog:
    """The built-in catalog (deterministic; no randomness)."""
    images = tuple(_image(v) for train in _TRAINS.values() for v in train)
    content = tuple(
        ContentRelease(v, f"2024/{1 + i:02d}/{10 + i:02d} 15:17:52 PST", 60 + i)
        for i, v in enumerate(_CONTENT)
    )
    return Catalog(images, content, dict(rules.MIN_CONTENT))


@dataclass(frozen=True)
class HardwareModel:
    """A firewall model: its ``family`` as ``show system info`` reports it and how slow it is."""

    name: str
    family: str
    install_factor: float = 1.0
    reboot_factor: float = 1.0
    panrepo_gb: float = 16.0
    virtual: bool = False


MODELS: dict[str, HardwareModel] = {
    m.name: m
    for m in (
        HardwareModel("PA-220", "220", install_factor=2.5, reboot_factor=1.3, panrepo_gb=8.0),
        HardwareModel("PA-440", "400", install_factor=1.4, reboot_factor=1.1, panrepo_gb=12.0),
        HardwareModel("PA-460", "400", install_factor=1.2, panrepo_gb=12.0),
        HardwareModel("PA-820", "800", install_factor=1.5, reboot_factor=1.2),
        HardwareModel("PA-850", "800", install_factor=1.3, reboot_factor=1.1),
        HardwareModel("PA-3220", "3200"),
        HardwareModel("PA-3410", "3400", install_factor=0.9),
        HardwareModel("PA-5220", "5200", install_factor=0.9, panrepo_gb=24.0),
        HardwareModel("PA-VM", "vm", panrepo_gb=16.0, virtual=True),
    )
}


def model(name: str) -> HardwareModel:
    """The known model ``name``, or a generic hardware model of that name."""
    return MODELS.get(name) or HardwareModel(name, name.removeprefix("PA-").lower() or "unknown")


def image_filename(family: str, version: Version) -> str:
    prefix = "PanOS_vm" if family == "vm" else f"PanOS_{family}"
    return f"{prefix}-{version}"


def newest_in_trains(catalog: Catalog, trains: Iterable[str]) -> list[Version]:
    return [catalog.train(t)[-1] for t in trains if catalog.train(t)]
