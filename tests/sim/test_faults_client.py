"""Every injectable fault, observed by an unmodified client over real sockets."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pan.xapi
import pytest
from panos.errors import PanDeviceError, PanDeviceXapiError, PanURLError
from panos.firewall import Firewall

from reconciler.sim import FleetSpec, Simulator
from reconciler.sim.fleet import Durations
from reconciler.sim.version import Version
from tests.sim.conftest import device

StartSim = Callable[..., Simulator]
FAST = Durations.from_json(
    {"download": [100, 150], "install": [240, 300], "reboot": [340, 400], "net_recovery": 20}
)
V = Version.parse


def one(sim: StartSim, **kw: object) -> tuple[Simulator, Firewall]:
    spec = device("F1", "10.2.9", downloaded=(V("10.2.13"),), **kw)
    s = sim(FleetSpec(devices=(spec,), durations=FAST), time_scale=0.004)
    ep = s.endpoint("F1")
    return s, Firewall(ep.address, s.credentials.user, s.credentials.password, port=ep.port, timeout=20)


def xapi(s: Simulator, timeout: float = 10) -> pan.xapi.PanXapi:
    ep = s.endpoint("F1")
    return pan.xapi.PanXapi(
        hostname=ep.address,
        port=ep.port,
        api_username=s.credentials.user,
        api_password=s.credentials.password,
        timeout=timeout,
    )


def refused(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((address, port)) != 0


def test_download_fail(sim: StartSim) -> None:
    s, fw = one(sim)
    s.inject_fault("F1", "download_fail")
    fw.software.check()
    with pytest.raises(PanDeviceError, match="error downloading file"):
        fw.software.download("10.2.12", sync=True)


def test_download_stall(sim: StartSim) -> None:
    s, fw = one(sim)
    s.inject_fault("F1", "download_stall", at_percent=35)
    fw.software.check()
    job = fw.op('request system software download version "10.2.12"').findtext("result/job")
    assert s.wait_until(lambda: s.device("F1").jobs[-1].progress == 35, timeout=10)
    start = s.sim_time()
    assert s.wait_until(lambda: s.sim_time() > start + 500, timeout=10)  # longer than any download
    status = fw.op(f'show jobs id "{job}"')
    assert (status.findtext("result/job/status"), status.findtext("result/job/progress")) == ("ACT", "35")


def test_install_fail(sim: StartSim) -> None:
    s, fw = one(sim)
    s.inject_fault("F1", "install_fail")
    with pytest.raises(PanDeviceError, match=r"attempt to install version 10\.2\.13 failed"):
        fw.software.install("10.2.13", sync=True)


def test_reboot_hang_then_recovery_when_cleared(sim: StartSim) -> None:
    s, fw = one(sim)
    s.inject_fault("F1", "reboot_hang")
    fw.restart()
    ep = s.endpoint("F1")
    assert s.wait_until(lambda: refused(*ep), timeout=10)
    start = s.sim_time()
    assert s.wait_until(lambda: s.sim_time() > start + 700, timeout=10)  # past the longest reboot
    assert refused(*ep)
    s.clear_faults("F1", "reboot_hang")
    assert fw.syncreboot(interval=0.1, timeout=60) == "10.2.9"


def test_reboot_comes_back_on_the_old_version(sim: StartSim) -> None:
    s, fw = one(sim)
    s.inject_fault("F1", "reboot_old_version")
    fw.software.install("10.2.13", sync=True)
    fw.restart()
    assert fw.syncreboot(interval=0.1, timeout=60) == "10.2.9"


def test_disk_small(sim: StartSim) -> None:
    s, fw = one(sim)
    s.inject_fault("F1", "disk_small", free_mb=300)
    df = fw.op("show system disk-space").findtext("result") or ""
    panrepo = next(line for line in df.splitlines() if line.endswith("/opt/panrepo"))
    assert panrepo.split()[3] == "300M"
    fw.software.check()
    with pytest.raises(PanDeviceError, match="not enough space"):
        fw.software.download("11.0.0", sync=True)


def test_routes_and_arp_missing_after_upgrade(sim: StartSim) -> None:
    s, fw = one(sim)
    routes_before = len(fw.op("show routing route").findall("result/entry"))
    s.inject_fault("F1", "routes_missing", fraction=0.5)
    s.inject_fault("F1", "arp_missing", fraction=1.0)
    fw.software.install("10.2.13", sync=True)
    fw.restart()
    fw.syncreboot(interval=0.1, timeout=60)
    assert s.wait_until(lambda: s.device("F1").uptime > 30, timeout=10)
    assert len(fw.op("show routing route").findall("result/entry")) < routes_before
    assert (
        fw.op("<show><arp><entry name='all'/></arp></show>", cmd_xml=False).findall("result/entries/entry")
        == []
    )


def test_http_500(sim: StartSim) -> None:
    s, _ = one(sim)
    s.inject_fault("F1", "http_500", rate=1.0)
    with pytest.raises(pan.xapi.PanXapiError, match="code: 500"):
        xapi(s).op("show system info", cmd_xml=True)
    assert s.api_calls("F1").get("http_500", 0) >= 1


def test_dropped_connections(sim: StartSim) -> None:
    s, _ = one(sim)
    s.inject_fault("F1", "drop_connection", rate=1.0)
    with pytest.raises((pan.xapi.PanXapiError, ConnectionError)):
        xapi(s).op("show system info", cmd_xml=True)
    assert any(e["message"] == "connection dropped" for e in s.events("api_error", "F1"))


def test_slow_answers_time_out_a_short_client_timeout(sim: StartSim) -> None:
    s, _ = one(sim)
    s.inject_fault("F1", "slow", delay_ms=5000, rate=1.0)
    # urllib raises a read timeout from getresponse() unwrapped; a connect-phase timeout is a URLError.
    with pytest.raises((pan.xapi.PanXapiError, TimeoutError), match="timed out"):
        xapi(s, timeout=1).op("show system info", cmd_xml=True)


def test_wrong_credentials(sim: StartSim) -> None:
    s, fw = one(sim)
    fw.refresh_system_info()  # a key obtained before the fault stops working too
    s.inject_fault("F1", "wrong_credentials")
    with pytest.raises(PanURLError, match="code: 403"):
        fw.refresh_system_info()
    with pytest.raises(pan.xapi.PanXapiError, match="code: 403"):
        xapi(s).keygen()


def test_panorama_unreachable(sim: StartSim) -> None:
    s, fw = one(sim)
    s.inject_fault(s.panorama_serial, "panorama_unreachable")
    assert s.wait_until(lambda: refused(*s.panorama), timeout=5)
    status = fw.op("show panorama-status").findtext("result") or ""
    assert "Connected     : no" in status
    s.clear_faults(s.panorama_serial)
    assert s.wait_until(lambda: not refused(*s.panorama), timeout=5)


def test_update_server_unreachable(sim: StartSim) -> None:
    s, fw = one(sim)
    s.inject_fault("F1", "update_server_unreachable")
    with pytest.raises(PanDeviceXapiError, match="generic communication error"):
        fw.software.check()
