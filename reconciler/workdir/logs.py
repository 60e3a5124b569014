"""Logging: JSON lines and plain text under ``logs/``, rotated by size, old files pruned, secrets scrubbed.

Call ``setup()`` once per process. ``register_secret()`` adds a value that must never appear in any log
line: every handler's formatter replaces it with a mask after formatting, so a secret leaking through an
exception message or a library's debug output is caught too.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from reconciler.workdir.layout import WorkPaths

ROOT_LOGGER = "reconciler"
_MASK = "********"
_secrets: set[str] = set()
_secrets_lock = threading.Lock()

# Fields a caller can attach with ``extra={...}`` that the JSON log keeps as structured fields.
_STRUCTURED = (
    "serial",
    "hostname",
    "job_id",
    "group",
    "hop",
    "phase",
    "from_phase",
    "attempt",
    "target",
    "reason",
    "event",
    "device",
)


def register_secret(value: str | None) -> None:
    """Never let ``value`` appear in a log line (values shorter than 4 characters are ignored)."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s - %(name)s - %(levelname)s - %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "thread": record.threadName,
        }
        for name in _STRUCTURED:
            if hasattr(record, name):
                doc[name] = getattr(record, name)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return scrub(json.dumps(doc, default=str))


class _Early(logging.Handler):
    """Keeps warnings logged before the log files exist (e.g. while the config that names the log level is
    loaded), so that ``setup`` can write them to the files once it has them."""

    LIMIT = 100

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) < self.LIMIT:
            self.records.append(record)


_early = _Early()


def setup(
    paths: WorkPaths | None,
    *,
    level: str = "INFO",
    console_level: str = "WARNING",
    component: str = "cli",
    max_size_mb: int = 100,
    retention_days: int = 30,
) -> None:
    """Configure the ``reconciler`` logger: stderr always; files when the work directory exists."""
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level.upper())
    console.setFormatter(TextFormatter())
    logger.addHandler(console)

    if paths is None or not paths.logs_dir.is_dir():
        if paths is None:
            _early.records.clear()  # a fresh start (one command): nothing from before it
        logger.addHandler(_early)
        return
    max_bytes = max_size_mb * 1024 * 1024
    for directory, name, formatter in (
        (paths.text_logs_dir, f"panos-upgrade-{component}.log", TextFormatter()),
        (paths.json_logs_dir, f"panos-upgrade-{component}.jsonl", JsonFormatter()),
    ):
        directory.mkdir(parents=True, exist_ok=True)
        prune(directory, retention_days)
        fh = logging.handlers.RotatingFileHandler(
            directory / name, maxBytes=max_bytes, backupCount=1000, encoding="utf-8"
        )
        fh.setLevel(level.upper())
        fh.setFormatter(formatter)
        logger.addHandler(fh)
        for record in _early.records:  # already shown on stderr; the files get them too
            if record.levelno >= fh.level:
                fh.handle(record)
    _early.records.clear()


def prune(directory: Path, retention_days: int, now: float | None = None) -> list[Path]:
    """Delete rotated log files (``*.log.N`` / ``*.jsonl.N``) older than ``retention_days``."""
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    removed = []
    for path in directory.glob("*.*.*"):
        if path.suffix.lstrip(".").isdigit() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def get(name: str) -> logging.Logger:
    """A child of the package logger (``get(__name__)`` from inside the package)."""
    if not name.startswith(ROOT_LOGGER):
        name = f"{ROOT_LOGGER}.{name}"
    return logging.getLogger(name)
