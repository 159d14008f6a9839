"""`slo-engine`: the one command line for the store, the synthetic fleet, the graph and the API."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from config.settings import get_settings

if TYPE_CHECKING:
    from analytics.fleet_topology import FleetTopology

#: Rows per Parquet row group of generated telemetry: 100 services' day.
SLI_ROW_GROUP = 2400

app = typer.Typer(help="SLO Recommendation Engine", no_args_is_help=True)
db_app = typer.Typer(help="Operational store schema.", no_args_is_help=True)
fleet_app = typer.Typer(
    help="Synthetic fleets for demos, tests and benchmarks.", no_args_is_help=True
)
graph_app = typer.Typer(help="The service dependency graph.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(fleet_app, name="fleet")
app.add_typer(graph_app, name="graph")

console = Console()


@db_app.command("upgrade")
def db_upgrade(
    revision: str = "head",
    app_role: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL role the API and pipelines connect as: granted their DML, and only "
            "INSERT/SELECT on slo_audit_log (default: SLO_DATABASE_APP_ROLE)."
        ),
    ] = None,
) -> None:
    """Apply the Alembic migrations to SLO_DATABASE_URL, which must connect as the owner of the
    store's tables; then grant the application role (PostgreSQL)."""
    from store.migrate import upgrade

    settings = get_settings()
    url = settings.database_url
    role = app_role or settings.database_app_role
    upgrade(url, revision, app_role=role)
    granted = f", granted to {role}" if role and not url.startswith("sqlite") else ""
    console.print(f"[green]store migrated to {revision}[/green] ({_redacted(url)}){granted}")


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
    from analytics.fleet_topology import generate_topology

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

    from analytics.fleet_telemetry import (
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


@graph_app.command("ingest")
def graph_ingest(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Ingest a graph file with the same validation and merge as the POST endpoint."""
    from serving.problems import field_path
    from serving.schemas.graph import DependencyGraphIn
    from store.engine import make_engine
    from store.graph_ingest import ingest_graph

    settings = get_settings()
    try:
        payload = DependencyGraphIn.model_validate_json(file.read_bytes())
    except ValidationError as exc:
        for error in exc.errors()[:20]:
            console.print(f"[red]{field_path(error['loc'])}[/red]: {error['msg']}")
        raise typer.Exit(code=2) from None
    duplicates = payload.duplicate_errors()
    if duplicates:
        for duplicate in duplicates[:20]:
            console.print(f"[red]{duplicate['field']}[/red]: {duplicate['message']}")
        raise typer.Exit(code=2)
    engine = make_engine(settings.database_url)
    try:
        result = ingest_graph(
            engine,
            payload.to_submission(),
            stale_after=timedelta(hours=settings.stale_edge_hours),
        )
    finally:
        engine.dispose()
    table = Table(
        title=f"ingestion {result.ingestion_id} ({result.status}, {result.duration_ms} ms)"
    )
    table.add_column("count")
    table.add_column("value", justify="right")
    for name, value in vars(result.counts).items():
        table.add_row(name, str(value))
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning[/yellow] {warning['message']}")


@app.command("serve")
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the API with uvicorn (JSON logs on stdout, one line per request)."""
    import uvicorn

    from serving.main import create_app
    from serving.observability import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)


@app.command("materialize")
def materialize(
    day: Annotated[
        str | None, typer.Option("--date", help="Last partition, YYYY-MM-DD (default: yesterday).")
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Number of daily partitions ending there.")] = 1,
    assets: Annotated[
        str, typer.Option(help="telemetry (SLIs, observed graph) | all (+ recommendations)")
    ] = "all",
    show: Annotated[bool, typer.Option(hidden=True)] = True,
) -> None:
    """Run the daily assets and their checks in-process, one partition after the other."""
    import os

    import dagster as dg

    from pipelines.definitions import DAILY_ASSETS, DAILY_CHECKS, TELEMETRY_ASSETS, build_resources

    if assets not in ("telemetry", "all"):
        raise typer.BadParameter("--assets must be telemetry or all")
    chosen = TELEMETRY_ASSETS if assets == "telemetry" else DAILY_ASSETS

    last = date.fromisoformat(day) if day else datetime.now(UTC).date() - timedelta(days=1)
    instance = (
        dg.DagsterInstance.get()
        if os.environ.get("DAGSTER_HOME")
        else dg.DagsterInstance.ephemeral()
    )
    failed = False
    for offset in range(days - 1, -1, -1):
        key = (last - timedelta(days=offset)).isoformat()
        result = dg.materialize(
            [*DAILY_ASSETS, *DAILY_CHECKS],
            selection=[a.key for a in chosen],
            resources=build_resources(),
            partition_key=key,
            instance=instance,
            raise_on_error=False,
            # Step-level debug events go to the Dagster instance, not the terminal.
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        table = Table(title=f"partition {key}: {'success' if result.success else 'FAILED'}")
        table.add_column("asset / check")
        table.add_column("result")
        for asset in chosen:
            for materialization in result.asset_materializations_for_node(asset.op.name):
                shown: dict[str, object] = {
                    k: v.value
                    for k, v in materialization.metadata.items()
                    if isinstance(v.value, int | float) and not isinstance(v.value, bool)
                }
                table.add_row(asset.key.to_user_string(), _compact(shown))
        for check in result.get_asset_check_evaluations():
            table.add_row(check.check_name, "passed" if check.passed else "[red]failed[/red]")
        if show or not result.success:
            console.print(table)
        failed = failed or not result.success
    if failed:
        raise typer.Exit(code=1)


def _compact(values: dict[str, object]) -> str:
    return ", ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )


@app.command("demo")
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
    import os
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
    if "SLO_AUTH" not in os.environ:
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


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("backtest")
def backtest(
    train_days: Annotated[int, typer.Option(min=7)] = 30,
    test_days: Annotated[int, typer.Option(min=7)] = 30,
    services: int = 300,
    seed: int = 42,
    fleets: Annotated[
        int, typer.Option(min=1, help="Independent fleets (seeds) pooled: one month is noisy.")
    ] = 5,
) -> None:
    """Recommend on generated fleets' first window, replay the next one, report per tier."""
    from analytics.backtest import replay
    from cli.backtest_fleet import backtest_fleet

    targets: dict[str, dict[str, float]] = {"conservative": {}, "balanced": {}, "aggressive": {}}
    test_availability: dict[str, float] = {}
    for k in range(fleets):
        fleet_targets, achieved = backtest_fleet(services, seed + k, train_days, test_days, console)
        for tier, by_service in fleet_targets.items():
            targets[tier].update({f"{seed + k}/{s}": v for s, v in by_service.items()})
        test_availability.update({f"{seed + k}/{s}": v for s, v in achieved.items()})
    table = Table(
        title=f"Backtest: recommend on {train_days} days, replay the next {test_days} "
        f"({len(test_availability)} services in {fleets} fleets)"
    )
    for column in ("tier", "breached", "median budget used", "p90 budget used", "goal"):
        table.add_column(column, justify="left" if column in ("tier", "goal") else "right")
    goals = {
        "conservative": "breached ≤ 1%",
        "balanced": "breached ≤ 5%, median 50–80%",
        "aggressive": "—",
    }
    for outcome in replay(targets, test_availability):
        table.add_row(
            outcome.tier,
            f"{outcome.breached_share:.1%}",
            f"{outcome.median_budget_utilization:.0%}",
            f"{outcome.p90_budget_utilization:.0%}",
            goals[outcome.tier],
        )
    console.print(table)


prometheus_app = typer.Typer(help="A local Prometheus for demos and tests.", no_args_is_help=True)
app.add_typer(prometheus_app, name="prometheus")


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


if __name__ == "__main__":
    app()


api_keys_app = typer.Typer(help="API keys (X-API-Key): create, list, revoke.", no_args_is_help=True)
app.add_typer(api_keys_app, name="api-keys")


@api_keys_app.command("create")
def api_keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses it, e.g. backstage-backend.")],
    role: Annotated[str, typer.Option(help="sre_admin | service_owner | viewer")],
    team: Annotated[str | None, typer.Option(help="For service_owner: the team it owns.")] = None,
) -> None:
    """Create a key. It is printed once, here; only its bcrypt hash is stored."""
    from store.api_keys import InvalidApiKeyError, create_api_key
    from store.engine import make_engine

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        key, record = create_api_key(
            engine, name=name, role=role, team=team, rounds=settings.api_key_bcrypt_rounds
        )
    except InvalidApiKeyError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        engine.dispose()
    team_note = f", team {record.team}" if record.team else ""
    console.print(
        f"[green]created[/green] {record.name} ({record.role}{team_note}), prefix {record.prefix}"
    )
    console.print("[bold]Store it now: it cannot be shown again.[/bold]")
    print(key)


@api_keys_app.command("list")
def api_keys_list() -> None:
    """Keys by prefix, role, team, last use; never the keys themselves."""
    from store.api_keys import list_api_keys
    from store.engine import make_engine

    engine = make_engine(get_settings().database_url)
    try:
        records = list_api_keys(engine)
    finally:
        engine.dispose()
    table = Table(title=f"{len(records)} API keys")
    for column in ("prefix", "name", "role", "team", "created", "last used", "revoked"):
        table.add_column(column)

    def when(moment: datetime | None) -> str:
        return moment.isoformat(timespec="seconds") if moment else ""

    for r in records:
        table.add_row(r.prefix, r.name, r.role, r.team or "", when(r.created_at),
                      when(r.last_used_at), when(r.revoked_at))  # fmt: skip
    console.print(table)


@api_keys_app.command("revoke")
def api_keys_revoke(prefix: str) -> None:
    """Revoke a key by its prefix (takes effect within SLO_API_KEY_CACHE_SECONDS everywhere)."""
    from store.api_keys import revoke_api_key
    from store.engine import make_engine

    engine = make_engine(get_settings().database_url)
    try:
        revoked = revoke_api_key(engine, prefix)
    finally:
        engine.dispose()
    if not revoked:
        raise typer.BadParameter(f"no live key with prefix {prefix}")
    console.print(f"[green]revoked[/green] {prefix}")
