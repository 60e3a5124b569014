"""A real Prometheus server for tests: loopback only, a free port, a temporary storage directory.

``running_prometheus`` starts the ``prometheus`` binary with one scrape job, waits (bounded) until it is
ready and always stops it (terminate, then kill) when the block ends. ``PrometheusApi`` wraps the few HTTP
API calls the tests make.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class PrometheusApi:
    base: str

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(
                f"{path} {params}: HTTP {exc.code}: {exc.read().decode(errors='replace')}"
            ) from exc
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        result: list[dict[str, Any]] = self.get("/api/v1/query", **params)["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get(
            "/api/v1/query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}s"
        )["result"]
        return result

    def scalar(self, expr: str) -> float | None:
        """The value of a query returning at most one series (None when it returns none)."""
        result = self.query(expr)
        if not result:
            return None
        return float(result[0]["value"][1])

    def wait_for(self, expr: str, timeout: float) -> bool:
        """Poll (bounded) until ``expr`` returns at least one series."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.query(expr):
                return True
            time.sleep(0.2)
        return bool(self.query(expr))


@contextlib.contextmanager
def running_prometheus(
    binary: str, workdir: Path, target: str, scrape_interval: float = 1.0
) -> Iterator[PrometheusApi]:
    """Prometheus scraping ``target`` (``host:port``) every ``scrape_interval`` seconds as job
    ``panos-upgrade``; its log is ``workdir/prometheus.log`` (quoted in the error if it does not start)."""
    workdir.mkdir(parents=True, exist_ok=True)
    interval = f"{scrape_interval:g}s"
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "scrape_configs": [{"job_name": "panos-upgrade", "static_configs": [{"targets": [target]}]}],
    }
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    log_file = workdir / "prometheus.log"
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        if not _ready(proc, base):
            raise RuntimeError(f"prometheus did not start: {log_file.read_text(errors='replace')[-2000:]}")
        yield PrometheusApi(base)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)


def _ready(proc: subprocess.Popen[bytes], base: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False
