"""Config keys: typing, ranges, did-you-mean, schema, secrets from every source."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from reconciler.core.errors import ConfigError
from reconciler.workdir import config, schemas
from reconciler.workdir.config import KEYS, Config

ORIGINAL_TOOL_KEYS = [
    "panorama.host", "panorama.username", "panorama.password", "panorama.api_key", "panorama.rate_limit",
    "panorama.timeout", "firewall.username", "firewall.password", "firewall.timeout",
    "firewall.software_check_timeout", "firewall.software_info_timeout", "firewall.job_stall_timeout",
    "firewall.max_reboot_poll_interval", "workers.max", "workers.queue_size", "discovery.retry_attempts",
    "validation.tcp_session_margin", "validation.route_margin", "validation.arp_margin",
    "validation.min_disk_gb", "logging.level", "logging.max_size_mb", "logging.retention_days",
]  # fmt: skip


def test_every_key_of_the_original_tool_exists_with_its_default() -> None:
    assert set(ORIGINAL_TOOL_KEYS) <= set(KEYS)
    defaults = {k: KEYS[k].default for k in ORIGINAL_TOOL_KEYS}
    assert 10 == defaults["panorama.rate_limit"]
    assert 300 == defaults["panorama.timeout"]
    assert 1800 == defaults["firewall.job_stall_timeout"]
    assert 5 == defaults["workers.max"]
    assert 5.0 == defaults["validation.tcp_session_margin"]
    assert 5.0 == defaults["validation.min_disk_gb"]


def test_discovery_probes_have_their_own_wider_pool() -> None:
    key = KEYS["discovery.workers"]
    assert (50, 1, 500) == (key.default, key.minimum, key.maximum)


def test_the_shipped_schema_is_generated_from_the_registry() -> None:
    assert config.json_schema() == schemas.load("config")


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("workers.max", "10", 10),
        ("workers.max", "500", 500),
        ("validation.route_margin", "2.5", 2.5),
        ("panorama.verify_tls", "false", False),
        ("panorama.verify_tls", "YES", True),
        ("logging.level", "debug", "DEBUG"),
        ("metrics.listen", "127.0.0.1:9100", "127.0.0.1:9100"),
    ],
)
def test_values_are_parsed_to_their_type(key: str, raw: str, expected: object) -> None:
    assert expected == config.parse_value(KEYS[key], raw)


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("workers.max", "0", "below the minimum 1"),
        ("workers.max", "501", "above the maximum 500"),
        ("workers.max", "ten", "invalid value 'ten'"),
        ("workers.max", "2.5", "invalid value"),
        ("validation.arp_margin", "-1", "below the minimum 0"),
        ("validation.arp_margin", "nan", "finite"),
        ("panorama.verify_tls", "maybe", "expected true or false"),
        ("logging.level", "LOUD", "not one of DEBUG"),
        ("metrics.listen", "9753", "not host:port"),
        ("panorama.port", "70000", "above the maximum 65535"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(key: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as exc:
        config.parse_value(KEYS[key], raw)
    assert message in str(exc.value)


def test_unknown_key_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'worker.max'; did you mean 'workers.max'\?"):
        config.lookup("worker.max")


def test_unknown_key_without_a_close_match_points_at_show() -> None:
    with pytest.raises(ConfigError, match="config show"):
        config.lookup("zzz.qqq")


def test_saved_file_is_0600_and_nested(tmp_path: Path) -> None:
    cfg = Config({}, tmp_path / "config.json", {})
    cfg.set("panorama.password", "hunter22")
    cfg.set("workers.max", "7")
    cfg.save()
    assert 0o600 == stat.S_IMODE((tmp_path / "config.json").stat().st_mode)
    assert {"panorama": {"password": "hunter22"}, "workers": {"max": 7}} == json.loads(
        (tmp_path / "config.json").read_text()
    )


def test_invalid_config_file_is_rejected_naming_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"workers": {"max": 9999}}))
    with pytest.raises(ConfigError, match=r"config\.json: workers\.max: 9999 is above the maximum 500"):
        Config.load(path, env={})


def test_string_where_a_number_belongs_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"workers": {"max": "7"}}))
    with pytest.raises(ConfigError, match="expected a number"):
        Config.load(path, env={})


def test_secret_sources_in_priority_order(tmp_path: Path) -> None:
    pw_file = tmp_path / "pw.txt"
    pw_file.write_text("from-file\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    values = {"panorama.password": "from-config", "panorama.password_file": str(pw_file)}
    assert ("from-file", "file (panorama.password_file)") == (
        Config(dict(values), None, {}).secret("panorama.password"),
        Config(dict(values), None, {}).source("panorama.password"),
    )
    (creds / "panorama.password").write_text("from-systemd")
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert "from-systemd" == Config(dict(values), None, env).secret("panorama.password")
    env["PANOS_UPGRADE_PANORAMA_PASSWORD"] = "from-env"
    assert "from-env" == Config(dict(values), None, env).secret("panorama.password")
    assert "from-config" == Config({"panorama.password": "from-config"}, None, {}).secret("panorama.password")


def test_missing_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    cfg = Config({"firewall.password_file": str(tmp_path / "nope")}, None, {})
    with pytest.raises(ConfigError, match="cannot read secret file"):
        cfg.secret("firewall.password")


def test_rows_mask_every_secret() -> None:
    cfg = Config({"panorama.password": "hunter22", "firewall.api_key": "KEYKEYKEY"}, None, {})
    shown = {k: v for k, v, _ in cfg.rows()}
    assert "********" == shown["panorama.password"]
    assert "********" == shown["firewall.api_key"]
    assert "hunter22" not in json.dumps(shown)


def test_world_readable_config_with_secrets_logs_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"panorama": {"password": "hunter22"}}))
    path.chmod(0o644)
    with caplog.at_level("WARNING"):
        Config.load(path, env={})
    assert "holds secrets but has mode 644" in caplog.text
