"""`slo-engine graph`: the service dependency graph, ingested as the API ingests it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from config.settings import get_settings

if TYPE_CHECKING:
    pass


from cli.console import console

graph_app = typer.Typer(help="The service dependency graph.", no_args_is_help=True)


@graph_app.command("ingest")
def graph_ingest(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Ingest a graph file with the same validation and merge as the POST endpoint."""
    from serving.problems import field_path
    from store.engine import make_engine
    from store.graph_ingest import ingest_graph
    from store.graph_payload import DependencyGraphIn

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
