"""``panos-upgrade demo``: see ``reconciler.cli.demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli import demo


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)


def demo_cmd(
    firewalls: Annotated[
        int, typer.Option("--firewalls", min=2, max=2000, help="Firewalls in all (pairs included)")
    ] = 24,
    ha_pairs: Annotated[int, typer.Option("--ha-pairs", min=0, max=500, help="HA pairs among them")] = 3,
    time_scale: Annotated[
        float, typer.Option("--time-scale", min=0.0005, max=1.0, help="Real seconds per simulated second")
    ] = 0.004,
    work_dir: Annotated[Path, typer.Option("--work-dir", help="Work directory of the demo")] = Path(
        "demo-work"
    ),
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Stay up as the daemon watching desired/ after converging")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated fleet")] = 1,
    metrics_listen: Annotated[
        str, typer.Option("--metrics-listen", help="host:port for /metrics")
    ] = demo.DEMO_METRICS,
) -> None:
    """Run a simulated fleet on loopback and converge it on desired/ (no firewalls needed)."""
    if ha_pairs * 2 > firewalls:
        raise typer.BadParameter("--ha-pairs needs two firewalls per pair", param_hint="--ha-pairs")
    opts = demo.DemoOptions(
        work_dir=work_dir,
        firewalls=firewalls,
        ha_pairs=ha_pairs,
        time_scale=time_scale,
        seed=seed,
        keep_running=keep_running,
        metrics_listen=metrics_listen,
    )
    raise typer.Exit(demo.run(opts))
