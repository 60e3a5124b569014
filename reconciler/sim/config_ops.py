"""Configuration requests every simulated device (firewall or Panorama) answers: ``type=config`` reads and
writes, ``type=commit``, config and commit locks, pending changes and revert.

The state lives in ``reconciler.sim.config_store`` (sources there). ``XmlApi`` consults ``CONFIG_OPS`` before
a device's own op table, so firewalls and Panorama answer these commands the same way (the older constant
answers for ``check pending-changes``, ``show config running`` and the lock lists in ``fw_ops`` are no longer
reached).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from reconciler.sim import config_xml
from reconciler.sim import ha as ha_rules
from reconciler.sim.commands import Command
from reconciler.sim.config_store import NO_CHANGES, ConfigError, ConfigStore, Write, find, parse_xpath
from reconciler.sim.firewall import SimFirewall
from reconciler.sim.jobs import panos_time
from reconciler.sim.xmltext import cdata, esc, fields, leaf, node, success

if TYPE_CHECKING:
    from reconciler.sim.jobs import Job
    from reconciler.sim.world import Device, World

COMMIT = "Commit"
CONFIG_CODE_OK = "20"  # [XMLAPI] "command succeeded"


def store(world: World, device: Device) -> ConfigStore:
    """The device's configuration state (created on first use)."""
    stores: dict[str, ConfigStore] = world.extras.setdefault("config_store", {})
    found = stores.get(device.serial)
    if found is None:
        if isinstance(device, SimFirewall):
            fw = device
            found = ConfigStore(lambda: config_xml.firewall_config(fw))
        else:
            pano = device
            found = ConfigStore(lambda: config_xml.panorama_config(pano))
        stores[device.serial] = found
    return found


def config_error(exc: ConfigError) -> str:
    return (
        f'<response status="error" code="{exc.code}"><msg><line>{cdata(exc.message)}</line></msg></response>'
    )


def config_ok() -> str:
    return f'<response status="success" code="{CONFIG_CODE_OK}"><msg>command succeeded</msg></response>'


# -- type=config -------------------------------------------------------------------------------------------


def config_request(world: World, device: Device, params: Mapping[str, str], user: str) -> tuple[int, str]:
    """``type=config&action=get|show|set|edit|delete`` -> (HTTP status, body)."""
    action = params.get("action", "")
    xpath = params.get("xpath", "") or "/config"
    cfg = store(world, device)
    if action in ("get", "show"):
        root = cfg.candidate() if action == "get" else cfg.running()
        found = config_xml.get(ET.tostring(root, encoding="unicode"), xpath)
        if found is None:
            return 200, '<response status="error" code="6"><msg>Invalid xpath</msg></response>'
        text, count = found
        if count == 0:
            return 200, '<response status="success" code="7"><result/></response>'
        attrs = f' total-count="{count}" count="{count}"' if action == "get" else ""
        return 200, f'<response status="success" code="19"><result{attrs}>{text}</result></response>'
    if action in ("set", "edit", "delete"):
        try:
            cfg.write(action, xpath, params.get("element", ""), user)
        except ConfigError as exc:
            return 200, config_error(exc)
        world.emit("config_write", device.serial, action=action, xpath=xpath, admin=user)
        return 200, config_ok()
    return 200, (
        '<response status="error" code="12"><msg><line>'
        + cdata(f"Command {action or '(none)'} is not supported by the simulator")
        + "</line></msg></response>"
    )


# -- type=commit -------------------------------------------------------------------------------------------


def commit_request(
    world: World, device: Device, params: Mapping[str, str], user: str, now: float
) -> tuple[int, str]:
    """``type=commit&cmd=<commit>...</commit>``: a ``Commit`` job when there is something to commit."""
    cmd = params.get("cmd", "")
    try:
        root = ET.fromstring(cmd) if cmd.strip() else None
    except ET.ParseError:
        return 200, '<response status="error" code="18"><msg><line>Malformed Request</line></msg></response>'
    if root is None or root.tag not in ("commit", "commit-all"):
        return (
            200,
            '<response status="error" code="17"><msg><line>commit is unexpected</line></msg></response>',
        )
    cfg = store(world, device)
    refusal = cfg.commit_refusal(user)
    if refusal is not None:
        return 200, config_error(refusal)
    if not cfg.has_pending_changes():
        # [PANOSPY] an answer without result/job means "no commit needed"; its text sits directly in <msg>
        # (with a <msg><line>, pan-os-python's commit(sync=True) would go on to poll a job; wording inferred).
        return 200, f'<response status="success" code="19"><msg>{esc(NO_CHANGES)}</msg></response>'
    taken = cfg.take_pending()
    job = _new_job(device, user)
    lo, hi = world.durations.range("commit")
    job.begin(now, world.clock.wall(), world.rng(device.serial, f"commit{job.id}").uniform(lo, hi))
    cfg.commit_job = job
    world.emit("commit_start", device.serial, job=job.id, admin=user, changes=len(taken))
    boot = device.boot_id

    def done(t: float) -> None:
        if job.finished or device.boot_id != boot:
            return
        cfg.commit_done(taken)
        job.finish(world.clock.wall(), True, ["Configuration committed successfully"])
        _apply_running(device, cfg, t)
        world.emit("commit_end", device.serial, sim_time=t, job=job.id, result=job.result)

    world.scheduler.at(now + job.duration, done)
    line = f"Commit job enqueued with jobid {job.id}"
    return 200, success(node("msg", leaf("line", line)) + leaf("job", job.id), code="19")


def _new_job(device: Device, user: str) -> Job:
    if isinstance(device, SimFirewall):
        return device._new_job(COMMIT, user, "", "Commit")
    return device.new_job(COMMIT, user, "", "Commit")


