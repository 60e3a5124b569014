"""pan-os-python's own workflows, run by ``launcher.py`` in a process on the simulator's clock.

Each function is a console-script style entry point: the device comes from the environment
(``SIM_CLIENT_HOST``, ``SIM_CLIENT_PORT``, ``SIM_CLIENT_USER``, ``SIM_CLIENT_PASSWORD``), the version from
``sys.argv[1]``. Only pan-os-python's public API is called, with its default intervals and timeouts. The
last line printed is ``RESULT {json}``.
"""

from __future__ import annotations

import json
import os
import sys

from panos.firewall import Firewall


def _firewall() -> Firewall:
    env = os.environ
    return Firewall(
        env["SIM_CLIENT_HOST"],
        env["SIM_CLIENT_USER"],
        env["SIM_CLIENT_PASSWORD"],
        port=int(env["SIM_CLIENT_PORT"]),
    )


def _result(**fields: object) -> int:
    print("RESULT " + json.dumps(fields), flush=True)
    return 0


def upgrade_to_version() -> int:
    """``Firewall.software.upgrade_to_version(TARGET)``: every intermediate hop, each with its reboot."""
    fw = _firewall()
    done = fw.software.upgrade_to_version(sys.argv[1])
    return _result(done=bool(done), version=fw.version, reported=fw.refresh_system_info().version)


def install_and_syncreboot() -> int:
    """Download (if needed) and install VERSION, ``restart()``, then ``syncreboot()`` with its defaults."""
    fw = _firewall()
    version = sys.argv[1]
    fw.software.check()
    if not fw.software.versions[version]["downloaded"]:
        fw.software.download(version, sync=True)
    installed = fw.software.install(version, sync=True)
    fw.restart()
    return _result(installed=installed["success"], version=fw.syncreboot())
