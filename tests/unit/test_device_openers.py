"""pan-python's requests go through one opener per SSL context of the seam (not one per call)."""

from __future__ import annotations

import ssl

import pan.xapi

from reconciler.device import client
from reconciler.device.client import Endpoint


def test_pan_python_requests_reuse_the_opener_of_our_context() -> None:
    ctx = Endpoint("127.0.0.1", ca_bundle="").ssl_context()
    assert ctx is not None
    assert pan.xapi.urlopen is client._urlopen
    # data: URLs are served by the standard opener without any socket.
    assert b"first" == client._urlopen("data:,first", context=ctx).read()
    opener = client._openers[id(ctx)]
    assert b"second" == client._urlopen("data:,second", context=ctx, timeout=5).read()
    assert opener is client._openers[id(ctx)]


def test_unverified_context_is_one_and_contexts_not_ours_take_the_standard_path() -> None:
    off = Endpoint("127.0.0.1", verify_tls=False)
    assert off.ssl_context() is off.ssl_context()
    foreign = ssl.create_default_context()
    before = dict(client._openers)
    assert b"x" == client._urlopen("data:,x", context=foreign).read()
    assert id(foreign) not in client._openers
    assert set(before) <= set(client._openers)
