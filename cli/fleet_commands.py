"""`slo-engine fleet`: generate a synthetic fleet (graph, telemetry, truth) for demos,
tests and benchmarks."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    import polars as pl

    from synthetic_fleet.telemetry import FleetPlan


from cli.console import console

#: Rows per Parquet row group of generated telemetry: 100 services' day.
SLI_ROW_GROUP = 2400
#: Services (of a day's hourly rows) and edges (of its hourly calls) built and written at a
#: time: a few MB of frame whatever the fleet's size.
SLI_BLOCK = 1000
EDGE_BLOCK = 20_000

T = TypeVar("T")

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
    from synthetic_fleet.telemetry import plan_fleet
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
        with console.status("planning the fleet's traffic, incidents and deploys"):
            plan = plan_fleet(topology, days=days, seed=seed, step_minutes=step_minutes)
        # The plan keeps what telemetry needs; the topology's dicts (a few hundred MB at
        # 50,000 services) would only sit beside every day drawn.
        del topology, payload
        _write_telemetry(plan, out, openmetrics=openmetrics)


def _write_telemetry(plan: FleetPlan, out: Path, *, openmetrics: bool) -> None:
    """Draw the telemetry a day at a time and write each day before drawing the next: a fleet
    of 50,000 services over 30 days never holds more than one day's step arrays (its whole
    horizon would need tens of GB). Days start at 00:00 UTC (the horizon ends today 00:00 UTC),
    so each day is exactly one `<date>.parquet` per folder."""
    import tempfile
    from contextlib import ExitStack

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from synthetic_fleet.telemetry import (
        FleetTotals,
        TelemetrySpool,
        hourly_frame,
        service_graph_daily,
        service_graph_hourly,
    )

    def columns() -> tuple[Any, ...]:
        return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip

    totals = FleetTotals.zeros(len(plan.services))
    folders = {name: out / name for name in ("sli_hourly", "service_graph", "service_graph_hourly")}
    for folder in folders.values():
        folder.mkdir(exist_ok=True)
    # Rows sorted by service (then hour) and edges by client, server (then hour), so that a
    # one-service read skips the rest by statistics: written a block at a time in that order,
    # never sorting (or holding) a day's whole frame.
    by_name = sorted(range(len(plan.services)), key=plan.services.__getitem__)
    pairs = plan.edge_pairs()
    service_hours = 0
    with ExitStack() as stack:
        spool = None
        if openmetrics:
            # fleet.om needs each series' samples together, across days: the days wait on
            # disk beside the output (removed on the way out).
            spool_dir = stack.enter_context(tempfile.TemporaryDirectory(dir=out, prefix=".spool-"))
            spool = TelemetrySpool(Path(spool_dir), plan)
        with Progress(*columns(), console=console) as progress:
            task = progress.add_task("telemetry", total=plan.days)
            for d in range(plan.days):
                day = plan.day(d)
                date = day.start.date()
                progress.update(task, description=f"telemetry {date}")
                totals.add(day)
                service_hours += _write_parquet_blocks(
                    (hourly_frame(day.select(rows)) for rows in _chunks(by_name, SLI_BLOCK)),
                    folders["sli_hourly"] / f"{date}.parquet",
                    row_group_size=SLI_ROW_GROUP,
                )
                _write_parquet_blocks(
                    iter([service_graph_daily(day).drop("day")]),
                    folders["service_graph"] / f"{date}.parquet",
                )
                # Calls and failed calls per edge and hour (what the OTel service graph
                # connector counts).
                _write_parquet_blocks(
                    (service_graph_hourly(day, block) for block in _chunks(pairs, EDGE_BLOCK)),
                    folders["service_graph_hourly"] / f"{date}.parquet",
                )
                if spool is not None:
                    spool.add(d, day)
                del day
                progress.advance(task)
        with (out / "truth.json").open("w", encoding="utf-8") as sink:
            json.dump(plan.truth(totals), sink, indent=1)
        console.print(
            f"[green]wrote {folders['sli_hourly']}[/green] ({service_hours} service-hours) and "
            f"{out / 'truth.json'}"
        )
        if spool is not None:
            target = out / "fleet.om"
            with (
                Progress(*columns(), console=console) as progress,
                target.open("w", encoding="utf-8") as sink,
            ):
                task = progress.add_task("OpenMetrics", total=len(plan.services))
                for chunk in spool.openmetrics_lines(
                    progress=lambda k: progress.update(task, completed=k)
                ):
                    sink.write(chunk)
            console.print(f"[green]wrote {target}[/green] ({target.stat().st_size / 1e6:.1f} MB)")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for first in range(0, len(items), size):
        yield items[first : first + size]


def _write_parquet_blocks(
    frames: Iterator[pl.DataFrame], path: Path, row_group_size: int | None = None
) -> int:
    """Write consecutive frames (of one schema) as one Parquet file, one frame in memory at a
    time, and return its rows. A reader never sees a half-written partition: written beside
    it, then renamed over it."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # (no stubs)

    partial = path.with_name(f".{path.name}.partial")
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for frame in frames:
            table = frame.to_arrow()
            if writer is None:
                # As polars writes them (zstd 3, no dictionary pages): counts and histograms
                # are near-unique values, which a dictionary only makes larger and slower.
                writer = pq.ParquetWriter(
                    partial, table.schema, compression="zstd", compression_level=3,
                    use_dictionary=False,
                )  # fmt: skip
            writer.write_table(table, row_group_size=row_group_size)
            rows += frame.height
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ValueError(f"nothing to write to {path}")
    partial.replace(path)
    return rows
