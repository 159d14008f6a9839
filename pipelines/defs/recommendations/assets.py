"""The recommendation chain: graph snapshot → SCC condensation → composite bounds → tiers."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl

from analytics.composite_availability import CompositeResult, Edge, hard_dependency_edges
from analytics.composite_inputs import (
    composite_bounds,
    composite_inputs,
    exercised,
)
from analytics.graph_cycles import find_cycles
from analytics.intrinsic_availability import (
    intrinsic_totals,
)
from config.settings import get_settings
from pipelines import asset_tables
from pipelines.defs.recommendations import columns
from pipelines.partitions import DAILY
from pipelines.resources import DAILY_FALLBACK, OperationalStoreResource
from store.active_targets import active_availability_targets
from store.graph_snapshot import load_effective_graph, load_service_metadata, record_snapshot
from store.published_recommendations import latest_snapshot_id, publish_recommendations
from telemetry.sli_sources import day_bounds

#: Days of `sli_hourly` each recommendation reads (static: it shapes the partition mapping,
#: so `SLO_LOOKBACK_DAYS` is read from the settings once, at import).
LOOKBACK_DAYS = get_settings().lookback_days

LOOKBACK_MAPPING = dg.TimeWindowPartitionMapping(
    start_offset=-(LOOKBACK_DAYS - 1), allow_nonexistent_upstream_partitions=True
)
#: Days whose hourly partition retention removed are read from their `sli_daily` row
#: (`analytics/sli_daily.py`: one row per day, `rolled_up_hours`, that the consumers spread).
LOOKBACK = dg.AssetIn(
    "sli_hourly", partition_mapping=LOOKBACK_MAPPING, metadata={DAILY_FALLBACK: "sli_daily"}
)
#: The lookback as an op input of a graph asset: its ops read input metadata from their own
#: `In`, not from the asset's `AssetIn`, so the daily fallback is carried over from LOOKBACK.
LOOKBACK_OP_INPUT = dg.In(metadata=dict(LOOKBACK.metadata or {}))
CALLS_LOOKBACK = dg.AssetIn("service_graph_hourly", partition_mapping=LOOKBACK_MAPPING)
EDGE_SCHEMA = {
    "source": pl.String,
    "target": pl.String,
    "communication_mode": pl.String,
    "criticality": pl.String,
    "redundancy_group": pl.String,
    "confidence": pl.Float64,
    "discovery_sources": pl.String,
    # The snapshot's content hash on every row: what the recommendations are seeded by.
    "graph_hash": pl.String,
}
SCC_SCHEMA = {"service": pl.String, "supernode": pl.String, "size": pl.Int64,
              "cycle_path": pl.String}  # fmt: skip
BOUNDS_SCHEMA = {
    "service": pl.String,
    "requests": pl.Float64,  # over the lookback: what the delivered figure's precision rests on
    "delivered": pl.Float64,
    "own_availability": pl.Float64,
    "composite_bound": pl.Float64,
    "promised_bound": pl.Float64,
    "absorbs": pl.Boolean,
    "bottleneck": pl.String,
    "distinct_dependencies": pl.Int64,
    "service_type": pl.String,
    "published_sla": pl.Float64,
    "graph_hash": pl.String,
    "composite": pl.String,
}


@dg.asset(
    partitions_def=DAILY,
    io_manager_key="warehouse_io",
    kinds={"postgres", "parquet"},
    group_name="recommendations",
    description="The effective, non-stale dependency graph used for this day's recommendations.",
    metadata=asset_tables.column_schema(EDGE_SCHEMA, columns.GRAPH_SNAPSHOT),
)
def graph_snapshot(
    context: dg.AssetExecutionContext, store: OperationalStoreResource
) -> dg.Output[pl.DataFrame]:
    _, day_end = day_bounds(context.partition_time_window.start.date())
    with store.connect() as engine:
        graph = load_effective_graph(engine)
        fingerprint = graph.fingerprint()
        cycles = find_cycles(
            (e.source, e.target)
            for e in graph.edges
            if e.attributes.get("communication_mode") == "sync"
        )
        snapshot_id = record_snapshot(
            engine,
            graph,
            as_of=day_end,
            cycle_count=len(cycles),
            storage_uri=None,
            run_id=context.run.run_id,
        )
    frame = pl.DataFrame(
        [
            (
                e.source,
                e.target,
                e.attributes.get("communication_mode"),
                e.attributes.get("criticality"),
                e.attributes.get("redundancy_group"),
                e.confidence,
                ",".join(e.discovery_sources),
                fingerprint,
            )
            for e in graph.edges
        ],
        schema=EDGE_SCHEMA,
        orient="row",
    )
    return dg.Output(
        frame,
        metadata={
            "snapshot_id": str(snapshot_id),
            "services": len(graph.nodes),
            "edges": frame.height,
            "cycles": len(cycles),
            "graph_hash": fingerprint,
        },
    )


@dg.asset(
    partitions_def=DAILY,
    io_manager_key="warehouse_io",
    ins={"service_graph_hourly": CALLS_LOOKBACK},
    group_name="recommendations",
    description=(
        "Strongly connected components of the hard sync graph the bound multiplies along (the "
        "snapshot's edges, less hard ones tracing shows nobody calls), contracted to "
        "supernodes; `composite_availability_bounds` uses them as they are."
    ),
    metadata=asset_tables.column_schema(SCC_SCHEMA, columns.SCC_CONDENSATION),
)
def scc_condensation(
    context: dg.AssetExecutionContext,
    graph_snapshot: pl.DataFrame,
    service_graph_hourly: pl.LazyFrame,
) -> dg.Output[pl.DataFrame]:
    _, edges = _bound_edges(context, graph_snapshot, service_graph_hourly)
    # The bound's own definition of a hard edge (and so of a supernode): these rows are the
    # condensation the bound uses, not a second computation that might disagree with it.
    hard = hard_dependency_edges(edges)
    cycles = find_cycles((e.source, e.target) for e in hard)
    rows = [
        (member, cycle.key, len(cycle.members), " -> ".join(cycle.path))
        for cycle in cycles
        for member in cycle.members
    ]
    frame = pl.DataFrame(rows, schema=SCC_SCHEMA, orient="row")
    return dg.Output(
        frame, metadata={"supernodes": len(cycles), "services_in_cycles": frame.height}
    )


def lookback_window(day_end: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the lookback ending at a partition's end: one rule for every asset."""
    return day_end - timedelta(days=LOOKBACK_DAYS), day_end


