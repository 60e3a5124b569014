"""Version paths: which installs take a firewall from its current version to a target, and what to download.

Pure: no I/O. Inputs are versions, the device's offered images (when known), the rules table
(``reconciler.core.rules``) and, optionally, explicit hops.

Three ways to say how a group gets to its target (``PathSpec``):

- ``"auto"``: the original tool's ``config/upgrade_paths.json`` is consulted first (when the device's
  current version is one of its keys, those hops are followed); otherwise the path is computed from the
  rules table. A device with neither gets ``no-path``.
- ``"table"``: ``upgrade_paths.json`` only, exactly the original tool's behaviour: a device whose current
  version is not a key is skipped with ``no-path``.
- a tuple of versions (the desired state's ``path:`` list): waypoints followed in order.

Explicit hops (a waypoint list or a table entry) are followed exactly; the ones at or below the current
version are skipped (the device is past them) and the ones above the target are dropped. Each must be
an install PAN-OS accepts (no forbidden release skip; HA pairs one feature release at a time), else the
result is ``no-path``. After the last explicit hop, the rest of the way to the target is computed as in
``auto`` (a direct install when the rules allow one).

Computed hops: the fewest installs; a standalone firewall may skip feature releases from 10.1 on; HA pairs
step through every release. An intermediate hop installs the newest offered release of its train (hotfixes
included, pre-release builds and the bare base image excluded), so intermediate hops need the device's list
of offered images: without it, a path that needs one is ``images-unknown`` (observe the device, or give
explicit hops). Each hop lists the images to have downloaded (not installed) before installing it: the base
image of every feature release entered, then the hop's own image.

Downgrades are refused (``downgrade-refused``) unless allowed; an allowed downgrade steps down one feature
release at a time and needs only the image it installs *(inferred: PAN-OS documents no base-image rule for
downgrades)*; a last hop below a documented floor (``UpgradeRules.downgrade_refusal``: from 10.2 only to
10.1.3 or later) is ``no-path``.

Crash resume (the original tool's semantics): ``resolve_path`` recomputes the path from the version the
upgrade *started* at and continues at the device's position on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Any, Literal

from reconciler.core.errors import InputFileError
from reconciler.core.rules import DEFAULT_RULES, UpgradeRules
from reconciler.core.version import PanOsVersion

PathSpec = Literal["auto", "table"] | tuple[PanOsVersion, ...]
"""How a group's path is chosen: ``"auto"``, ``"table"`` or explicit waypoints (see the module docstring)."""

UpgradePathTable = Mapping[PanOsVersion, tuple[PanOsVersion, ...]]
"""``config/upgrade_paths.json`` parsed: start version -> hops, as in the original tool."""

NO_PATH = "no-path"
DOWNGRADE_REFUSED = "downgrade-refused"
IMAGES_UNKNOWN = "images-unknown"
PATH_REASONS = (NO_PATH, DOWNGRADE_REFUSED, IMAGES_UNKNOWN)

_SKIPPED_AS_ORIGINAL = "skipped, as in the original tool"


