"""Run an unmodified client in this process on the simulator's clock, with no network beyond loopback.

    python launcher.py TIME_SCALE MODULE:CALLABLE [ARG ...]

``TIME_SCALE`` is the simulator's (real seconds per simulated second). Before the client is imported, the
process's clocks are made to run ``1 / TIME_SCALE`` times faster: ``time.sleep(60)`` lasts 60 simulated
seconds, and ``time.time()``, ``time.monotonic()`` and ``time.perf_counter()`` (and their ``_ns`` forms)
advance by simulated seconds. The client's own sleeps, poll intervals and timeouts therefore keep their
shipped values and mean the same thing against the simulated device as against a real one: a client that
waits 120 s after a reboot waits 120 simulated seconds. Not scaled: ``datetime`` (C code reading the system
clock; the clients use it for file names and log stamps), socket timeouts and lock waits.

If dnspython is installed, its default resolver is pointed at a loopback UDP socket of this process that
never answers, so a lookup times out as on a machine without DNS, and no query leaves 127.0.0.0/8.

Then ``sys.argv`` becomes ``[MODULE:CALLABLE, ARG, ...]`` and the callable is called with no arguments, as
a console script would be; its return value is the exit status.

This file runs in the clients' own virtual environments: it imports nothing from this project.
"""

from __future__ import annotations

import importlib
import socket
import sys
import time


def scale_clock(time_scale: float) -> None:
    """Make this process's ``time`` functions run on simulated seconds (``time_scale`` real s each)."""
    if not 0 < time_scale <= 1:
        raise ValueError(f"time scale must be in (0, 1], got {time_scale}")
    rate = 1.0 / time_scale
    real_sleep, real_time, real_monotonic, real_perf = (
        time.sleep,
        time.time,
        time.monotonic,
        time.perf_counter,
    )
    t0, m0, p0 = real_time(), real_monotonic(), real_perf()

    def sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        real_sleep(seconds * time_scale)

    def wall() -> float:
        return t0 + (real_time() - t0) * rate

    def monotonic() -> float:
        return m0 + (real_monotonic() - m0) * rate

    def perf_counter() -> float:
        return p0 + (real_perf() - p0) * rate

    time.sleep = sleep
    time.time = wall
    time.monotonic = monotonic
    time.perf_counter = perf_counter
    time.time_ns = lambda: int(wall() * 1e9)
    time.monotonic_ns = lambda: int(monotonic() * 1e9)
    time.perf_counter_ns = lambda: int(perf_counter() * 1e9)


def offline_dns() -> socket.socket | None:
    """Point dnspython (when installed) at a loopback socket that never answers; return that socket."""
    try:
        import dns.resolver
    except ImportError:
        return None
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = sink.getsockname()[1]
    resolver.lifetime = 2.0
    dns.resolver.default_resolver = resolver
    return sink


def main(argv: list[str]) -> int:
    if len(argv) < 3 or ":" not in argv[2]:
        print(f"usage: {argv[0]} TIME_SCALE MODULE:CALLABLE [ARG ...]", file=sys.stderr)
        return 2
    scale_clock(float(argv[1]))
    sink = offline_dns()
    module, _, name = argv[2].partition(":")
    sys.argv = [argv[2], *argv[3:]]
    try:
        result = getattr(importlib.import_module(module), name)()
    finally:
        if sink is not None:
            sink.close()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
