"""The device seam: the ONE module that talks to firewalls and Panorama.

pan-os-python (and, for readiness checks and snapshots, panos-upgrade-assurance) are imported here and
nowhere else. Every library exception is translated once, in ``translate()``, into
``TemporaryDeviceError`` (retry later) or ``PermanentDeviceError`` (retrying will not help), each with a
short ``kind`` that status files and metrics use.

TLS: pan-os-python builds its ``PanXapi`` without an ``ssl_context``, which pan-python treats as "do not
verify". ``_Verified`` overrides the two places that build it so that our context (verifying against the
configured CA bundle by default) is always passed. Turning verification off is explicit and logged.

Hostile answers: pan-python's timeout bounds each socket read, so a device trickling a byte a second held a
call for as long as it liked, and it reads the whole answer into memory. Every request therefore goes
through ``_urlopen``: the timeout is a deadline for the whole call (connect, headers, body), and the answer
is read here, up to ``max_answer_mb`` (config ``firewall.max_answer_mb`` / ``panorama.max_answer_mb``);
a longer one fails that call (``bad-response``) without being read further.

Connections: ``_urlopen`` sends pan-python's requests on connections kept per device (HTTP keep-alive,
``connections.py``: the same TLS context, the same deadline and answer limit, a changing request never
sent twice); requests it cannot carry (another SSL context, a proxy) take urllib's path as before.

Paths: a firewall is reached at its management address (``direct``) or through Panorama (``panorama``:
pan-os-python's ``Firewall(serial=...)`` under a ``Panorama``, every request carrying ``target=SERIAL``,
with Panorama's address, credentials and rate limit, the bucket discovery's own calls use), as ``firewall.connection`` says; ``auto`` tries the
management address and falls back to Panorama when it does not answer (refused, timed out) and never has in
this session, then keeps to Panorama for that firewall (``PathMemory``). While a firewall restarts Panorama
answers ``SERIAL not connected``: ``translate`` makes that a temporary ``not-connected`` error, "device down".
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import pan.xapi
import tenacity
from panos import errors as pan_errors
from panos.base import PanDevice
from panos.firewall import Firewall
from panos.panorama import Panorama

from reconciler.core.errors import (
    DeviceError,
    PermanentDeviceError,
    StoreError,
    TemporaryDeviceError,
    UserError,
)
from reconciler.device import connections
from reconciler.device import parsers as px
from reconciler.device.connections import (
    DEFAULT_MAX_ANSWER,
    Answer,
    AnswerTooLarge,
    DeadlineSocket,
    read_bounded,
)
from reconciler.workdir import firewall_paths, logs
from reconciler.workdir.config import Config
from reconciler.workdir.layout import WorkPaths

# The logger keeps the name it had before the package move: operators filter logs on it.
log = logs.get("reconciler.device")
T = TypeVar("T")


@dataclass(frozen=True)
class Credentials:
    """Username/password (preferred) or an API key. ``repr`` never shows the secrets."""

    username: str = ""
    password: str = field(default="", repr=False)
    api_key: str = field(default="", repr=False)

    @property
    def usable(self) -> bool:
        return bool(self.username and self.password) or bool(self.api_key)


@dataclass(frozen=True)
class Endpoint:
    """How to reach one device's management API."""

    host: str
    port: int = 443
    timeout: float = 300.0
    verify_tls: bool = True
    ca_bundle: str = ""
    use_http: bool = False
    max_answer_mb: int = 64

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.use_http:
            return None
        if not self.verify_tls:
            return _verifying_context(None)
        return _verifying_context(self.ca_bundle)


_contexts: dict[str | None, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def _verifying_context(ca_bundle: str | None) -> ssl.SSLContext:
    """One verifying context per CA bundle (loading a bundle per call would dominate the cost); ``None``:
    the one context that does not verify (an explicit, logged choice)."""
    with _contexts_lock:
        ctx = _contexts.get(ca_bundle)
        if ctx is None and ca_bundle is None:
            ctx = _contexts[None] = ssl._create_unverified_context()
        if ctx is None:
            try:
                ctx = ssl.create_default_context(cafile=ca_bundle or None)
            except (OSError, ssl.SSLError) as exc:
                raise PermanentDeviceError(f"cannot load CA bundle {ca_bundle}: {exc}", kind="tls") from exc
            _contexts[ca_bundle] = ctx
        return ctx


_openers: dict[int, urllib.request.OpenerDirector] = {}
_UNSET: Any = object()
_call = threading.local()  # this thread's call in progress: its deadline and answer limit


def _deadline() -> float | None:
    deadline: float | None = getattr(_call, "deadline", None)
    return deadline


def _bounded(conn: http.client.HTTPConnection) -> None:
    deadline = _deadline()
    if deadline is not None and conn.sock is not None:
        conn.sock = DeadlineSocket(conn.sock, deadline)


class _HTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _bounded(self)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _bounded(self)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__(context=context)
        self._ctx = context

    def https_open(self, req: Any) -> Any:
        return self.do_open(_HTTPSConnection, req, context=self._ctx)


def _opener(context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_HTTPHandler(), _HTTPSHandler(context))


def _urlopen(url: Any, data: Any = None, timeout: Any = _UNSET, *, context: Any = None, **kw: Any) -> Any:
    """``urllib.request.urlopen`` for pan-python: a kept connection of the device (``connections.send``)
    when the request allows it, else one opener per SSL context of ours; either way a deadline for the
    whole call, and the answer read here up to this thread's limit (``_answer_limit``).

    Given a context, the standard ``urlopen`` builds a fresh opener on every request (every default
    handler, and a scan of the whole environment for proxies): about a quarter of a firewall call's CPU,
    and the engine makes tens of thousands. Our contexts are few and live as long as the process (one
    per CA bundle, one unverified), so their openers are kept; others (pan-python makes a fresh
    unverified one for plain HTTP) get an opener of the same handlers for that call.
    ``timeout`` (pan-python passes the device's timeout) is the deadline of the call, not of each read.
    """
    args = (url, data) if timeout is _UNSET else (url, data, timeout)
    with _contexts_lock:
        ours = context is not None and any(c is context for c in _contexts.values())
    pooled = isinstance(url, urllib.request.Request) and data is None and not kw
    if (
        pooled
        and timeout not in (_UNSET, None)
        and (ours or url.type == "http")
        and connections.poolable(url)
    ):
        limit = getattr(_call, "limit", DEFAULT_MAX_ANSWER)
        return connections.send(url, context=context, timeout=float(timeout), limit=limit)
    with _contexts_lock:
        opener = _openers.get(id(context)) if ours and not kw else None
        if ours and opener is None and not kw:
            opener = _openers[id(context)] = _opener(context)
    if opener is None:
        opener = _opener(context) if not kw else None
    if opener is None:
        return urllib.request.urlopen(*args, context=context, **kw)
    _call.deadline = None if timeout in (_UNSET, None) else time.monotonic() + float(timeout)
    try:
        response = opener.open(*args)
        try:
            return Answer(response, read_bounded(response, getattr(_call, "limit", DEFAULT_MAX_ANSWER)))
        except TimeoutError:
            response.close()
            raise
    finally:
        _call.deadline = None


class _answer_limit:  # a context manager, named like one
    """Within the block, answers of this thread's calls are limited to ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __enter__(self) -> None:
        self.saved = getattr(_call, "limit", DEFAULT_MAX_ANSWER)
        _call.limit = self.limit

    def __exit__(self, *exc: Any) -> None:
        _call.limit = self.saved


# pan-python calls ``urlopen`` as a global of its module on every request: route it through the cache.
pan.xapi.urlopen = _urlopen


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of temporary errors: ``attempts`` tries in all, exponential waits capped at ``max_wait``."""

    attempts: int = 3
    initial_wait: float = 1.0
    max_wait: float = 30.0

    def run(self, fn: Callable[[], T]) -> T:
        if self.attempts <= 1:
            return fn()
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=tenacity.wait_exponential(multiplier=self.initial_wait, max=self.max_wait),
            retry=tenacity.retry_if_exception(_worth_retrying),
            reraise=True,
        )
        return retrying(fn)


