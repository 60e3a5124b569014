"""Free space on the software repository: what the downloads ahead need, and whether the device has it.

Pure functions of the device's software list (``SoftwareList``: versions, downloaded flags, sizes), the
free space pre-flight measured and the settings. Two rules, one per mode:

* **download-only** pre-stages images for a later upgrade: every image left to download must fit *and*
  ``min_disk_gb`` must stay free afterwards (pre-staging must not eat the room the upgrade needs).
* **upgrade** (and dry-run, its rehearsal): the hop starts with ``min_disk_gb`` free and its images fit.

Image cleanup (``choose_deletions``): when the free space is below what the downloads ahead need with the
minimum left free (``DiskNeed.wanted_gb``), images the device no longer needs are deleted, only as many as
needed, and only if that makes enough room; otherwise nothing is deleted. An image may go only when it is
downloaded, older than the running release, not an image of the remaining path (base images and targets
of the hops still to do), not already deleted once, and not the previous release kept for a rollback (the
release the device ran before on this path, else the newest image older than the running one). Images
newer than the running release are never touched: someone staged them for a reason.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from reconciler.core.version import PanOsVersion
from reconciler.machine.observations import ImageInfo

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


def previous_release(
    downloaded: Iterable[PanOsVersion], running: PanOsVersion, ran_before: PanOsVersion | None = None
) -> PanOsVersion | None:
    """The image kept for a rollback: ``ran_before`` (the release the device ran before its current one,
    when known) if it is downloaded, else the newest downloaded image older than the running one."""
    older = sorted(v for v in downloaded if v < running)
    if ran_before is not None and ran_before in older:
        return ran_before
    return older[-1] if older else None


def cleanup_candidates(
    images: Iterable[ImageInfo],
    running: PanOsVersion,
    keep: Collection[PanOsVersion],
    *,
    keep_previous: bool = True,
    ran_before: PanOsVersion | None = None,
    already_deleted: Collection[PanOsVersion] = (),
) -> list[ImageInfo]:
    """Images that may be deleted, in the order to delete them: oldest feature release first, and within
    a release its maintenance releases before the base image they were installed from."""
    downloaded: dict[PanOsVersion, ImageInfo] = {}
    for entry in images:
        parsed = PanOsVersion.try_parse(entry.version)
        if parsed is not None and entry.downloaded:
            downloaded[parsed] = entry
    previous = previous_release(downloaded, running, ran_before) if keep_previous else None
    out = [
        (v, info)
        for v, info in downloaded.items()
        if v < running and v not in keep and v != previous and v not in already_deleted
    ]
    out.sort(key=lambda vi: vi[0], reverse=True)  # newest first inside a feature release ...
    out.sort(key=lambda vi: (vi[0].major, vi[0].minor))  # ... oldest feature release first (stable)
    return [info for _, info in out]


def choose_deletions(need: DiskNeed, candidates: Iterable[ImageInfo]) -> tuple[str, ...]:
    """The images to delete, in order, so that ``need`` is met: as few as reach ``wanted_gb`` (all of
    them when even all fall short of it); nothing when the device has what it wants already, or when
    deleting every candidate would still leave less than ``required_gb``."""
    if need.free_gb >= need.wanted_gb:
        return ()
    free, chosen = need.free_gb, []
    for info in candidates:
        if free >= need.wanted_gb:
            break
        chosen.append(str(PanOsVersion.parse(info.version)))
        free += max(info.size_mb, 0) / MB_PER_GB
    if free < need.required_gb:
        return ()
    return tuple(chosen)
