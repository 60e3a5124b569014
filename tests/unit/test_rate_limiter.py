"""Panorama's rate limiter (issue 18.6): a small burst goes out at once, the configured rate per minute is
kept in every 60 seconds, callers are served in the order they asked. Injected clock, no real sleeping."""

from __future__ import annotations

import pytest

from reconciler.device.client import DEFAULT_BURST, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def stamps_of(limiter: RateLimiter, clock: FakeClock, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        limiter.acquire()
        out.append(clock.now)
    return out


def most_in_a_minute(stamps: list[float]) -> int:
    return max(sum(1 for s in stamps[i:] if s < t + 60.0) for i, t in enumerate(stamps))


def test_default_rate_lets_discoverys_four_panorama_calls_go_at_once_then_one_every_six_seconds() -> None:
    clock = FakeClock()
    stamps = stamps_of(RateLimiter(10, clock=clock, sleep=clock.sleep), clock, 14)
    assert DEFAULT_BURST == 4
    assert stamps[:4] == [0.0] * 4
    assert stamps[4] == pytest.approx(6.0)
    assert stamps[9] == pytest.approx(36.0)
    # the burst does not add to the minute: the 11th call waits for the first to be 60 s old
    assert stamps[10] == pytest.approx(60.0)
    assert most_in_a_minute(stamps) == 10


@pytest.mark.parametrize(
    ("per_minute", "burst"), [(1, None), (2, None), (3, 5), (10, None), (60, 20), (600, None)]
)
def test_never_more_than_the_configured_rate_in_any_minute(per_minute: int, burst: int | None) -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute, burst=burst, clock=clock, sleep=clock.sleep)
    stamps = stamps_of(limiter, clock, 3 * per_minute + 5)
    assert most_in_a_minute(stamps) <= per_minute
    assert stamps == sorted(stamps)
    # and the rate is reached: a long run takes about as long as the rate says, no longer
    assert stamps[-1] <= (len(stamps) - 1) * 60.0 / per_minute + 1e-6


def test_a_quiet_spell_refills_the_burst_within_the_minute_rule() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    first = stamps_of(limiter, clock, 4)
    clock.now = 120.0
    second = stamps_of(limiter, clock, 5)
    assert first == [0.0] * 4
    assert second[:4] == [120.0] * 4
    assert second[4] == pytest.approx(126.0)


def test_waits_are_reported_and_the_burst_is_at_most_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep)
    assert limiter.capacity == 2
    assert [limiter.acquire() for _ in range(3)] == [
        0.0,
        0.0,
        pytest.approx(60.0),
    ]  # a minute after the first, not 30 s
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(10, burst=0)
