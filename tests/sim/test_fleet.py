"""Fleet files (YAML + schema) and generated fleets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reconciler.sim import FleetSpec, generate_fleet, load_fleet, rules
from reconciler.sim.catalog import default_catalog
from reconciler.sim.errors import FleetFileError
from reconciler.sim.version import Version

FLEET = """\
seed: 4
credentials:
  panorama: {user: pano-admin, password: "p4ss"}
  firewalls: {user: fw-admin, password: "f1rewall"}
panorama:
  hostname: pano-lab
devices:
  - serial: "007001"
    hostname: edge-a
    model: PA-3220
    version: "10.2.9"
    device_group: edge
    ha: {peer: "007002", priority: 90, preemptive: true}
  - serial: "007002"
    hostname: edge-b
    model: PA-3220
    version: "10.2.9"
    device_group: edge
    ha: {peer: "007001", priority: 110}
  - serial: "007003"
    version: "11.1.6-h1"
    free_disk_mb: 2048
    downloaded: ["11.1.6"]
    faults:
      - {kind: download_fail, count: 2}
durations:
  reboot: [100, 200]
  install: 60
generate: {firewalls: 5, ha_pairs: 1, device_groups: 2}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


def test_a_fleet_file_round_trips(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, FLEET))
    assert len(fleet.devices) == 3 + 5
    edge_a = fleet.device("007001")
    assert edge_a.ha is not None and (edge_a.ha.peer, edge_a.ha.priority, edge_a.ha.preemptive) == (
        "007002",
        90,
        True,
    )
    third = fleet.device("007003")
    assert third.version == Version.parse("11.1.6-h1") and third.faults[0].get("count") == 2
    assert fleet.durations.range("install") == (60.0, 60.0)
    assert fleet.firewall_credentials is not None and fleet.firewall_credentials.user == "fw-admin"
    assert fleet.panorama.hostname == "pano-lab"
    again = FleetSpec.from_json(yaml.safe_load(yaml.safe_dump(fleet.to_json())))
    assert again == fleet


def test_errors_name_the_file_line_and_field(tmp_path: Path) -> None:
    bad = FLEET.replace('version: "11.1.6-h1"', "version: 11.1").replace(
        "kind: download_fail", "kind: meteor"
    )
    with pytest.raises(FleetFileError) as exc:
        load_fleet(write(tmp_path, bad))
    lines = exc.value.errors
    path = str(tmp_path / "fleet.yaml")
    assert any(line.startswith(f"{path}:21: devices[2].version:") for line in lines), lines
    assert any(f"{path}:25: devices[2].faults[0].kind:" in line for line in lines), lines


def test_ha_peers_must_name_each_other(tmp_path: Path) -> None:
    bad = FLEET.replace('ha: {peer: "007001", priority: 110}', 'ha: {peer: "007003"}')
    with pytest.raises(FleetFileError, match="does not name 007001 as its peer"):
        load_fleet(write(tmp_path, bad))


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(FleetFileError, match=r"fleet\.yaml:3: not valid YAML"):
        load_fleet(write(tmp_path, "devices:\n  - serial: [unclosed\n"))


def test_generated_fleet_shape() -> None:
    fleet = generate_fleet(firewalls=60, ha_pairs=8, device_groups=4, seed=9)
    assert len(fleet.devices) == 60
    pairs = {tuple(sorted((d.serial, d.ha.peer))) for d in fleet.devices if d.ha}
    assert len(pairs) == 8
    for a, b in pairs:
        da, db = fleet.device(a), fleet.device(b)
        assert (da.model, da.device_group, da.version) == (db.model, db.device_group, db.version)
    assert len({d.device_group for d in fleet.devices}) == 4
    assert len({d.model for d in fleet.devices}) >= 4
    assert len({d.version.feature_release for d in fleet.devices}) >= 4
    catalog = default_catalog()
    for d in fleet.devices:
        assert catalog.image(d.version) is not None
        assert (
            d.version != rules.base_image(d.version.feature_release)
            or len(catalog.train(d.version.feature_release)) == 1
        )


def test_generated_fleets_are_reproducible() -> None:
    assert generate_fleet(firewalls=30, ha_pairs=3, seed=5) == generate_fleet(
        firewalls=30, ha_pairs=3, seed=5
    )
    assert generate_fleet(firewalls=30, ha_pairs=3, seed=5) != generate_fleet(
        firewalls=30, ha_pairs=3, seed=6
    )


def test_too_many_pairs_for_the_firewalls() -> None:
    with pytest.raises(ValueError, match="need 8 firewalls"):
        generate_fleet(firewalls=5, ha_pairs=4)


def test_catalog_has_the_trains_and_the_12_1_base() -> None:
    catalog = default_catalog()
    for train in ("9.1", "10.0", "10.1", "10.2", "11.0", "11.1", "11.2", "12.1"):
        assert catalog.train(train), train
    assert catalog.train("12.1")[0] == Version.parse("12.1.2") == rules.base_image("12.1")
    assert any(v.is_hotfix for v in catalog.versions())


def test_the_fleet_schema_admits_every_fault_kind_and_parameter_the_simulator_has(tmp_path: Path) -> None:
    """The schema and the fault table are two lists of one thing: a kind or parameter missing from the schema
    cannot be written in a fleet file (``bad_xml`` was missing). Each kind is loaded from a real file."""
    from reconciler.sim.faults import KINDS

    schema = json.loads((Path(__file__).parents[2] / "schemas" / "fleet.schema.json").read_text())
    fault = schema["definitions"]["fault"]
    assert set(KINDS) == set(fault["properties"]["kind"]["enum"])
    assert {p for k in KINDS.values() for p in k.params} | {"kind"} == set(fault["properties"])
    fleet = tmp_path / "fleet.yaml"
    for kind in KINDS:
        doc = {"devices": [{"serial": "001", "version": "11.1.2", "faults": [{"kind": kind}]}]}
        fleet.write_text(yaml.safe_dump(doc))
        assert kind == load_fleet(fleet).devices[0].faults[0].kind
