"""Error classification and the rate limiter of the device seam (no network needed)."""

from __future__ import annotations

import http.client
from xml.parsers.expat import ExpatError

import pan.xapi
import pytest
from panos import errors as pan_errors

from reconciler.core.errors import PermanentDeviceError, TemporaryDeviceError, UserError
from reconciler.device.client import (
    Credentials,
    FirewallClientFactory,
    RateLimiter,
    RetryPolicy,
    firewall_endpoint,
    translate,
)
from reconciler.workdir.config import Config


@pytest.mark.parametrize(
    ("exc", "family", "kind"),
    [
        (pan_errors.PanInvalidCredentials("Invalid credentials."), PermanentDeviceError, "auth"),
        (pan.xapi.PanXapiError("URLError: code: 403 reason: Forbidden"), PermanentDeviceError, "auth"),
        (
            pan.xapi.PanXapiError("URLError: reason: [Errno 111] Connection refused"),
            TemporaryDeviceError,
            "unreachable",
        ),
        (
            pan_errors.PanURLError("URLError: reason: [Errno 111] Connection refused"),
            TemporaryDeviceError,
            "unreachable",
        ),
        (
            pan.xapi.PanXapiError("URLError: code: 503 reason: Service Unavailable"),
            TemporaryDeviceError,
            "http-5xx",
        ),
        (pan_errors.PanConnectionTimeout("URLError: reason: timed out"), TemporaryDeviceError, "timeout"),
        (TimeoutError("timed out"), TemporaryDeviceError, "timeout"),
        (http.client.RemoteDisconnected("Remote end closed connection"), TemporaryDeviceError, "unreachable"),
        (
            pan.xapi.PanXapiError(
                "URLError: reason: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
            ),
            PermanentDeviceError,
            "tls",
        ),
        (
            pan.xapi.PanXapiError("The software manager is currently in use. Please try again later."),
            TemporaryDeviceError,
            "busy",
        ),
        (pan.xapi.PanXapiError("0007 not connected"), TemporaryDeviceError, "not-connected"),
        (pan.xapi.PanXapiError(" show -> foo  is unexpected"), PermanentDeviceError, "api"),
        # Answers nobody could read are not PAN-OS refusing: malformed, retried like a temporary error.
        (
            pan.xapi.PanXapiError("ElementTree.fromstring ParseError: not well-formed (invalid token)"),
            PermanentDeviceError,
            "bad-response",
        ),
        (pan.xapi.PanXapiError("no response element status attribute"), PermanentDeviceError, "bad-response"),
        (
            ExpatError("not well-formed (invalid token): line 2, column 19"),
            PermanentDeviceError,
            "bad-response",
        ),
    ],
)
def test_translate_classifies_once(exc: BaseException, family: type, kind: str) -> None:
    err = translate(exc, "firewall X")
    assert (family, kind) == (type(err), err.kind)
    assert str(err).startswith("firewall X")


def test_credentials_repr_hides_secrets() -> None:
    text = repr(Credentials("admin", "pw-secret", "key-secret"))
    assert "pw-secret" not in text and "key-secret" not in text


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_rate_limiter_never_exceeds_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, burst=5, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(65):
        limiter.acquire()
        stamps.append(clock.now)
    # In any 60-second window at most 60 + burst calls happen.
    for i, t in enumerate(stamps):
        in_window = sum(1 for s in stamps[i:] if s < t + 60)
        assert in_window <= 65
    assert 5 == sum(1 for s in stamps if s == 0.0), "the burst goes out at once"
    assert pytest.approx(60.0, abs=1.0) == stamps[-1], "then one call per second"


def test_retry_policy_retries_temporary_errors_only() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TemporaryDeviceError("x", kind="timeout")
        return "ok"

    assert "ok" == RetryPolicy(attempts=3, initial_wait=0, max_wait=0).run(flaky)
    permanent_calls = []

    def denied() -> None:
        permanent_calls.append(1)
        raise PermanentDeviceError("no", kind="auth")

    with pytest.raises(PermanentDeviceError):
        RetryPolicy(attempts=5, initial_wait=0, max_wait=0).run(denied)
    assert 1 == len(permanent_calls), "no retry storm on bad credentials"


def test_a_firewall_client_is_built_from_the_settings_in_one_place() -> None:
    cfg = Config(
        {
            "firewall.username": "admin",
            "firewall.password": "pw",
            "firewall.port": 8443,
            "firewall.timeout": 9,
        },
        None,
        {},
    )
    retry = RetryPolicy(attempts=1)
    factory = FirewallClientFactory(cfg, retry=retry).require_credentials()
    client = factory("127.0.0.9", "0070001")
    assert client.endpoint == firewall_endpoint(cfg, "127.0.0.9")
    assert (client.endpoint.port, client.endpoint.timeout) == (8443, 9)
    assert (client.serial, client.retry, client.name) == ("0070001", retry, "firewall 0070001")
    assert factory.credentials == Credentials("admin", "pw")


def test_a_command_needing_firewall_credentials_says_which_settings_are_missing() -> None:
    with pytest.raises(UserError, match=r"set firewall\.username and firewall\.password"):
        FirewallClientFactory(Config({}, None, {})).require_credentials()
