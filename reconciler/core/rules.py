"""PAN-OS upgrade rules, kept as data (PANOS-NOTES.md "Upgrade-path rules").

Shared by the planner (what we plan) and the simulator (what PAN-OS enforces), so that both agree by
construction and a test can still catch an orchestration that breaks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.core.version import PanOsVersion

# Feature releases in order. 10.x-11.x-12.1: there is no 11.3 / 12.0.
FEATURE_RELEASES: tuple[str, ...] = (
    "8.0", "8.1", "9.0", "9.1", "10.0", "10.1", "10.2", "11.0", "11.1", "11.2", "12.1",
)  # fmt: skip

# The base image of a feature release is X.Y.0 unless overridden here.
BASE_OVERRIDES: dict[str, str] = {"12.1": "12.1.2"}

# Downgrades (rollback), from Palo Alto Networks TechDocs:
# - "Downgrade PAN-OS" (PAN-OS Upgrade Guide, /pan-os/11-1/pan-os-upgrade/downgrade-pan-os): a firewall goes
#   back to a previous maintenance release of its feature release, or to the previous feature release; the
#   guide describes no downgrade across several feature releases in one install, so we allow one at a time.
# - "Upgrade/Downgrade Considerations" (PAN-OS 10.2 Upgrade Guide,
#   /pan-os/10-2/pan-os-upgrade/upgrade-pan-os/upgradedowngrade-considerations): from 10.2 to an earlier
#   feature release only to 10.1.3 or later.
# Other releases' considerations depend on the configuration (e.g. 12.1 to 11.2 with more than 30 shared
# objects) and are not decided here.
MAX_DOWNGRADE_DISTANCE = 1
DOWNGRADE_FLOORS: dict[str, str] = {"10.2": "10.1.3"}

# Lowest content (App-ID) release, the number before the dash, on which PAN-OS installs a feature release.
# Below it the software install is refused, so the content is updated first (a step of its own). The
# figures are representative of the release notes' minimums; keep them current with the notes you upgrade to.
MIN_CONTENT: dict[str, int] = {
    "9.1": 8200, "10.0": 8284, "10.1": 8390, "10.2": 8520, "11.0": 8630, "11.1": 8760, "11.2": 8860,
    "12.1": 9000,
}  # fmt: skip


@dataclass(frozen=True)
class UpgradeRules:
    """The rules table: release order, base images, and how far a standalone firewall may jump."""

    feature_releases: tuple[str, ...] = FEATURE_RELEASES
    # Left out of the hash (a dict is unhashable) but not out of equality, so rules can key caches.
    base_overrides: dict[str, str] = field(default_factory=lambda: dict(BASE_OVERRIDES), hash=False)
    # Skipping feature releases is allowed for standalone firewalls whose current release is at or after
    # this one; the jump may span at most ``max_skip_distance`` steps of ``feature_releases``.
    skip_from: str = "10.1"
    max_skip_distance: int = 4

    def min_content(self, train: str) -> str | None:
        """The minimum content version (``"8760"``) a feature release installs on, or None if unknown."""
        value = MIN_CONTENT.get(train)
        return str(value) if value is not None else None

    def index(self, train: str) -> int:
        try:
            return self.feature_releases.index(train)
        except ValueError:
            raise ValueError(f"unknown feature release {train!r}") from None

    def knows(self, train: str) -> bool:
        return train in self.feature_releases

    def base_image(self, train: str) -> PanOsVersion:
        """The base image of a feature release (``12.1`` -> ``12.1.2``; otherwise ``X.Y.0``)."""
        return PanOsVersion.parse(self.base_overrides.get(train, f"{train}.0"))

    def distance(self, from_train: str, to_train: str) -> int:
        return self.index(to_train) - self.index(from_train)

    def max_jump(self, from_train: str, *, ha: bool) -> int:
        """How many feature-release steps one install may advance from ``from_train``."""
        if ha or self.index(from_train) < self.index(self.skip_from):
            return 1
        return self.max_skip_distance

    def can_jump(self, from_train: str, to_train: str, *, ha: bool) -> bool:
        """True if PAN-OS installs ``to_train`` directly on a device running ``from_train``."""
        d = self.distance(from_train, to_train)
        return d <= 0 or d <= self.max_jump(from_train, ha=ha)

    def downgrade_refusal(self, current: PanOsVersion, target: PanOsVersion) -> str | None:
        """Why PAN-OS does not support installing ``target`` over ``current`` as a downgrade (None: not a
        downgrade, or a supported one): more than ``MAX_DOWNGRADE_DISTANCE`` feature releases back, or below
        the documented floor of the current feature release (``DOWNGRADE_FLOORS``)."""
        if not target < current:
            return None
        back = self.distance(target.feature_release, current.feature_release)
        if back > MAX_DOWNGRADE_DISTANCE:
            return f"PAN-OS downgrades one feature release at a time; {current} to {target} goes back {back}"
        floor = DOWNGRADE_FLOORS.get(current.feature_release)
        if back > 0 and floor is not None and target < PanOsVersion.parse(floor):
            return f"PAN-OS {current.feature_release} downgrades to an earlier feature release only to {floor} or later"
        return None

    def trains_between(self, from_train: str, to_train: str) -> list[str]:
        """Feature releases after ``from_train`` up to and including ``to_train``."""
        a, b = self.index(from_train), self.index(to_train)
        return list(self.feature_releases[a + 1 : b + 1])

    def required_bases(self, current: PanOsVersion, target: PanOsVersion) -> list[PanOsVersion]:
        """Base images that must be downloaded (not installed) before installing ``target`` on ``current``.

        Same train: none. Otherwise the base image of every feature release from the one after the
        current up to the target's (a skip needs the intermediate bases too). A target that is its own
        base image needs only itself.
        """
        if current.same_train(target) or target < current:
            return []
        return [
            self.base_image(t) for t in self.trains_between(current.feature_release, target.feature_release)
        ]


DEFAULT_RULES = UpgradeRules()


def spelled_out(text: str, rules: UpgradeRules = DEFAULT_RULES) -> str:
    """A real version for what someone wrote short (``"12.1"``, ``"11"``): a known feature release's base
    image (``12.1`` -> ``12.1.2``, there is no 12.1.0), else the text padded to three numbers."""
    if text.count(".") >= 2:
        return text
    if rules.knows(text):
        return str(rules.base_image(text))
    return f"{text}.0" if "." in text else f"{text}.0.0"
