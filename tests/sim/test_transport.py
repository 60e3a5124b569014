"""HTTPS with the simulator's CA, plain HTTP, GET and POST, and where the key may travel."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pan.xapi
import pytest

from reconciler.sim import FleetSpec, Simulator
from reconciler.sim.testing import verifying_context
from reconciler.sim.tls import CertificateAuthority
from tests.sim.conftest import device

StartSim = Callable[..., Simulator]


def xapi(s: Simulator, serial: str, ctx: ssl.SSLContext | None) -> pan.xapi.PanXapi:
    ep = s.endpoint(serial)
    return pan.xapi.PanXapi(
        hostname=ep.address,
        port=ep.port,
        api_username=s.credentials.user,
        api_password=s.credentials.password,
        ssl_context=ctx,
        timeout=10,
    )


def test_https_verifies_against_the_simulator_ca(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("T1"), device("T2"))))
    ctx = verifying_context(s)
    for serial in ("T1", "T2"):
        x = xapi(s, serial, ctx)
        x.op("show system info", cmd_xml=True)
        assert x.element_root.findtext("result/system/serial") == serial


def test_each_certificate_carries_its_own_address(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("T1"), device("T2"))))
    ctx = verifying_context(s)
    ep = s.endpoint("T2")
    with (
        socket.create_connection(ep, timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=ep.address) as tls,
    ):
        cert = tls.getpeercert()
    assert cert is not None
    assert ("IP Address", ep.address) in cert["subjectAltName"]
    # The certificate of T2 does not name T1's address: hostname checking would refuse it there.
    assert ("IP Address", s.endpoint("T1").address) not in cert["subjectAltName"]


def test_a_client_trusting_another_ca_refuses_the_connection(sim: StartSim, tmp_path: Path) -> None:
    s = sim(FleetSpec(devices=(device("T1"),)))
    other = CertificateAuthority(tmp_path / "other-ca")
    with pytest.raises(pan.xapi.PanXapiError, match="CERTIFICATE_VERIFY_FAILED"):
        xapi(s, "T1", ssl.create_default_context(cafile=str(other.ca_path))).keygen()


def test_the_ca_persists_across_restarts_of_the_same_state_dir(tmp_path: Path) -> None:
    first = CertificateAuthority(tmp_path / "tls").ca_path.read_bytes()
    assert CertificateAuthority(tmp_path / "tls").ca_path.read_bytes() == first


def _get(url: str, ctx: ssl.SSLContext | None = None, headers: dict[str, str] | None = None) -> ET.Element:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, context=ctx, timeout=10) as resp:
        return ET.fromstring(resp.read())


def test_plain_http_get_with_the_key_in_the_query_or_header(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("H1"),)), http=True)
    base = s.url("H1")
    assert base.startswith("http://")
    creds = urllib.parse.urlencode(
        {"type": "keygen", "user": s.credentials.user, "password": s.credentials.password}
    )
    key = _get(f"{base}?{creds}").findtext("result/key") or ""
    cmd = urllib.parse.quote("<show><system><info/></system></show>")
    assert _get(f"{base}?type=op&cmd={cmd}&key={key}").findtext("result/system/serial") == "H1"
    assert (
        _get(f"{base}?type=op&cmd={cmd}", headers={"X-PAN-KEY": key}).findtext("result/system/serial") == "H1"
    )


def test_https_post_form_from_urllib(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("H1"),)))
    data = urllib.parse.urlencode(
        {"type": "keygen", "user": s.credentials.user, "password": "wrong"}
    ).encode()
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(s.url("H1"), data=data, context=verifying_context(s), timeout=10)
    assert exc.value.code == 403
    assert b"Invalid Credential" in exc.value.read()


def test_only_api_path_is_served(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("H1"),)), http=True)
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(s.url("H1").replace("/api/", "/php/login.php"), timeout=10)
    assert exc.value.code == 404


def _raw(address: str, port: int, payload: bytes) -> bytes:
    with socket.create_connection((address, port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_malformed_http_is_answered_not_crashed(sim: StartSim) -> None:
    s = sim(FleetSpec(devices=(device("H1"),)), http=True)
    ep = s.endpoint("H1")
    assert _raw(*ep, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    chunked = b"POST /api/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    assert _raw(*ep, chunked).startswith(b"HTTP/1.1 411 ")
    keygen = b"GET /api/?type=keygen&user=admin&password=x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ok = _raw(*ep, keygen)
    assert ok.startswith(b"HTTP/1.1 403 ") and b"Connection: close" in ok


def test_port_zero_is_one_port_for_every_device_and_a_taken_port_is_refused(
    sim: StartSim, tmp_path: Path
) -> None:
    from reconciler.sim.errors import SimUserError
    from reconciler.sim.testing import running_simulator

    s = sim(FleetSpec(devices=(device("P1"), device("P2"))), base_address="127.22.0.0")
    assert {s.endpoint("P1").port, s.endpoint("P2").port, s.panorama.port} == {s.port}
    with pytest.raises(SimUserError, match=f"cannot listen on port {s.port}"):  # noqa: SIM117
        with running_simulator(
            FleetSpec(devices=(device("P1"),)),
            state_dir=tmp_path / "b",
            port=s.port,
            base_address="127.22.0.0",
        ):
            pass


def test_base_address_must_be_loopback() -> None:
    from reconciler.sim.addresses import parse_base
    from reconciler.sim.errors import SimUserError

    assert parse_base("127.33.0.0") == "127.33.0.0"
    for bad in ("10.0.0.0", "127.1.2.0", "localhost"):
        with pytest.raises(SimUserError):
            parse_base(bad)
