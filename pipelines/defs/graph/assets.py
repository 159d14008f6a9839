"""Dependency edges discovered from traces, merged into the graph like any other source."""

from datetime import timedelta

import dagster as dg
import polars as pl

from analytics.edge_merge import confidence_from_volume
from pipelines.partitions import DAILY
from pipelines.resources import OperationalStoreResource, TelemetryResource
from store.graph_ingest import ingest_graph
from store.graph_model import EdgeRecord, GraphSubmission
from telemetry.sli_sources import day_bounds


@dg.asset(
    partitions_def=DAILY,
    io_manager_key="warehouse_io",
    kinds={"prometheus", "postgres"},
    group_name="graph",
    description=(
        "Calls seen in `traces_service_graph_request_total` for the day, ingested as "
        "otel_service_graph edges (confidence from call volume) through the same merge as "
        "POST /services/dependencies; declared-vs-observed divergences in the metadata."
    ),
)
def observed_service_graph(
    context: dg.AssetExecutionContext,
    telemetry: TelemetryResource,
    store: OperationalStoreResource,
) -> dg.Output[pl.DataFrame]:
    day_start, day_end = day_bounds(context.partition_time_window.start.date())
    calls = telemetry.service_graph_source().fetch_day(day_start.date())
    calls = calls.with_columns(
        pl.col("calls")
        .map_elements(confidence_from_volume, return_dtype=pl.Float64)
        .alias("confidence")
    ).sort("client", "server")
    submission = GraphSubmission(
        source="otel_service_graph",
        nodes=[],
        edges=[
            EdgeRecord(client, server, {"communication_mode": "sync"}, confidence=confidence)
            for client, server, _, confidence in calls.iter_rows()
        ],
        observed_at=day_end,
    )
    with store.connect() as engine:
        result = ingest_graph(
            engine, submission, stale_after=timedelta(hours=store.stale_edge_hours)
        )
    kinds = pl.DataFrame(result.divergences, schema={"source": str, "target": str, "kind": str})
    never_called = kinds.filter(pl.col("kind") == "declared_not_observed")
    undeclared = kinds.filter(pl.col("kind") == "observed_not_declared")
    return dg.Output(
        calls,
        metadata={
            "edges_observed": calls.height,
            "otel_rows_created": result.counts.edges_created,
            "placeholder_services": result.counts.placeholders_created,
            "declared_but_never_called": never_called.height,
            "called_but_undeclared": undeclared.height,
            "circular_dependencies": len(result.circular_dependencies),
            "ingestion_id": str(result.ingestion_id),
            "undeclared_calls": dg.MetadataValue.md(_pairs(undeclared)),
        },
    )


def _pairs(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "none"
    rows = ["| caller | callee |", "|---|---|"]
    rows += [f"| {s} | {t} |" for s, t, _ in frame.head(20).iter_rows()]
    return "\n".join(rows)
