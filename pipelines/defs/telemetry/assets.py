"""Hourly SLIs for the whole fleet, one UTC day per partition."""

from datetime import datetime, timedelta

import dagster as dg
import polars as pl

from analytics.composite_inputs import assumed_externals, edges_of
from analytics.intrinsic_availability import intrinsic_hourly, intrinsic_totals
from analytics.sli_schema import SLI_HOURLY_SCHEMA
from pipelines.defs.telemetry.partitions import DAILY
from pipelines.resources import OperationalStoreResource, TelemetryResource
from store.graph_snapshot import load_effective_graph
from telemetry.sli_sources import day_bounds, with_completeness


def add_silent_services(
    frame: pl.DataFrame, expected: list[str], day_start: datetime
) -> pl.DataFrame:
    """A registered service with no samples at all gets 24 gap rows: silence is a finding."""
    missing = sorted(set(expected) - set(frame["service"].to_list()))
    if not missing:
        return frame
    hours = [day_start + timedelta(hours=h) for h in range(24)]
    gaps = pl.DataFrame(
        {
            "service": [s for s in missing for _ in hours],
            "hour": hours * len(missing),
            "has_data": [False] * (24 * len(missing)),
        }
    )
    filled = gaps.with_columns(
        [pl.lit(None).alias(name) for name in SLI_HOURLY_SCHEMA.names() if name not in gaps.columns]
    ).select(SLI_HOURLY_SCHEMA.names())
    return with_completeness(pl.concat([frame, filled.cast(SLI_HOURLY_SCHEMA)]))


@dg.asset(
    partitions_def=DAILY,
    io_manager_key="warehouse_io",
    kinds={"prometheus", "parquet"},
    group_name="telemetry",
    description=(
        "One row per service per hour: requests, errors, availability, latency buckets and "
        "p50/p95/p99/p99.9, from three fleet-wide PromQL range queries per day."
    ),
)
def sli_hourly(
    context: dg.AssetExecutionContext,
    telemetry: TelemetryResource,
    store: OperationalStoreResource,
) -> dg.Output[pl.DataFrame]:
    day_start, _ = day_bounds(context.partition_time_window.start.date())
    frame = telemetry.sli_source().fetch_day(day_start.date())
    frame = add_silent_services(frame, store.instrumented_service_ids(), day_start)
    frame = frame.sort("service", "hour")
    per_service = frame.group_by("service").agg(pl.col("data_completeness").first())
    gaps = per_service.filter(pl.col("data_completeness") < 1.0).sort("data_completeness")
    return dg.Output(
        frame,
        metadata={
            "services": per_service.height,
            "rows": frame.height,
            "hours_without_data": int((~frame["has_data"]).sum()),
            "mean_completeness": mean_of(per_service["data_completeness"]),
            "services_with_gaps": gaps.height,
            "least_complete": dg.MetadataValue.md(_md(gaps.head(10))),
        },
    )


def mean_of(column: pl.Series) -> float:
    value = column.cast(pl.Float64).mean()
    return float(value) if isinstance(value, int | float) else 0.0


def _md(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "every service has data for every hour"
    lines = ["| service | completeness |", "|---|---:|"]
    lines += [f"| {s} | {c:.0%} |" for s, c in frame.iter_rows()]
    return "\n".join(lines)


@dg.asset(
    partitions_def=DAILY,
    io_manager_key="warehouse_io",
    kinds={"prometheus", "parquet"},
    group_name="telemetry",
    description=(
        "Calls and failed calls between services per hour, as the OTel service-graph connector "
        "reports them (traces_service_graph_request_total / _failed_total); empty without one."
    ),
)
def service_graph_hourly(
    context: dg.AssetExecutionContext, telemetry: TelemetryResource
) -> dg.Output[pl.DataFrame]:
    day_start, _ = day_bounds(context.partition_time_window.start.date())
    frame = telemetry.service_graph_source().fetch_hourly(day_start, 1)
    return dg.Output(
        frame,
        metadata={
            "edges": frame.select("client", "server").unique().height,
            "calls": int(frame["calls"].sum() or 0),
            "failed_calls": int(frame["failed"].sum() or 0),
        },
    )


@dg.asset(
    partitions_def=DAILY,
    io_manager_key="warehouse_io",
    group_name="telemetry",
    description=(
        "Each service's own availability per hour: its failures without those its hard sync "
        "dependencies caused (failed calls where the service graph reports them, else its "
        "observed availability divided by its direct hard dependencies'), capped at 1. The "
        "composite bound multiplies these, never the observed ones."
    ),
)
def intrinsic_availability(
    context: dg.AssetExecutionContext,
    sli_hourly: pl.DataFrame,
    service_graph_hourly: pl.DataFrame,
    store: OperationalStoreResource,
) -> dg.Output[pl.DataFrame]:
    with store.connect() as engine:
        graph = load_effective_graph(engine)
    frame = intrinsic_hourly(
        sli_hourly, edges_of(graph.edges), service_graph_hourly, assumed_externals(graph.nodes)
    )
    totals = intrinsic_totals(frame)
    methods = dict(frame.group_by("method").agg(pl.len()).iter_rows())
    capped = totals.filter(pl.col("capped_requests") > 0).with_columns(
        (pl.col("capped_requests") / pl.col("requests")).alias("share")
    )
    context.log.info("intrinsic availability of %d services", totals.height)
    return dg.Output(
        frame,
        metadata={
            "services": totals.height,
            "graph_hash": graph.fingerprint(),
            **{f"hours_{method}": int(count) for method, count in sorted(methods.items())},
            "services_capped": capped.height,
            "capped": dg.MetadataValue.md(_capped_md(capped.sort("share", descending=True))),
        },
    )


def _capped_md(frame: pl.DataFrame) -> str:
    if frame.is_empty():
        return "no service beat the product of its hard dependencies in any hour"
    lines = ["| service | share of requests in capped hours |", "|---|---:|"]
    lines += [
        f"| {s} | {share:.0%} |"
        for s, share in frame.select("service", "share").head(10).iter_rows()
    ]
    return "\n".join(lines)
