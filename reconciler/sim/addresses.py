"""Loopback addressing: one address per device, all on the same port.

With base ``127.A.0.0``: Panorama is ``127.A.0.1`` (its HA peer, if any, ``127.A.0.2``); firewall *i* (0-based, fleet order) is
``127.A.(1 + i // 254).(1 + i % 254)``, so one base holds up to 64,770 firewalls. Only 127.0.0.0/8 is
ever used (Linux answers on the whole block without configuration).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from reconciler.sim.errors import SimUserError

PER_BLOCK = 254
MAX_FIREWALLS = PER_BLOCK * 255


@dataclass(frozen=True)
class Addressing:
    base: str = "127.20.0.0"

    def __post_init__(self) -> None:
        parse_base(self.base)

    @property
    def _second(self) -> int:
        return int(self.base.split(".")[1])

    @property
    def panorama(self) -> str:
        return f"127.{self._second}.0.1"

    @property
    def panorama_peer(self) -> str:
        """The second Panorama of a Panorama HA pair."""
        return f"127.{self._second}.0.2"

    def firewall(self, index: int) -> str:
        if not 0 <= index < MAX_FIREWALLS:
            raise SimUserError(f"firewall index {index} does not fit in {self.base}/16 (max {MAX_FIREWALLS})")
        return f"127.{self._second}.{1 + index // PER_BLOCK}.{1 + index % PER_BLOCK}"


def parse_base(text: str) -> str:
    """Validate a base address of the form ``127.A.0.0``; raise ``SimUserError`` otherwise."""
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        raise SimUserError(f"--base-address {text!r} is not an IPv4 address (expected 127.A.0.0)") from None
    parts = str(addr).split(".")
    if parts[0] != "127" or parts[2:] != ["0", "0"]:
        raise SimUserError(f"--base-address {text!r} must have the form 127.A.0.0 (loopback only)")
    return str(addr)
