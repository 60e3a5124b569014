"""Start a client workflow in its own process on the simulator's clock (``launcher.py``) and collect it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from reconciler.sim import Simulator

LAUNCHER = Path(__file__).with_name("launcher.py")


@dataclass(frozen=True)
class ClientRun:
    returncode: int
    output: str  # stdout and stderr, interleaved
    seconds: float  # real seconds the process ran

    def result(self) -> dict[str, object]:
        """The ``RESULT {json}`` line a workflow of ``panos_python_workflows`` printed last."""
        lines = [line for line in self.output.splitlines() if line.startswith("RESULT ")]
        assert lines, f"no RESULT line; exit {self.returncode}; output:\n{self.tail()}"
        parsed: dict[str, object] = json.loads(lines[-1][len("RESULT ") :])
        return parsed

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_client(
    sim: Simulator,
    target: str,
    args: list[str],
    *,
    python: str | Path = sys.executable,
    cwd: Path,
    timeout: float,
    env: dict[str, str] | None = None,
) -> ClientRun:
    """Run ``target`` (MODULE:CALLABLE) with ``args`` through the launcher at ``sim``'s time scale.

    Bounded: the process is killed after ``timeout`` real seconds (the test then fails with its output)."""
    child_env = {
        key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))
    }
    child_env.update(env or {})
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [str(python), str(LAUNCHER), repr(sim.options.time_scale), target, *args],
            cwd=cwd,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as expired:
        out = expired.output or ""
        text = out.decode(errors="replace") if isinstance(out, bytes) else out
        raise AssertionError(f"{target} still running after {timeout} s; output:\n{text[-6000:]}") from None
    return ClientRun(proc.returncode, proc.stdout, time.monotonic() - started)


def device_env(sim: Simulator, serial: str) -> dict[str, str]:
    """How ``panos_python_workflows`` finds one simulated firewall."""
    ep = sim.endpoint(serial)
    return {
        "SIM_CLIENT_HOST": ep.address,
        "SIM_CLIENT_PORT": str(ep.port),
        "SIM_CLIENT_USER": sim.credentials.user,
        "SIM_CLIENT_PASSWORD": sim.credentials.password,
    }
