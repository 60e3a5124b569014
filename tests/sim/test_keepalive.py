"""Persistent connections (HTTP/1.1 keep-alive), as PAN-OS's management web server keeps them: several
requests on one TLS connection, ``Connection: close`` honoured, idle and per-connection limits, and every
kept connection cut when the device's management plane goes down."""

from __future__ import annotations

import http.client
import select
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from reconciler.sim import FleetSpec, Simulator
from reconciler.sim import http as sim_http
from reconciler.sim.testing import verifying_context
from tests.sim.conftest import device

StartSim = Callable[..., Simulator]
FORM = "application/x-www-form-urlencoded"
INFO = urllib.parse.urlencode({"type": "op", "cmd": "<show><system><info/></system></show>"})


def _connect(s: Simulator, serial: str) -> http.client.HTTPSConnection:
    host, port = s.endpoint(serial)
    return http.client.HTTPSConnection(host, port, timeout=10, context=verifying_context(s))


def _key(s: Simulator) -> str:
    """An API key of K1, asked on a connection of its own."""
    conn = _connect(s, "K1")
    query = {"type": "keygen", "user": s.credentials.user, "password": s.credentials.password}
    conn.request(
        "POST", "/api/", urllib.parse.urlencode(query), {"Content-Type": FORM, "Connection": "close"}
    )
    key = ET.fromstring(conn.getresponse().read()).findtext("result/key")
    conn.close()
    assert key
    return key


def _info(conn: http.client.HTTPSConnection, key: str, **headers: str) -> http.client.HTTPResponse:
    body = f"{INFO}&key={key}"
    conn.request("POST", "/api/", body, {"Content-Type": FORM, **headers})
    response = conn.getresponse()
    assert b"<serial>K1</serial>" in response.read()
    return response


def _closed_by_server(conn: http.client.HTTPSConnection, s: Simulator) -> bool:
    """The server closed the connection: the socket reads end-of-file (or a TLS close) without blocking."""
    sock = conn.sock
    assert sock is not None
    return s.wait_until(lambda: bool(select.select([sock], [], [], 0)[0]), timeout=10)


def test_one_tls_connection_carries_many_requests(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("K1"),)))
    key = _key(s)
    conn = _connect(s, "K1")
    for _ in range(3):
        response = _info(conn, key)
        assert not response.will_close
        assert "timeout=5" in (response.getheader("Keep-Alive") or "")
    conn.close()
    assert 2 == s.connections("K1")  # the key's, then one for three calls
    assert 2 == s.status()["connections"]["K1"]
    assert 3 == s.api_calls("K1")["op:show system info"]


def test_connection_close_from_the_client_ends_the_connection(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("K1"),)))
    key = _key(s)
    conn = _connect(s, "K1")
    response = _info(conn, key, Connection="close")
    assert response.will_close
    assert "close" == response.getheader("Connection")
    _info(conn, key)  # http.client reconnects: one more connection
    assert 3 == s.connections("K1")


def test_an_idle_connection_is_closed_after_the_keepalive_timeout(
    sim: StartSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim_http, "KEEPALIVE_TIMEOUT", 0.2)
    s = sim(FleetSpec(devices=(device("K1"),)))
    conn = _connect(s, "K1")
    _info(conn, _key(s))
    assert _closed_by_server(conn, s)


def test_a_connection_serves_at_most_keepalive_max_requests(
    sim: StartSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim_http, "KEEPALIVE_MAX", 3)
    s = sim(FleetSpec(devices=(device("K1"),)))
    key = _key(s)
    conn = _connect(s, "K1")
    assert ["max=2", "max=1"] == [_info(conn, key).getheader("Keep-Alive", "").split(", ")[1] for _ in "ab"]
    assert _info(conn, key).will_close
    assert 2 == s.connections("K1")


def test_a_device_going_down_cuts_its_kept_connections(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("K1"),)))
    key = _key(s)
    conn = _connect(s, "K1")
    _info(conn, key)
    # Its management address stops answering (the listener closes as in a restart).
    s.inject_fault("K1", "direct_unreachable")
    assert _closed_by_server(conn, s)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        _info(conn, key)
