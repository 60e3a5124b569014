"""The original tool's two CSV exports of the inventory (exact column names and order).

Hostnames (and every other cell) come from the devices: each cell goes through
``display.spreadsheet_cell`` (a formula's first character prefixed with ``'``, control characters
escaped); spreadsheets show the text, and the bulk commands read only serials.
"""

from __future__ import annotations

import csv
import io

from reconciler.core.display import spreadsheet_cell
from reconciler.core.inventory import Inventory

STANDALONE_COLUMNS = ("serial", "hostname", "mgmt_ip", "current_version", "model")
HA_PAIR_COLUMNS = (
    "serial_1", "serial_2", "hostname_1", "hostname_2", "mgmt_ip_1", "mgmt_ip_2",
    "current_version_1", "current_version_2", "model",
)  # fmt: skip


def _row(values: list[str]) -> list[str]:
    return [spreadsheet_cell(v) for v in values]


def standalone_csv(inventory: Inventory) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STANDALONE_COLUMNS)
    for dev in inventory:
        if dev.device_type == "standalone":
            writer.writerow(_row([dev.serial, dev.hostname, dev.mgmt_ip, dev.sw_version, dev.model]))
    return out.getvalue()


def ha_pairs_csv(inventory: Inventory) -> str:
    """One row per pair, the active member first (``Inventory.pairs`` orders them)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HA_PAIR_COLUMNS)
    for first, second in inventory.pairs():
        writer.writerow(
            _row([
                first.serial, second.serial, first.hostname, second.hostname, first.mgmt_ip, second.mgmt_ip,
                first.sw_version, second.sw_version, first.model or second.model,
            ])
        )  # fmt: skip
    return out.getvalue()
