"""``delete software version``: the simulated firewall frees the space of an image it no longer needs and
refuses what PAN-OS refuses (no sockets: the model on a manual clock)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler.sim.commands import parse_command
from reconciler.sim.firewall import OpError
from reconciler.sim.fw_ops import FIREWALL_OPS, OpContext
from reconciler.sim.version import Version
from tests.sim.conftest import Harness, device

V = Version.parse
MakeWorld = Callable[..., Harness]


def test_delete_frees_the_space_and_logs_an_event(world: MakeWorld) -> None:
    h = world(device("A", "10.2.9", downloaded=(V("10.2.7"), V("10.1.6"))))
    fw = h.fw("A")
    free = fw.free_disk_mb()
    fw.delete_image(V("10.2.7"), h.clock.now())
    assert V("10.2.7") not in fw.downloaded and V("10.1.6") in fw.downloaded
    assert fw.image(V("10.2.7")).size_mb == fw.free_disk_mb() - free
    [event] = h.events("image_deleted", "A")
    assert ("10.2.7", fw.free_disk_mb()) == (event["version"], event["free_mb"])
    # Still known (listed, no longer downloaded): it can be downloaded again.
    assert any(img.version == V("10.2.7") and not dl for img, dl, _ in fw.software_list())


def test_delete_refuses_the_running_a_missing_and_a_pending_image(world: MakeWorld) -> None:
    h = world(device("A", "10.2.9", downloaded=(V("10.2.7"),)))
    fw = h.fw("A")
    with pytest.raises(OpError, match="running version"):
        fw.delete_image(V("10.2.9"), 0.0)
    with pytest.raises(OpError, match="not downloaded"):
        fw.delete_image(V("10.1.6"), 0.0)
    fw.pending = V("10.2.7")
    with pytest.raises(OpError, match="pending a reboot"):
        fw.delete_image(V("10.2.7"), 0.0)
    assert [] == h.events("image_deleted")


def test_the_op_command_parses_both_spellings(world: MakeWorld) -> None:
    h = world(device("A", "10.2.9", downloaded=(V("10.2.7"), V("10.1.6"))))
    for text in (
        'delete software version "10.2.7"',
        "<delete><software><version>10.1.6</version></software></delete>",
    ):
        cmd = parse_command(text)
        ctx = OpContext(h.world, h.fw("A"), cmd, h.clock.now(), "admin")
        assert 'status="success"' in FIREWALL_OPS[cmd.key](ctx)
    assert {V("10.2.9")} == h.fw("A").downloaded
