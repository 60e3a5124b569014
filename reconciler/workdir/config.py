"""Settings: the registry of every key, typed access, validation, and secrets.

The registry ``KEYS`` is the single source of truth: ``schemas/config.schema.json`` is generated from it
(``python -m reconciler.workdir.config > schemas/config.schema.json``; a test keeps the two equal) and the
configuration reference in the README is checked against it.

Secrets (passwords, API keys) resolve in this order, first hit wins:
1. environment ``PANOS_UPGRADE_<SECTION>_<NAME>`` (e.g. ``PANOS_UPGRADE_PANORAMA_PASSWORD``);
2. a systemd credential file ``$CREDENTIALS_DIRECTORY/<section>.<name>`` (``LoadCredential=``);
3. the file named by the ``<section>.<name>_file`` key;
4. the value stored by ``config set`` in ``config/config.json`` (written 0600).
Secret values are never printed: ``show`` masks them and ``reconciler.workdir.logs`` scrubs them from log lines.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.errors import ConfigError, StoreError
from reconciler.workdir import store

MASK = "********"
CONFIG_FILE_MODE = 0o600


@dataclass(frozen=True)
class Key:
    """One setting: dotted name, type (``str|int|float|bool``), default, bounds, and documentation."""

    name: str
    type: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False

    @property
    def section(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def env_var(self) -> str:
        return "PANOS_UPGRADE_" + self.name.replace(".", "_").upper()


def _credential_keys(section: str, who: str, whose: str) -> tuple[Key, ...]:
    """How the tool logs in to Panorama or the firewalls: the same five keys under each ``section``."""
    return (
        Key(f"{section}.username", "str", "", f"{who} username (preferred over api_key)"),
        Key(f"{section}.password", "str", "", f"{who} password", secret=True),
        Key(f"{section}.password_file", "str", "", f"File holding the {whose} password"),
        Key(
            f"{section}.api_key", "str", "", f"{who} API key (used if username/password not set)", secret=True
        ),
        Key(f"{section}.api_key_file", "str", "", f"File holding the {whose} API key"),
    )


def _connection_keys(section: str, who: str, whose: str, them: str, verify_help: str) -> tuple[Key, ...]:
    """How each API call to Panorama or a firewall is made: deadline, answer cap and TLS."""
    return (
        Key(
            f"{section}.timeout", "int", 300, f"{who} API call deadline in seconds (the whole call)", 1, 3600
        ),
        Key(f"{section}.max_answer_mb", "int", 64, f"Largest {whose} API answer read (MB)", 1, 4096),
        Key(f"{section}.verify_tls", "bool", True, verify_help),
        Key(f"{section}.use_http", "bool", False, "Plain HTTP instead of HTTPS (simulator/testing only)"),
        Key(
            f"{section}.ca_bundle", "str", "", f"CA bundle (PEM) used to verify {them}; empty = system store"
        ),
    )


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

KEYS: dict[str, Key] = {
    k.name: k
    for k in [
        # Panorama: discovery, and the firewalls reached through it (firewall.connection).
        Key(
            "panorama.host",
            "str",
            "",
            "Panorama hostname or IP address (discovery; firewall calls through Panorama)",
        ),
        Key("panorama.port", "int", 443, "Panorama HTTPS API port", 1, 65535),
        *_credential_keys("panorama", "Panorama", "Panorama"),
        Key(
            "panorama.rate_limit",
            "int",
            10,
            "Panorama API requests per minute (shared by calls through Panorama; up to 4 at once, never more in any 60 s)",
            1,
            100000,
        ),
        *_connection_keys(
            "panorama", "Panorama", "Panorama", "Panorama", "Verify Panorama's TLS certificate"
        ),
        # Firewalls: every operation goes to the firewall's management address, or through Panorama.
        *_credential_keys("firewall", "Firewall", "firewall"),
        Key(
            "firewall.connection",
            "str",
            "direct",
            "How firewalls are reached: direct (management address), panorama (through Panorama, "
            "target=serial, Panorama's credentials), auto (direct, else through Panorama)",
            choices=("direct", "panorama", "auto"),
        ),
        Key(
            "firewall.direct_recheck",
            "int",
            3600,
            "auto: seconds before the management address of a firewall reached through Panorama is tried "
            "again (kept in status/firewall-paths.json across runs)",
            60,
            604800,
        ),
        Key("firewall.port", "int", 443, "Firewall HTTPS API port", 1, 65535),
        *_connection_keys(
            "firewall", "Firewall", "firewall", "firewalls", "Verify firewalls' TLS certificates"
        ),
        Key(
            "firewall.software_check_timeout",
            "int",
            90,
            "Timeout of 'request system software check' (s)",
            1,
            3600,
        ),
        Key(
            "firewall.software_info_timeout",
            "int",
            120,
            "Timeout of 'request system software info' (s)",
            1,
            3600,
        ),
        Key(
            "firewall.job_stall_timeout",
            "int",
            1800,
            "Fail a download/install job with no progress for (s)",
            10,
            86400,
        ),
        Key(
            "firewall.max_reboot_poll_interval", "int", 300, "Longest wait between reboot polls (s)", 1, 3600
        ),
        Key(
            "firewall.reboot_timeout",
            "int",
            1800,
            "Give up on a device that is not back after reboot (s)",
            60,
            86400,
        ),
        Key(
            "firewall.install_retry_delay",
            "int",
            60,
            "Wait before retrying 'software manager in use' (s)",
            1,
            3600,
        ),
        # Workers.
        Key(
            "workers.max", "int", 5, "Devices doing upgrade work at once (an HA pair takes one slot)", 1, 500
        ),
        Key("workers.queue_size", "int", 1000, "Maximum queued jobs", 1, 1000000),
        # Discovery.
        Key("discovery.retry_attempts", "int", 3, "Retry attempts for HA state queries", 1, 20),
        # Probes mostly wait on the network, so far more of them run at once than upgrades do.
        Key("discovery.workers", "int", 50, "Parallel firewall probes during discovery", 1, 500),
        Key(
            "discovery.interval",
            "int",
            3600,
            "Daemon re-discovery interval in seconds (0 = never)",
            0,
            604800,
        ),
        # Validation.
        Key("validation.tcp_session_margin", "float", 5.0, "TCP session change tolerance (%)", 0, 100),
        Key("validation.route_margin", "float", 0.0, "Route count change tolerance (%)", 0, 100),
        Key("validation.arp_margin", "float", 0.0, "ARP entry change tolerance (%)", 0, 100),
        Key("validation.min_disk_gb", "float", 5.0, "Minimum free disk space (GB)", 0, 10000),
        # Logging.
        Key("logging.level", "str", "INFO", "Log level", choices=_LOG_LEVELS),
        Key("logging.max_size_mb", "int", 100, "Rotate a log file at this size (MB)", 1, 100000),
        Key("logging.retention_days", "int", 30, "Delete rotated logs older than this (days)", 1, 3650),
        # Metrics.
        Key("metrics.enabled", "bool", True, "Serve Prometheus metrics"),
        Key(
            "metrics.listen",
            "str",
            "127.0.0.1:9753",
            "Metrics listen address host:port (port 0: any free port)",
        ),
        # Desired state and daemon.
        Key("desired.path", "str", "", "Desired-state file or directory (default: <work_dir>/desired)"),
        Key(
            "engine.time_scale",
            "float",
            1.0,
            "Real seconds per simulated second when driving a time-scaled simulator (1 = real firewalls)",
            0.0001,
            1,
        ),
        Key("daemon.resync_interval", "int", 300, "Full reconcile at least every N seconds", 1, 86400),
        Key("daemon.allow_root", "bool", False, "Allow the daemon to run as root"),
        Key("notifications.webhook_url", "str", "", "Comma-separated webhook URLs for events"),
        Key("notifications.timeout", "int", 10, "Webhook POST timeout (s)", 1, 300),
    ]
}


def lookup(name: str) -> Key:
    """Return the key, or raise ``ConfigError`` with a did-you-mean hint."""
    try:
        return KEYS[name]
    except KeyError:
        close = difflib.get_close_matches(name, KEYS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "; 'panos-upgrade config show' lists the keys"
        raise ConfigError(f"unknown config key {name!r}{hint}") from None


def parse_value(key: Key, raw: Any) -> Any:
    """Convert a CLI string (or JSON value) to the key's type and check bounds; raise ``ConfigError``."""
    value: Any
    try:
        if key.type == "bool":
            if isinstance(raw, bool):
                value = raw
            elif isinstance(raw, str) and raw.strip().lower() in ("true", "yes", "1", "on"):
                value = True
            elif isinstance(raw, str) and raw.strip().lower() in ("false", "no", "0", "off"):
                value = False
            else:
                raise ValueError("expected true or false")
        elif key.type == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(_int_expected(key))
            try:
                value = int(raw)
            except (TypeError, ValueError):
                raise ValueError(_int_expected(key)) from None
        elif key.type == "float":
            if isinstance(raw, bool):
                raise ValueError("expected a number")
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("expected a finite number")
        else:
            if not isinstance(raw, str):
                raise ValueError("expected a string")
            value = raw
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key.name}: invalid value {raw!r}: {exc}") from None
    if key.choices and value not in key.choices:
        upper = value.upper() if isinstance(value, str) else value
        if upper in key.choices:
            value = upper
        else:
            raise ConfigError(f"{key.name}: {value!r} is not one of {', '.join(key.choices)}")
    if key.minimum is not None and value < key.minimum:
        raise ConfigError(f"{key.name}: {value} is below the minimum {_num(key.minimum)}")
    if key.maximum is not None and value > key.maximum:
        raise ConfigError(f"{key.name}: {value} is above the maximum {_num(key.maximum)}")
    if key.name == "metrics.listen" and value:
        _check_listen(value)
    return value