NO_RETRY = RetryPolicy(attempts=1)


class _RetryingOps:
    """pan-os-python's firewall as panos-upgrade-assurance sees it, each ``op`` call retried under our policy.

    The library makes its own calls (a readiness check or a snapshot is several of them) and reports a lost
    snapshot area instead of raising: retrying its whole run would repeat every call for one that failed.
    A call that is not worth retrying, or still fails, raises the library's own exception unchanged (the
    library's error handling relies on its types)."""

    def __init__(self, dev: Any, retry: RetryPolicy, name: str) -> None:
        self._dev, self._retry, self._name = dev, retry, name

    def op(self, *args: Any, **kwargs: Any) -> Any:
        if self._retry.attempts <= 1:
            return self._dev.op(*args, **kwargs)
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._retry.attempts),
            wait=tenacity.wait_exponential(multiplier=self._retry.initial_wait, max=self._retry.max_wait),
            retry=tenacity.retry_if_exception(lambda e: _worth_retrying(translate(e, self._name))),
            reraise=True,
        )
        return retrying(self._dev.op, *args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._dev, attr)


def _worth_retrying(exc: BaseException) -> bool:
    """Temporary errors, and answers that could not be parsed (a proxy's page, a truncated body): asking
    a read again is harmless. Device-changing commands are sent with ``NO_RETRY``; the engine decides."""
    return isinstance(exc, TemporaryDeviceError) or getattr(exc, "kind", None) == "bad-response"


DEFAULT_BURST = 4  # discovery's Panorama calls (device list, groups, system info, HA) without waiting