def _bound_edges(
    context: dg.AssetExecutionContext,
    graph_snapshot: pl.DataFrame,
    service_graph_hourly: pl.LazyFrame,
) -> tuple[list[Edge], list[Edge]]:
    """The snapshot's edges, and those the bound counts: without the hard ones that tracing
    over the lookback shows nobody exercises. Both the condensation and the bound use these."""
    _, day_end = day_bounds(context.partition_time_window.start.date())
    start, end = lookback_window(day_end)
    declared = snapshot_edges(graph_snapshot)
    calls = (
        service_graph_hourly.filter(pl.col("hour") >= start, pl.col("hour") < end)
        .group_by("client", "server")
        .agg(pl.col("calls").sum())
        .collect(engine="streaming")  # 30 days × every edge's hours: never in memory at once
    )
    return declared, exercised(declared, calls)


def supernodes_of(scc_condensation: pl.DataFrame) -> list[tuple[str, ...]]:
    """The `scc_condensation` rows (one per member) as the bound's supernodes."""
    grouped = scc_condensation.group_by("supernode").agg(pl.col("service").sort())
    return sorted(tuple(members) for members in grouped["service"].to_list())


def capped_md(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "no service beat the product of its hard dependencies in any hour"
    lines = ["| service | share of requests in capped hours |", "|---|---:|"]
    lines += [
        f"| {s} | {share:.0%} |"
        for s, share in frame.select("service", "share").head(10).iter_rows()
    ]
    return "\n".join(lines)


def snapshot_edges(graph_snapshot: pl.DataFrame) -> list[Edge]:
    """The snapshot's rows as the bound's edges (the ingestion's defaults: sync, hard)."""
    return [
        Edge(s, t, mode or "sync", crit or "hard", group)
        for s, t, mode, crit, group in graph_snapshot.select(
            "source", "target", "communication_mode", "criticality", "redundancy_group"
        ).iter_rows()
    ]


@dg.asset(
    partitions_def=DAILY,
    io_manager_key="warehouse_io",
    ins={"service_graph_hourly": CALLS_LOOKBACK},
    group_name="recommendations",
    description=(
        "Per service: the availability bound its hard dependencies allow (R_own × Π R_own over "
        "the distinct units reachable through hard sync edges: intrinsic availabilities, "
        "redundancy groups, supernodes, externals), in one fleet pass; with the bound if every "
        "dependency with an accepted SLO delivered only that."
    ),
    metadata=asset_tables.column_schema(BOUNDS_SCHEMA, columns.BOUNDS),
)
def composite_availability_bounds(
    context: dg.AssetExecutionContext,
    graph_snapshot: pl.DataFrame,
    scc_condensation: pl.DataFrame,
    intrinsic_availability: pl.LazyFrame,
    service_graph_hourly: pl.LazyFrame,
    store: OperationalStoreResource,
) -> dg.Output[pl.DataFrame]:
    totals = intrinsic_totals(intrinsic_availability)  # a streaming aggregation of the hours
    hashes = (
        graph_snapshot["graph_hash"].unique().to_list()
        if "graph_hash" in graph_snapshot.columns
        else []
    )
    with store.connect() as engine:
        # The nodes' metadata only: the edges are the snapshot's (reading the live graph's
        # edges as well took 3.4 s at 20,000 services and 7.8 s at 50,000, for nothing).
        nodes = load_service_metadata(engine)
        promises = active_availability_targets(engine)
        # Snapshots written before the column existed (or without edges) fall back to the
        # store's graph for the hash.
        graph_hash = hashes[0] if len(hashes) == 1 else load_effective_graph(engine).fingerprint()
    inputs = composite_inputs(totals, nodes)
    requests = dict(totals.select("service", "requests").iter_rows())
    declared, edges = _bound_edges(context, graph_snapshot, service_graph_hourly)
    # The condensation already computed upstream, of these very edges: not computed again.
    results = composite_bounds(
        inputs, edges, promises=promises, supernodes=supernodes_of(scc_condensation)
    )
    frame = pl.DataFrame(
        [
            (
                r.service,
                requests.get(r.service, 0.0),
                inputs.delivered.get(r.service),
                r.self_availability,
                r.composite_bound,
                r.promised_bound,
                r.service in inputs.absorbs,
                r.bottleneck.name if r.bottleneck else None,
                r.distinct_dependencies,
                nodes.get(r.service, {}).get("service_type"),
                _published_sla(nodes.get(r.service, {})),
                graph_hash,
                json.dumps(r.to_dict()),
            )
            for r in results.values()
        ],
        schema=BOUNDS_SCHEMA,
        orient="row",
    )
    with_deps = frame.filter(pl.col("distinct_dependencies") > 0, pl.col("delivered").is_not_null())
    below = bound_below_delivered(frame)
    context.log.info("bounds for %d services", frame.height)
    return dg.Output(
        frame,
        metadata={
            "services": frame.height,
            "median_bound": float(frame["composite_bound"].median() or 0.0),  # type: ignore[arg-type]
            "services_in_supernodes": scc_condensation.height,
            "services_with_hard_dependencies": with_deps.height,
            "bound_below_delivered": below.height,
            "absorbing_services": len(inputs.absorbs),
            "hard_edges_never_called": len(declared) - len(edges),
            "services_with_promised_dependencies": int(frame["promised_bound"].is_not_null().sum()),
            "bounds": dg.MetadataValue.md(_bounds_md(with_deps)),
            "bottlenecks": asset_tables.table(top_bottlenecks(frame), columns.BOTTLENECKS),
        },
    )


def top_bottlenecks(bounds: pl.DataFrame, top: int = 10) -> pl.DataFrame:
    """The dependencies that are the bottleneck of most services' bounds, with those services:
    where fixing one thing raises the most ceilings."""
    own = dict(bounds.select("service", "own_availability").iter_rows())
    return (
        bounds.filter(pl.col("bottleneck").is_not_null())
        .group_by("bottleneck")
        .agg(pl.len().alias("services"), pl.col("service").sort().head(5).alias("examples"))
        .with_columns(
            (pl.col("bottleneck").replace_strict(own, default=None, return_dtype=pl.Float64)
             * 100).alias("own_availability"),
            pl.col("examples").list.join(", "),
        )
        .sort("services", "bottleneck", descending=[True, False])
        .head(top)
        .select("bottleneck", "services", "own_availability", "examples")
    )  # fmt: skip


def _noise() -> pl.Expr:
    """Three binomial standard deviations of the delivered availability: a bound this close
    below it is within sampling error."""
    return 3 * (pl.col("delivered") * (1 - pl.col("delivered")) / pl.col("requests")).sqrt()


def bound_below_delivered(bounds: pl.DataFrame) -> pl.DataFrame:
    """Services with hard dependencies whose bound is below what they delivered, beyond
    sampling error (the bound should bound: only a service that beats the product of its
    dependencies, or an edge that is not really hard, lands here)."""
    return bounds.filter(
        pl.col("distinct_dependencies") > 0,
        pl.col("delivered").is_not_null(),
        pl.col("requests") > 0,
        pl.col("composite_bound") < pl.col("delivered") - _noise(),
    )


def _published_sla(meta: dict[str, Any]) -> float | None:
    value = meta.get("published_sla")
    return float(value) if value is not None else None


def _bounds_md(frame: pl.DataFrame) -> str:
    """The ten tightest bounds, as a data-platform engineer would want to look at them."""
    if frame.is_empty():
        return "no service with hard dependencies and telemetry"
    lines = ["| service | delivered | own | bound | bottleneck |", "|---|---:|---:|---:|---|"]
    for service, delivered, own, bound, bottleneck in (
        frame.sort("composite_bound")
        .select("service", "delivered", "own_availability", "composite_bound", "bottleneck")
        .head(10)
        .iter_rows()
    ):
        lines.append(
            f"| {service} | {delivered * 100:.3f}% | {own * 100:.3f}% | {bound * 100:.3f}% "
            f"| {bottleneck or ''} |"
        )
    return "\n".join(lines)


def composite_from_row(row: dict[str, Any]) -> CompositeResult:
    """Rebuild the bound's explanation from its warehouse row (the asset boundary is Parquet)."""
    return CompositeResult.from_dict(json.loads(row["composite"]))


@dg.asset(
    partitions_def=DAILY,
    group_name="recommendations",
    kinds={"postgres"},
    # What the API serves must be at most a day old (TRD: 24 h cache TTL).
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=24)),
    description=(
        "Writes the day's recommendations to the operational store's slo_recommendations "
        "table, superseding the previous ones in one transaction; this is what the API serves."
    ),
)
def published_recommendations(
    context: dg.AssetExecutionContext,
    slo_recommendations: pl.DataFrame,
    store: OperationalStoreResource,
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    _, day_end = day_bounds(context.partition_time_window.start.date())
    # Parsed as publication consumes them, a batch at a time: never the fleet as dicts.
    documents = (json.loads(d) for d in slo_recommendations["document"])
    with store.connect() as engine:
        snapshot_id = latest_snapshot_id(engine, day_end)
        counts = publish_recommendations(
            engine, documents, snapshot_id=snapshot_id, generated_at=datetime.now(UTC)
        )
    return dg.MaterializeResult(
        metadata={**counts, "graph_snapshot_id": str(snapshot_id) if snapshot_id else "none"}
    )