def _int_expected(key: Key) -> str:
    """What an integer key accepts, from its registry bounds: "must be an integer from 1 to 500"."""
    if key.minimum is not None and key.maximum is not None:
        return f"must be an integer from {_num(key.minimum)} to {_num(key.maximum)}"
    if key.minimum is not None:
        return f"must be an integer of at least {_num(key.minimum)}"
    if key.maximum is not None:
        return f"must be an integer of at most {_num(key.maximum)}"
    return "must be an integer"


def _check_listen(value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"metrics.listen: {value!r} is not host:port")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass
class Config:
    """The effective settings of one work directory: stored values over defaults, secrets resolved lazily."""

    values: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @classmethod
    def load(cls, path: Path, env: Mapping[str, str] | None = None) -> Config:
        """Load ``config/config.json``; a missing file means all defaults. Bad files raise ``ConfigError``."""
        environ = os.environ if env is None else env
        if not path.exists():
            return cls({}, path, environ)
        try:
            nested = store.read_json(path)
        except StoreError as exc:
            raise ConfigError(str(exc)) from exc
        values = _flatten(nested, path)
        problems = validate_values(values)
        if problems:
            raise ConfigError(f"{path}: " + "; ".join(problems))
        cfg = cls(values, path, environ)
        cfg._warn_if_exposed()
        return cfg

    def _warn_if_exposed(self) -> None:
        if self.path is None or not any(KEYS[k].secret and v for k, v in self.values.items()):
            return
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            import logging

            logging.getLogger("reconciler.config").warning(
                "%s holds secrets but has mode %o; run 'chmod 600 %s'", self.path, mode, self.path
            )

    def get(self, name: str) -> Any:
        key = lookup(name)
        if key.secret:
            return self.secret(name)
        return self.values.get(name, key.default)

    def source(self, name: str) -> str:
        key = lookup(name)
        if key.secret:
            return self._secret_with_source(key)[1]
        return "config file" if name in self.values else "default"

    def secret(self, name: str) -> str:
        """The secret's value from the first source that has it ('' if none)."""
        return self._secret_with_source(lookup(name))[0]

    def _secret_with_source(self, key: Key) -> tuple[str, str]:
        if self.env.get(key.env_var):
            return self.env[key.env_var], f"environment {key.env_var}"
        cred_dir = self.env.get("CREDENTIALS_DIRECTORY")
        if cred_dir:
            cred = Path(cred_dir) / key.name
            if cred.is_file():
                return _read_secret_file(cred), f"systemd credential {key.name}"
        file_key = f"{key.name}_file"
        file_name = self.values.get(file_key)
        if file_name:
            return _read_secret_file(Path(file_name).expanduser()), f"file ({file_key})"
        value = self.values.get(key.name, "")
        return value, ("config file" if value else "unset")

    def secrets(self) -> list[str]:
        """Every non-empty secret value in effect (for scrubbing logs)."""
        out = []
        for key in KEYS.values():
            if key.secret:
                try:
                    value = self.secret(key.name)
                except ConfigError:
                    continue
                if value:
                    out.append(value)
        return out

    def set(self, name: str, raw: Any) -> Any:
        key = lookup(name)
        value = parse_value(key, raw)
        self.values[name] = value
        return value

    def unset(self, name: str) -> bool:
        lookup(name)
        return self.values.pop(name, None) is not None

    def save(self) -> None:
        if self.path is None:
            raise ConfigError("configuration has no file to save to")
        store.atomic_write_json(self.path, _nest(self.values), mode=CONFIG_FILE_MODE, schema="config")

    def rows(self, *, reveal_sources: bool = True) -> Iterator[tuple[str, Any, str]]:
        """(key, display value, source) for every key; secrets masked."""
        for key in KEYS.values():
            if key.secret:
                value, src = self._secret_with_source(key)
                yield key.name, (MASK if value else ""), src
            else:
                yield key.name, self.values.get(key.name, key.default), self.source(key.name)


