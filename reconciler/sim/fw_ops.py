"""Operational commands a simulated firewall answers: key (see ``commands``) -> handler -> response XML."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.sim import config_xml, responses
from reconciler.sim.commands import Command, Param
from reconciler.sim.firewall import OpError, SimFirewall
from reconciler.sim.version import Version
from reconciler.sim.xmltext import cdata, error, fields, leaf, node, success

if TYPE_CHECKING:
    from reconciler.sim.world import World


@dataclass(frozen=True)
class OpContext:
    world: World
    fw: SimFirewall
    cmd: Command
    now: float
    user: str


Handler = Callable[[OpContext], str]

# What PAN-OS answers to ``request restart system`` before the device goes down: a success. The
# third-party pan-os-upgrade tool sends ``<request><restart><system/></restart></request>`` through
# pan-os-python's ``op()`` without catching any error and then polls until the device is back
# (pan_os_upgrade/components/device.py, ``perform_reboot``, github.com/cdot65/pan-os-upgrade), which only
# works because PAN-OS answers ``status="success"``. (pan-os-python's ``restart()`` also tolerates an error
# reading "Command succeeded with no output", which pan-python reports for some releases; the simulator
# models the success.) The text of the result is ours *(inferred)*.
RESTART_ANSWER = "Command succeeded with no output"


def _ok(body: Callable[[OpContext], str]) -> Handler:
    return lambda ctx: success(body(ctx))


def _enqueued(job_id: int, line: str) -> str:
    return success(node("msg", leaf("line", line)) + leaf("job", job_id), code="19")


def _version_param(ctx: OpContext) -> Version:
    raw = ctx.cmd.get("version")
    version = Version.try_parse(raw)
    if version is None:
        raise OpError(f"Invalid version: {raw!r}" if raw else "Missing version.", code="18")
    return version


def _download(ctx: OpContext) -> str:
    version = _version_param(ctx)
    sync = ctx.cmd.get("sync-to-peer", "no").lower() == "yes"
    job = ctx.fw.request_download(version, sync_to_peer=sync, user=ctx.user, t=ctx.now)
    return _enqueued(job.id, f"Download job enqueued with jobid {job.id}")


def _install(ctx: OpContext) -> str:
    job = ctx.fw.request_install(_version_param(ctx), user=ctx.user, t=ctx.now)
    return _enqueued(
        job.id,
        f"Software install job enqueued with jobid {job.id}. Run 'show jobs id {job.id}' to monitor its status. "
        "Please reboot the device after the installation is done.",
    )


def _delete_software(ctx: OpContext) -> str:
    version = _version_param(ctx)
    ctx.fw.delete_image(version, ctx.now)
    return success(f"Successfully deleted software version {version}.")


def _software_check(ctx: OpContext) -> str:
    ctx.fw.check_software(ctx.now)
    return success(responses.software_list(ctx.fw))


def _show_job(ctx: OpContext) -> str:
    raw = ctx.cmd.get("id")
    job = ctx.fw.jobs.get(int(raw)) if raw.isdigit() else None
    if job is None:
        return error(f"job {raw} not found")
    return success(job.xml(ctx.now))


def _show_jobs_all(ctx: OpContext) -> str:
    jobs = sorted(ctx.fw.jobs.values(), key=lambda j: -j.id)
    idless = [ctx.fw.idless_job] if ctx.fw.idless_job is not None else []
    return success("".join(j.xml(ctx.now) for j in [*jobs, *idless]))


def _restart(ctx: OpContext) -> str:
    ctx.fw.request_restart(ctx.now)
    return success(RESTART_ANSWER)


def _suspend(ctx: OpContext) -> str:
    ctx.fw.ha_suspend(ctx.now)
    return success("Successfully changed HA state to suspended")


def _functional(ctx: OpContext) -> str:
    ctx.fw.ha_functional(ctx.now)
    return success("Successfully changed HA state to functional")


def _content_check(ctx: OpContext) -> str:
    ctx.fw.check_content(ctx.now)
    return success(responses.content_list(ctx.fw))


def _antivirus_check(ctx: OpContext) -> str:
    if ctx.fw.faults.get("update_server_unreachable") is not None:  # the same update server, the same line
        raise OpError(
            "Failed to check content upgrade info due to generic communication error. "
            "Please check network connectivity and try again."
        )
    ctx.world.extras.setdefault("antivirus_checked", set()).add(ctx.fw.serial)
    return success(responses.antivirus_list(ctx.fw))


def _content_download(ctx: OpContext) -> str:
    sync = ctx.cmd.get("sync-to-peer", "no").lower() == "yes"
    job = ctx.fw.request_content_download(user=ctx.user, sync_to_peer=sync, t=ctx.now)
    return _enqueued(job.id, f"Download job enqueued with jobid {job.id}")


def _content_install(ctx: OpContext) -> str:
    job = ctx.fw.request_content_install(ctx.cmd.get("version", "latest"), user=ctx.user, t=ctx.now)
    return _enqueued(job.id, f"Content install job enqueued with jobid {job.id}")


def _support_check(ctx: OpContext) -> str:
    if ctx.fw.faults.get("update_server_unreachable") is not None:
        return error(
            "Failed to check support info due to Unknown error. Please check network connectivity and try again."
        )
    return success(responses.support_info())


def _show_interface(ctx: OpContext) -> str:
    name = ctx.cmd.get("interface")
    if name == "hardware":
        return success(responses.interfaces_hardware(ctx.fw))
    if name.startswith("ethernet1/"):
        return success(node("ifnet", leaf("name", name), leaf("mtu", "1500"), leaf("zone", "trust")))
    return error(f"{name} is not a valid interface", code="17")


def _system_state(ctx: OpContext) -> str:
    wanted = ctx.cmd.get("filter")
    if wanted.startswith("sys.monitor.") and wanted.endswith(".mp.exports"):
        return success(responses.mp_exports(ctx.fw))
    if wanted == "sw.dev.interface.config":
        return success(responses.interface_mtu_state(ctx.fw))
    return success(cdata(f"{wanted}: NO_MATCHES"))


def _resource_monitor(ctx: OpContext) -> str:
    raw = ctx.cmd.get("last", "5")
    minutes = int(raw) if raw.isdigit() and 1 <= int(raw) <= 60 else 5
    return success(responses.resource_monitor(minutes, ctx.fw))


def _clock_more(ctx: OpContext) -> str:
    text = responses.clock_text(ctx.world.clock.wall())
    return success(leaf("member", f"Management Plane time: {text}\nDataplane time: {text}\n"))


FIREWALL_OPS: dict[str, Handler] = {
    "show system info": _ok(lambda c: responses.system_info(c.fw, c.now)),
    "show system disk-space": _ok(lambda c: responses.disk_space(c.fw)),
    "show system resources": _ok(lambda c: responses.system_resources(c.fw)),
    "show system environmentals": _ok(lambda c: responses.environmentals(c.fw)),
    "show system setting jumbo-frame": _ok(lambda c: "off"),
    "show system state": _system_state,
    "show high-availability state": _ok(lambda c: responses.ha_state(c.fw, c.now)),
    "show high-availability all": _ok(lambda c: responses.ha_state(c.fw, c.now, full=True)),
    "request high-availability state suspend": _suspend,
    "request high-availability state functional": _functional,
    "request system software check": _software_check,
    "request system software info": _ok(lambda c: responses.software_list(c.fw)),
    "request system software download": _download,
    "request system software install": _install,
    "delete software": _delete_software,
    "show jobs": _show_job,
    "show jobs all": _show_jobs_all,
    "request restart system": _restart,
    "show chassis-ready": _ok(lambda c: cdata("yes" if c.fw.chassis_ready(c.now) else "no")),
    "show session info": _ok(lambda c: responses.session_info(c.fw, c.now)),
    "show session all": _ok(
        lambda c: "".join(node("entry", fields(s)) for s in c.fw.net.session_list(c.now))
    ),
    "show routing route": _ok(lambda c: responses.routes(c.fw, c.now, c.cmd.get("virtual-router") or None)),
    "show routing fib": _ok(lambda c: responses.fib(c.fw, c.now, c.cmd.get("virtual-router") or None)),
    "show routing protocol bgp peer": _ok(lambda c: ""),
    "show arp": _ok(lambda c: responses.arp(c.fw, c.now)),
    "show clock": _ok(lambda c: responses.clock_text(c.world.clock.wall()) + " "),
    "show clock more": _clock_more,
    "request license info": _ok(lambda c: responses.licenses(c.fw)),
    "request support check": _support_check,
    "check pending-changes": _ok(lambda c: "no"),
    "check full-commit-required": _ok(lambda c: "no"),
    "show config running": _ok(lambda c: config_xml.firewall_config(c.fw)),
    "show panorama-status": _ok(lambda c: responses.panorama_status(c.fw, c.now)),
    "show ntp": _ok(lambda c: responses.ntp(c.fw, c.now)),
    "request content upgrade check": _content_check,
    "request content upgrade info": _ok(lambda c: responses.content_list(c.fw)),
    "request content upgrade download latest": _content_download,
    "request anti-virus upgrade check": _antivirus_check,
    "request anti-virus upgrade info": _ok(lambda c: responses.antivirus_list(c.fw)),
    "request content upgrade install": _content_install,
    "show running tunnel flow all": _ok(lambda c: responses.tunnels()),
    "show": _show_interface,
    "show running resource-monitor minute": _resource_monitor,
    "show config-locks": _ok(lambda c: node("config-locks")),
    "show commit-locks": _ok(lambda c: node("commit-locks")),
    "show user user-id-service status": _ok(
        lambda c: cdata("User id service: up\nUser id service port: 5007\n")
    ),
    "show redistribution service client all": _ok(lambda c: leaf("count", "0")),
    "show redistribution service agent all": _ok(lambda c: leaf("count", "0")),
    "show admins": _ok(
        lambda c: node("admins", node("entry", leaf("admin", c.user), leaf("type", "Web"), node("self")))
    ),
}


def _virtual_router(fw: SimFirewall, name: str) -> bool:
    return name in fw.net.virtual_routers()


def _content_version(fw: SimFirewall, value: str) -> bool:
    return value == "latest" or value in fw.content_downloaded


_YES_NO = ("yes", "no")

# The parameters each command takes (commands not listed take none), checked before the handler runs:
# PAN-OS parses op commands against its CLI schema and refuses, with code 17, an element it does not
# expect at that place (an unknown child, a ``<version>`` outside ``<download>``) or a value outside the
# allowed ones (``sync-to-peer`` other than yes/no, a virtual router or content version that does not
# exist). Sources: the command forms pan-os-python (panos/updater.py), pan-python and
# panos-upgrade-assurance (firewall_proxy.py) send; the error shape of pan-os-python issue #394.
FIREWALL_PARAMS: dict[str, dict[str, Param]] = {
    "show system state": {"filter": Param()},
    "show jobs": {"id": Param()},
    "request system software download": {"version": Param(), "sync-to-peer": Param(values=_YES_NO)},
    "request system software install": {"version": Param(), "load-config": Param()},
    "delete software": {"version": Param()},
    "show arp": {"entry": Param()},
    "show": {"interface": Param()},
    "show running resource-monitor minute": {"last": Param()},
    "request content upgrade download latest": {"sync-to-peer": Param(under="download", values=_YES_NO)},
    "request content upgrade install": {
        "version": Param(check=_content_version),
        "sync-to-peer": Param(values=_YES_NO),
        "commit": Param(values=_YES_NO),
        "skip-commit": Param(values=_YES_NO),
    },
    "show config-locks": {"vsys": Param()},
    "show commit-locks": {"vsys": Param()},
    "show routing route": {
        "virtual-router": Param(check=_virtual_router),
        "type": Param(values=("bgp", "connect", "ospf", "ospfv3", "rip", "static")),
        "destination": Param(),
        "nexthop": Param(),
        "interface": Param(),
    },
    "show routing fib": {"virtual-router": Param(check=_virtual_router)},
}
