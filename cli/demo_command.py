"""`slo-engine demo`: the embedded end-to-end run, its summary, then the API and Dagster UI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from config.settings import get_settings

if TYPE_CHECKING:
    pass


from cli.console import console
from cli.db_commands import db_upgrade
from cli.fleet_commands import fleet_generate
from cli.graph_commands import graph_ingest
from cli.materialize_command import materialize


def demo(
    services: int = 500,
    days: Annotated[int, typer.Option(min=2, help="Days of synthetic telemetry.")] = 30,
    seed: int = 42,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API and Dagster UI afterwards.")
    ] = True,
) -> None:
    """The embedded end-to-end run: store, synthetic fleet with telemetry, graph ingestion, the
    daily pipeline over the whole history, recommendations, a summary; then the API on :8000
    and the Dagster UI on :3000 until Ctrl-C."""
    settings = get_settings()
    out = settings.telemetry_parquet_path.parent
    console.rule("1. operational store")
    db_upgrade()
    console.rule("2. synthetic fleet and its telemetry")
    fleet_generate(
        out=out,
        services=services,
        seed=seed,
        edges_per_service=3.0,
        cycles=3,
        source="manual",
        days=days,
        step_minutes=15,
        openmetrics=False,
    )
    console.rule("3. graph ingestion")
    graph_ingest(out / "graph.json")
    console.rule(f"4. telemetry pipeline over {days} days (sli_hourly, observed_service_graph)")
    with console.status("materializing daily partitions"):
        materialize(day=None, days=days, assets="telemetry", show=False)
    console.rule("5. recommendations for yesterday")
    materialize(day=None, days=1, assets="all", show=True)
    console.rule("6. summary")
    _print_summary(settings)
    if serve_after:
        _serve_with_dagster_ui()
    else:
        console.print("[green]demo complete[/green]: `slo-engine serve` serves the API")


def _print_summary(settings: Any) -> None:
    import polars as pl

    from pipelines.defs.recommendations.assets import bound_below_delivered

    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    folder = settings.warehouse_path
    recs = pl.read_parquet(folder / "slo_recommendations" / f"{yesterday}.parquet")
    bounds = pl.read_parquet(folder / "composite_availability_bounds" / f"{yesterday}.parquet")
    table = Table(title=f"{recs.height} services, recommendations for {yesterday}")
    table.add_column("tier")
    table.add_column("median availability %", justify="right")
    table.add_column("median latency ms", justify="right")
    for tier in ("conservative", "balanced", "aggressive"):
        table.add_row(
            tier,
            f"{float(recs[f'availability_{tier}'].median() or 0):.3f}",  # type: ignore[arg-type]
            f"{float(recs[f'latency_{tier}_ms'].median() or 0):.0f}",  # type: ignore[arg-type]
        )
    console.print(table)
    capped = int(recs["capped_by_bound"].sum())
    with_deps = bounds.filter(
        pl.col("distinct_dependencies") > 0, pl.col("delivered").is_not_null()
    )
    below = bound_below_delivered(bounds)
    console.print(
        f"{capped} balanced targets capped by their dependency bound; "
        f"{int(recs['cold_start'].sum())} cold starts; the bound is at or above what the "
        f"service delivered (within sampling error) for {with_deps.height - below.height} of "
        f"{with_deps.height} services with hard dependencies "
        f"({int(bounds['absorbs'].sum())} beat the product of their dependencies)"
    )
    moved, with_what_ifs = _dependency_what_ifs(recs)
    console.print(
        f"degrading a hard dependency by one nine lowers the balanced target of {moved} of "
        f"{with_what_ifs} services with dependency what-ifs"
    )
    own = dict(bounds.select("service", "own_availability").iter_rows())
    common = (
        bounds.filter(pl.col("bottleneck").is_not_null())
        .group_by("bottleneck")
        .agg(pl.len().alias("services"))
        .with_columns(pl.col("bottleneck").replace_strict(own, default=None).alias("availability"))
        .sort("services", "bottleneck", descending=[True, False])
        .head(5)
    )
    table = Table(title="most common bottlenecks")
    for column in ("dependency", "bottleneck for", "own availability %"):
        table.add_column(column)
    for name, count, availability in common.iter_rows():
        shown = f"{availability * 100:.3f}" if availability is not None else "group/cycle"
        table.add_row(name, f"{count} services", shown)
    console.print(table)


def _dependency_what_ifs(recs: Any) -> tuple[int, int]:
    """How many services a degraded dependency lowers the balanced target of, of how many."""
    moved = total = 0
    for text in recs["document"]:
        availability = json.loads(text)["recommendations"][0]
        degraded = [
            c
            for c in availability["explanation"].get("counterfactuals", [])
            if c.get("dependency") and "degraded" in c["condition"]
        ]
        total += bool(degraded)
        moved += any(c["delta"] < 0 for c in degraded)
    return moved, total


def _serve_with_dagster_ui() -> None:
    import shutil
    import subprocess
    import sys

    webserver = shutil.which("dagster-webserver") or str(
        Path(sys.executable).with_name("dagster-webserver")
    )
    ui = subprocess.Popen(
        [webserver, "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", "3000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import uvicorn

    from config.settings import get_settings
    from serving.main import create_app

    # The local demo, on loopback only, is the one place authentication is off (and says so).
    settings = get_settings()
    if "auth" not in settings.model_fields_set:  # SLO_AUTH not given: the demo's default
        settings = settings.model_copy(update={"auth": "disabled"})
    console.print(
        "Dagster UI: http://127.0.0.1:3000   API: http://127.0.0.1:8000/docs   Ctrl-C stops"
        + ("   [bold red]authentication disabled (demo)[/bold red]"
           if settings.auth == "disabled" else "")
    )  # fmt: skip
    from serving.observability import configure_logging

    configure_logging(settings.log_level, "text")
    try:
        uvicorn.run(create_app(settings), host="127.0.0.1", port=8000, log_config=None)
    finally:
        ui.terminate()
        ui.wait(timeout=10)
