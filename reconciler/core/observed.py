"""``Observed``: what was last seen live on one firewall, as the planner consumes it. Pure data.

The executor (or a live refresh) fills these from the device; discovery alone gives none, and the planner
then falls back to the inventory's ``sw_version``. ``None`` always means *not observed*, never *empty*.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.core.version import PanOsVersion

# HA states in which a member cannot take part in an upgrade of its pair.
UNHEALTHY_HA_STATES = frozenset({"suspended", "non-functional", "initial"})


def _versions(items: Iterable[Any] | None) -> tuple[PanOsVersion, ...] | None:
    if items is None:
        return None
    return tuple(sorted({v for v in (PanOsVersion.try_parse(i) for i in items) if v is not None}))


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` allowed) as an aware datetime; naive ones are taken as UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Observed:
    """One device as last observed.

    - ``version``: the running version (None: not observed; the inventory's is used).
    - ``available``: versions the device offers (``request system software check``/``info``), downloaded
      ones included; None when unknown. Needed to choose intermediate hops.
    - ``downloaded``: images already downloaded; None when unknown (every image then counts as missing).
    - ``reachable``: False when the last attempt to reach the device failed.
    - ``ha_state``: active | passive | suspended | non-functional | initial | ... (None: not observed;
      the inventory's is used). ``ha_synced``: False when the pair's config/state sync is not complete.
    - ``observed_at``: when this was seen.
    """

    version: PanOsVersion | None = None
    available: tuple[PanOsVersion, ...] | None = None
    downloaded: tuple[PanOsVersion, ...] | None = None
    reachable: bool = True
    ha_state: str | None = None
    ha_synced: bool | None = None
    observed_at: datetime | None = None

    @classmethod
    def of(
        cls,
        version: str | PanOsVersion | None = None,
        *,
        available: Iterable[str | PanOsVersion] | None = None,
        downloaded: Iterable[str | PanOsVersion] | None = None,
        **kwargs: Any,
    ) -> Observed:
        """Convenience constructor from version strings (unparseable entries are dropped)."""
        v = PanOsVersion.try_parse(version) if version is not None else None
        return cls(v, _versions(available), _versions(downloaded), **kwargs)

    def offered(self) -> tuple[PanOsVersion, ...] | None:
        """Everything known to be installable: offered plus downloaded. None while the offered list is
        unknown: knowing what is downloaded says nothing about what else the device could download."""
        if self.available is None:
            return None
        return tuple(sorted({*(self.available or ()), *(self.downloaded or ())}))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": str(self.version) if self.version else None,
            "available": [str(v) for v in self.available] if self.available is not None else None,
            "downloaded": [str(v) for v in self.downloaded] if self.downloaded is not None else None,
            "reachable": self.reachable,
            "ha_state": self.ha_state,
            "ha_synced": self.ha_synced,
            "observed_at": format_time(self.observed_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Observed:
        return cls(
            PanOsVersion.try_parse(data.get("version")),
            _versions(data.get("available")),
            _versions(data.get("downloaded")),
            bool(data.get("reachable", True)),
            data.get("ha_state"),
            data.get("ha_synced"),
            parse_time(data.get("observed_at")),
        )