@dataclass(frozen=True)
class PathHop:
    """One install of a computed path. ``images``: what must be downloaded before installing ``version``, in
    download order (base images of the feature releases entered, then ``version`` itself, each once).

    A path hop is record-ready: it also says the lowest content version PAN-OS installs it on
    (``min_content``), so a device record (``reconciler.machine.records.Hop``, the hop as a status file keeps
    it) is made from it field by field, with no rule applied on the way."""

    version: PanOsVersion
    images: tuple[PanOsVersion, ...]

    @property
    def min_content(self) -> str | None:
        """The lowest content (App-ID) version, e.g. ``"8760"``, on which PAN-OS installs ``version``: a
        content update comes first when the device runs an older one. None when the rules do not know it."""
        return DEFAULT_RULES.min_content(self.version.feature_release)

    def to_json(self) -> dict[str, Any]:
        return {"version": str(self.version), "images": [str(i) for i in self.images]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PathHop:
        return cls(PanOsVersion.parse(data["version"]), tuple(PanOsVersion.parse(i) for i in data["images"]))


@dataclass(frozen=True)
class UpgradePath:
    """The result of path computation. ``reason`` is None when the hops lead from ``current`` to ``target``;
    otherwise one of ``PATH_REASONS`` with a human ``detail``, and ``hops`` is empty.

    ``source`` says where the hops came from: ``auto`` (rules), ``explicit`` (waypoints),
    ``upgrade_paths.json`` (table, possibly completed by rules), ``none`` (already there or no path).
    """

    current: PanOsVersion
    target: PanOsVersion
    hops: tuple[PathHop, ...] = ()
    source: str = "none"
    reason: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None

    @cached_property
    def images(self) -> tuple[PanOsVersion, ...]:
        """Every image of every hop, in order, each once."""
        return _unique(i for hop in self.hops for i in hop.images)

    @property
    def versions(self) -> tuple[PanOsVersion, ...]:
        return tuple(h.version for h in self.hops)


@dataclass(frozen=True)
class ResumePoint:
    """Where a device stands on the path of an upgrade that started at ``path.current``.

    ``index`` hops of ``path`` are done; ``remaining`` are left. ``diverged`` is True when the device's
    version is not on that path (it was changed by someone else): ``path`` is then recomputed from the
    device's current version and ``index`` is 0.
    """

    path: UpgradePath
    index: int
    diverged: bool = False

    @property
    def remaining(self) -> tuple[PathHop, ...]:
        return self.path.hops[self.index :]


@dataclass(frozen=True)
class ImageOffer:
    """The images a device offers (``versions`` None = unknown), indexed by train for choosing hops.

    Build it once per device with ``ImageOffer.of`` when computing several paths for it; ``find_path``
    accepts it in place of a plain iterable of versions. Hashable, so it can key a cache.
    """

    versions: frozenset[PanOsVersion] | None
    by_train: Mapping[str, tuple[PanOsVersion, ...]] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, available: Iterable[PanOsVersion] | ImageOffer | None) -> ImageOffer:
        if isinstance(available, ImageOffer):
            return available
        if available is None:
            return cls(None)
        versions = frozenset(available)
        by_train: dict[str, list[PanOsVersion]] = {}
        for v in versions:
            by_train.setdefault(v.feature_release, []).append(v)
        return cls(versions, {t: tuple(sorted(vs)) for t, vs in by_train.items()})

    def missing(self, images: Iterable[PanOsVersion]) -> list[PanOsVersion]:
        if self.versions is None:
            return []
        return [i for i in images if i not in self.versions]

    def newest_installable(self, train: str, rules: UpgradeRules) -> PanOsVersion | None:
        """The newest offered release of ``train`` that is neither a pre-release nor the bare base image."""
        base = rules.base_image(train)
        for v in reversed(self.by_train.get(train, ())):
            if not v.is_prerelease and v > base:
                return v
        return None


def find_path(
    current: PanOsVersion,
    target: PanOsVersion,
    *,
    spec: PathSpec = "auto",
    table: UpgradePathTable | None = None,
    available: Iterable[PanOsVersion] | ImageOffer | None = None,
    ha: bool = False,
    allow_downgrade: bool = False,
    rules: UpgradeRules = DEFAULT_RULES,
) -> UpgradePath:
    """The path from ``current`` to ``target`` (see the module docstring for every rule).

    ``available``: the versions the device offers (``request system software check``; downloaded ones
    included), or None when not observed. ``ha``: the device is a member of an HA pair.
    """
    offer = ImageOffer.of(available)
    if current == target:
        return UpgradePath(current, target)
    if target < current:
        if not allow_downgrade:
            return _fail(current, target, DOWNGRADE_REFUSED, f"{target} is older than the running {current}")
        return _downgrade(current, target, offer, rules)
    if isinstance(spec, tuple):
        return _follow(current, target, spec, offer, ha, rules, "explicit")
    entry = (table or {}).get(current)
    if entry is not None:
        return _follow(current, target, entry, offer, ha, rules, "upgrade_paths.json")
    if spec == "table":
        return _fail(
            current, target, NO_PATH, f"{current} is not a key of upgrade_paths.json ({_SKIPPED_AS_ORIGINAL})"
        )
    path = _auto(current, target, offer, ha, rules)
    if path.reason == NO_PATH and table:
        return _fail(
            current,
            target,
            NO_PATH,
            f"{path.detail}; {current} is not a key of upgrade_paths.json either ({_SKIPPED_AS_ORIGINAL})",
        )
    return path


