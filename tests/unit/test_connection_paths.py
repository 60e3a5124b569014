"""``firewall.connection``: direct, through Panorama, and ``auto``'s fallback, over a fake transport.

pan-os-python and pan-python run unchanged; only the function pan-python opens URLs with is replaced (by
``monkeypatch``) with a fake network: a firewall address that answers or refuses, and a Panorama that
answers ``target=SERIAL`` requests for its firewall or says ``SERIAL not connected``.
"""

from __future__ import annotations

import http.client
import io
import urllib.error
import urllib.response
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pan.xapi
import pytest

from reconciler.core.errors import PermanentDeviceError, TemporaryDeviceError, UserError
from reconciler.device.client import FirewallClientFactory, RateLimiter, RetryPolicy
from reconciler.workdir.config import Config

FW, PANO, SERIAL = "127.0.0.10", "127.0.0.2", "0070001"
ONCE = RetryPolicy(attempts=1)


@dataclass
class Network:
    """Who answers: the firewall's own address (``direct_up``) and its connection to Panorama."""

    direct_up: bool = True
    connected: bool = True
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def open(self, url: Any, context: Any = None, timeout: Any = None, **kw: Any) -> Any:
        host = urlsplit(url.full_url).hostname or ""
        query = {k: v[0] for k, v in parse_qs((url.data or b"").decode()).items()}
        self.requests.append((host, query))
        if host == FW and not self.direct_up:
            raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
        if query.get("type") == "keygen":
            body = f"<key>key-of-{query.get('user')}@{host}</key>"
        elif host == PANO and query.get("target") == SERIAL and not self.connected:
            return _answer(
                f'<response status="error"><msg><line>{SERIAL} not connected</line></msg></response>'
            )
        else:
            body = f"<answered-by>{'panorama' if query.get('target') else host}</answered-by>"
        return _answer(f'<response status="success"><result>{body}</result></response>')

    def to(self, host: str) -> list[dict[str, str]]:
        return [q for h, q in self.requests if h == host]


class _Answer(urllib.response.addinfourl):
    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)


def _answer(text: str) -> Any:
    headers = http.client.HTTPMessage()
    headers["Content-Type"] = "application/xml"
    return _Answer(io.BytesIO(text.encode()), headers, "http://fake/api/", 200)


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    network = Network()
    monkeypatch.setattr(pan.xapi, "urlopen", network.open)
    yield network


class CountingLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__(60000, clock=lambda: 0.0, sleep=lambda s: None)
        self.acquired = 0

    def acquire(self) -> float:
        self.acquired += 1
        return 0.0


def factory(connection: str, calls: list[tuple[str, str | None, str]] | None = None, **kw: Any) -> Any:
    values = {
        "firewall.connection": connection,
        "firewall.username": "fwadmin",
        "firewall.password": "fw-pw",
        "firewall.use_http": True,
        "panorama.host": PANO,
        "panorama.username": "panoadmin",
        "panorama.password": "pano-pw",
        "panorama.use_http": True,
    }
    on_call = (lambda verb, kind, path: calls.append((verb, kind, path))) if calls is not None else None
    kw.setdefault("limiter", CountingLimiter())  # never a real wait
    return FirewallClientFactory(Config(values, None, {}), retry=ONCE, on_call=on_call, **kw)


def answered_by(root: Any) -> str:
    return str(root.findtext("result/answered-by"))


def test_auto_falls_back_to_panorama_and_keeps_to_it_for_the_session(net: Network) -> None:
    net.direct_up = False
    calls: list[tuple[str, str | None, str]] = []
    make = factory("auto", calls)
    client = make(FW, SERIAL)
    assert "panorama" == answered_by(client.op("show clock"))
    assert "panorama" == answered_by(client.op("show clock"))
    # A client built later in the session (e.g. after a re-discovery) goes straight through Panorama.
    assert "panorama" == answered_by(make(FW, SERIAL).op("show clock"))
    assert 1 == len(net.to(FW)), "the management address was tried once"
    proxied = [q for q in net.to(PANO) if q.get("type") == "op"]
    assert 3 == len(proxied) and all(q["target"] == SERIAL for q in proxied)
    # Panorama's credentials, one API key for the session.
    assert [q["user"] for q in net.to(PANO) if q.get("type") == "keygen"] == ["panoadmin"]
    assert {q["key"] for q in proxied} == {f"key-of-panoadmin@{PANO}"}
    assert [
        ("show clock", "unreachable", "direct"),
        ("show clock", None, "panorama"),
        ("show clock", None, "panorama"),
        ("show clock", None, "panorama"),
    ] == calls


