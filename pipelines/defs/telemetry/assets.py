"""Hourly SLIs for the whole fleet, one UTC day per partition."""

from datetime import datetime, timedelta

import dagster as dg
import polars as pl

from analytics.sli_schema import SLI_HOURLY_SCHEMA
from pipelines.partitions import DAILY
from pipelines.resources import OperationalStoreResource, TelemetryResource
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
            # Hours whose errors exceeded requests at the source (clamped; the check blocks).
            "errors_clamped_hours": int(frame["errors_clamped"].fill_null(False).sum()),
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
