"""The PAN-OS XML API front: one request in, one response out (no sockets here).

Handles ``/api/`` with ``type=keygen|op|config|export|version``; the key may come from the query, the form
body or the ``X-PAN-KEY`` header. Panorama forwards ``target=SERIAL`` requests to that firewall (answering
``SERIAL not connected`` while it is away). A rebooting device answers 503, then 403, as PAN-OS does.
Every request is counted per device and command; every error served is logged as an ``api_error`` event.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.sim import config_ops, monitor
from reconciler.sim.bad_xml import corrupt
from reconciler.sim.commands import Command, CommandSyntaxError, CommandTree, param_problem, parse_command
from reconciler.sim.firewall import OpError, Phase, SimFirewall
from reconciler.sim.fw_ops import FIREWALL_OPS, FIREWALL_PARAMS, OpContext
from reconciler.sim.panorama import SimPanorama
from reconciler.sim.panorama_ops import PANORAMA_OPS, PanoramaContext
from reconciler.sim.world import Device, World
from reconciler.sim.xmltext import (
    INVALID_CREDENTIAL_KEYGEN,
    INVALID_CREDENTIALS,
    bad_request,
    error,
    fields,
    leaf,
    node,
    success,
)

XML = "application/xml; charset=UTF-8"
HTML = "text/html; charset=UTF-8"

_FIREWALL_TREE = CommandTree([*FIREWALL_OPS, *config_ops.CONFIG_OPS])
_PANORAMA_TREE = CommandTree([*PANORAMA_OPS, *config_ops.CONFIG_OPS])


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    params: Mapping[str, str]
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names

    def param(self, name: str) -> str:
        return self.params.get(name, "")


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: str
    content_type: str = XML
    headers: tuple[tuple[str, str], ...] = ()


def html_error(status: int, title: str) -> ApiResponse:
    return ApiResponse(
        status, f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>", HTML
    )


class XmlApi:
    def __init__(self, world: World) -> None:
        self.world = world

    def handle(self, device: Device, req: ApiRequest) -> ApiResponse:
        """Answer ``req`` as ``device`` would now. The caller holds ``world.lock``."""
        world = self.world
        world.scheduler.run_due(world.clock.now())
        label = _label(req)
        world.counters.count(device.serial, label)
        response = self._dispatch(device, req)
        if response.status == 200 and req.param("type") == "op":
            response = self._bad_xml(device, label, response)
        failed = response.status != 200 or response.body.startswith(
            ('<response status="error"', "<response status = 'error'")
        )
        if failed:
            world.emit(
                "api_error",
                device.serial,
                request=label,
                http_status=response.status,
                message=_message(response),
            )
        elif world.api_events:
            target = req.param("target")
            if isinstance(device, SimPanorama) and target and target != device.serial:
                # Forwarded to a managed firewall: which one answered (e.g. its version after a reboot).
                world.emit("api", device.serial, request=label, target=target)
            else:
                world.emit("api", device.serial, request=label)
        return response

    def _bad_xml(self, device: Device, label: str, response: ApiResponse) -> ApiResponse:
        """The ``bad_xml`` fault: this op answer replaced by malformed or unexpected XML (still HTTP 200)."""
        fault = device.faults.get("bad_xml")
        if fault is None or not label.startswith("op:" + str(fault.get("command") or "")):
            return response
        rngs = self.world.extras.setdefault("bad_xml_rng", {})
        rng = rngs.get(device.serial) or rngs.setdefault(
            device.serial, self.world.rng(device.serial, "bad_xml")
        )
        if rng.random() >= float(fault.get("rate")):
            return response
        device.faults.fire("bad_xml")
        mode = str(fault.get("mode"))
        self.world.emit("fault_fired", device.serial, fault="bad_xml", mode=mode, request=label)
        return ApiResponse(200, corrupt(response.body, mode), response.content_type, response.headers)

    def _dispatch(self, device: Device, req: ApiRequest) -> ApiResponse:
        if req.path.rstrip("/") != "/api":
            return html_error(404, "404 Not Found")
        if isinstance(device, SimFirewall | SimPanorama):  # Panorama restarts through the same phases
            if device.phase in (Phase.STARTING, Phase.WEB_STARTING):
                return html_error(503, "503 Service Temporarily Unavailable")
            if device.phase is Phase.AUTH_STARTING:
                return ApiResponse(403, INVALID_CREDENTIALS)
            if device.phase is Phase.DOWN:
                return html_error(503, "503 Service Temporarily Unavailable")
        kind = req.param("type")
        if kind == "keygen":
            return self._keygen(device, req)
        key = req.param("key") or req.headers.get("x-pan-key", "")
        basic = _basic_credentials(req.headers.get("authorization", "")) if not key else None
        if basic is not None:
            # API guide, "API Authentication and Security": instead of a key, the admin credentials may
            # come as ``Authorization: Basic base64(user:password)`` (not for ``type=keygen``).
            if device.faults.get("wrong_credentials") is not None or not self.world.check_login(
                device, *basic
            ):
                return ApiResponse(403, INVALID_CREDENTIALS)
        elif device.faults.get("wrong_credentials") is not None or not self.world.check_key(device, key):
            owner = self.world.key_owner(key)
            if owner is not None and owner != device.serial:
                monitor.foreign_key(device, self.world.clock.now(), owner)
            return ApiResponse(403, INVALID_CREDENTIALS)
        target = req.param("target")
        if isinstance(device, SimPanorama) and target and target != device.serial:
            fw = self.world.firewalls.get(target)
            if fw is None:
                return ApiResponse(200, error(f"Device {target} is not managed by this Panorama"))
            # pan-os-python issues #249 and #533 quote this answer while the firewall reboots.
            if not fw.panorama_connected(self.world.clock.now()) or not device.manages(fw.version):
                return ApiResponse(200, error(f"{target} not connected"))
            self.world.counters.count(fw.serial, _label(req) + " (via panorama)")
            return self._typed(fw, req, kind)
        return self._typed(device, req, kind)

    def _typed(self, device: Device, req: ApiRequest, kind: str) -> ApiResponse:
        if kind == "op":
            return self._op(device, req)
        if kind == "config":
            return self._config(device, req)
        if kind == "commit":
            user = self.world.credentials_for(device).user
            now = self.world.clock.now()
            return ApiResponse(*config_ops.commit_request(self.world, device, req.params, user, now))
        if kind == "export":
            return self._export(device, req)
        if kind == "version":
            return ApiResponse(200, success(self._version(device)))
        if not kind:
            return ApiResponse(400, bad_request("Missing parameter: type"))
        return ApiResponse(400, bad_request(f'Illegal value for parameter "type" [{kind}].'))

    def _keygen(self, device: Device, req: ApiRequest) -> ApiResponse:
        user, password = req.param("user"), req.param("password")
        if device.faults.get("wrong_credentials") is not None or not self.world.check_login(
            device, user, password
        ):
            return ApiResponse(403, INVALID_CREDENTIAL_KEYGEN)
        self.world.emit("keygen", device.serial, user=user)
        return ApiResponse(200, success(leaf("key", self.world.api_key(device))))

    def _op(self, device: Device, req: ApiRequest) -> ApiResponse:
        raw = req.param("cmd")
        if not raw:
            return ApiResponse(400, bad_request("Missing parameter: cmd"))
        try:
            cmd = parse_command(raw)
        except CommandSyntaxError:
            return ApiResponse(200, error("Malformed Request", code="18"))
        now = self.world.clock.now()
        user = self.world.credentials_for(device).user
        shared = config_ops.CONFIG_OPS.get(cmd.key)  # configuration, locks, commits: every device alike
        if shared is not None:
            return ApiResponse(200, shared(self.world, device, cmd, now, user))
        try:
            if isinstance(device, SimFirewall):
                fw_handler = FIREWALL_OPS.get(cmd.key)
                if fw_handler is None:
                    return _unknown(cmd, _FIREWALL_TREE)
                problem = param_problem(cmd, FIREWALL_PARAMS.get(cmd.key, {}), device)
                if problem is not None:
                    return ApiResponse(200, error(*problem, code="17"))
                return ApiResponse(200, fw_handler(OpContext(self.world, device, cmd, now, user)))
            pano_handler = PANORAMA_OPS.get(cmd.key)
            if pano_handler is None:
                return _unknown(cmd, _PANORAMA_TREE)
            return ApiResponse(200, pano_handler(PanoramaContext(self.world, device, cmd, now, user)))
        except OpError as exc:
            return ApiResponse(200, error(*exc.lines, code=exc.code))

    def _config(self, device: Device, req: ApiRequest) -> ApiResponse:
        """get (candidate) / show (running) / set / edit / delete: ``reconciler.sim.config_ops``."""
        user = self.world.credentials_for(device).user
        return ApiResponse(*config_ops.config_request(self.world, device, req.params, user))

    def _export(self, device: Device, req: ApiRequest) -> ApiResponse:
        if req.param("category") != "configuration":
            return ApiResponse(
                400, bad_request(f'Illegal value for parameter "category" [{req.param("category")}].')
            )
        return ApiResponse(200, self._config_text(device))

    def _config_text(self, device: Device) -> str:
        """The running configuration (what ``type=export&category=configuration`` returns)."""
        return config_ops.running_text(self.world, device)

    def _version(self, device: Device) -> str:
        if isinstance(device, SimFirewall):
            return fields(
                {
                    "sw-version": str(device.version),
                    "multi-vsys": "off",
                    "model": device.spec.model,
                    "serial": device.serial,
                }
            )
        return fields(
            {
                "sw-version": str(device.version),
                "multi-vsys": "off",
                "model": "Panorama",
                "serial": device.serial,
            }
        )


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` header; None without one. A header that does not
    decode gives credentials no device accepts."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return ("", "")
    return (user, password) if sep else ("", "")


def _unknown(cmd: Command, tree: CommandTree) -> ApiResponse:
    return ApiResponse(200, error(tree.explain(cmd.words), code="17"))


def _label(req: ApiRequest) -> str:
    kind = req.param("type") or "?"
    if kind == "op":
        raw = req.param("cmd")
        try:
            return "op:" + parse_command(raw).key
        except CommandSyntaxError:
            return "op:?"
    if kind == "config":
        return f"config:{req.param('action') or '?'}"
    if kind == "export":
        return f"export:{req.param('category') or '?'}"
    return kind


def _message(response: ApiResponse) -> str:
    body = response.body
    for start, end in (("<![CDATA[", "]]>"), ("<msg>", "</msg>"), ("<title>", "</title>")):
        i = body.find(start)
        if i >= 0:
            j = body.find(end, i + len(start))
            if j > i:
                return body[i + len(start) : j][:300]
    return body[:120]


__all__ = ["ApiRequest", "ApiResponse", "XmlApi", "html_error", "node"]