def test_auto_stays_direct_for_a_firewall_that_answered_there(net: Network) -> None:
    """A firewall that answered at its address and then stops (a reboot) is down, not moved to Panorama."""
    client = factory("auto")(FW, SERIAL)
    assert FW == answered_by(client.op("show clock"))
    net.direct_up = False
    with pytest.raises(TemporaryDeviceError) as down:
        client.op("show clock")
    assert "unreachable" == down.value.kind
    assert [] == net.to(PANO)


def test_auto_when_panorama_cannot_reach_it_either_is_device_down_and_not_remembered(net: Network) -> None:
    net.direct_up, net.connected = False, False
    client = factory("auto")(FW, SERIAL)
    with pytest.raises(TemporaryDeviceError) as down:
        client.op("show chassis-ready")
    assert "not-connected" == down.value.kind  # what reboot polling reads as "device down"
    # Both paths are tried again next time; the firewall's own address answering settles it as direct.
    net.direct_up = True
    assert FW == answered_by(client.op("show chassis-ready"))
    assert ["keygen", "keygen", "op"] == [q.get("type") for q in net.to(FW)]  # refused, then answered


def test_panorama_mode_never_touches_the_management_address_and_is_rate_limited(net: Network) -> None:
    limiter = CountingLimiter()
    calls: list[tuple[str, str | None, str]] = []
    client = factory("panorama", calls, limiter=limiter)(FW, SERIAL)
    for _ in range(3):
        assert "panorama" == answered_by(client.op("show system info"))
    assert [] == net.to(FW)
    assert 3 == limiter.acquired
    assert {"panorama"} == {path for _, _, path in calls}
    net.connected = False
    with pytest.raises(TemporaryDeviceError) as down:
        client.op("show chassis-ready")
    assert "not-connected" == down.value.kind
    assert 4 == limiter.acquired


def test_direct_mode_never_asks_panorama(net: Network) -> None:
    net.direct_up = False
    client = factory("direct")(FW, SERIAL)
    with pytest.raises(TemporaryDeviceError):
        client.op("show clock")
    assert [] == net.to(PANO)


def test_panorama_modes_need_panorama_host_and_a_serial(net: Network) -> None:
    with pytest.raises(
        PermanentDeviceError, match=r"panorama\.host is not configured \(firewall\.connection"
    ):
        FirewallClientFactory(Config({"firewall.connection": "panorama"}, None, {}))
    with pytest.raises(PermanentDeviceError, match="serial"):
        factory("auto")(FW, "")


def test_a_groups_override_reaches_through_panorama_while_the_setting_is_direct(net: Network) -> None:
    make = factory("direct")
    assert "panorama" == answered_by(make(FW, SERIAL, "panorama").op("show clock"))
    assert FW == answered_by(make(FW, SERIAL).op("show clock"))
    assert ["keygen", "op"] == [q.get("type") for q in net.to(FW)]


def test_panorama_mode_needs_panoramas_credentials_only() -> None:
    values = {"firewall.connection": "panorama", "panorama.host": PANO, "panorama.use_http": True}
    with pytest.raises(UserError, match=r"no Panorama credentials \(firewall\.connection is panorama\)"):
        FirewallClientFactory(Config(values, None, {})).require_credentials()
    values.update({"panorama.username": "panoadmin", "panorama.password": "pano-pw"})
    make = FirewallClientFactory(Config(values, None, {})).require_credentials()
    assert "panorama" == make(FW, SERIAL).path  # built without any firewall credentials
