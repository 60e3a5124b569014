"""Kept connections to devices: HTTP/1.1 keep-alive under pan-python, with the seam's protections.

pan-python opens every request through ``urllib``, which asks for ``Connection: close``: each call paid a
TCP connection and a TLS handshake (most of a call's CPU, both ends). ``send`` answers the same requests on
connections kept per device (scheme, ``host:port`` and SSL context: a connection is reused only under the
context that verified it), with what ``client._urlopen`` guarantees on every call:

- the timeout is a deadline for the whole call (connect, TLS, request, headers, body), never per read
  (``DeadlineSocket``; a kept connection gets each call's own deadline);
- the answer is read here, up to the call's limit (``read_bounded``); a longer one fails the call and its
  connection is closed, never kept with an answer half read;
- errors look as they did through urllib: a refused or failed connection or request is ``URLError``, a
  status other than 2xx is ``HTTPError`` (redirects are not followed; its page is read up to
  ``ERROR_PAGE_LIMIT`` so the connection can serve the next call), a broken answer raises what http.client
  raised.

A connection goes back to the pool only after a complete answer whose server keeps it open (no
``Connection: close``, not HTTP/1.0). Before reuse it is checked without blocking: a connection the device
closed (idle timeout, restart) reads end-of-file, and one with unread bytes is not trusted; both are closed.

Resending. A request that may change the device (anything but ``show``/``check`` commands, the read-only
``request`` commands in ``_READ_REQUESTS``, config ``get``/``show``, ``keygen``, ``version``) is sent only on
a connection opened for it, and never sent twice: if that connection breaks, the error goes up as it did
before (the engine treats an unclear answer to a changing command as "outcome unknown" and looks it up). A
read sent on a kept connection that the device closed before answering anything (a restart, or its idle
timeout racing our request) is sent once more on a new connection, within the same deadline.

Limits (per process): an idle connection is closed after ``IDLE_SECONDS``; at most
``MAX_IDLE_PER_DEVICE`` idle connections per device and ``MAX_IDLE`` in all (the oldest idle one is closed
first). A background thread closes expired connections while any are idle and ends when none are left.
"""

from __future__ import annotations

import http.client
import io
import re
import select
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

# An idle connection outlives the engine's polls of a device waiting for a job or a reboot (web servers
# keep idle connections 5 s (Apache httpd) to 75 s (nginx) by default; one the device closed first is found
# closed before reuse). The caps bound the sockets of a large fleet: the devices being worked on keep
# theirs, the idle ones beyond the cap are closed oldest first.
IDLE_SECONDS = 45.0
MAX_IDLE_PER_DEVICE = 4  # PAN-OS advises at most five concurrent API calls to one device
MAX_IDLE = 256
DEFAULT_MAX_ANSWER = 64 << 20
ERROR_PAGE_LIMIT = 64 << 10  # an error status's page is read (so its connection can be kept) up to this
USER_AGENT = f"Python-urllib/{sys.version_info[0]}.{sys.version_info[1]}"  # what urllib sent

Key = tuple[str, str, int]  # scheme, host[:port] (lower case), id of the SSL context (0 for plain HTTP)


class AnswerTooLarge(Exception):
    """A device's answer is longer than the configured limit (classified once, in ``client.translate``)."""


