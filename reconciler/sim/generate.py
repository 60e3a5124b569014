"""Generated fleets: a realistic, seeded mix of models, versions and device groups.

``generate_fleet(firewalls=N, ha_pairs=M, device_groups=K, seed=S)`` always returns the same fleet for the
same arguments: N firewalls in all, 2*M of them forming M HA pairs (members share model, device group and
feature release), spread over K device groups.
"""

from __future__ import annotations

import random
from typing import Literal

from reconciler.sim.catalog import Catalog, default_catalog, model
from reconciler.sim.fleet import DeviceSpec, FleetSpec, HaSpec, PanoramaSpec
from reconciler.sim.version import Version

# Which HA pairs are preemptive: None = about one in five at random, True/"all" = every pair, False/"none" = none.
Preemptive = bool | Literal["all", "none"] | None

GROUP_NAMES = (
    "branches", "datacenter", "dmz", "retail", "emea", "apac", "americas", "lab", "campus", "cloud",
    "factories", "warehouses",
)  # fmt: skip

# (model, weight) for standalone firewalls and for HA pairs (bigger boxes are paired more often).
_STANDALONE_MODELS = (("PA-220", 8), ("PA-440", 25), ("PA-460", 15), ("PA-820", 10), ("PA-850", 12),
                      ("PA-3220", 8), ("PA-3410", 5), ("PA-VM", 17))  # fmt: skip
_HA_MODELS = (("PA-850", 15), ("PA-3220", 25), ("PA-3410", 20), ("PA-5220", 15), ("PA-VM", 25))

# Feature release weights for the running version: most of a real fleet sits on 10.2 and 11.1.
_TRAIN_WEIGHTS = (("9.1", 5), ("10.0", 3), ("10.1", 14), ("10.2", 34), ("11.0", 6), ("11.1", 26),
                  ("11.2", 10), ("12.1", 2))  # fmt: skip


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    names = [n for n, _ in table]
    weights = [w for _, w in table]
    return rng.choices(names, weights=weights, k=1)[0]


def _version(rng: random.Random, catalog: Catalog) -> Version:
    trains = [(t, w) for t, w in _TRAIN_WEIGHTS if catalog.train(t)]
    train = _pick(rng, tuple(trains))
    versions = catalog.train(train)
    # Skew towards recent maintenance releases of the train, never the bare base image when others exist.
    candidates = versions[1:] if len(versions) > 1 else versions
    weights = [1 + i for i in range(len(candidates))]
    return rng.choices(candidates, weights=weights, k=1)[0]


def _content(rng: random.Random, catalog: Catalog, version: Version) -> str:
    ordered = sorted(catalog.content, key=lambda c: c.key)
    usable = [c for c in ordered if c.number >= catalog.min_content_for(version)] or ordered[-1:]
    if rng.random() < 0.15:
        return usable[0].version  # an old content release: the next train may refuse to install
    return rng.choice(usable[-3:]).version


def _serial(index: int, seed: int) -> str:
    return f"01{seed % 100:02d}{index:08d}"


def generate_devices(
    *,
    firewalls: int,
    ha_pairs: int = 0,
    device_groups: int = 1,
    seed: int = 0,
    catalog: Catalog | None = None,
    preemptive: Preemptive = None,
) -> list[DeviceSpec]:
    """The devices of a generated fleet (see the module docstring).

    ``preemptive``: ``None`` (default) makes about one pair in five preemptive at random; ``True`` or
    ``"all"`` makes every pair preemptive, ``False`` or ``"none"`` none. The rest of the fleet is the same
    whatever the choice (the random draw is still made).
    """
    if firewalls < 0 or ha_pairs < 0:
        raise ValueError("firewalls and ha_pairs must not be negative")
    if 2 * ha_pairs > firewalls:
        raise ValueError(f"{ha_pairs} HA pairs need {2 * ha_pairs} firewalls, only {firewalls} requested")
    if device_groups < 1:
        raise ValueError("device_groups must be at least 1")
    forced = _preemptive_choice(preemptive)
    catalog = catalog or default_catalog()
    rng = random.Random(f"fleet:{seed}")
    groups = [GROUP_NAMES[i] if i < len(GROUP_NAMES) else f"group-{i + 1}" for i in range(device_groups)]
    group_weights = [max(1, 10 - i) for i in range(device_groups)]
    devices: list[DeviceSpec] = []
    index = 1
    for pair in range(ha_pairs):
        name = _pick(rng, _HA_MODELS)
        group = rng.choices(groups, weights=group_weights, k=1)[0]
        version = _version(rng, catalog)
        content = _content(rng, catalog, version)
        drawn = rng.random() < 0.2
        pair_preemptive = drawn if forced is None else forced
        serials = (_serial(index, seed), _serial(index + 1, seed))
        for member, (serial, peer) in enumerate((serials, serials[::-1])):
            devices.append(
                DeviceSpec(
                    serial=serial,
                    hostname=f"fw-{group}-ha{pair + 1:03d}{'ab'[member]}",
                    model=name,
                    version=version,
                    content_version=content,
                    device_group=group,
                    ha=HaSpec(peer=peer, priority=100 + 10 * member, preemptive=pair_preemptive),
                    free_disk_mb=_free_disk(rng, name),
                    downloaded=(version,),
                    uptime_days=rng.randint(3, 400),
                )
            )
        index += 2
    for n in range(firewalls - 2 * ha_pairs):
        name = _pick(rng, _STANDALONE_MODELS)
        group = rng.choices(groups, weights=group_weights, k=1)[0]
        version = _version(rng, catalog)
        older = [v for v in catalog.train(version.feature_release) if v < version]
        downloaded = (version,) + ((rng.choice(older),) if older and rng.random() < 0.3 else ())
        devices.append(
            DeviceSpec(
                serial=_serial(index, seed),
                hostname=f"fw-{group}-{n + 1:04d}",
                model=name,
                version=version,
                content_version=_content(rng, catalog, version),
                device_group=group,
                free_disk_mb=_free_disk(rng, name),
                downloaded=downloaded,
                uptime_days=rng.randint(1, 700),
            )
        )
        index += 1
    return devices


def _preemptive_choice(preemptive: Preemptive) -> bool | None:
    if preemptive is None or isinstance(preemptive, bool):
        return preemptive
    if preemptive in ("all", "none"):
        return preemptive == "all"
    raise ValueError(f"preemptive must be None, a bool, 'all' or 'none', got {preemptive!r}")


def _free_disk(rng: random.Random, name: str) -> int:
    total = int(model(name).panrepo_gb * 1024)
    return int(total * rng.uniform(0.35, 0.8))


def generate_fleet(
    *,
    firewalls: int,
    ha_pairs: int = 0,
    device_groups: int = 1,
    seed: int = 0,
    catalog: Catalog | None = None,
    preemptive: Preemptive = None,
) -> FleetSpec:
    """A whole generated fleet: devices plus a Panorama on the newest catalog version (``preemptive``: see
    ``generate_devices``)."""
    catalog = catalog or default_catalog()
    devices = generate_devices(
        firewalls=firewalls,
        ha_pairs=ha_pairs,
        device_groups=device_groups,
        seed=seed,
        catalog=catalog,
        preemptive=preemptive,
    )
    return FleetSpec(
        devices=tuple(devices),
        panorama=PanoramaSpec(version=catalog.latest()),
        catalog=catalog,
        seed=seed,
    )
