"""A tiny hostile PAN-OS XML API on 127.0.0.1 (plain HTTP): each test says how it answers.

``FakePanos(answer)`` serves ``POST /api/``; ``answer(cmd)`` gets the request's ``cmd`` parameter and
returns what to send: ``bytes`` (the whole XML document), or a ``Trickle`` (send slowly) or a ``Flood``
(send far more than any answer should hold). The server counts what it sent, so a test can tell that the
client stopped reading.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Trickle:
    """``body`` one byte every ``interval`` seconds; ``in_headers``: the headers themselves trickle."""

    body: bytes
    interval: float = 1.0
    in_headers: bool = False


@dataclass(frozen=True)
class Flood:
    """``size`` bytes of an XML document that never ends, with or without a Content-Length header."""

    size: int
    content_length: bool = False


Answer = bytes | Trickle | Flood


def ok(result: str) -> bytes:
    return f'<response status="success"><result>{result}</result></response>'.encode()


class FakePanos:
    def __init__(self, answer: Callable[[str], Answer]) -> None:
        self.answer = answer
        self.sent = 0
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                query = urllib.parse.parse_qs(self.rfile.read(length).decode())
                cmd = query.get("cmd", [query.get("type", [""])[0]])[0]
                fake.requests.append(cmd)
                # The client giving up mid-answer is what the hostile tests want.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(fake.answer(cmd))

            def _send(self, answer: Answer) -> None:
                if isinstance(answer, Trickle) and answer.in_headers:
                    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\r\n" + answer.body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        fake.sent += 1
                        time.sleep(answer.interval)
                    return
                body_len = answer.size if isinstance(answer, Flood) else len(getattr(answer, "body", answer))
                self.send_response(200)
                self.send_header("Content-Type", "application/xml; charset=utf-8")
                if not isinstance(answer, Flood) or answer.content_length:
                    self.send_header("Content-Length", str(body_len))
                self.send_header("Connection", "close")
                self.end_headers()
                if isinstance(answer, Trickle):
                    for byte in answer.body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        fake.sent += 1
                        time.sleep(answer.interval)
                elif isinstance(answer, Flood):
                    chunk = b"<response><result>" + b"x" * (1 << 20)
                    while fake.sent < answer.size:
                        self.wfile.write(chunk)
                        fake.sent += len(chunk)
                else:
                    self.wfile.write(answer)
                    fake.sent += len(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePanos:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
