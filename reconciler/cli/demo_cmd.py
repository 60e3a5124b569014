"""``panos-upgrade demo``: see ``reconciler.cli.demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# The demo's defaults (``reconciler.cli.demo`` uses them too). The demo module itself, with the simulator and
# the engine, is imported only when the command runs, so other commands start without them.
DEMO_BASE_ADDRESS = "127.30.0.0"
DEMO_METRICS = "127.0.0.1:9753"


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
        str,
        typer.Option(
            "--metrics-listen",
            "--metrics-address",
            metavar="HOST:PORT",
            help="Where /metrics is served: a loopback address (127.0.0.0/8); port 0 picks a free one",
        ),
    ] = DEMO_METRICS,
    sim_address: Annotated[
        str,
        typer.Option(
            "--sim-address",
            metavar="127.A.0.0",
            help="Base address of the simulated fleet (loopback only): Panorama on 127.A.0.1, firewalls after it",
        ),
    ] = DEMO_BASE_ADDRESS,
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            metavar="default|panorama",
            help="panorama: a Panorama HA pair upgraded first, two firewalls reachable only through Panorama",
        ),
    ] = "default",
) -> None:
    """Run a simulated fleet on loopback and converge it on desired/ (no firewalls needed)."""
    if ha_pairs * 2 > firewalls:
        raise typer.BadParameter("--ha-pairs needs two firewalls per pair", param_hint="--ha-pairs")
    if scenario not in ("default", "panorama"):
        raise typer.BadParameter(f"{scenario!r}: use default or panorama", param_hint="--scenario")
    from reconciler.cli import demo

    opts = demo.DemoOptions(
        work_dir=work_dir,
        firewalls=firewalls,
        ha_pairs=ha_pairs,
        time_scale=time_scale,
        seed=seed,
        keep_running=keep_running,
        metrics_listen=demo.check_metrics_listen(metrics_listen),
        sim_address=demo.check_sim_address(sim_address),
        scenario=scenario,
    )
    raise typer.Exit(demo.run(opts))
