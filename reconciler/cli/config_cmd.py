"""``panos-upgrade config set|get|unset|show``."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated

import typer

from reconciler.cli.context import state
from reconciler.core.errors import UserError
from reconciler.workdir import store
from reconciler.workdir.config import MASK, lookup

config_app = typer.Typer(help="Read and change settings (config/config.json).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("set")
def set_(
    ctx: typer.Context,
    key: str,
    value: Annotated[
        str | None,
        typer.Argument(
            help="The value; leave it off for a secret: it is read from standard input or prompted"
        ),
    ] = None,
) -> None:
    """Set KEY to VALUE (type- and range-checked). Secrets are stored in a 0600 file; give no VALUE for a
    secret and it is read from standard input (a pipe) or a prompt that does not echo, so it never appears
    in the process list or the shell history."""
    st = state(ctx)
    paths = st.paths()
    cfg = st.config()
    if value is None:
        value = _secret_value(key)
    parsed = cfg.set(key, value)
    cfg.save()
    shown = MASK if lookup(key).secret else json.dumps(parsed)
    store.audit(paths.audit_file, "config-set", key=key, value=shown)
    print(f"{key} = {shown}")


def _secret_value(key: str) -> str:
    if not lookup(key).secret:
        raise UserError(f"config set {key}: VALUE is missing (only secrets are read from standard input)")
    # A terminal gets a prompt that does not echo; a pipe gives its first line.
    value = getpass.getpass(f"{key}: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise UserError(f"config set {key}: the value read is empty; nothing changed")
    return value


@config_app.command("get")
def get(
    ctx: typer.Context,
    key: str,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {key, value, source, secret} as JSON (secrets masked)")
    ] = False,
) -> None:
    """Print the effective value of KEY (secrets are masked)."""
    st = state(ctx)
    st.paths()
    cfg = st.config()
    k = lookup(key)
    if as_json:
        value = (MASK if cfg.secret(key) else "") if k.secret else cfg.get(key)
        doc = {"key": k.name, "value": value, "source": cfg.source(key), "secret": k.secret}
        print(json.dumps(doc, indent=2))
        return
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
