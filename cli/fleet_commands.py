"""`slo-engine fleet`: generate a synthetic fleet (graph, telemetry, truth) for demos,
tests and benchmarks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from synthetic_fleet.topology import FleetTopology


from cli.console import console

#: Rows per Parquet row group of generated telemetry: 100 services' day.
SLI_ROW_GROUP = 2400

fleet_app = typer.Typer(
    help="Synthetic fleets for demos, tests and benchmarks.", no_args_is_help=True
)


@fleet_app.command("generate")
def fleet_generate(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/fleet"),
    services: Annotated[int, typer.Option(min=10, help="Number of services.")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed, same fleet.")] = 42,
    edges_per_service: Annotated[float, typer.Option(min=1.0)] = 3.0,
    cycles: Annotated[int, typer.Option(min=0, help="Deliberate circular dependencies.")] = 3,
    source: Annotated[str, typer.Option(help="Discovery source of graph.json.")] = "manual",
    days: Annotated[
        int, typer.Option(min=0, help="Days of telemetry up to today 00:00 UTC (0: graph only).")
    ] = 0,
    step_minutes: Annotated[int, typer.Option(help="Counter sample spacing.")] = 15,
    openmetrics: Annotated[
        bool, typer.Option(help="Also write fleet.om for `promtool tsdb create-blocks-from`.")
    ] = False,
) -> None:
    """Write graph.json (the POST /services/dependencies body) and, with --days, telemetry:
    sli_hourly/<date>.parquet, truth.json and optionally OpenMetrics text."""
    from synthetic_fleet.topology import generate_topology

    topology = generate_topology(
        services, seed=seed, edges_per_service=edges_per_service, cycles=cycles
    )
    out.mkdir(parents=True, exist_ok=True)
    payload = topology.to_payload(source=source, timestamp=datetime.now(UTC))
    (out / "graph.json").write_text(json.dumps(payload), encoding="utf-8")
    console.print(
        f"[green]wrote {out / 'graph.json'}[/green]: {len(topology.nodes)} services, "
        f"{len(topology.edges)} edges, {len(topology.cycles)} deliberate cycles"
    )
    if days:
        _write_telemetry(topology, out, days=days, seed=seed, step_minutes=step_minutes,
                         openmetrics=openmetrics)  # fmt: skip


def _write_telemetry(
    topology: FleetTopology,
    out: Path,
    *,
    days: int,
    seed: int,
    step_minutes: int,
    openmetrics: bool,
) -> None:
    import polars as pl
    from rich.progress import Progress

    from synthetic_fleet.telemetry import (
        generate_telemetry,
        hourly_frame,
        openmetrics_lines,
        service_graph_daily,
        service_graph_hourly,
    )

    def write_atomically(part: pl.DataFrame, path: Path, **options: Any) -> None:
        # A reader never sees a half-written partition: write beside it, then rename over it.
        partial = path.with_name(f".{path.name}.partial")
        part.write_parquet(partial, **options)
        partial.replace(path)

    with console.status(f"drawing {days} days of telemetry"):
        telemetry = generate_telemetry(topology, days=days, seed=seed, step_minutes=step_minutes)
        frame = hourly_frame(telemetry)
    folder = out / "sli_hourly"
    folder.mkdir(exist_ok=True)
    for (day,), part in frame.group_by(frame["hour"].dt.date(), maintain_order=True):
        # Sorted by service in small row groups: a one-service read skips the rest by statistics.
        write_atomically(
            part.sort("service", "hour"),
            folder / f"{day}.parquet",
            row_group_size=SLI_ROW_GROUP,
            statistics=True,
        )
    graph_folder = out / "service_graph"
    graph_folder.mkdir(exist_ok=True)
    calls = service_graph_daily(telemetry)
    for (day,), part in calls.group_by("day", maintain_order=True):
        write_atomically(part.drop("day"), graph_folder / f"{day}.parquet")
    # Calls and failed calls per edge and hour (what the OTel service graph connector counts).
    hourly_folder = out / "service_graph_hourly"
    hourly_folder.mkdir(exist_ok=True)
    edges = service_graph_hourly(telemetry)
    for (day,), part in edges.group_by(edges["hour"].dt.date(), maintain_order=True):
        write_atomically(part.sort("client", "server", "hour"), hourly_folder / f"{day}.parquet")
    (out / "truth.json").write_text(json.dumps(telemetry.truth, indent=1), encoding="utf-8")
    console.print(
        f"[green]wrote {folder}[/green] ({frame.height} service-hours) and {out / 'truth.json'}"
    )
    if openmetrics:
        target = out / "fleet.om"
        with Progress(console=console) as progress, target.open("w", encoding="utf-8") as sink:
            task = progress.add_task("OpenMetrics", total=len(telemetry.services))
            for chunk in openmetrics_lines(
                telemetry, progress=lambda k: progress.update(task, completed=k)
            ):
                sink.write(chunk)
        console.print(f"[green]wrote {target}[/green] ({target.stat().st_size / 1e6:.1f} MB)")
