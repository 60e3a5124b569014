"""A small HTTP/1.1 server for every simulated device, all on one asyncio event loop.

One listening socket per device address (same port for all), HTTPS with the device's certificate or plain
HTTP. Each request: request line, headers, a body by Content-Length.

Persistent connections (HTTP/1.1, RFC 9112 section 9.3): PAN-OS's management web server is an ordinary web
server front end that keeps a connection open after an answer unless the client asked ``Connection: close``
(urllib always does) or spoke HTTP/1.0 without ``Connection: keep-alive``. Its limits are not documented, so
the simulator takes Apache httpd's defaults, the stricter of the common front ends (nginx keeps 75 s and
1,000 requests): an idle connection is closed after ``KEEPALIVE_TIMEOUT`` (``KeepAliveTimeout 5``) and one
connection serves at most ``KEEPALIVE_MAX`` requests (``MaxKeepAliveRequests 100``), the last answered with
``Connection: close``. Accepted connections (TLS handshakes, over HTTPS) are counted per device
(``connections`` in the status).

A device that is down has no listener at all, so clients get "connection refused", which is what
pan-os-python's ``syncreboot()`` waits to see; the connections it kept open are cut when it goes down, as a
restart ends every TCP connection of the management plane.

Transport-level faults (``http_500``, ``drop_connection``, ``slow``, ``overload_502``) and the optional per-call latency
are applied here; everything else is ``XmlApi``'s business.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import errno
import socket
import ssl
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from reconciler.sim.firewall import Phase
from reconciler.sim.world import Device, World
from reconciler.sim.xmlapi import ApiRequest, ApiResponse, XmlApi, html_error

MAX_HEADER = 64 * 1024
MAX_BODY = 8 * 1024 * 1024
READ_TIMEOUT = 30.0
KEEPALIVE_TIMEOUT = 5.0  # Apache httpd KeepAliveTimeout default: idle wait for the next request
KEEPALIVE_MAX = 100  # Apache httpd MaxKeepAliveRequests default: requests per connection

# asyncio gives every TLS connection a 256 KB receive buffer (``sslproto.SSLProtocol.max_size``): with clients
# keeping connections open, a few hundred idle connections held ~100 MB of the simulator's memory. A TLS
# record carries at most 16 KB, and the protocol reads again until the socket is drained, so a 16 KB buffer
# receives the same bytes (a web server keeps a few KB per idle connection).
asyncio.sslproto.SSLProtocol.max_size = 16 * 1024


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_request(reader: asyncio.StreamReader) -> tuple[ApiRequest, bool]:
    """One request, and whether its client keeps the connection for another (HTTP/1.1 unless
    ``Connection: close``; HTTP/1.0 only with ``Connection: keep-alive``)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "bad request line")
    method, target = parts[0].upper(), parts[1]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequest(411, "chunked bodies are not supported")
    try:
        length = int(headers.get("content-length", "0") or "0")
    except ValueError:
        raise BadRequest(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY:
        raise BadRequest(413, "body too large")
    body = await reader.readexactly(length) if length else b""
    url = urlsplit(target)
    params = dict(parse_qsl(url.query, keep_blank_values=True))
    if body and "multipart" not in headers.get("content-type", ""):
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep = "keep-alive" in tokens if parts[2] == "HTTP/1.0" else "close" not in tokens
    return ApiRequest(method, url.path or "/", params, headers), keep


def encode(response: ApiResponse, keep_alive: int = 0) -> bytes:
    """The answer; ``keep_alive``: how many more requests the connection will take (0: it closes)."""
    body = response.body.encode("utf-8")
    reason = HTTPStatus(response.status).phrase
    head = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(body)}",
        *(
            (f"Keep-Alive: timeout={KEEPALIVE_TIMEOUT:g}, max={keep_alive}", "Connection: Keep-Alive")
            if keep_alive
            else ("Connection: close",)
        ),
        "Server: PanWeb Server/ - ",
    ]
    head.extend(f"{k}: {v}" for k, v in response.headers)
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class HttpFrontEnd:
    """Listeners for every device; must be started and used on the simulator's event loop."""

    def __init__(
        self,
        world: World,
        *,
        contexts: dict[str, ssl.SSLContext] | None,
        latency_ms: float = 0.0,
    ) -> None:
        self.world = world
        self.api = XmlApi(world)
        self.contexts = contexts
        self.latency = max(0.0, latency_ms) / 1000.0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_address: dict[str, Device] = {d.address: d for d in world.devices()}
        self._servers: dict[str, asyncio.Server] = {}
        self._syncing: set[str] = set()
        self._dirty: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: dict[str, int] = {}  # requests being answered per address (``overload_502``)
        self._open: dict[str, set[asyncio.StreamWriter]] = {}  # connections open per address
        self._handlers: set[asyncio.Task[Any]] = set()  # one per open connection
        world.on_reachability(self.request_sync)

    @property
    def listeners(self) -> int:
        return len(self._servers)

    async def start(self, port: int, *, attempts: int = 20) -> int:
        """Bind every device address on ``port`` (0: one free port usable on all of them); return it."""
        self._loop = asyncio.get_running_loop()
        for _ in range(attempts if port == 0 else 1):
            candidate = port or _free_port(next(iter(self._by_address)))
            try:
                _probe(self._by_address, candidate)
                self.port = candidate
                for address, device in self._by_address.items():
                    if device.listening:
                        self._servers[address] = await self._listen(address)
                return candidate
            except OSError as exc:
                await self.stop()
                if port != 0 or exc.errno != errno.EADDRINUSE:
                    raise
        raise OSError(errno.EADDRINUSE, f"no port free on all {len(self._by_address)} addresses")

    async def _listen(self, address: str) -> asyncio.Server:
        ctx = self.contexts.get(address) if self.contexts is not None else None
        return await asyncio.start_server(
            lambda r, w: self._handle(address, r, w),
            host=address,
            port=self.port,
            ssl=ctx,
            reuse_address=True,
            limit=MAX_HEADER,
            backlog=256,
            ssl_handshake_timeout=15.0 if ctx else None,
        )

    async def stop(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        for address in list(self._open):
            self._cut(address)
        if self._handlers:  # let the cut connections' handlers end before the loop does
            await asyncio.wait(list(self._handlers), timeout=5)
        for task in list(self._tasks):
            task.cancel()

    def _cut(self, address: str) -> None:
        """End every connection open to ``address`` (its management plane went down)."""
        for writer in list(self._open.pop(address, ())):
            writer.transport.abort()

    # -- listener reconciliation (any thread may ask) ----------------------------------------------------

    def request_sync(self, device: Device) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._kick, device.address)

    def _kick(self, address: str) -> None:
        if address in self._syncing:
            self._dirty.add(address)
            return
        # Marked here, not when the task starts: two kicks in one loop iteration would otherwise start two
        # syncs of one address, the second binding a port the first is about to listen on (EADDRINUSE), or
        # leaving a listener open on a device that went down meanwhile.
        self._syncing.add(address)
        task = asyncio.ensure_future(self._sync(address))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sync(self, address: str) -> None:
        self._syncing.add(address)
        try:
            for _ in range(16):
                self._dirty.discard(address)
                with self.world.lock:
                    want = self._by_address[address].listening
                server = self._servers.get(address)
                if want and server is None:
                    self._servers[address] = await self._listen(address)
                elif not want and server is not None:
                    server.close()
                    del self._servers[address]
                    self._cut(address)
                if address not in self._dirty:
                    break
        finally:
            self._syncing.discard(address)

    # -- one connection ----------------------------------------------------------------------------------

    async def _handle(self, address: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: up to ``KEEPALIVE_MAX`` requests, each answered in turn (no pipelining)."""
        device = self._by_address[address]
        with self.world.lock:
            self.world.connections[device.serial] += 1
        self._open.setdefault(address, set()).add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            for served in range(KEEPALIVE_MAX):
                try:
                    request, keep = await asyncio.wait_for(
                        read_request(reader), READ_TIMEOUT if served == 0 else KEEPALIVE_TIMEOUT
                    )
                except BadRequest as exc:
                    writer.write(
                        encode(html_error(exc.status, f"{exc.status} {HTTPStatus(exc.status).phrase}"))
                    )
                    await writer.drain()
                    return
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
                    return  # the client closed its idle connection, or went quiet
                response = await self._answer(device, address, request)
                if response is None:
                    writer.transport.abort()
                    return
                left = KEEPALIVE_MAX - served - 1 if keep else 0
                writer.write(encode(response, left))
                await writer.drain()
                if not left:
                    return
        except (ConnectionError, ssl.SSLError, OSError, asyncio.CancelledError):
            writer.transport.abort()
            return
        finally:
            self._open.get(address, set()).discard(writer)
            if task is not None:
                self._handlers.discard(task)
            if not writer.transport.is_closing():
                writer.close()

    async def _answer(self, device: Device, address: str, request: ApiRequest) -> ApiResponse | None:
        """The answer to one request, after the latency and transport faults; None: cut the connection."""
        entered = False
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            with self.world.lock:
                overload = device.faults.get("overload_502")
            if overload is not None:
                if self._in_flight.get(address, 0) >= int(overload.get("max_concurrent")):
                    with self.world.lock:
                        self.world.counters.count(device.serial, "http_502")
                        self.world.emit(
                            "api_error",
                            device.serial,
                            request="*",
                            http_status=502,
                            message="fault overload_502",
                        )
                    return html_error(502, "502 Bad Gateway")
                self._in_flight[address] = self._in_flight.get(address, 0) + 1
                entered = True
                await asyncio.sleep(int(overload.get("delay_ms")) / 1000.0)
            with self.world.lock:
                action, delay = self._transport_fault(device)
            if delay:
                await asyncio.sleep(delay)
            with self.world.lock:
                if getattr(device, "phase", None) is Phase.STARTING:
                    self.world.counters.count(device.serial, "dropped")
                    return None
                if not device.listening or action == "drop":
                    self.world.counters.count(device.serial, "dropped")
                    if action == "drop":
                        self.world.emit(
                            "api_error",
                            device.serial,
                            request="*",
                            http_status=0,
                            message="connection dropped",
                        )
                    return None
                if action == "http_500":
                    self.world.counters.count(device.serial, "http_500")
                    self.world.emit(
                        "api_error", device.serial, request="*", http_status=500, message="fault http_500"
                    )
                    return html_error(500, "500 Internal Server Error")
                return self.api.handle(device, request)
        finally:
            if entered:
                self._in_flight[address] -= 1

    def _transport_fault(self, device: Device) -> tuple[str, float]:
        slow = device.faults.get("slow")
        if slow is None and all(device.faults.get(k) is None for k in ("drop_connection", "http_500")):
            return "", 0.0  # no draw: the device's random stream is made when a fault first needs it
        rng = self.world.extras.setdefault("transport_rng", {}).get(device.serial)
        if rng is None:
            rng = self.world.rng(device.serial, "transport")
            self.world.extras["transport_rng"][device.serial] = rng
        delay = 0.0
        if slow is not None and rng.random() < float(slow.get("rate")):
            delay = int(slow.get("delay_ms")) / 1000.0
        for kind in ("drop_connection", "http_500"):
            fault = device.faults.get(kind)
            if fault is not None and rng.random() < float(fault.get("rate")):
                return ("drop" if kind == "drop_connection" else kind), delay
        return "", delay


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def _probe(addresses: Iterable[str], port: int) -> None:
    """Bind (and release) ``port`` on every address, so a busy one fails before anything listens."""
    socks = []
    try:
        for address in addresses:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
    finally:
        for s in socks:
            s.close()
