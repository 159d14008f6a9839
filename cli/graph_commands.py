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


@graph_app.command("import-backstage")
def graph_import_backstage(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="catalog-info.yaml files or folders of them (else the catalog API)."),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Backstage base URL (default: SLO_BACKSTAGE_URL).")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Catalog API bearer token (default: SLO_BACKSTAGE_TOKEN).")
    ] = None,
    page_size: Annotated[int, typer.Option(min=1, max=10_000, help="Entities per page.")] = 500,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only, write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import Backstage's catalog (Components, APIs, Resources) as the discovery source
    `backstage`, with the same validation and merge as the POST endpoint. What could not be
    used (unknown kinds, refs to missing entities, malformed documents) is reported."""
    import json

    from store.engine import make_engine
    from store.graph_ingest import ingest_graph
    from telemetry.backstage_catalog import catalog_graph
    from telemetry.backstage_sources import (
        BackstageCatalogError,
        fetch_catalog,
        read_catalog_files,
    )

    settings = get_settings()
    if paths:
        documents, issues = read_catalog_files(paths)
    else:
        base = url or settings.backstage_url
        if not base:
            console.print("[red]Give catalog files, or the catalog's --url (SLO_BACKSTAGE_URL).")
            raise typer.Exit(code=2)
        secret = token or (
            settings.backstage_token.get_secret_value() if settings.backstage_token else None
        )
        try:
            documents, issues = fetch_catalog(base, token=secret, page_size=page_size), []
        except BackstageCatalogError as exc:
            console.print(f"[red]{exc}[/red]", markup=False)
            raise typer.Exit(code=1) from None
    imported = catalog_graph(documents, issues)
    report, result = imported.report, None
    if imported.payload.nodes and not dry_run:
        engine = make_engine(settings.database_url)
        try:
            result = ingest_graph(
                engine,
                imported.payload.to_submission(),
                stale_after=timedelta(hours=settings.stale_edge_hours),
            )
        finally:
            engine.dispose()
    if as_json:
        document = {
            "report": report.as_dict(),
            "ingestion": result.as_document() if result else None,
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        console.print(
            f"backstage: {report.documents} document(s), {report.services} service(s), "
            f"{report.edges} edge(s); {report.count('error')} error(s), "
            f"{report.count('warning')} warning(s)"
            + (f"; ignored {dict(report.ignored)}" if report.ignored else ""),
            markup=False,
        )
        for issue in report.issues:
            where = f"{issue.origin}: " if issue.origin else ""
            console.print(f"{issue.severity} {issue.code} {where}{issue.message}", markup=False,
                          soft_wrap=True)  # fmt: skip
        if result is not None:
            console.print(f"ingestion {result.ingestion_id} ({result.status}): " + ", ".join(
                f"{name} {value}" for name, value in vars(result.counts).items()))  # fmt: skip
            for warning in result.warnings:
                console.print(f"[yellow]warning[/yellow] {warning['message']}")
        elif dry_run:
            console.print("dry run: nothing was written")
    if not imported.payload.nodes:
        if not as_json:
            console.print("nothing to import")
        if report.count("error"):
            raise typer.Exit(code=1)
