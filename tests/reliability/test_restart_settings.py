"""A restarted engine resumes each device under its group's settings, not the defaults.

Found by the chaos test: after a SIGKILL, devices resumed before the first pass loaded the desired state
got the default margins (5 % sessions, 5 GB free disk) for the rest of their hop, so a group that asked for
a stricter margin was validated more loosely after a crash, and a looser one failed for no reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from reconciler import inventory_store
from reconciler.config import Config
from reconciler.engine import record_store
from reconciler.engine.session import open_session
from reconciler.paths import WorkPaths
from reconciler.records import Hop, new_record
from tests.integration.fleet_env import HEADER
from tests.reliability import hostile

DESIRED = (
    HEADER
    + 'groups:\n  - name: dc\n    select: {deviceGroups: [dc]}\n    target: "11.1.6-h1"\n'
    + "    validation: {minDiskGb: 1.5, tcpSessionMargin: 0.5}\n"
)


def test_resumed_records_get_their_groups_settings(work: WorkPaths, tmp_path: Path) -> None:
    inventory_store.save(work, hostile.INVENTORY)
    desired = tmp_path / "desired.yaml"
    desired.write_text(DESIRED)
    record = new_record(
        serial="001",
        starting_version="11.1.2",
        target_version="11.1.6-h1",
        hops=(Hop("11.1.6-h1", ("11.1.6-h1",)),),
        now=datetime(2026, 1, 1, tzinfo=UTC),
        group="dc",
    )
    record_store.save(work, record)
    session = open_session(work, Config.load(work.config_file), desired_path=desired, serve_metrics=False)
    try:
        assert [] == session.reconciler.load_records()
        settings = session.executor.devices["001"].settings
        assert (1.5, 0.5) == (settings.min_disk_gb, settings.tcp_session_margin)
    finally:
        session.close()
