"""Kept connections (``reconciler.device.connections``): the pool's limits on an injected clock, connections
found broken, and the rule that a request changing a device is never sent twice.

The pool tests use socket pairs (no network); the ``send`` tests a small HTTP/1.1 server on 127.0.0.1 that
keeps connections open and can be told to close one without answering, as a device restarting does.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reconciler.device import connections
from reconciler.device.connections import AnswerTooLarge, ConnectionPool, Key, resendable

KEY: Key = ("https", "127.0.0.1:443", 1)
OTHER: Key = ("https", "127.0.0.2:443", 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pairs() -> Iterator[Callable[[], tuple[http.client.HTTPConnection, socket.socket]]]:
    """Connections whose socket is one end of a socket pair; the other end plays the device."""
    opened: list[socket.socket] = []

    def make() -> tuple[http.client.HTTPConnection, socket.socket]:
        ours, device = socket.socketpair()
        opened.extend((ours, device))
        conn = http.client.HTTPConnection("127.0.0.1")
        conn.sock = ours
        return conn, device

    yield make
    for sock in opened:
        sock.close()


def test_an_idle_connection_is_reused_until_the_idle_timeout_then_closed(pairs: Callable[..., tuple]) -> None:
    clock = Clock()
    pool = ConnectionPool(idle_seconds=10, clock=clock, reaper=False)
    conn, _device = pairs()
    pool.give(KEY, conn)
    clock.now += 9.9
    assert conn is pool.take(KEY)
    pool.give(KEY, conn)  # idle again from now
    clock.now += 10
    assert None is pool.take(KEY)
    assert conn.sock is None, "closed"
    assert 1 == pool.stats["expired"]


def test_sweep_closes_expired_connections_without_a_request(pairs: Callable[..., tuple]) -> None:
    clock = Clock()
    pool = ConnectionPool(idle_seconds=10, clock=clock, reaper=False)
    old, _ = pairs()
    pool.give(KEY, old)
    clock.now += 6
    young, _ = pairs()
    pool.give(OTHER, young)
    clock.now += 5
    assert 1 == pool.sweep()
    assert (None, 0, 1) == (old.sock, pool.idle(KEY), pool.idle(OTHER))
    assert young is pool.take(OTHER)


def test_idle_connections_are_capped_per_device_and_in_all(pairs: Callable[..., tuple]) -> None:
    clock = Clock()
    pool = ConnectionPool(max_idle=5, max_idle_per_device=3, clock=clock, reaper=False)
    mine = [pairs()[0] for _ in range(4)]
    for conn in mine:
        clock.now += 1
        pool.give(KEY, conn)
    assert 3 == pool.idle(KEY)
    assert mine[0].sock is None, "the oldest of the device was closed"
    others = [pairs()[0] for _ in range(3)]
    for conn in others:
        clock.now += 1
        pool.give(OTHER, conn)
    assert (5, 2, 3) == (pool.idle(), pool.idle(KEY), pool.idle(OTHER))
    assert mine[1].sock is None, "then the oldest of all"
    assert 2 == pool.stats["evicted"]
    assert mine[3] is pool.take(KEY), "the most recent first"


@pytest.mark.parametrize("how", ["closed", "reset", "unread bytes"])
def test_a_connection_the_device_broke_is_closed_not_used(pairs: Callable[..., tuple], how: str) -> None:
    pool = ConnectionPool(clock=Clock(), reaper=False)
    broken, device = pairs()
    pool.give(KEY, broken)
    if how == "closed":
        device.close()  # a restart ends the management plane's connections
    elif how == "reset":
        device.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        device.close()
    else:
        device.sendall(b"HTTP/1.1 200 OK\r\n")  # nothing was asked
    assert None is pool.take(KEY)
    assert (None, 1) == (broken.sock, pool.stats["dropped"])


def _fields(cmd: str, **extra: str) -> dict[str, str]:
    return {"type": "op", "cmd": cmd, **extra}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (_fields("<show><system><info></info></system></show>"), True),
        (_fields("<show><jobs><id>4</id></jobs></show>", target="007"), True),
        (_fields("<check><pending-changes/></check>"), True),
        (_fields("<request><system><software><check></check></software></system></request>"), True),
        (_fields("<request><license><info/></license></request>"), True),
        ({"type": "keygen", "user": "u", "password": "p"}, True),
        ({"type": "config", "action": "get", "xpath": "/config"}, True),
        (_fields("<request><restart><system></system></restart></request>"), False),
        (_fields('<request><system><software><install><version>11.1.2</version></install></software></system></request>'), False),
        (_fields("<request><system><software><download><version>11.1.2</version></download></software></system></request>"), False),
        (_fields("<request><high-availability><state><suspend/></state></high-availability></request>"), False),
        (_fields("<delete><software><version>10.2.9</version></software></delete>"), False),
        (_fields("<request><content><upgrade><install><version>latest</version></install></upgrade></content></request>"), False),
        ({"type": "config", "action": "set", "xpath": "/config"}, False),
        ({"type": "commit", "cmd": "<commit/>"}, False),
        ({}, False),
    ],
)  # fmt: skip
def test_only_requests_that_read_may_be_sent_again(fields: dict[str, str], expected: bool) -> None:
    assert expected is resendable(fields)


# -- send(): against a keep-alive server -------------------------------------------------------------------


class Device:
    """HTTP/1.1 on 127.0.0.1 that keeps connections open. ``drop`` lists commands to answer by closing the
    connection without a word (each entry used once); ``slow`` commands trickle their answer."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[int, str]] = []  # (connection number, cmd)
        self.drop: list[str] = []
        self.slow: set[str] = set()
        self.big: set[str] = set()
        self.status: dict[str, int] = {}
        device = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                device.connections += 1
                self.number = device.connections

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                fields = urllib.parse.parse_qs(self.rfile.read(length).decode())
                cmd = fields.get("cmd", [fields.get("type", [""])[0]])[0]
                device.requests.append((self.number, cmd))
                if cmd in device.drop:
                    device.drop.remove(cmd)
                    self.close_connection = True
                    return
                body = b'<response status="success"><result>' + cmd.encode() + b"</result></response>"
                if cmd in device.big:
                    body = b"<response>" + b"x" * (3 << 20) + b"</response>"
                self.send_response(device.status.get(cmd, 200))
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(ConnectionError):  # the client gave up: what the test wants
                    for chunk in [bytes([b]) for b in body] if cmd in device.slow else [body]:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        time.sleep(0.05 if cmd in device.slow else 0)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def cmds(self) -> list[str]:
        return [cmd for _n, cmd in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def device() -> Iterator[Device]:
    dev = Device()
    yield dev
    dev.close()


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    p = ConnectionPool(reaper=False)
    yield p
    p.close_all()


READ = "<show><system><info/></system></show>"
SLOW = "<show><slow/></show>"
RESTART = "<request><restart><system></system></restart></request>"


def call(device: Device, pool: ConnectionPool, cmd: str, timeout: float = 5, limit: int = 1 << 20) -> bytes:
    data = urllib.parse.urlencode({"type": "op", "cmd": cmd}).encode() + b"&key=K"
    request = urllib.request.Request(f"http://127.0.0.1:{device.port}/api/", data)
    answer = connections.send(request, context=None, timeout=timeout, limit=limit, pool=pool)
    body: bytes = answer.read()
    return body


def test_calls_to_one_device_share_one_connection(device: Device, pool: ConnectionPool) -> None:
    for _ in range(5):
        assert b"<result><show>" in call(device, pool, READ)
    assert (1, 5) == (device.connections, len(device.requests))
    assert (1, 4) == (pool.stats["opened"], pool.stats["reused"])


def test_a_read_on_a_connection_closed_unanswered_is_sent_again_on_a_new_one(
    device: Device, pool: ConnectionPool
) -> None:
    call(device, pool, READ)
    device.drop.append(READ)  # the device restarts as the next request arrives on the kept connection
    assert b"<result><show>" in call(device, pool, READ)
    assert [(1, READ), (1, READ), (2, READ)] == device.requests
    assert 1 == pool.stats["resent"]


def test_a_changing_request_goes_on_a_new_connection_and_is_never_sent_twice(
    device: Device, pool: ConnectionPool
) -> None:
    call(device, pool, READ)
    assert 1 == pool.idle()
    device.drop.append(RESTART)
    with pytest.raises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
        call(device, pool, RESTART)
    # Sent once, on a connection of its own (the kept one is still idle); the outcome is the caller's to
    # find out.
    assert [(1, READ), (2, RESTART)] == device.requests
    assert (0, 1) == (pool.stats["resent"], pool.idle())
    # The kept connection still serves reads.
    call(device, pool, READ)
    assert (1, READ) == device.requests[-1]


def test_a_kept_connection_still_has_a_deadline_for_the_whole_call(
    device: Device, pool: ConnectionPool
) -> None:
    call(device, pool, READ)
    device.slow.add(SLOW)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        call(device, pool, SLOW, timeout=0.5)
    assert [1, 1] == [n for n, _cmd in device.requests], "on the kept connection"
    assert time.monotonic() - started < 2
    assert 0 == pool.idle(), "a connection with an answer half read is never kept"


def test_an_answer_over_the_limit_fails_and_its_connection_is_not_kept(
    device: Device, pool: ConnectionPool
) -> None:
    device.big.add("big")
    with pytest.raises(AnswerTooLarge):
        call(device, pool, "big", limit=1 << 20)
    assert 0 == pool.idle()
    call(device, pool, READ)
    assert 2 == device.connections


def test_an_error_status_is_raised_as_urllib_did_and_its_connection_kept(
    device: Device, pool: ConnectionPool
) -> None:
    device.status[READ] = 503  # a device finishing its restart
    with pytest.raises(urllib.error.HTTPError) as failed:
        call(device, pool, READ)
    assert 503 == failed.value.code
    del device.status[READ]
    call(device, pool, READ)
    assert (1, 1) == (device.connections, pool.stats["reused"])