def table_target(table: UpgradePathTable, start: PanOsVersion) -> PanOsVersion | None:
    """The end of the table's path for ``start`` (the target of an original-tool job), or None."""
    hops = table.get(start)
    return hops[-1] if hops else None


def resolve_path(
    starting_version: PanOsVersion,
    current: PanOsVersion,
    target: PanOsVersion,
    **kwargs: Any,
) -> ResumePoint:
    """Resume an upgrade that started at ``starting_version`` on a device now running ``current``.

    The path is computed from ``starting_version`` (same keyword arguments as ``find_path``), and the
    device continues after its position on it: a device at the start has done 0 hops; one running the
    version of hop ``i`` has done ``i + 1``. A device that is on none of them (changed by hand) gets a
    fresh path from ``current`` with ``diverged=True``. A failed path (``reason`` set) has index 0.
    """
    path = find_path(starting_version, target, **kwargs)
    if current == starting_version:
        return ResumePoint(path, 0)
    for i, hop in enumerate(path.hops):
        if hop.version == current:
            return ResumePoint(path, i + 1)
    return ResumePoint(find_path(current, target, **kwargs), 0, diverged=True)


def parse_upgrade_paths(
    data: Any, source: str = "upgrade_paths.json"
) -> dict[PanOsVersion, tuple[PanOsVersion, ...]]:
    """Parse the original tool's ``{start_version: [hop, ...]}`` object (already decoded from JSON).

    Every problem is collected and raised together as ``InputFileError`` (``source: key: message``):
    keys and hops must be PAN-OS versions, hops non-empty and strictly increasing from the key.
    """
    if not isinstance(data, dict):
        raise InputFileError(f"{source}: must be an object {{start_version: [hop, ...]}}")
    errors: list[str] = []
    table: dict[PanOsVersion, tuple[PanOsVersion, ...]] = {}
    for key, hops in data.items():
        start = PanOsVersion.try_parse(key)
        if start is None:
            errors.append(f"{source}: {key}: not a PAN-OS version")
            continue
        if not isinstance(hops, list) or not hops:
            errors.append(f"{source}: {key}: must be a non-empty list of versions")
            continue
        parsed = [PanOsVersion.try_parse(h) for h in hops]
        bad = [repr(h) for h, p in zip(hops, parsed, strict=True) if p is None]
        if bad:
            errors.append(f"{source}: {key}: not PAN-OS versions: {', '.join(bad)}")
            continue
        chain = [start, *[p for p in parsed if p is not None]]
        if any(b <= a for a, b in pairwise(chain)):
            errors.append(
                f"{source}: {key}: hops must increase strictly from {key}: {' -> '.join(map(str, chain))}"
            )
            continue
        if start in table:
            errors.append(f"{source}: {key}: duplicate start version (also written as another key)")
            continue
        table[start] = tuple(chain[1:])
    if errors:
        raise InputFileError(errors[0] if len(errors) == 1 else f"{source}: {len(errors)} errors", errors)
    return table