class RateLimiter:
    """At most ``per_minute`` acquisitions in any 60 seconds, and bursts up to ``burst``.

    Two rules, both kept: a token bucket (``burst`` tokens, refilled at ``per_minute`` / 60 a second) spaces
    the calls, and a sliding window (the last ``per_minute`` acquisition times) keeps any 60 seconds at the
    configured rate even right after a burst: at 10 a minute with a burst of 4, the first four calls go at
    once, then one every 6 s, never an eleventh within a minute of the first. ``burst`` defaults to
    ``DEFAULT_BURST`` (or a tenth of a minute's calls if that is more, never more than ``per_minute``).
    ``clock`` and ``sleep`` are injectable so tests run without real waiting.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("rate must be positive")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = per_minute / 60.0
        self.per_window = max(1, int(per_minute))
        default = max(min(DEFAULT_BURST, self.per_window), int(per_minute // 6))
        self.capacity = float(burst if burst is not None else default)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.stamp = clock()
        self.granted: deque[float] = deque(maxlen=self.per_window)  # times given out, the latest last
        self.lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting if needed; return the seconds waited."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= 1.0
            at = now if self.tokens >= 0 else now - self.tokens / self.rate
            if len(self.granted) == self.per_window:
                at = max(at, self.granted[0] + 60.0)
            if self.granted:
                at = max(at, self.granted[-1])  # in the order asked
            self.granted.append(at)
            wait = at - now
        if wait > 0:
            self.sleep(wait)
        return wait


# pan-python's words for an answer it could not parse (``ElementTree.fromstring ParseError``, no status).
_UNPARSEABLE = (
    "parseerror",
    "not well-formed",
    "expaterror",
    "no element found",
    "no status",
    "status attribute",
    "no response element",
    "junk after",
)


def translate(exc: BaseException, where: str) -> DeviceError:
    """Classify any exception raised while talking to a device, once, into our two error families."""
    if isinstance(exc, DeviceError):
        return exc
    text = str(exc)
    low = text.lower()
    if isinstance(exc, px.ResponseFormatError):
        return PermanentDeviceError(f"{where}: unexpected response: {text}", kind="bad-response")
    if isinstance(exc, AnswerTooLarge):
        return PermanentDeviceError(f"{where}: {text}", kind="bad-response")
    if isinstance(exc, pan_errors.PanInvalidCredentials) or "invalid credential" in low or "code: 403" in low:
        return PermanentDeviceError(f"{where}: authentication failed (invalid credentials)", kind="auth")
    if "certificate_verify_failed" in low or "certificate verify failed" in low or "certificateerror" in low:
        return PermanentDeviceError(f"{where}: TLS certificate not trusted: {text}", kind="tls")
    if "hostname mismatch" in low or "doesn't match" in low:
        return PermanentDeviceError(f"{where}: TLS certificate does not match host: {text}", kind="tls")
    if isinstance(exc, pan_errors.PanConnectionTimeout | socket.timeout | TimeoutError) or "timed out" in low:
        return TemporaryDeviceError(f"{where}: timed out", kind="timeout")
    if "software manager is currently in use" in low:
        return TemporaryDeviceError(f"{where}: software manager is currently in use", kind="busy")
    if " not connected" in low:
        return TemporaryDeviceError(f"{where}: {text}", kind="not-connected")
    for code in ("500", "502", "503", "504"):
        if f"code: {code}" in low:
            return TemporaryDeviceError(f"{where}: HTTP {code}", kind="http-5xx")
    if isinstance(exc, http.client.HTTPException | ConnectionError | OSError) or any(
        s in low
        for s in (
            "connection refused",
            "connection reset",
            "eof occurred",
            "remote end closed",
            "urlerror",
            "errno",
        )
    ):
        return TemporaryDeviceError(f"{where}: unreachable ({_short(text)})", kind="unreachable")
    name = type(exc).__name__.lower()
    if any(w in low or w in name for w in _UNPARSEABLE):
        # The answer could not be read at all (by pan-python, or by panos-upgrade-assurance's own parsing):
        # that is not PAN-OS refusing the request, and asking a read again is harmless.
        return PermanentDeviceError(
            f"{where}: unexpected response: {type(exc).__name__}: {_short(text)}", kind="bad-response"
        )
    if isinstance(exc, pan.xapi.PanXapiError):
        return PermanentDeviceError(f"{where}: {_short(text)}", kind="api")
    return PermanentDeviceError(f"{where}: {type(exc).__name__}: {_short(text)}", kind="internal")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _xapi(endpoint: Endpoint, **kw: Any) -> Any:
    """pan-os-python's ``XapiWrapper`` with our TLS settings. Given a context, pan-python's constructor
    builds a throwaway ``SSLContext`` only to check that the ssl module has one (half a millisecond of CPU
    each; discovery builds one or two per firewall). It reads ``ssl_context`` only when it sends a request,
    so the context is set right after construction, before any request."""
    xapi = PanDevice.XapiWrapper(use_http=endpoint.use_http, **kw)
    xapi.ssl_context = endpoint.ssl_context()
    return xapi


class _Verified:
    """Mixin for pan-os-python devices: pass our ``ssl_context`` (and plain HTTP if asked) to pan-python."""

    _endpoint: Endpoint

    def generate_xapi(self) -> Any:
        dev: Any = self
        key = dev.api_key  # the first access asks the device for one (``_retrieve_api_key``)
        asked: Any = self.__dict__.pop("_keygen_xapi", None)
        if asked is not None and asked.api_key == key:
            return asked  # the wrapper that asked for the key serves the calls: one fewer to build
        return _xapi(
            self._endpoint,
            api_key=key,
            hostname=dev.hostname,
            port=dev.port,
            timeout=dev.timeout,
            pan_device=dev,
        )

    def _retrieve_api_key(self) -> str:
        dev: Any = self
        xapi = _xapi(
            self._endpoint,
            pan_device=dev,
            api_username=dev._api_username,
            api_password=dev._api_password,
            hostname=dev.hostname,
            port=dev.port,
            timeout=dev.timeout,
        )
        xapi.keygen(retry_on_peer=False)
        key: str = xapi.api_key
        # From now on it is what ``generate_xapi`` would build: the key, no password.
        xapi.api_username = xapi.api_password = None
        self.__dict__["_keygen_xapi"] = xapi
        return key


class _VerifiedFirewall(_Verified, Firewall):  # type: ignore[misc]
    pass


class _VerifiedPanorama(_Verified, Panorama):  # type: ignore[misc]
    pass


class _ProxiedFirewall(Firewall):  # type: ignore[misc]
    """pan-os-python's firewall reached through its Panorama parent (``Firewall(serial=...)`` added to a
    ``Panorama``): the library sends each request to Panorama with its key and ``target=SERIAL``. As in
    ``_Verified``, only the TLS settings (Panorama's endpoint) are added to what the library builds."""

    _endpoint: Endpoint

    def generate_xapi(self) -> Any:
        pano = self.panorama()
        return _xapi(
            self._endpoint,
            pan_device=self,
            api_key=pano.api_key,
            hostname=pano.hostname,
            port=pano.port,
            timeout=self.timeout,
            serial=self.serial,
        )


CONNECTIONS = ("direct", "panorama", "auto")
# Seam error kinds of a management address that does not answer at all: ``auto`` falls back on these.
FALLBACK_KINDS = frozenset({"unreachable", "timeout"})


class PanoramaLink:
    """How firewalls are reached through one Panorama: its endpoint and credentials, one API key per
    Panorama member (generated on first use, once) and one rate limiter shared by every call through it.

    Panorama HA: the members are the configured ``panorama.host`` and the management addresses discovery
    recorded for Panorama and its HA peer (``members``, the inventory's ``panorama_devices``). Calls go to
    the member that answered last; one that does not answer (down, restarting, unreachable) is passed over
    for the next one (``FirewallClient``), so a firewall stays reachable while one Panorama member reboots,
    e.g. during its own upgrade."""

    def __init__(
        self,
        endpoint: Endpoint,
        creds: Credentials,
        limiter: RateLimiter | None,
        members: Callable[[], Sequence[tuple[str, str]]] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.credentials = creds
        self.limiter = limiter
        self._members = members or (lambda: ())
        self._keys: dict[str, str] = {}
        self._preferred = endpoint.host
        self._lock = threading.Lock()

    def members(self) -> list[tuple[str, str]]:
        """(address, serial or "") of each Panorama member, the one that answered last first."""
        known = {host: serial for host, serial in self._members() if host}
        hosts = list(dict.fromkeys([self.endpoint.host, *known]))
        with self._lock:
            preferred = self._preferred
        if preferred in hosts:
            hosts.remove(preferred)
            hosts.insert(0, preferred)
        return [(host, known.get(host, "")) for host in hosts]

    def answered(self, host: str, serial: str, failed: str) -> None:
        """``host`` answered after ``failed`` did not: calls go there first from now on."""
        with self._lock:
            if self._preferred == host:
                return
            self._preferred = host
        log.warning(
            "Panorama %s does not answer; firewalls are reached through Panorama %s (%s) from now on",
            failed,
            serial or host,
            host,
        )

    def api_key(self, host: str = "") -> str:
        host = host or self.endpoint.host
        with self._lock:
            key = self._keys.get(host)
        if not key:
            key = _build(_VerifiedPanorama, replace(self.endpoint, host=host), self.credentials).api_key
            with self._lock:
                self._keys[host] = key
        return key

    def firewall(self, serial: str, timeout: float, host: str = "") -> Any:
        """A fresh pan-os-python firewall under a fresh Panorama object at member ``host`` (these are not
        shared between threads), both on that member's API key."""
        endpoint = replace(self.endpoint, host=host or self.endpoint.host)
        pano = _VerifiedPanorama(
            endpoint.host, api_key=self.api_key(endpoint.host), port=endpoint.port, timeout=endpoint.timeout
        )
        pano._endpoint = endpoint
        fw = _ProxiedFirewall(serial=serial)
        fw.timeout = timeout
        fw._endpoint = endpoint
        pano.add(fw)
        return fw


# Seam error kinds of a Panorama member that did not pass the request on: for a read, any sign that the
# member is down (another member is asked); for a request that changes the firewall only answers that say
# the member refused it (HTTP 5xx while restarting, 403 while its authentication starts), since a dropped
# connection or a timeout leaves open whether the firewall got it (never sent twice; the engine looks up).
PANORAMA_DOWN_KINDS = frozenset({"unreachable", "timeout", "http-5xx", "auth"})
PANORAMA_REFUSED_KINDS = frozenset({"http-5xx", "auth"})

DEFAULT_RECHECK = 3600.0  # seconds between tries of a fallen-back firewall's management address
RECHECK_TIMEOUT = 15.0  # seconds a re-check of the management address may take at most


class PathMemory:
    """Per firewall serial: ``direct`` once its management address has answered in this process,
    ``panorama`` once ``auto`` fell back to Panorama for it. The fallback is kept in the work directory
    (``workdir.firewall_paths``, when a ``file`` is given) so that later runs and discovery start through
    Panorama too; every ``recheck_after`` seconds a read tries the management address again
    (``recheck_due``), and a firewall that answers there is reached directly again (``direct_again``)."""

    def __init__(
        self,
        file: Path | None = None,
        *,
        recheck_after: float = DEFAULT_RECHECK,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.file = file
        self.recheck_after = recheck_after
        self.clock = clock
        self._paths: dict[str, str] = {}
        self._lock = threading.Lock()
        self._fallbacks: dict[str, firewall_paths.Fallback] = {}
        self._stamp: int | None = None
        self._load()

    def _load(self) -> None:
        """(Re)read the file: its fallbacks replace this memory's (what answered directly stays known)."""
        if self.file is None:
            return
        stamp = _mtime(self.file)
        fallbacks = firewall_paths.load(self.file) if stamp is not None else {}
        with self._lock:
            self._stamp = stamp
            for serial in set(self._fallbacks) - set(fallbacks):
                self._paths.pop(serial, None)
            self._fallbacks = fallbacks
            for serial in fallbacks:
                self._paths[serial] = "panorama"

    @classmethod
    def shared(cls, file: Path, *, recheck_after: float = DEFAULT_RECHECK) -> PathMemory:
        """The process's one memory of ``file`` (discovery and the engine of one process share it), read
        again when another process changed the file since (e.g. ``device discover`` beside the daemon)."""
        with _memories_lock:
            memory = _memories.get(file)
            if memory is None:
                memory = _memories[file] = cls(file, recheck_after=recheck_after)
            elif _mtime(file) != memory._stamp:
                memory._load()
            memory.recheck_after = recheck_after
            return memory

    def get(self, serial: str) -> str:
        with self._lock:
            return self._paths.get(serial, "")

    def remember(self, serial: str, path: str) -> None:
        with self._lock:
            if self._paths.get(serial) == "panorama":
                return
            self._paths[serial] = path
            if path != "panorama":
                return
            now = self.clock()
            self._fallbacks[serial] = firewall_paths.Fallback(now, now)
        self._persist(serial)

    def recheck_due(self, serial: str) -> bool:
        """Whether the management address of a firewall reached through Panorama is due to be tried."""
        with self._lock:
            fallback = self._fallbacks.get(serial)
            return fallback is not None and self.clock() - fallback.checked_at >= self.recheck_after

    def checked(self, serial: str) -> None:
        """The management address was tried again and still does not answer."""
        with self._lock:
            fallback = self._fallbacks.get(serial)
            if fallback is None:
                return
            self._fallbacks[serial] = replace(fallback, checked_at=self.clock())
        self._persist(serial)

    def direct_again(self, serial: str) -> None:
        """The management address answers again: the firewall is reached directly from now on."""
        with self._lock:
            self._paths[serial] = "direct"
            self._fallbacks.pop(serial, None)
        self._persist(serial)

    def _persist(self, serial: str) -> None:
        """Write this serial's entry into the file, over what other processes wrote for the others."""
        if self.file is None:
            return
        with _memories_lock:
            on_disk = firewall_paths.load(self.file) if self.file.exists() else {}
            with self._lock:
                fallback = self._fallbacks.get(serial)
            if fallback is None:
                on_disk.pop(serial, None)
            else:
                on_disk[serial] = fallback
            try:
                firewall_paths.save(self.file, on_disk)
            except (OSError, StoreError) as exc:
                log.warning(
                    "%s not written (the path is remembered in this process only): %s", self.file, exc
                )
                return
            with self._lock:
                self._stamp = _mtime(self.file)


def _mtime(file: Path) -> int | None:
    try:
        return file.stat().st_mtime_ns
    except OSError:
        return None


_memories: dict[Path, PathMemory] = {}
_memories_lock = threading.Lock()


class _Routed:
    """The firewall as panos-upgrade-assurance calls it: ``op`` through the client's path choice, anything
    else (``xapi``) from the device of the path in use."""

    def __init__(self, client: FirewallClient) -> None:
        self._client = client

    def op(self, cmd: str | None = None, **kw: Any) -> Any:
        return self._client._send(cmd or "", **kw)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._client._device(), attr)


def _build(cls: type, endpoint: Endpoint, creds: Credentials) -> Any:
    if not creds.usable:
        raise PermanentDeviceError(f"{endpoint.host}: no credentials configured", kind="auth")
    if creds.username and creds.password:
        dev = cls(endpoint.host, creds.username, creds.password, port=endpoint.port, timeout=endpoint.timeout)
    else:
        dev = cls(endpoint.host, api_key=creds.api_key, port=endpoint.port, timeout=endpoint.timeout)
    dev._endpoint = endpoint
    if not endpoint.verify_tls and not endpoint.use_http:
        log.warning("TLS verification is OFF for %s (explicitly configured)", endpoint.host)
    return dev


class _Client:
    """Common plumbing: one pan-os-python device, op() with translation, retries and an optional limiter."""

    def __init__(
        self,
        dev: Any,
        name: str,
        retry: RetryPolicy,
        limiter: RateLimiter | None = None,
        on_call: Callable[[str, str | None, str], None] | None = None,
        path: str = "direct",
    ) -> None:
        self._dev = dev
        self.name = name
        self.path = path  # how the last call went: the ``path`` label of the call counter
        self.retry = retry
        self.limiter = limiter
        self.on_call = on_call
        endpoint = getattr(dev, "_endpoint", None)
        self.max_answer = (endpoint.max_answer_mb << 20) if endpoint is not None else DEFAULT_MAX_ANSWER

    def op(
        self, cmd: str, *, xml: bool = False, retry: RetryPolicy | None = None, extra_qs: Any = None
    ) -> ET.Element:
        """Run an operational command; ``xml=True`` when ``cmd`` is already XML."""

        def once() -> ET.Element:
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                with _answer_limit(self.max_answer):
                    result: ET.Element = self._send(cmd, cmd_xml=not xml, extra_qs=extra_qs)
            except Exception as exc:
                err = translate(exc, f"{self.name}: {_verb(cmd)}")
                self._count(cmd, err.kind)
                raise err from exc
            finally:
                self._forget_answers()
            self._count(cmd, None)
            return result

        return (retry or self.retry).run(once)

    def _send(self, cmd: str, **kw: Any) -> Any:
        """One request to the device, untranslated (``FirewallClient`` chooses the path here)."""
        return self._dev.op(cmd, **kw)

    def _forget_answers(self) -> None:
        """Once a call is over, drop the answer pan-python keeps on the device's ``PanXapi`` (its text and
        its parsed tree; the caller holds what it needs): every firewall of a large fleet kept its last
        answer until its next call, ~1,000 XML elements each (29 MB of elements and 6 MB of text at 2,000
        firewalls in the daemon, tracemalloc). The next request replaces them anyway."""
        for dev in self._devices():
            _forget_answer(dev)

    def _devices(self) -> list[Any]:
        """Every pan-os-python device this client has made calls on."""
        return [self._dev]

    def _count(self, cmd: str, error_kind: str | None) -> None:
        if self.on_call is not None:
            self.on_call(_verb(cmd), error_kind, self.path)


_ANSWER_ATTRS = ("xml_document", "text_document", "element_root", "element_result", "export_result")


def _forget_answer(dev: Any) -> None:
    """Drop the last answer a pan-os-python device's ``PanXapi`` holds (pan-python clears the same
    attributes at the start of every request); a device whose ``xapi`` was never made has none."""
    xapi = getattr(dev, "_xapi_private", None)
    if xapi is not None:
        for attr in _ANSWER_ATTRS:
            if getattr(xapi, attr, None) is not None:
                setattr(xapi, attr, None)


def _verb(cmd: str) -> str:
    """A short label of a command for logs and metrics (first words, never arguments)."""
    if cmd.lstrip().startswith("<"):
        tags = [t for t in ET.fromstring(cmd).iter()][:3]
        return " ".join(t.tag for t in tags)
    return " ".join(cmd.split()[:3])


class PanoramaClient(_Client):
    """Panorama, used for discovery only (every call goes through the rate limiter). ``members``: other
    management addresses of this Panorama (its HA peer, as the last discovery recorded it), asked when the
    configured one does not answer (down, restarting); ``name`` then names the member that answered."""

    def __init__(
        self,
        endpoint: Endpoint,
        creds: Credentials,
        *,
        rate_limit_per_minute: float | None = None,
        retry: RetryPolicy = RetryPolicy(),
        limiter: RateLimiter | None = None,
        on_call: Callable[[str, str | None, str], None] | None = None,
        members: Sequence[str] = (),
    ) -> None:
        if limiter is None and rate_limit_per_minute:
            limiter = RateLimiter(rate_limit_per_minute)
        super().__init__(
            _build(_VerifiedPanorama, endpoint, creds),
            f"panorama {endpoint.host}",
            retry,
            limiter,
            on_call,
            path="panorama",
        )
        self.endpoint = endpoint
        self.credentials = creds
        self._hosts = list(dict.fromkeys([endpoint.host, *(m for m in members if m)]))
        self._devs: dict[str, Any] = {endpoint.host: self._dev}

    def _send(self, cmd: str, **kw: Any) -> Any:
        """To the member that answered last, then to the next one when it does not answer at all
        (``PANORAMA_DOWN_KINDS``; every discovery call only reads). Each member is asked at most once."""
        for i, host in enumerate(list(self._hosts)):
            dev = self._devs.get(host)
            if dev is None:
                dev = self._devs[host] = _build(
                    _VerifiedPanorama, replace(self.endpoint, host=host), self.credentials
                )
            try:
                result = dev.op(cmd, **kw)
            except Exception as exc:
                err = translate(exc, f"panorama {host}: {_verb(cmd)}")
                if i + 1 == len(self._hosts) or err.kind not in PANORAMA_DOWN_KINDS:
                    raise
                log.warning("Panorama %s does not answer (%s); asking its HA peer %s", host, err.kind,
                            self._hosts[i + 1])  # fmt: skip
                continue
            if i:
                self._hosts.remove(host)
                self._hosts.insert(0, host)
                self.name = f"panorama {host}"
                self.endpoint = replace(self.endpoint, host=host)
                self._dev = dev
            return result
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def peer(self, address: str) -> PanoramaClient:
        """A client of Panorama's HA peer at its own management ``address`` (the same settings,
        credentials, retry policy and rate limit)."""
        return PanoramaClient(
            replace(self.endpoint, host=address),
            self.credentials,
            retry=self.retry,
            limiter=self.limiter,
            on_call=self.on_call,
        )

    def connected_devices(self) -> list[px.PanoramaDevice]:
        return self._parse(px.panorama_devices, self.op("show devices all"))

    def device_groups(self) -> dict[str, str]:
        return self._parse(px.device_groups, self.op("show devicegroups"))

    def system_info(self) -> px.SystemInfo:
        """Panorama's own ``show system info`` (its version is what the compatibility guard needs)."""
        return self._parse(px.system_info, self.op("show system info"))

    def ha(self) -> px.PanoramaHa:
        """Panorama's own HA state (its peer's version, for a Panorama HA pair)."""
        return self._parse(px.panorama_ha, self.op("show high-availability state"))

    def _parse(self, parser: Callable[[ET.Element], T], root: ET.Element) -> T:
        try:
            return parser(root)
        except px.ResponseFormatError as exc:
            raise translate(exc, self.name) from exc


class FirewallClient(_Client):
    """One firewall, reached at its management address, through Panorama (``via``), or ``auto``: the
    management address first, Panorama when it does not answer (see the module's "Paths")."""

    def __init__(
        self,
        endpoint: Endpoint,
        creds: Credentials,
        *,
        serial: str = "",
        retry: RetryPolicy = RetryPolicy(),
        on_call: Callable[[str, str | None, str], None] | None = None,
        connection: str = "direct",
        via: PanoramaLink | None = None,
        paths: PathMemory | None = None,
    ) -> None:
        if connection not in CONNECTIONS:
            raise ValueError(f"connection must be one of {', '.join(CONNECTIONS)}, not {connection!r}")
        if connection != "direct" and (via is None or not serial):
            raise PermanentDeviceError(
                f"firewall {serial or endpoint.host}: firewall.connection {connection} needs panorama.host "
                "and the firewall's serial",
                kind="internal",
            )
        direct = _build(_VerifiedFirewall, endpoint, creds) if connection != "panorama" else None
        super().__init__(direct, f"firewall {serial or endpoint.host}", retry, None, on_call)
        self.endpoint = endpoint
        self.serial = serial
        self.connection = connection
        self.via = via
        self.paths = paths if paths is not None else PathMemory()
        self._proxied: dict[str, Any] = {}  # Panorama member address -> the firewall under it
        self._call_timeout: float | None = None
        self.path = "panorama" if connection == "panorama" else "direct"
        self.through = ""  # the Panorama member (serial, else address) the last call through Panorama took
        if connection == "auto" and self.paths.get(serial) == "panorama":
            self.path = "panorama"

    @property
    def reached(self) -> str:
        """How the last call reached the firewall: ``direct``, or ``panorama SERIAL`` (the Panorama member
        that passed it on; its address when discovery did not record its serial)."""
        if self.path != "panorama":
            return "direct"
        return f"panorama {self.through}" if self.through else "panorama"

    def _device(self) -> Any:
        """The pan-os-python device of the path in use (through Panorama: the member that answered last)."""
        if self.path == "direct":
            return self._dev
        assert self.via is not None
        return self._proxied_on(self.via.members()[0][0])

    def _devices(self) -> list[Any]:
        return [self._dev, *self._proxied.values()]

    def _proxied_on(self, host: str) -> Any:
        fw = self._proxied.get(host)
        if fw is None:
            assert self.via is not None
            fw = self._proxied[host] = self.via.firewall(self.serial, self.endpoint.timeout, host)
        return fw

    def _call(self, dev: Any, cmd: str, kw: dict[str, Any]) -> Any:
        if self._call_timeout is None:
            return dev.op(cmd, **kw)
        xapi = dev.xapi  # the first access generates the API key
        saved = xapi.timeout
        xapi.timeout = self._call_timeout
        try:
            return dev.op(cmd, **kw)
        finally:
            xapi.timeout = saved

    def _once(self, cmd: str, kw: dict[str, Any]) -> Any:
        if self.path == "direct":
            return self._call(self._dev, cmd, kw)
        return self._through_panorama(cmd, kw)

    def _through_panorama(self, cmd: str, kw: dict[str, Any]) -> Any:
        """One request through Panorama: to the member that answered last, then (Panorama HA) to the other
        member when that one does not pass it on (``PANORAMA_DOWN_KINDS``; for a request that changes the
        firewall only ``PANORAMA_REFUSED_KINDS``). Each member is asked at most once."""
        assert self.via is not None
        members = self.via.members()
        reads = connections.read_only_op(cmd, xml=not kw.get("cmd_xml", True))
        passed_over = ""
        for i, (host, serial) in enumerate(members):
            if self.via.limiter is not None:
                self.via.limiter.acquire()
            try:
                result = self._call(self._proxied_on(host), cmd, kw)
            except Exception as exc:
                err = translate(exc, f"{self.name} through Panorama {serial or host}: {_verb(cmd)}")
                down = PANORAMA_DOWN_KINDS if reads else PANORAMA_REFUSED_KINDS
                if i + 1 == len(members) or err.kind not in down:
                    raise err from exc
                self._count(cmd, err.kind)
                self._proxied.pop(host, None)  # a restarted member gives a new session: a fresh object
                passed_over = passed_over or (serial or host)
                continue
            if passed_over:
                self.via.answered(host, serial, passed_over)
            self.through = serial or host
            return result
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _send(self, cmd: str, **kw: Any) -> Any:
        if self.connection == "auto" and self.paths.get(self.serial) == "panorama":
            self.path = "panorama"  # fell back earlier (this process, another client, or an earlier run)
            if self.paths.recheck_due(self.serial) and connections.read_only_op(
                cmd, xml=not kw.get("cmd_xml", True)
            ):
                answered, result = self._recheck(cmd, kw)
                if answered:
                    return result
        if self.path == "panorama":
            return self._once(cmd, kw)
        try:
            result = self._once(cmd, kw)
        except Exception as exc:
            err = translate(exc, f"{self.name}: {_verb(cmd)}")
            if (
                self.connection != "auto"
                or err.kind not in FALLBACK_KINDS
                or self.paths.get(self.serial) == "direct"
            ):
                raise
            self._count(cmd, err.kind)
            self.path = "panorama"
            try:
                result = self._once(cmd, kw)
            except Exception:
                self.path = "direct"  # Panorama could not reach it either: try both again next time
                raise
            log.warning(
                "%s: management address %s does not answer (%s); reached through Panorama from now on "
                "(its address is tried again every %.0f s)",
                self.name,
                self.endpoint.host,
                err.kind,
                self.paths.recheck_after,
            )
            self.paths.remember(self.serial, "panorama")
            return result
        if self.connection == "auto":
            self.paths.remember(self.serial, "direct")
        return result

    def _recheck(self, cmd: str, kw: dict[str, Any]) -> tuple[bool, Any]:
        """A read sent to the management address of a firewall ``auto`` reaches through Panorama (its
        re-check is due), within ``RECHECK_TIMEOUT``: (True, its answer) once it answers there, and the
        firewall is reached directly from now on; (False, None) otherwise (the read then goes through
        Panorama, the next re-check ``recheck_after`` seconds later)."""
        saved = self._call_timeout
        self._call_timeout = min(saved or self.endpoint.timeout, RECHECK_TIMEOUT, self.endpoint.timeout)
        try:
            result = self._call(self._dev, cmd, kw)
        except Exception as exc:
            err = translate(exc, f"{self.name}: {_verb(cmd)}")
            self.paths.checked(self.serial)
            log.info(
                "%s: management address %s still does not answer (%s); still reached through Panorama",
                self.name,
                self.endpoint.host,
                err.kind,
            )
            return False, None
        finally:
            self._call_timeout = saved
        self.paths.direct_again(self.serial)
        self.path = "direct"
        log.warning(
            "%s: management address %s answers again; reached directly from now on",
            self.name,
            self.endpoint.host,
        )
        return True, result

    def _parse(self, parser: Callable[[ET.Element], T], root: ET.Element) -> T:
        try:
            return parser(root)
        except (px.ResponseFormatError, ValueError) as exc:
            raise translate(px.ResponseFormatError(str(exc)), self.name) from exc

    def system_info(self, retry: RetryPolicy | None = None) -> px.SystemInfo:
        return self._parse(px.system_info, self.op("show system info", retry=retry))

    def ha_state(self, retry: RetryPolicy | None = None) -> px.HaState:
        return self._parse(px.ha_state, self.op("show high-availability state", retry=retry))

    # -- software -------------------------------------------------------------------------------------

    def _with_timeout(self, seconds: float | None, fn: Callable[[], T]) -> T:
        """Run ``fn`` with a different API timeout (software check/info have their own)."""
        if seconds is None:
            return fn()
        saved, self._call_timeout = self._call_timeout, seconds
        try:
            return fn()
        finally:
            self._call_timeout = saved

    def software_check(self, timeout: float | None = None) -> list[px.SoftwareImage]:
        """Ask the update server for the image list (``request system software check``)."""
        root = self._with_timeout(timeout, lambda: self.op("request system software check"))
        return self._parse(px.software_images, root)

    def software_info(self, timeout: float | None = None) -> list[px.SoftwareImage]:
        """The device's cached image list (``request system software info``), no update-server round trip."""
        root = self._with_timeout(timeout, lambda: self.op("request system software info"))
        return self._parse(px.software_images, root)

    def download(self, version: str, *, sync_to_peer: bool = False) -> str:
        """Start downloading an image; returns the job id. Not retried (it would start a second job)."""
        peer = "yes" if sync_to_peer else "no"
        root = self.op(
            f'request system software download sync-to-peer "{peer}" version "{version}"', retry=NO_RETRY
        )
        return self._parse(px.enqueued_job_id, root)

    def install(self, version: str) -> str:
        """Start installing an image; returns the job id. Never retried here (the engine decides)."""
        root = self.op(f'request system software install version "{version}"', retry=NO_RETRY)
        return self._parse(px.enqueued_job_id, root)

    def delete_image(self, version: str) -> None:
        """Delete a downloaded software image (CLI ``delete software version <version>``, XML
        ``<delete><software><version>…``). PAN-OS refuses the running image and images not on the device.
        Not retried here: the engine re-reads the image list instead of deleting blind."""
        self.op(f'delete software version "{version}"', retry=NO_RETRY)

    def job(self, job_id: str, retry: RetryPolicy | None = None) -> px.Job:
        return self._parse(px.job, self.op(f'show jobs id "{job_id}"', retry=retry))

    def jobs(self, retry: RetryPolicy | None = None) -> list[px.Job]:
        return self._parse(px.jobs, self.op("show jobs all", retry=retry))

    # -- content (App-ID) -----------------------------------------------------------------------------

    def content_check(self) -> None:
        self.op("request content upgrade check")

    def content_download_latest(self) -> str:
        return self._parse(
            px.enqueued_job_id, self.op("request content upgrade download latest", retry=NO_RETRY)
        )

    def content_install_latest(self) -> str:
        root = self.op('request content upgrade install version "latest"', retry=NO_RETRY)
        return self._parse(px.enqueued_job_id, root)

    # -- reboot and readiness -------------------------------------------------------------------------

    def reboot(self) -> None:
        """Ask for a reboot. The device usually drops the connection instead of answering: that is success."""
        try:
            self.op("request restart system", retry=NO_RETRY)
        except TemporaryDeviceError as exc:
            if exc.kind not in ("unreachable", "timeout"):
                raise
        except PermanentDeviceError as exc:
            # pan-python raises on an empty body ("no output"); the request was still delivered.
            if "no output" not in str(exc).lower() and exc.kind != "bad-response":
                raise

    def chassis_ready(self, retry: RetryPolicy | None = None) -> bool:
        return self._parse(px.chassis_ready, self.op("show chassis-ready", retry=retry))

    def free_disk_gb(self) -> float:
        return self._parse(px.free_disk_gb, self.op("show system disk-space"))

    # -- HA ---------------------------------------------------------------------------------------------

    def ha_suspend(self) -> None:
        self.op(
            "<request><high-availability><state><suspend/></state></high-availability></request>", xml=True
        )

    def ha_functional(self) -> None:
        self.op(
            "<request><high-availability><state><functional/></state></high-availability></request>", xml=True
        )

    # -- evidence ---------------------------------------------------------------------------------------

    def running_config(self) -> str:
        """The running configuration as XML text (for the pre-install backup)."""
        root = self.op("show config running")
        res = root.find("result")
        body = res if res is not None else root
        return "".join(ET.tostring(child, encoding="unicode") for child in body)

    def assurance(self) -> Any:
        """A panos-upgrade-assurance ``CheckFirewall`` bound to this device (locale left alone: we are threaded)."""
        from panos_upgrade_assurance.check_firewall import CheckFirewall
        from panos_upgrade_assurance.firewall_proxy import FirewallProxy

        ops = _RetryingOps(_Routed(self), self.retry, self.name)
        return CheckFirewall(FirewallProxy(ops), skip_force_locale=True)

    def readiness(self, checks: list[Any]) -> dict[str, Any]:
        """Run panos-upgrade-assurance readiness checks; ``{check: {"state": bool, "reason": str}}``."""
        return self._assured("readiness checks", lambda a: a.run_readiness_checks(checks))

    def snapshot(self, areas: list[str]) -> dict[str, Any]:
        """Run panos-upgrade-assurance snapshots (e.g. ``routes``, ``arp_table``, ``session_stats``). An area
        lost to a transient error is reported by the library, not raised: the runner takes it again."""
        return self._assured("snapshots", lambda a: a.run_snapshots(areas))

    def _assured(self, what: str, run: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """One panos-upgrade-assurance run. Its own calls are retried one by one (``_RetryingOps``); an error
        that still escapes is translated at the seam and runs the whole thing again under the client's retry
        policy, like every other read."""

        def once() -> dict[str, Any]:
            try:
                with _answer_limit(self.max_answer):
                    return run(self.assurance())
            except Exception as exc:
                raise translate(exc, f"{self.name}: {what}") from exc
            finally:
                self._forget_answers()

        return self.retry.run(once)


class PanoramaDeviceClient(FirewallClient):
    """Panorama (or its HA peer) as a device being upgraded: pan-os-python's ``Panorama`` at that member's
    own management address, with Panorama's credentials and rate limit. It answers the firewall's software,
    job, restart, disk, configuration and HA commands (PAN-OS XML API guide, "Use the API for Upgrade
    Tasks", lists them for Panorama too), so the same state machine drives it. Two differences are
    translated here: its HA answer has Panorama's shape (``PanoramaHa``, read as a firewall's), and it has
    no data plane, so there are no sessions, routes or ARP entries to compare across its reboot."""

    def __init__(
        self,
        endpoint: Endpoint,
        creds: Credentials,
        *,
        serial: str = "",
        retry: RetryPolicy = RetryPolicy(),
        on_call: Callable[[str, str | None, str], None] | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        _Client.__init__(
            self,
            _build(_VerifiedPanorama, endpoint, creds),
            f"panorama {serial or endpoint.host}",
            retry,
            limiter,
            on_call,
            path="panorama",
        )
        self.endpoint = endpoint
        self.serial = serial
        self.connection = "direct"
        self.via = None
        self.paths = PathMemory()
        self._proxied = {}
        self._call_timeout = None
        self.through = ""

    @property
    def reached(self) -> str:
        return "direct"  # at its own management address

    def _device(self) -> Any:
        return self._dev

    def _send(self, cmd: str, **kw: Any) -> Any:
        return self._call(self._dev, cmd, kw)

    def ha_state(self, retry: RetryPolicy | None = None) -> px.HaState:
        root = self.op("show high-availability state", retry=retry)
        return self._parse(px.panorama_ha, root).as_ha_state()

    def readiness(self, checks: list[Any]) -> dict[str, Any]:
        """panos-upgrade-assurance's readiness checks are a firewall's (``CheckFirewall``): none is run on
        Panorama (the desired state's ``panorama`` block has no ``readinessChecks``)."""
        if checks:
            raise PermanentDeviceError(
                f"{self.name}: readiness checks {', '.join(map(str, checks))} are firewall checks",
                kind="internal",
            )
        return {}

    def snapshot(self, areas: list[str]) -> dict[str, Any]:
        """Panorama forwards no traffic: each area is answered empty, so the comparison records the
        sessions as "not compared" and no route or ARP entry can go missing. What verifies Panorama's hop
        is its version after the reboot, its chassis readiness and (HA) the pair rejoining."""
        return {area: {"status": "success", "snapshot": {}} for area in areas}


def panorama_endpoint(cfg: Config, why: str = "") -> Endpoint:
    host = cfg.get("panorama.host")
    if not host:
        raise PermanentDeviceError(
            f"panorama.host is not configured{why} ('panos-upgrade config set panorama.host H')"
        )
    return Endpoint(
        host=host,
        port=cfg.get("panorama.port"),
        timeout=cfg.get("panorama.timeout"),
        verify_tls=cfg.get("panorama.verify_tls"),
        ca_bundle=cfg.get("panorama.ca_bundle"),
        use_http=cfg.get("panorama.use_http"),
        max_answer_mb=cfg.get("panorama.max_answer_mb"),
    )


def panorama_credentials(cfg: Config) -> Credentials:
    creds = Credentials(
        cfg.get("panorama.username"), cfg.secret("panorama.password"), cfg.secret("panorama.api_key")
    )
    for secret in (creds.password, creds.api_key):
        logs.register_secret(secret)
    return creds


_panorama_limiters: dict[tuple[str, int, int], RateLimiter] = {}


def panorama_limiter(cfg: Config) -> RateLimiter:
    """The process's one ``panorama.rate_limit`` bucket for the configured Panorama: discovery's own calls
    and every firewall call through Panorama draw from it."""
    key = (str(cfg.get("panorama.host")), int(cfg.get("panorama.port")), int(cfg.get("panorama.rate_limit")))
    with _contexts_lock:
        limiter = _panorama_limiters.get(key)
        if limiter is None:
            limiter = _panorama_limiters[key] = RateLimiter(key[2])
        return limiter


def panorama_from_config(cfg: Config, **kw: Any) -> PanoramaClient:
    kw.setdefault("limiter", panorama_limiter(cfg))
    return PanoramaClient(panorama_endpoint(cfg), panorama_credentials(cfg), **kw)


def firewall_credentials(cfg: Config) -> Credentials:
    creds = Credentials(
        cfg.get("firewall.username"), cfg.secret("firewall.password"), cfg.secret("firewall.api_key")
    )
    for secret in (creds.password, creds.api_key):
        logs.register_secret(secret)
    return creds


def firewall_endpoint(cfg: Config, host: str) -> Endpoint:
    return Endpoint(
        host=host,
        port=cfg.get("firewall.port"),
        timeout=cfg.get("firewall.timeout"),
        verify_tls=cfg.get("firewall.verify_tls"),
        ca_bundle=cfg.get("firewall.ca_bundle"),
        use_http=cfg.get("firewall.use_http"),
        max_answer_mb=cfg.get("firewall.max_answer_mb"),
    )


class FirewallClientFactory:
    """The one way to build a firewall's client from the settings: ``factory(host, serial)`` reaches
    ``host`` with the ``firewall.*`` endpoint settings and the firewall credentials (read once, here; their
    secrets are registered for scrubbing), or through Panorama as ``firewall.connection`` (or the
    ``connection`` given, a group's override) says, with this factory's retry policy and call hook. The
    clients of one factory (one session) share the Panorama link (one API key per Panorama member; the
    process's ``panorama.rate_limit`` bucket, ``panorama_limiter``; ``panoramas``: the (address, serial) of
    Panorama and its HA peer as discovery recorded them, the members a call may go to) and the memory of
    which firewalls ``auto`` moved to Panorama (with ``work``, the process's memory of that work directory,
    kept in ``status/firewall-paths.json`` across runs)."""

    def __init__(
        self,
        cfg: Config,
        *,
        retry: RetryPolicy | None = None,
        on_call: Callable[[str, str | None, str], None] | None = None,
        limiter: RateLimiter | None = None,
        work: WorkPaths | None = None,
        panoramas: Callable[[], Sequence[tuple[str, str]]] | None = None,
        memory: PathMemory | None = None,
    ) -> None:
        self.config = cfg
        self.connection: str = cfg.get("firewall.connection")
        self.credentials = firewall_credentials(cfg)
        self.retry = retry or RetryPolicy()
        self.on_call = on_call
        self.panoramas = panoramas
        self.paths = memory or (
            PathMemory.shared(
                firewall_paths.file_of(work), recheck_after=float(cfg.get("firewall.direct_recheck"))
            )
            if work is not None
            else PathMemory()
        )
        self._limiter = limiter
        self._via: PanoramaLink | None = None
        self._via_lock = threading.Lock()
        if self.connection != "direct":
            self.link(self.connection)

    @property
    def via(self) -> PanoramaLink | None:
        return self._via

    def link(self, connection: str) -> PanoramaLink:
        """The session's link to Panorama, built on first need (a setting, or a group asking for it)."""
        with self._via_lock:
            if self._via is None:
                cfg = self.config
                self._via = PanoramaLink(
                    panorama_endpoint(cfg, f" (firewall.connection {connection})"),
                    panorama_credentials(cfg),
                    self._limiter or panorama_limiter(cfg),
                    self.panoramas,
                )
            return self._via

    def require_credentials(self) -> FirewallClientFactory:
        """This factory, for commands that cannot work without credentials (else a UserError): the
        firewalls', or Panorama's when every firewall is reached through it."""
        if self.connection == "panorama" and self.via is not None:
            if not self.via.credentials.usable:
                raise UserError(
                    "no Panorama credentials (firewall.connection is panorama): set panorama.username and "
                    "panorama.password (or an API key)"
                )
            return self
        if not self.credentials.usable:
            raise UserError(
                "no firewall credentials: set firewall.username and firewall.password (or an API key)"
            )
        return self

    def panorama_device(self, host: str, serial: str) -> PanoramaDeviceClient:
        """A client of Panorama (or its HA peer) at ``host`` for upgrading it: the ``panorama.*`` endpoint
        settings and credentials, the process's ``panorama.rate_limit`` bucket."""
        cfg = self.config
        return PanoramaDeviceClient(
            replace(panorama_endpoint(cfg), host=host),
            panorama_credentials(cfg),
            serial=serial,
            retry=self.retry,
            on_call=self.on_call,
            limiter=self._limiter or panorama_limiter(cfg),
        )

    def __call__(self, host: str, serial: str = "", connection: str | None = None) -> FirewallClient:
        """A client of ``serial`` at ``host``; ``connection`` overrides ``firewall.connection``."""
        mode = connection or self.connection
        return FirewallClient(
            firewall_endpoint(self.config, host),
            self.credentials,
            serial=serial,
            retry=self.retry,
            on_call=self.on_call,
            connection=mode,
            via=self.link(mode) if mode != "direct" else self.via,
            paths=self.paths,
        )
