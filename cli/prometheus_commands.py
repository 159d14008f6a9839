"""`slo-engine prometheus`: a local real Prometheus, backfilled from a fleet's OpenMetrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    pass


from cli.console import console

prometheus_app = typer.Typer(help="A local Prometheus for demos and tests.", no_args_is_help=True)


@prometheus_app.command("up")
def prometheus_up(
    data: Annotated[Path, typer.Option(help="TSDB and log folder.")] = Path(
        ".slo-engine/prometheus"
    ),
    openmetrics: Annotated[
        Path | None, typer.Option(help="Backfill this OpenMetrics file first (fleet.om).")
    ] = None,
    port: int = 9090,
    lookback_delta: str = "30m",
) -> None:
    """Backfill (optionally) and start Prometheus on 127.0.0.1; waits for /-/ready."""
    from cli import prometheus_local

    if openmetrics is not None:
        with console.status(f"backfilling {openmetrics}"):
            prometheus_local.backfill(openmetrics, data)
    server = prometheus_local.start(data, port=port, lookback_delta=lookback_delta)
    console.print(f"[green]Prometheus ready[/green] at {server.url} (pid {server.pid})")
    console.print(f"export SLO_TELEMETRY=prometheus SLO_PROMETHEUS_URL={server.url}")


@prometheus_app.command("down")
def prometheus_down(
    data: Annotated[Path, typer.Option(help="Folder given to `up`.")] = Path(
        ".slo-engine/prometheus"
    ),
) -> None:
    """Stop the Prometheus started with `up` on that folder."""
    from cli import prometheus_local

    stopped = prometheus_local.stop(data)
    console.print("stopped" if stopped else "no Prometheus was running for that folder")
