"""pan-python's requests go through one opener per SSL context of the seam (not one per call)."""

from __future__ import annotations

import ssl

import pan.xapi

from reconciler import device
from reconciler.device import Endpoint


def test_pan_python_requests_reuse_the_opener_of_our_context() -> None:
    ctx = Endpoint("127.0.0.1", ca_bundle="").ssl_context()
    assert ctx is not None
    assert pan.xapi.urlopen is device._urlopen
    # data: URLs are served by the standard opener without any socket.
    assert b"first" == device._urlopen("data:,first", context=ctx).read()
    opener = device._openers[id(ctx)]
    assert b"second" == device._urlopen("data:,second", context=ctx, timeout=5).read()
    assert opener is device._openers[id(ctx)]


def test_unverified_context_is_one_and_contexts_not_ours_take_the_standard_path() -> None:
    off = Endpoint("127.0.0.1", verify_tls=False)
    assert off.ssl_context() is off.ssl_context()
    foreign = ssl.create_default_context()
    before = dict(device._openers)
    assert b"x" == device._urlopen("data:,x", context=foreign).read()
    assert id(foreign) not in device._openers
    assert set(before) <= set(device._openers)
