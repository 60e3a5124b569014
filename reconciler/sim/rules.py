"""PAN-OS's own software rules, as the simulated firewalls enforce them (the simulator's copy, as data).

Written from Palo Alto Networks' documentation (and the project's PANOS-NOTES.md, "Upgrade-path rules",
where the documentation was not at hand), never from the product's ``reconciler/rules.py``: if the simulator
shared the planner's rules, a wrong plan would pass here by construction. tests/sim/test_rules_independent.py
compares the two over every pair of catalogue versions and lists each deliberate difference.

Policy where the documentation leaves room: the simulator is STRICTER than the product, never looser. A
simulator that refuses what PAN-OS might refuse catches product bugs; one that allows what PAN-OS refuses
hides them. Every place where this policy decided is marked ``STRICTER``.

Sources (Palo Alto Networks TechDocs, docs.paloaltonetworks.com):

[PATH91]  "Determine the Upgrade Path" (PAN-OS 9.1 New Features Guide),
          /content/techdocs/en_US/pan-os/9-1/pan-os-new-features/upgrade-to-pan-os-91/
          upgrade-the-firewall-to-pan-os-91/determine-the-upgrade-path.html
          -- "you cannot skip the installation of any feature release versions in the path to your
          target release"; "Do not install the PAN-OS base image for a feature release unless it is the
          target release".
[SKIP]    "Skip Software Version Upgrade" (PAN-OS 10.1+ Upgrade Guide),
          /pan-os/11-1/pan-os-upgrade/upgrade-pan-os/upgrade-the-firewall-pan-os/skip-software-version-upgrade
          -- from PAN-OS 10.1 a firewall may skip feature releases, downloading the base image of every
          release it crosses (the intermediate ones and the target's) before installing the target.
          That page was not in our reference material (the path is as we know it); the limits below
          follow PANOS-NOTES.md (public tools allow a distance of up to 4 in the sequence 10.1, 10.2,
          11.0, 11.1, 11.2, 12.1). Skips are for standalone firewalls only (HA: [UPG]).
[UPG]     "Upgrade the Firewall PAN-OS Version" and "Upgrade an HA Firewall Pair" (PAN-OS Upgrade Guide),
          /pan-os/11-1/pan-os-upgrade/upgrade-pan-os/upgrade-the-firewall-pan-os and
          /pan-os/11-1/pan-os-upgrade/upgrade-pan-os/upgrade-an-ha-firewall-pair
          -- the base image of a feature release must be downloaded (not installed) before a
          maintenance release of it is installed; HA peers are upgraded one at a time, one feature
          release at a time.
[HAVER]   "HA Firewall States" / "Upgrade an HA Firewall Pair": a peer running an older feature release
          more than one release behind goes to ``suspended`` with "Peer version too old" (PANOS-NOTES.md,
          "HA"); one release apart the pair runs with ``build-compat: Mismatch``.
[DOWN102] "Upgrade/Downgrade Considerations" (PAN-OS 10.2 Upgrade Guide),
          /pan-os/10-2/pan-os-upgrade/upgrade-pan-os/upgradedowngrade-considerations
          -- "Downgrading from PAN-OS 10.2 to an earlier PAN-OS release requires that you first downgrade
          to PAN-OS 10.1.3 or later".
[DOWN]    "Downgrade PAN-OS" / "Downgrade a Firewall to a Previous Feature Release" (PAN-OS Upgrade
          Guide), /pan-os/11-1/pan-os-upgrade/downgrade-pan-os
          -- a downgrade goes to the previous feature release (STRICTER: one feature release per install).
[CONTENT] PAN-OS Release Notes, "Associated Software and Content Versions" (minimum content release per
          feature release), /pan-os/11-1/pan-os-release-notes -- the figures below are representative,
          not copied from the notes; a fleet file may replace them (``catalog.min_content``).
[BASE121] PANOS-NOTES.md: 12.1's first (and base) image is 12.1.2, there is no 12.1.0.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.sim.version import Version

# Feature releases the simulated firewalls know, oldest first. After 10.2 comes 11.0; after 11.2 comes
# 12.1 (there is no 11.3 nor 12.0) [BASE121]. STRICTER: a release not in this list is refused outright.
TRAINS: tuple[str, ...] = ("8.0", "8.1", "9.0", "9.1", "10.0", "10.1", "10.2", "11.0", "11.1", "11.2", "12.1")

# The base image of each feature release [UPG] [BASE121]. Listed one by one on purpose (no "X.Y.0"
# default), so a new train needs a decision here.
BASE_IMAGE: dict[str, str] = {
    "8.0": "8.0.0", "8.1": "8.1.0", "9.0": "9.0.0", "9.1": "9.1.0", "10.0": "10.0.0", "10.1": "10.1.0",
    "10.2": "10.2.0", "11.0": "11.0.0", "11.1": "11.1.0", "11.2": "11.2.0", "12.1": "12.1.2",
}  # fmt: skip

# The first feature release from which a standalone firewall may skip releases [SKIP]; before it, none
# may be skipped [PATH91].
SKIP_FROM = "10.1"
# The farthest one install may reach when skipping, in steps of TRAINS (10.1 -> 11.2 is 4 steps) [SKIP].
MAX_SKIP_STEPS = 4
# HA members: one feature release per install [UPG], and peers at most one release apart [HAVER].
HA_MAX_STEPS = 1
HA_MAX_GAP = 1
# A downgrade crosses at most this many feature releases per install [DOWN] (STRICTER).
MAX_DOWNGRADE_STEPS = 1
# Downgrading from the key release to an earlier one must land on the value or later [DOWN102].
DOWNGRADE_FLOOR: dict[str, str] = {"10.2": "10.1.3"}

# Lowest content (App-ID) release number a feature release installs on [CONTENT]: the install of a
# release of a newer feature release is refused below it.
MIN_CONTENT: dict[str, int] = {
    "9.1": 8200, "10.0": 8284, "10.1": 8390, "10.2": 8520, "11.0": 8630, "11.1": 8760, "11.2": 8860,
    "12.1": 9000,
}  # fmt: skip


class UnknownTrain(ValueError):
    """A feature release the simulator has no rules for."""


def knows(train: str) -> bool:
    return train in TRAINS


def position(train: str) -> int:
    try:
        return TRAINS.index(train)
    except ValueError:
        raise UnknownTrain(f"unknown feature release {train!r}") from None


def steps(from_train: str, to_train: str) -> int:
    """Feature releases from ``from_train`` to ``to_train`` (negative: a downgrade)."""
    return position(to_train) - position(from_train)


def base_image(train: str) -> Version:
    if train not in BASE_IMAGE:
        raise UnknownTrain(f"no base image known for feature release {train!r}")
    return Version.parse(BASE_IMAGE[train])


def max_upgrade_steps(from_train: str, *, ha: bool) -> int:
    """How far one install may take a firewall running ``from_train`` [PATH91] [SKIP] [UPG]."""
    if ha:
        return HA_MAX_STEPS
    return MAX_SKIP_STEPS if position(from_train) >= position(SKIP_FROM) else 1


def direct_upgrade_allowed(current: Version, target: Version, *, ha: bool) -> bool:
    """Would PAN-OS install ``target`` over ``current`` in one go, as far as the path goes?
    (Within a train and downgrades: see ``downgrade_refusal``.)"""
    n = steps(current.feature_release, target.feature_release)
    return n <= 0 or n <= max_upgrade_steps(current.feature_release, ha=ha)


def bases_needed(current: Version, target: Version) -> list[Version]:
    """Base images that must be on the box (downloaded) before ``target`` installs over ``current``
    [UPG] [SKIP]: none within a train or downgrading; otherwise the base of every feature release after
    the current one up to and including the target's."""
    first, last = position(current.feature_release), position(target.feature_release)
    if last <= first:
        return []
    return [base_image(t) for t in TRAINS[first + 1 : last + 1]]


def downgrade_refusal(current: Version, target: Version) -> str | None:
    """Why PAN-OS refuses this downgrade (None: not a downgrade across trains, or allowed)."""
    n = steps(current.feature_release, target.feature_release)
    if n >= 0:
        return None
    if -n > MAX_DOWNGRADE_STEPS:
        return f"downgrading from {current} by more than one feature release is not supported"
    floor = DOWNGRADE_FLOOR.get(current.feature_release)
    if floor is not None and target < Version.parse(floor):
        return f"downgrading from PAN-OS {current.feature_release} requires {floor} or later"
    return None


def ha_gap(a: Version, b: Version) -> int:
    """Feature releases between two HA peers' versions (0 = same train)."""
    return abs(steps(a.feature_release, b.feature_release))


def ha_peers_compatible(a: Version, b: Version) -> bool:
    """False when the older peer suspends with "Peer version too old" [HAVER]."""
    return ha_gap(a, b) <= HA_MAX_GAP


def min_content(train: str, table: Mapping[str, int] | None = None) -> int:
    """The lowest content release number ``train`` installs on (0: no minimum known) [CONTENT]."""
    return int((MIN_CONTENT if table is None else table).get(train, 0))