def parse_upgrade_paths_text(
    text: str, source: str = "upgrade_paths.json"
) -> dict[PanOsVersion, tuple[PanOsVersion, ...]]:
    """``parse_upgrade_paths`` of JSON text; malformed JSON is an ``InputFileError`` with its line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{source}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputFileError(f"{source}:1: invalid JSON: nested too deeply") from None
    return parse_upgrade_paths(data, source)


def table_to_json(table: UpgradePathTable) -> dict[str, list[str]]:
    return {str(k): [str(h) for h in table[k]] for k in sorted(table)}


# --- internals ---------------------------------------------------------------------------------------


def _fail(current: PanOsVersion, target: PanOsVersion, reason: str, detail: str) -> UpgradePath:
    return UpgradePath(current, target, (), "none", reason, detail)


def _unique(items: Iterable[PanOsVersion]) -> tuple[PanOsVersion, ...]:
    return tuple(dict.fromkeys(items))


def _images_for(prev: PanOsVersion, nxt: PanOsVersion, rules: UpgradeRules) -> tuple[PanOsVersion, ...]:
    """Images needed to install ``nxt`` on ``prev`` (upgrades): bases of the releases entered, then ``nxt``."""
    if prev.same_train(nxt):
        return (nxt,)
    if rules.knows(prev.feature_release) and rules.knows(nxt.feature_release):
        return _unique([*rules.required_bases(prev, nxt), nxt])
    # A train outside the rules table (hand-written explicit paths): its own base is all we can name.
    return _unique([rules.base_image(nxt.feature_release), nxt])


def _check_offered(path: UpgradePath, offer: ImageOffer) -> UpgradePath:
    missing = offer.missing(path.images)
    if path.ok and missing:
        names = ", ".join(map(str, missing))
        return _fail(path.current, path.target, NO_PATH, f"the device does not offer {names}")
    return path


def _auto(
    current: PanOsVersion, target: PanOsVersion, offer: ImageOffer, ha: bool, rules: UpgradeRules
) -> UpgradePath:
    if current.same_train(target):
        return _check_offered(UpgradePath(current, target, (PathHop(target, (target,)),), "auto"), offer)
    for v in (current, target):
        if not rules.knows(v.feature_release):
            return _fail(
                current, target, NO_PATH, f"feature release {v.feature_release} is not in the rules table"
            )
    trains = _train_route(current.feature_release, target.feature_release, offer, ha, rules)
    if isinstance(trains, _Refusal):
        return _fail(current, target, trains.reason, trains.detail)
    hops: list[PathHop] = []
    prev = current
    for train in trains:
        version = target if train == target.feature_release else offer.newest_installable(train, rules)
        assert version is not None  # _train_route only routes through trains with a candidate
        hops.append(PathHop(version, _images_for(prev, version, rules)))
        prev = version
    return _check_offered(UpgradePath(current, target, tuple(hops), "auto"), offer)


@dataclass(frozen=True)
class _Refusal:
    reason: str
    detail: str


def _train_route(
    src: str, dst: str, offer: ImageOffer, ha: bool, rules: UpgradeRules
) -> list[str] | _Refusal:
    """The fewest feature-release steps from ``src`` to ``dst`` (excluding ``src``), preferring long jumps.

    Intermediate trains qualify only if the device offers an installable release of them; when the offer
    is unknown only a direct jump can be planned.
    """
    order = rules.feature_releases
    a, b = rules.index(src), rules.index(dst)
    if rules.can_jump(src, dst, ha=ha):
        return [dst]
    if offer.versions is None:
        return _Refusal(
            IMAGES_UNKNOWN,
            f"{src} -> {dst} needs intermediate releases and the device's offered images are unknown "
            "(observe the device, or give explicit path hops)",
        )
    parent: dict[int, int] = {a: a}
    frontier = [a]
    for _ in range(len(order)):
        nxt: list[int] = []
        for i in frontier:
            reach = min(b, i + rules.max_jump(order[i], ha=ha))
            for j in range(reach, i, -1):  # farthest first: ties go to the longer jump
                if j in parent:
                    continue
                if j != b and offer.newest_installable(order[j], rules) is None:
                    continue
                parent[j] = i
                nxt.append(j)
        if b in parent:
            route = [b]
            while parent[route[-1]] != a:
                route.append(parent[route[-1]])
            return [order[i] for i in reversed(route)]
        if not nxt:
            break
        frontier = nxt
    lacking = [t for t in order[a + 1 : b] if offer.newest_installable(t, rules) is None]
    return _Refusal(
        NO_PATH,
        f"{src} -> {dst} needs intermediate releases the device does not offer ({', '.join(lacking)})",
    )


def _follow(
    current: PanOsVersion,
    target: PanOsVersion,
    waypoints: Sequence[PanOsVersion],
    offer: ImageOffer,
    ha: bool,
    rules: UpgradeRules,
    source: str,
) -> UpgradePath:
    hops: list[PathHop] = []
    prev = current
    for version in waypoints:
        if version <= current or version > target:
            continue
        refused = _refused_jump(prev, version, ha, rules)
        if refused:
            return _fail(current, target, NO_PATH, f"{source} path: {refused}")
        hops.append(PathHop(version, _images_for(prev, version, rules)))
        prev = version
        if version == target:
            break
    if prev == target:
        return _check_offered(UpgradePath(current, target, tuple(hops), source), offer)
    rest = _auto(prev, target, offer, ha, rules)
    if not rest.ok:
        where = f"after {source} hop {prev}" if hops else f"{source} path"
        return _fail(current, target, rest.reason or NO_PATH, f"{where}: {rest.detail}")
    return _check_offered(UpgradePath(current, target, (*hops, *rest.hops), source), offer)


def _refused_jump(prev: PanOsVersion, nxt: PanOsVersion, ha: bool, rules: UpgradeRules) -> str:
    a, b = prev.feature_release, nxt.feature_release
    if not (rules.knows(a) and rules.knows(b)) or rules.can_jump(a, b, ha=ha):
        return ""
    who = "an HA pair (one feature release at a time)" if ha else "this firewall"
    return f"{prev} -> {nxt} skips feature releases, which PAN-OS refuses for {who}"


def _downgrade(
    current: PanOsVersion, target: PanOsVersion, offer: ImageOffer, rules: UpgradeRules
) -> UpgradePath:
    a, b = current.feature_release, target.feature_release
    if a == b or not (rules.knows(a) and rules.knows(b)) or rules.index(a) - rules.index(b) == 1:
        return _down_floor(UpgradePath(current, target, (PathHop(target, (target,)),), "auto"), offer, rules)
    hops: list[PathHop] = []
    for i in range(rules.index(a) - 1, rules.index(b), -1):
        train = rules.feature_releases[i]
        version = offer.newest_installable(train, rules) if offer.versions is not None else None
        if version is None:
            reason = IMAGES_UNKNOWN if offer.versions is None else NO_PATH
            return _fail(
                current, target, reason, f"downgrade {current} -> {target} needs a release of {train}"
            )
        hops.append(PathHop(version, (version,)))
    hops.append(PathHop(target, (target,)))
    return _down_floor(UpgradePath(current, target, tuple(hops), "auto"), offer, rules)


def _down_floor(path: UpgradePath, offer: ImageOffer, rules: UpgradeRules) -> UpgradePath:
    """``no-path`` when a hop of a downgrade goes below a documented floor (from 10.2 only to 10.1.3 or
    later: PAN-OS refuses that install), else the path with its images checked against the offer."""
    prev = path.current
    for hop in path.hops:
        known = rules.knows(prev.feature_release) and rules.knows(hop.version.feature_release)
        refusal = rules.downgrade_refusal(prev, hop.version) if known else None
        if refusal is not None:
            return _fail(path.current, path.target, NO_PATH, f"downgrade {prev} -> {hop.version}: {refusal}")
        prev = hop.version
    return _check_offered(path, offer)