def _apply_running(device: Device, cfg: ConfigStore, t: float) -> None:
    """What the committed configuration changes in the device's behaviour: an HA member's election options
    (``deviceconfig/high-availability/group/election-option/preemptive|device-priority``)."""
    if not isinstance(device, SimFirewall) or device.ha is None:
        return
    steps = parse_xpath("/config/devices/entry/deviceconfig/high-availability/group/election-option")
    assert steps is not None
    options = find(cfg.running(), steps)
    preemptive = options[0].findtext("preemptive") if options else None
    priority = options[0].findtext("device-priority") if options else None
    before = (device.ha.preemptive, device.ha.priority)
    device.ha.preemptive = preemptive == "yes"  # PAN-OS default: no
    if priority is not None and priority.strip().isdigit():
        device.ha.priority = int(priority)
    ha_rules.evaluate(device, t)
    if (device.ha.preemptive, device.ha.priority) != before:
        # The election is re-run with the new options: a passive member that now preempts takes over after
        # the preempt hold time, as when it came up.
        peer = device.peer()
        for member in (device, peer):
            if member is not None and member.ha is not None and member.ha.state == "passive":
                ha_rules._maybe_preempt(member, t)


# -- op commands (locks, pending changes, revert) -------------------------------------------------------------


Handler = Callable[["World", "Device", Command, float, str], str]


def _locks(kind: str) -> Handler:
    def handler(world: World, device: Device, cmd: Command, now: float, user: str) -> str:
        cfg = store(world, device)
        held = cfg.config_locks if kind == "config" else cfg.commit_locks
        rows = [
            node(
                "entry",
                fields(
                    {
                        "name": "shared",
                        "type": kind,  # (inferred value)
                        "created": panos_time(lock.created_wall),
                        "last-activity": panos_time(lock.created_wall),
                        "loggedin": "yes",
                        "comment": lock.comment,
                    }
                ),
                attrs={"name": lock.admin},
            )
            for lock in held.values()
        ]
        return success(node(f"{kind}-locks", *rows))

    return handler


def _lock_request(kind: str, add: bool) -> Handler:
    def handler(world: World, device: Device, cmd: Command, now: float, user: str) -> str:
        cfg = store(world, device)
        try:
            if kind == "config" and add:
                cfg.add_config_lock(user, cmd.get("comment"), world.clock.wall())
            elif kind == "config":
                cfg.remove_config_lock(user)
            elif add:
                cfg.add_commit_lock(user, cmd.get("comment"), world.clock.wall())
            else:
                cfg.remove_commit_lock(user, cmd.get("admin") or None)
        except ConfigError as exc:
            return config_error(exc)
        world.emit(f"{kind}_lock", device.serial, action="add" if add else "remove", admin=user)
        # (inferred wording)
        return success("Successfully acquired lock" if add else "Successfully released lock")

    return handler


def _pending(world: World, device: Device, cmd: Command, now: float, user: str) -> str:
    return success("yes" if store(world, device).has_pending_changes() else "no")


def _changes(world: World, device: Device, cmd: Command, now: float, user: str) -> str:
    """``show config list changes`` *(inferred shape)*: one journal entry per pending write."""
    cfg = store(world, device)
    rows = [
        node("entry", fields({"xpath": w.xpath, "owner": w.admin, "action": w.action}))
        for w in (cfg.pending if cfg.has_pending_changes() else [])
    ]
    return success(node("journal", *rows))


def _change_summary(world: World, device: Device, cmd: Command, now: float, user: str) -> str:
    """``show config list change-summary`` ([PALOALTO-GEM] reads ``result/summary``; admins *(inferred)*)."""
    admins = "".join(leaf("member", a) for a in store(world, device).pending_admins())
    return success(node("summary", node("admin", admins)))


def _revert(world: World, device: Device, cmd: Command, now: float, user: str) -> str:
    store(world, device).revert()
    world.emit("config_revert", device.serial, admin=user)
    return success("Config reverted")  # (inferred wording)


def _load(world: World, device: Device, cmd: Command, now: float, user: str) -> str:
    source = cmd.get("from")
    if source != "running-config.xml":
        return config_error(ConfigError(f"Config file {source} does not exist", "13"))  # (inferred)
    return _revert(world, device, cmd, now, user)


def _running(world: World, device: Device, cmd: Command, now: float, user: str) -> str:
    return success(ET.tostring(store(world, device).running(), encoding="unicode"))


def _candidate(world: World, device: Device, cmd: Command, now: float, user: str) -> str:
    return success(ET.tostring(store(world, device).candidate(), encoding="unicode"))


CONFIG_OPS: dict[str, Handler] = {
    "check pending-changes": _pending,
    "show config list changes": _changes,
    "show config list change-summary": _change_summary,
    "show config running": _running,
    "show config candidate": _candidate,
    "show config-locks": _locks("config"),
    "show commit-locks": _locks("commit"),
    "request config-lock add": _lock_request("config", True),
    "request config-lock remove": _lock_request("config", False),
    "request commit-lock add": _lock_request("commit", True),
    "request commit-lock remove": _lock_request("commit", False),
    "revert config": _revert,
    "load config": _load,
}


def pending_write(world: World, device: Device, write: Write) -> None:
    """Record a write made by some other administrator (the Python API's way to set up a test)."""
    store(world, device).write(write.action, write.xpath, write.element, write.admin)
    world.emit("config_write", device.serial, action=write.action, xpath=write.xpath, admin=write.admin)


def running_text(world: World, device: Device) -> str:
    return ET.tostring(store(world, device).running(), encoding="unicode")
