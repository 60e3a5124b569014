"""Panorama management compatibility: which firewall versions a Panorama version can manage. Pure.

Source: Palo Alto Networks' Compatibility Matrix, "Panorama Management Compatibility"
(docs.paloaltonetworks.com/compatibility-matrix/panorama/panorama-management-compatibility), and the upgrade
guide's "Panorama, Log Collector, Firewall, and WildFire Version Compatibility": Panorama must run the same
or a later feature release than the firewalls it manages; from Panorama 10.2.7 on it may also manage a
firewall on a later maintenance release of the *same* feature release, never one on a later feature
release. A firewall upgraded past that is disconnected from management on real hardware.

The simulator models the same rule with its own code (``reconciler.sim.panorama.can_manage``); the product
never imports it.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.core.rules import DEFAULT_RULES
from reconciler.core.version import PanOsVersion

SAME_RELEASE_NEWER_FIREWALL_FROM = PanOsVersion(10, 2, 7)
"""From this Panorama release on, a firewall on a later maintenance release of Panorama's own feature release
is still managed."""


def can_manage(panorama: PanOsVersion, firewall: PanOsVersion) -> bool:
    """May a Panorama running ``panorama`` manage a firewall running ``firewall``?"""
    if firewall.same_train(panorama):
        return firewall <= panorama or panorama >= SAME_RELEASE_NEWER_FIREWALL_FROM
    return (firewall.major, firewall.minor) < (panorama.major, panorama.minor)


def min_panorama_for(firewall: PanOsVersion) -> PanOsVersion:
    """The lowest Panorama version that manages ``firewall`` (same feature release: its first release from
    10.2.7 on, else the firewall's own version)."""
    if (firewall.major, firewall.minor) > (10, 2):
        train = firewall.feature_release
        return (
            DEFAULT_RULES.base_image(train)
            if DEFAULT_RULES.knows(train)
            else PanOsVersion.parse(f"{train}.0")
        )
    if firewall.same_train(SAME_RELEASE_NEWER_FIREWALL_FROM) and firewall >= SAME_RELEASE_NEWER_FIREWALL_FROM:
        return SAME_RELEASE_NEWER_FIREWALL_FROM
    return firewall


def managing_version(versions: Iterable[str]) -> PanOsVersion | None:
    """The Panorama version that limits what may be managed: the lowest of the known versions (a Panorama
    HA pair mid-upgrade runs two), None when none is known."""
    parsed = [v for v in (PanOsVersion.try_parse(t) for t in versions if t) if v is not None]
    return min(parsed) if parsed else None


def too_old_detail(panorama: PanOsVersion, firewall: PanOsVersion) -> str:
    """The words of a ``panorama-too-old`` block."""
    return f"Panorama runs {panorama}; {firewall} needs Panorama {min_panorama_for(firewall)} or later"


def target_warnings(
    targets: Iterable[tuple[str, PanOsVersion]],
    versions: Iterable[str],
    declared: PanOsVersion | None = None,
) -> list[str]:
    """For ``validate --inventory``: each group (name, target) whose target the discovered Panorama cannot
    manage, so its firewalls would be blocked ``panorama-too-old``, or ``panorama-upgrade-pending`` when the
    desired state's ``panorama`` target (``declared``) manages it (nothing when Panorama's version is
    unknown)."""
    panorama = managing_version(versions)
    if panorama is None:
        return []
    out = []
    for name, target in targets:
        if can_manage(panorama, target):
            continue
        head = f"group {name!r}: target {target} is past what Panorama manages ({too_old_detail(panorama, target)})"
        if declared is not None and can_manage(declared, target):
            out.append(
                f"{head}; its firewalls will wait panorama-upgrade-pending until Panorama runs {declared}"
            )
        else:
            out.append(f"{head}; its firewalls will be blocked panorama-too-old until Panorama is upgraded")
    return out
