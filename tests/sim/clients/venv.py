"""A client's own virtual environment, made on demand (its pins may conflict with ours)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


class VenvUnavailable(Exception):
    """The client could not be installed here (the test is skipped with this reason)."""


def ensure_venv(directory: Path, requirements: list[str], module: str, *, timeout: float = 600) -> Path:
    """The Python of a virtual environment in ``directory`` holding ``requirements`` (pip requirements,
    e.g. ``["pan-os-upgrade==1.3.11"]``); made once, reused while ``module`` imports in it. The environment
    is built next to ``directory`` and renamed into place, so a build cut short leaves nothing behind."""
    python = directory / "bin" / "python"
    marker = directory / "requirements.txt"
    wanted = "\n".join(requirements)
    if python.exists() and marker.exists() and marker.read_text() == wanted and _imports(python, module):
        return python
    building = directory.with_name(f"{directory.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        _run([sys.executable, "-m", "venv", str(building)], "python -m venv", timeout=120)
        pip = [str(building / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q", "install"]
        _run([*pip, *requirements], f"pip install {' '.join(requirements)}", timeout=timeout)
        (building / "requirements.txt").write_text(wanted)
        shutil.rmtree(directory, ignore_errors=True)
        building.rename(directory)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    if not _imports(python, module):
        raise VenvUnavailable(f"{' '.join(requirements)} installed but `import {module}` fails")
    return python


def _run(command: list[str], label: str, *, timeout: float) -> None:
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as expired:
        raise VenvUnavailable(f"`{label}` did not finish in {timeout:.0f} s") from expired
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        raise VenvUnavailable(f"`{label}` failed: {lines[-1] if lines else proc.returncode}")


def _imports(python: Path, module: str) -> bool:
    try:
        proc = subprocess.run(
            [str(python), "-c", f"import {module}"],
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def ensure_locale(directory: Path, name: str = "en_US.UTF-8") -> Path | None:
    """A ``LOCPATH`` directory holding locale ``name`` (``language_TERRITORY.UTF-8``) when the system
    lacks it, compiled once with glibc's ``localedef``; None when the system has it already."""
    probe = f"import locale; locale.setlocale(locale.LC_ALL, {name!r})"
    if subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60).returncode == 0:
        return None
    target = directory / name
    env = {**os.environ, "LOCPATH": str(directory)}
    if (
        target.exists()
        and subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True).returncode == 0
    ):
        return directory
    localedef = shutil.which("localedef")
    if localedef is None:
        raise VenvUnavailable(f"the {name} locale is missing and there is no localedef to make it")
    language, _, charset = name.partition(".")
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [localedef, "-i", language, "-f", charset, str(target)], capture_output=True, text=True, timeout=120
    )
    if proc.returncode not in (0, 1) or not target.exists():  # 1: made, with warnings
        raise VenvUnavailable(f"localedef could not make {name}: {proc.stderr.strip()[-300:]}")
    return directory
