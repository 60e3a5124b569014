"""Reading and writing ``inventory.json`` (schema-validated, atomic)."""

from __future__ import annotations

from reconciler.core.errors import StoreError, UserError
from reconciler.core.inventory import Inventory
from reconciler.workdir import store
from reconciler.workdir.layout import WorkPaths


def load(paths: WorkPaths, *, required: bool = True) -> Inventory:
    """The saved inventory; a missing file is a user error (run discovery) unless ``required`` is False."""
    try:
        data = store.read_json(paths.inventory_file, schema="inventory")
    except FileNotFoundError:
        if required:
            raise UserError(
                f"no inventory at {paths.inventory_file}: run 'panos-upgrade device discover' first"
            ) from None
        return Inventory()
    except StoreError as exc:
        raise StoreError(f"{exc} (re-run 'panos-upgrade device discover' to rebuild it)") from exc
    return Inventory.from_json(data)


def save(paths: WorkPaths, inventory: Inventory) -> None:
    store.atomic_write_json(paths.inventory_file, inventory.to_json(), schema="inventory")
