"""Webhook notifications: JSON POSTs on rollout events, sent from a background thread.

``Notifier.emit()`` never blocks the reconcile loop: events go into a bounded queue (dropped with a warning
when full) and a single sender thread POSTs each to every configured URL with a timeout and a few retries.
Events: ``group_started``, ``wave_promoted``, ``device_failed``, ``group_halted``, ``converged``.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import tenacity

from reconciler.workdir import logs

# The logger keeps the name it had before the package move: operators filter logs on it.
log = logs.get("reconciler.webhooks")

EVENTS = ("group_started", "wave_promoted", "device_failed", "group_halted", "converged")


class Notifier:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        max_queue: int = 1000,
        wait: Callable[[int], float] | None = None,
    ) -> None:
        self.urls = [u.strip() for u in urls if u.strip()]
        self.timeout = timeout
        self.attempts = attempts
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queue)
        self._wait = (
            tenacity.wait_exponential(multiplier=0.5, max=5)
            if wait is None
            else (lambda rs: wait(rs.attempt_number))
        )
        self._thread: threading.Thread | None = None
        if self.urls:
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    @classmethod
    def from_setting(cls, value: str, timeout: float) -> Notifier:
        return cls([u for u in value.split(",") if u.strip()], timeout=timeout)

    def emit(self, event: str, **fields: Any) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}")
        if not self.urls:
            return
        payload = {"event": event, "ts": datetime.now(UTC).isoformat(timespec="seconds"), **fields}
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            log.warning("webhook queue full; dropping %s event", event)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (up to ``timeout`` seconds), then stop the sender."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            payload = self._queue.get()
            if payload is None:
                return
            for url in self.urls:
                try:
                    self._post(url, payload)
                    self.sent += 1
                except Exception as exc:  # the sender thread must survive any receiver
                    self.failed += 1
                    log.warning("webhook %s to %s failed: %s", payload["event"], url, exc)

    def _post(self, url: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode("utf-8")

        def once() -> None:
            req = urllib.request.Request(
                url, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                if resp.status >= 300:
                    raise urllib.error.HTTPError(url, resp.status, "unexpected status", resp.headers, None)

        tenacity.Retrying(stop=tenacity.stop_after_attempt(self.attempts), wait=self._wait, reraise=True)(
            once
        )