class DeadlineSocket:
    """A connected socket whose every read and write waits at most until ``deadline`` (monotonic).

    http.client reads the status line, the headers and the body through ``makefile``; each read here sets
    the socket's timeout to what is left of the call. A kept connection's deadline is set for each call."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self.deadline = deadline

    @property
    def raw(self) -> socket.socket:
        return self._sock

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out: no complete answer within the call's deadline")
        self._sock.settimeout(left)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._arm()
        return self._sock.recv(bufsize, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._arm()
        self._sock.sendall(data, flags)

    def makefile(self, mode: str = "rb", buffering: int | None = None, **kw: Any) -> Any:
        """What ``socket.makefile("rb")`` does (http.client asks for nothing else), reading through us."""
        if mode != "rb":
            raise ValueError(f"unsupported makefile mode {mode!r}")
        # As socket.makefile: the socket stays open while the file is (urllib closes it right away).
        self._sock._io_refs += 1  # type: ignore[attr-defined]
        raw = socket.SocketIO(self, "rb")  # type: ignore[arg-type]
        return io.BufferedReader(raw, buffering or io.DEFAULT_BUFFER_SIZE)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Answer:
    """A response whose body was already read (bounded): what pan-python gets back from ``urlopen``."""

    def __init__(self, response: Any, body: bytes) -> None:
        self._response = response
        self._body = body

    def read(self, amt: int | None = None) -> bytes:
        body, self._body = self._body, b""
        return body

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)


def read_bounded(response: Any, limit: int) -> bytes:
    """The whole body of ``response``, or ``AnswerTooLarge`` (the response closed) past ``limit`` bytes."""
    announced = response.getheader("Content-Length") if hasattr(response, "getheader") else None
    too_large = AnswerTooLarge(f"answer larger than the {limit >> 20} MB limit (max_answer_mb)")
    if announced is not None and announced.strip().isdigit() and int(announced) > limit:
        response.close()
        raise too_large
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = response.read(min(1 << 20, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        chunks.append(chunk)
        if total > limit:
            response.close()
            raise too_large


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """True when a kept connection cannot carry another request: closed by the device (end-of-file or a
    reset is readable), or holding bytes nobody asked for."""
    sock = conn.sock
    raw = sock.raw if isinstance(sock, DeadlineSocket) else sock
    if raw is None:
        return True
    try:
        if isinstance(raw, ssl.SSLSocket) and raw.pending():
            return True
        poller = select.poll()
        poller.register(raw, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class ConnectionPool:
    """Idle connections per device (``Key``), reused most recent first, within the limits above.

    ``clock`` is injectable (tests); ``reaper`` starts a thread that closes expired connections while any
    are idle (off in tests, which call ``sweep``)."""

    def __init__(
        self,
        *,
        idle_seconds: float = IDLE_SECONDS,
        max_idle: int = MAX_IDLE,
        max_idle_per_device: int = MAX_IDLE_PER_DEVICE,
        clock: Callable[[], float] = time.monotonic,
        reaper: bool = True,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.max_idle = max_idle
        self.max_idle_per_device = max_idle_per_device
        self.clock = clock
        self.stats: Counter[str] = Counter()  # opened, reused, resent, dropped, expired, evicted (``count``)
        self._reap = reaper
        self._reaper: threading.Thread | None = None
        self._lock = threading.Lock()
        # Every idle connection, oldest first, with its key and when it became idle; and per key, most
        # recent last.
        self._idle: OrderedDict[http.client.HTTPConnection, tuple[Key, float]] = OrderedDict()
        self._by_key: dict[Key, list[http.client.HTTPConnection]] = {}

    def count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def idle(self, key: Key | None = None) -> int:
        with self._lock:
            return len(self._idle) if key is None else len(self._by_key.get(key, ()))

    def take(self, key: Key) -> http.client.HTTPConnection | None:
        """An idle connection of ``key`` still fit for a request, or None (unfit ones are closed)."""
        unfit: list[http.client.HTTPConnection] = []
        found = None
        with self._lock:
            unfit.extend(self._expire())
            stack = self._by_key.get(key, [])
            while stack and found is None:
                conn = stack.pop()
                del self._idle[conn]
                if _dropped(conn):
                    self.stats["dropped"] += 1
                    unfit.append(conn)
                else:
                    found = conn
            if not stack:
                self._by_key.pop(key, None)
            if found is not None:
                self.stats["reused"] += 1
        _close(unfit)
        return found

    def give(self, key: Key, conn: http.client.HTTPConnection) -> None:
        """Keep ``conn`` (after a complete answer) for the next request to ``key``."""
        evicted: list[http.client.HTTPConnection] = []
        with self._lock:
            expired = self._expire()
            stack = self._by_key.setdefault(key, [])
            stack.append(conn)
            self._idle[conn] = (key, self.clock())
            while len(stack) > self.max_idle_per_device:
                evicted.append(self._remove(stack[0]))
            while len(self._idle) > self.max_idle:
                evicted.append(self._remove(next(iter(self._idle))))
            self.stats["evicted"] += len(evicted)
            evicted.extend(expired)
            if self._reap and self._reaper is None:
                self._reaper = threading.Thread(target=self._reap_loop, name="connection-reaper", daemon=True)
                self._reaper.start()
        _close(evicted)

    def sweep(self) -> int:
        """Close the connections idle for ``idle_seconds`` or more; return how many."""
        with self._lock:
            expired = self._expire()
        _close(expired)
        return len(expired)

    def close_all(self) -> None:
        with self._lock:
            conns = list(self._idle)
            self._idle.clear()
            self._by_key.clear()
        _close(conns)

    def _expire(self) -> list[http.client.HTTPConnection]:
        """Under the lock: take out the expired connections (oldest first) for closing."""
        expired = []
        limit = self.clock() - self.idle_seconds
        while self._idle:
            conn, (_key, since) = next(iter(self._idle.items()))
            if since > limit:
                break
            expired.append(self._remove(conn))
        self.stats["expired"] += len(expired)
        return expired

    def _remove(self, conn: http.client.HTTPConnection) -> http.client.HTTPConnection:
        key, _since = self._idle.pop(conn)
        stack = self._by_key[key]
        stack.remove(conn)
        if not stack:
            del self._by_key[key]
        return conn

    def _reap_loop(self) -> None:
        """Close expired connections every half idle period; end once none is idle (a later ``give``
        starts another)."""
        while True:
            time.sleep(self.idle_seconds / 2)
            with self._lock:
                expired = self._expire()
                done = not self._idle
                if done:
                    self._reaper = None
            _close(expired)
            if done:
                return


def _close(conns: list[http.client.HTTPConnection]) -> None:
    for conn in conns:
        conn.close()


POOL = ConnectionPool()

# ``request`` commands that only read (their XML tag path, without values): asking again is harmless.
_READ_REQUESTS = frozenset(
    {
        ("request", "system", "software", "check"),
        ("request", "system", "software", "info"),
        ("request", "content", "upgrade", "check"),
        ("request", "content", "upgrade", "info"),
        ("request", "anti-virus", "upgrade", "check"),
        ("request", "anti-virus", "upgrade", "info"),
        ("request", "license", "info"),
        ("request", "support", "check"),
    }
)
_TAG = re.compile(r"<\s*([A-Za-z][\w.-]*)")
_TEXT = re.compile(r">\s*[^<\s]")


def resendable(params: dict[str, str]) -> bool:
    """Whether a request (its form fields) only reads, so sending it twice changes nothing."""
    kind = params.get("type", "")
    if kind in ("keygen", "version"):
        return True
    if kind == "config":
        return params.get("action", "") in ("get", "show")
    if kind != "op":
        return False
    cmd = params.get("cmd", "")
    tags = tuple(_TAG.findall(cmd))
    if tags[:1] in (("show",), ("check",)):
        return True
    return tags in _READ_REQUESTS and not _TEXT.search(cmd)


def read_only_op(cmd: str, *, xml: bool) -> bool:
    """``resendable`` for an operational command as the seam holds it: XML, or CLI words (pan-python turns
    ``show system info`` into ``<show><system><info/></system></show>``, a quoted word into text)."""
    if not xml:
        words = cmd.split()
        quoted = next((i for i, w in enumerate(words) if w.startswith('"')), len(words))
        cmd = "".join(f"<{w}>" for w in words[:quoted]) + ("<_>text" if quoted < len(words) else "")
    return resendable({"type": "op", "cmd": cmd})


def _fields(request: urllib.request.Request) -> dict[str, str]:
    data = request.data if isinstance(request.data, bytes) else b""
    text = data.decode("utf-8", "replace") or urllib.parse.urlsplit(request.full_url).query
    return {k: v[0] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}


def poolable(request: urllib.request.Request) -> bool:
    """Requests ``send`` can carry: HTTP(S) with a body in memory, not meant for a proxy (those keep the
    standard path, as urllib's own proxy settings decide)."""
    if request.type not in ("http", "https") or not isinstance(request.data, bytes | None):
        return False
    return not _proxied(request.type, request.host)


_proxies: dict[str, str] | None = None
_bypass: dict[str, bool] = {}


def _proxied(scheme: str, host: str) -> bool:
    global _proxies
    if _proxies is None:
        _proxies = urllib.request.getproxies()  # read once, as urllib's opener does when it is built
    if scheme not in _proxies:
        return False
    bypass = _bypass.get(host)
    if bypass is None:
        bypass = _bypass[host] = bool(urllib.request.proxy_bypass(host))
    return not bypass


def _connect(
    scheme: str, host: str, context: ssl.SSLContext | None, deadline: float
) -> http.client.HTTPConnection:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out before connecting")
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, timeout=left, context=context)
    else:
        conn = http.client.HTTPConnection(host, timeout=left)
    try:
        conn.connect()
    except BaseException:
        conn.close()
        raise
    assert conn.sock is not None
    conn.sock = DeadlineSocket(conn.sock, deadline)
    return conn


