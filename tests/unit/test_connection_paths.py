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
PEER = "127.0.0.3"  # Panorama's HA peer
MEMBERS = [(PANO, "000710000001"), (PEER, "000710000002")]
ONCE = RetryPolicy(attempts=1)


@dataclass
class Network:
    """Who answers: the firewall's own address (``direct_up``) and its connection to Panorama."""

    direct_up: bool = True
    connected: bool = True
    # Panorama members that are down: "refused" (listener closed) or "503" (restarting)
    down: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def open(self, url: Any, context: Any = None, timeout: Any = None, **kw: Any) -> Any:
        host = urlsplit(url.full_url).hostname or ""
        query = {k: v[0] for k, v in parse_qs((url.data or b"").decode()).items()}
        self.requests.append((host, query))
        if (host == FW and not self.direct_up) or self.down.get(host) == "refused":
            raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
        if self.down.get(host) == "503":
            raise urllib.error.HTTPError(
                url.full_url, 503, "Service Unavailable", http.client.HTTPMessage(), None
            )
        if query.get("type") == "keygen":
            body = f"<key>key-of-{query.get('user')}@{host}</key>"
        elif host == PANO and query.get("target") == SERIAL and not self.connected:
            return _answer(
                f'<response status="error"><msg><line>{SERIAL} not connected</line></msg></response>'
            )
        else:
            who = ("panorama" if host == PANO else f"panorama {host}") if query.get("target") else host
            body = f"<answered-by>{who}</answered-by>"
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


def test_through_panorama_a_read_goes_to_panoramas_ha_peer_while_panorama_is_down(net: Network) -> None:
    """Panorama HA: the configured Panorama does not answer (rebooting for its own upgrade); the firewall
    is reached through its peer, which is asked first from then on; the path names the member."""
    make = factory("panorama", panoramas=lambda: MEMBERS)
    client = make(FW, SERIAL)
    assert "panorama" == answered_by(client.op("show system info"))
    assert "panorama 000710000001" == client.reached
    net.down[PANO] = "refused"
    assert f"panorama {PEER}" == answered_by(client.op("show system info"))
    assert "panorama 000710000002" == client.reached
    before = len(net.to(PANO))
    assert f"panorama {PEER}" == answered_by(make(FW, SERIAL).op("show jobs all"))  # another client too
    assert before == len(net.to(PANO)), "the member that did not answer is not asked first again"
    assert [f"key-of-panoadmin@{PEER}"] == [q["key"] for q in net.to(PEER) if q.get("type") == "op"][:1]
    net.down.clear()
    net.down[PEER] = "503"  # the peer restarts in turn: back to the first member
    assert "panorama" == answered_by(client.op("show system info"))


def test_through_panorama_a_changing_request_is_never_sent_to_the_peer_after_an_unclear_failure(
    net: Network,
) -> None:
    """A restart request that met a closed listener may or may not have left: it is not sent again through
    the peer (the engine looks the outcome up). One that Panorama refused while restarting (HTTP 503)
    never reached the firewall: the peer passes it on."""
    client = factory("panorama", panoramas=lambda: MEMBERS)(FW, SERIAL)
    client.op("show system info")  # the first member's key, before it goes down
    net.down[PANO] = "refused"
    with pytest.raises(TemporaryDeviceError) as unclear:
        client.op("request restart system", retry=ONCE)
    assert "unreachable" == unclear.value.kind
    assert [] == [q for q in net.to(PEER) if q.get("type") == "op"]
    net.down[PANO] = "503"
    assert f"panorama {PEER}" == answered_by(client.op("request restart system", retry=ONCE))
    assert 1 == sum(1 for q in net.to(PEER) if "restart" in q.get("cmd", ""))


def test_with_no_member_answering_the_last_error_is_raised(net: Network) -> None:
    client = factory("panorama", panoramas=lambda: MEMBERS)(FW, SERIAL)
    net.down.update({PANO: "refused", PEER: "refused"})
    with pytest.raises(TemporaryDeviceError) as down:
        client.op("show system info")
    assert "unreachable" == down.value.kind and "through Panorama 000710000002" in str(down.value)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_autos_fallback_is_remembered_across_runs_and_rechecked(net: Network, tmp_path: Any) -> None:
    """The fallback is kept in the work directory: a later run (another factory, another process) starts
    through Panorama without trying the management address; every recheck interval one read tries it
    again, and once it answers the firewall is reached directly and the file forgets it."""
    from reconciler.device.client import PathMemory
    from reconciler.workdir import firewall_paths

    file = tmp_path / "firewall-paths.json"
    clock = Clock()

    def run() -> Any:  # a new process: the memory read from the file
        return factory("auto", memory=PathMemory(file, recheck_after=600.0, clock=clock))

    net.direct_up = False
    assert "panorama" == answered_by(run()(FW, SERIAL).op("show clock"))
    assert {SERIAL} == set(firewall_paths.load(file))
    tried = len(net.to(FW))

    client = run()(FW, SERIAL)  # the next run
    assert "panorama" == answered_by(client.op("show clock"))
    assert tried == len(net.to(FW)), "not tried at its address before the recheck is due"
    clock.now += 600.0
    assert "panorama" == answered_by(client.op("show clock"))  # tried, still down
    assert tried < len(net.to(FW))
    assert firewall_paths.load(file)[SERIAL].checked_at == clock.now
    tried = len(net.to(FW))
    clock.now += 300.0
    assert "panorama" == answered_by(client.op("request restart system", retry=ONCE))
    assert tried == len(net.to(FW))

    net.direct_up = True
    clock.now += 300.0
    client.op("request restart system", retry=ONCE)  # a changing request never rechecks
    assert tried == len(net.to(FW))
    assert FW == answered_by(client.op("show clock"))  # the recheck: it answers at its address again
    assert "direct" == client.reached
    assert {} == firewall_paths.load(file)
    assert FW == answered_by(run()(FW, SERIAL).op("show clock"))


def test_an_unusable_paths_file_means_nothing_is_remembered(tmp_path: Any) -> None:
    from reconciler.workdir import firewall_paths

    file = tmp_path / "firewall-paths.json"
    file.write_text('{"format_version": 1, "firewalls": {"x": {"path": "panorama", "since": "y"}}}')
    assert {} == firewall_paths.load(file)
    file.write_text("{torn")
    assert {} == firewall_paths.load(file)
