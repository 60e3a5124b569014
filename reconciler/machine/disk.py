"""Free space on the software repository: what the downloads ahead need, and whether the device has it.

Pure functions of the device's software list (``SoftwareList``: versions, downloaded flags, sizes), the
free space pre-flight measured and the settings. Two rules, one per mode:

* **download-only** pre-stages images for a later upgrade: every image left to download must fit *and*
  ``min_disk_gb`` must stay free afterwards (pre-staging must not eat the room the upgrade needs).
* **upgrade** (and dry-run, its rehearsal): the hop starts with ``min_disk_gb`` free and its images fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.observations import ImageInfo
from reconciler.version import PanOsVersion

MB_PER_GB = 1024.0


@dataclass(frozen=True)
class DiskNeed:
    """The space check of one software list: ``images`` to download, ``images_gb`` their total size."""

    free_gb: float
    images: tuple[str, ...]
    images_gb: float
    minimum_gb: float
    strict: bool  # download-only: the minimum must stay free after the downloads

    @property
    def wanted_gb(self) -> float:
        """Room for the downloads with the minimum left free afterwards."""
        return self.images_gb + self.minimum_gb

    @property
    def required_gb(self) -> float:
        """What the device must have free for the run to go on."""
        return self.wanted_gb if self.strict else max(self.minimum_gb, self.images_gb)

    @property
    def enough(self) -> bool:
        return self.free_gb >= self.required_gb

    def describe(self) -> str:
        """The numbers for people (``last_error.message``): free, needed, minimum."""
        what = ", ".join(self.images) if self.images else "nothing"
        if self.strict:
            return (
                f"{self.free_gb:.1f} GB free; staging {what} needs {self.images_gb:.1f} GB and "
                f"{self.minimum_gb:.1f} GB must stay free ({self.required_gb:.1f} GB required)"
            )
        return (
            f"{self.free_gb:.1f} GB free; downloading {what} needs {self.images_gb:.1f} GB, and a hop starts "
            f"with at least {self.minimum_gb:.1f} GB free ({self.required_gb:.1f} GB required)"
        )


def image_sizes(images: Iterable[ImageInfo]) -> dict[str, float]:
    """Size in GB of each listed version (canonical text), 0 when PAN-OS does not say."""
    out: dict[str, float] = {}
    for entry in images:
        parsed = PanOsVersion.try_parse(entry.version)
        if parsed is not None:
            out[str(parsed)] = max(entry.size_mb, 0) / MB_PER_GB
    return out


def disk_need(
    free_gb: float,
    to_download: Iterable[str],
    sizes: Mapping[str, float],
    minimum_gb: float,
    *,
    strict: bool,
) -> DiskNeed:
    """The space check for downloading ``to_download`` (sizes by version, unknown sizes count 0)."""
    images = tuple(dict.fromkeys(to_download))
    total = sum(sizes.get(image, 0.0) for image in images)
    return DiskNeed(free_gb, images, total, minimum_gb, strict)