# What a kept connection closed by the device, with no answer at all, raises on the next request.
_UNANSWERED = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


def send(
    request: urllib.request.Request,
    *,
    context: ssl.SSLContext | None,
    timeout: float,
    limit: int = DEFAULT_MAX_ANSWER,
    pool: ConnectionPool = POOL,
) -> Answer:
    """One request on a kept connection of its device (or a new one), answered within ``timeout`` seconds
    in all and read up to ``limit`` bytes (``AnswerTooLarge`` past it). See the module docstring."""
    scheme, host = request.type, request.host.lower()
    key: Key = (scheme, host, id(context) if scheme == "https" else 0)
    deadline = time.monotonic() + timeout
    again = resendable(_fields(request))
    headers = {"Host": request.host, "User-Agent": USER_AGENT}
    if request.data is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers.update((name.title(), value) for name, value in request.header_items())
    response: http.client.HTTPResponse | None = None
    for attempt in range(2):  # a second attempt only for a read the device closed a kept connection on
        conn = pool.take(key) if again and attempt == 0 else None
        kept = conn is not None
        try:
            if conn is None:
                conn = _connect(scheme, host, context, deadline)
                pool.count("opened")
            else:
                assert isinstance(conn.sock, DeadlineSocket)
                conn.sock.deadline = deadline
            conn.request(request.get_method(), request.selector, request.data, headers)
        except OSError as exc:
            if conn is not None:
                conn.close()
            if kept and isinstance(exc, _UNANSWERED) and time.monotonic() < deadline:
                pool.count("resent")
                continue
            raise urllib.error.URLError(exc) from exc  # as urllib: the request could not be sent
        try:
            response = conn.getresponse()
        except _UNANSWERED:
            conn.close()
            if kept and time.monotonic() < deadline:
                pool.count("resent")
                continue
            raise
        except BaseException:
            conn.close()
            raise
        break
    assert response is not None and conn is not None
    answered = 200 <= response.status < 300
    try:
        body = read_bounded(response, limit if answered else ERROR_PAGE_LIMIT)
    except Exception:
        conn.close()
        if answered:
            raise
        body = b""  # an error page that could not be read: the status is the answer
    except BaseException:
        conn.close()
        raise
    if conn.sock is not None and not response.will_close and response.isclosed():
        pool.give(key, conn)
    else:
        conn.close()
    if not answered:  # as urllib: the status only (a device restarting answers 503, then 403)
        raise urllib.error.HTTPError(request.full_url, response.status, response.reason, response.msg, None)
    return Answer(response, body)
