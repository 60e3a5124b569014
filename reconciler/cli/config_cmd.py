"""``panos-upgrade config set|get|unset|show``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from reconciler import store
from reconciler.cli.context import state
from reconciler.config import MASK, lookup

config_app = typer.Typer(help="Read and change settings (config/config.json).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("set")
def set_(ctx: typer.Context, key: str, value: str) -> None:
    """Set KEY to VALUE (type- and range-checked). Secrets are stored in a 0600 file."""
    st = state(ctx)
    paths = st.paths()
    cfg = st.config()
    parsed = cfg.set(key, value)
    cfg.save()
    shown = MASK if lookup(key).secret else json.dumps(parsed)
    store.audit(paths.audit_file, "config-set", key=key, value=shown)
    print(f"{key} = {shown}")


@config_app.command("get")
def get(ctx: typer.Context, key: str) -> None:
    """Print the effective value of KEY (secrets are masked)."""
    st = state(ctx)
    st.paths()
    cfg = st.config()
    k = lookup(key)
    if k.secret:
        print(MASK if cfg.secret(key) else "")
    else:
        value = cfg.get(key)
        print(value if isinstance(value, str) else json.dumps(value))


@config_app.command("unset")
def unset(ctx: typer.Context, key: str) -> None:
    """Remove KEY from the config file (it falls back to its default)."""
    st = state(ctx)
    paths = st.paths()
    cfg = st.config()
    removed = cfg.unset(key)
    cfg.save()
    store.audit(paths.audit_file, "config-unset", key=key, removed=removed)
    print(f"{key} unset" if removed else f"{key} was not set")


@config_app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show every setting with its source; secrets are masked."""
    st = state(ctx)
    st.paths()
    rows = list(st.config().rows())
    if as_json:
        print(json.dumps({k: {"value": v, "source": s} for k, v, s in rows}, indent=2))
        return
    width = max(len(k) for k, _, _ in rows)
    for key, value, source in rows:
        shown = value if isinstance(value, str) else json.dumps(value)
        print(f"{key:<{width}}  {shown!s:<24}  ({source})")
