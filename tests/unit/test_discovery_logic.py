"""Discovery's pure parts: pairing, records and the re-discovery diff (the network part is tested
against the simulator in tests/integration)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any, cast

import pytest

from reconciler.core.errors import TemporaryDeviceError
from reconciler.core.inventory import Device, Inventory
from reconciler.device import discovery
from reconciler.device.parsers import PanoramaDevice
from reconciler.jobs import export


def ha(serial: str, peer: str, state: str = "active") -> Device:
    return Device(serial, hostname=f"fw-{serial}", device_type="ha_pair", ha_state=state, peer_serial=peer)


def test_pairs_that_name_each_other_stay_pairs() -> None:
    out = discovery._pair_up([ha("A", "B"), ha("B", "A", "passive")])
    assert ["ha_pair", "ha_pair"] == [d.device_type for d in out]


def test_mismatched_peer_is_unknown_with_reason() -> None:
    out = {d.serial: d for d in discovery._pair_up([ha("A", "B"), ha("B", "C", "passive"), ha("C", "B")])}
    assert "unknown" == out["A"].device_type
    assert "HA peer mismatch: B names C" == out["A"].error


def test_peer_missing_from_panorama() -> None:
    (dev,) = discovery._pair_up([ha("A", "Z")])
    assert ("unknown", "HA peer Z not in Panorama") == (dev.device_type, dev.error)


def test_diff_reports_added_removed_changed() -> None:
    old = Inventory.of([Device("A", sw_version="10.2.9"), Device("B")])
    new = Inventory.of([Device("A", sw_version="11.1.6"), Device("C")])
    d = discovery.diff(old, new)
    assert (["C"], ["B"], {"A": ["sw_version: 10.2.9 -> 11.1.6"]}) == (d.added, d.removed, d.changed)
    assert discovery.diff(new, new).empty


def test_csv_exports_have_the_original_columns_and_active_first() -> None:
    inv = Inventory.of(
        [
            Device(
                "S1",
                "fw-s1",
                "127.0.0.2",
                "PA-440",
                "10.2.9",
                device_type="standalone",
                ha_state="standalone",
            ),
            Device(
                "P2",
                "fw-p2",
                "127.0.0.4",
                "PA-3220",
                "10.1.14",
                device_type="ha_pair",
                ha_state="passive",
                peer_serial="P1",
            ),
            Device(
                "P1",
                "fw-p1",
                "127.0.0.3",
                "PA-3220",
                "10.1.14",
                device_type="ha_pair",
                ha_state="active",
                peer_serial="P2",
            ),
            Device("U1", device_type="unknown"),
        ]
    )
    assert (
        "serial,hostname,mgmt_ip,current_version,model\nS1,fw-s1,127.0.0.2,10.2.9,PA-440\n"
        == export.standalone_csv(inv)
    )
    assert (
        "serial_1,serial_2,hostname_1,hostname_2,mgmt_ip_1,mgmt_ip_2,current_version_1,current_version_2,model\n"
        "P1,P2,fw-p1,fw-p2,127.0.0.3,127.0.0.4,10.1.14,10.1.14,PA-3220\n"
    ) == export.ha_pairs_csv(inv)


class _Panorama:
    """Discovery's view of Panorama (our seam, not pan-os-python): one firewall listed; the device groups
    are answered only once a firewall probe has started, or after 10 s (bounded)."""

    name = "panorama 127.0.0.1"

    def __init__(self, probe_started: threading.Event, groups_error: Exception | None = None) -> None:
        self.probe_started = probe_started
        self.groups_error = groups_error
        self.probing_before_groups = False

    def connected_devices(self) -> list[PanoramaDevice]:
        return [PanoramaDevice("S1", "fw-s1", "127.0.0.2", "PA-440", "10.2.9", True)]

    def device_groups(self) -> dict[str, str]:
        self.probing_before_groups = self.probe_started.wait(timeout=10)
        if self.groups_error is not None:
            raise self.groups_error
        return {"S1": "dg-1"}

    def system_info(self) -> SimpleNamespace:
        return SimpleNamespace(serial="P1", hostname="panorama", model="M-200", sw_version="11.1.4")

    def ha(self) -> SimpleNamespace:
        return SimpleNamespace(enabled=False, peer_version="")


def _unreachable_firewall(started: threading.Event) -> Any:
    def factory(host: str, serial: str) -> Any:
        started.set()
        raise TemporaryDeviceError(f"{host}: timed out", kind="timeout")

    return factory


def test_firewalls_are_probed_as_soon_as_panorama_lists_them() -> None:
    started = threading.Event()
    panorama = _Panorama(started)
    inventory = discovery.discover(
        cast(Any, panorama),
        _unreachable_firewall(started),
        workers=2,
        retry_attempts=1,
        now="2026-12-02T00:00:00Z",
    )
    assert panorama.probing_before_groups, "the probes waited for Panorama's device groups"
    (dev,) = inventory
    assert ("S1", "dg-1", "unknown") == (dev.serial, dev.device_group, dev.device_type)
    assert "timed out" in dev.error


def test_a_panorama_error_after_the_list_still_ends_the_discovery() -> None:
    started = threading.Event()
    panorama = _Panorama(started, groups_error=TemporaryDeviceError("panorama: 503", kind="http"))
    with pytest.raises(TemporaryDeviceError, match="503"):
        discovery.discover(
            cast(Any, panorama),
            _unreachable_firewall(started),
            workers=1,
            retry_attempts=1,
            now="2026-12-02T00:00:00Z",
        )