def _read_secret_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from exc


def validate_values(values: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, raw in values.items():
        try:
            key = lookup(name)
            parsed = parse_value(key, raw)
            if key.type in ("int", "float") and isinstance(raw, str):
                raise ConfigError(f"{name}: expected a number, found a string {raw!r}")
            del parsed
        except ConfigError as exc:
            problems.append(str(exc))
    return problems


def _flatten(nested: Any, path: Path) -> dict[str, Any]:
    if not isinstance(nested, dict):
        raise ConfigError(f"{path}: top level must be an object of sections")
    flat: dict[str, Any] = {}
    for section, body in nested.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: {section}: must be an object")
        for name, value in body.items():
            flat[f"{section}.{name}"] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    nested: dict[str, dict[str, Any]] = {}
    for name in sorted(flat):
        section, sub = name.split(".", 1)
        nested.setdefault(section, {})[sub] = flat[name]
    return nested


def json_schema() -> dict[str, Any]:
    """The draft-07 schema of ``config/config.json``, generated from ``KEYS``."""
    sections: dict[str, dict[str, Any]] = {}
    for key in KEYS.values():
        sec, sub = key.name.split(".", 1)
        prop: dict[str, Any] = {
            "type": {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}[key.type],
            "description": key.help,
            "default": key.default,
        }
        if key.minimum is not None:
            prop["minimum"] = key.minimum
        if key.maximum is not None:
            prop["maximum"] = key.maximum
        if key.choices:
            prop["enum"] = list(key.choices)
        sections.setdefault(sec, {"type": "object", "additionalProperties": False, "properties": {}})
        sections[sec]["properties"][sub] = prop
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://panos-upgrade.invalid/schemas/config.schema.json",
        "title": "panos-upgrade config/config.json",
        "type": "object",
        "additionalProperties": False,
        "properties": sections,
    }


def markdown_reference() -> str:
    """The README's configuration reference table, generated from ``KEYS``."""
    lines = ["| key | type | default | range / values | description |", "|---|---|---|---|---|"]
    for key in KEYS.values():
        if key.choices:
            bounds = ", ".join(key.choices)
        elif key.minimum is not None and key.maximum is not None:
            bounds = f"{_num(key.minimum)}..{_num(key.maximum)}"
        else:
            bounds = ""
        if isinstance(key.default, bool):
            default = "true" if key.default else "false"
        else:
            default = str(key.default) if key.default != "" else "(empty)"
        note = " (secret)" if key.secret else ""
        lines.append(f"| `{key.name}` | {key.type} | `{default}` | {bounds} | {key.help}{note} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown_reference())
    else:
        json.dump(json_schema(), sys.stdout, indent=2)
        sys.stdout.write("\n")
