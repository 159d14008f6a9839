"""Hourly SLIs for the whole fleet, one UTC day per partition; the day rolled up
(`sli_daily`, DuckDB) and the hourly retention after it (`sli_hourly_retention`)."""

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from analytics.sli_schema import SLI_DAILY_SCHEMA, SLI_HOURLY_SCHEMA
from config.settings import get_settings
from pipelines import asset_tables
from pipelines.defs.telemetry.hourly_retention import (
    HOURLY_FILES_POOL,
    retention_horizon,
    sweep_hourly,
)
from pipelines.defs.telemetry.sli_daily_rollup import (
    completeness_summary,
    hours_lost,
    rollup_if_present,
)
from pipelines.partitions import DAILY
from pipelines.resources import OperationalStoreResource, PolarsParquetIOManager, TelemetryResource
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


SLI_DAILY_COLUMNS = {
    "service": "The service.",
    "day": "The UTC day.",
    "requests": "Requests over the day's hours with data (null: no data all day).",
    "errors": "Failed requests over the same hours.",
    "availability": "1 − errors / requests.",
    "latency_buckets": "The hours' cumulative `le` bucket counts summed per bucket (bounds of "
    "analytics.latency_histogram.LATENCY_BUCKETS, then +Inf): any percentile of the day.",
    **{
        f"latency_{name}": f"{name} latency (s), interpolated from the merged buckets."
        for name in ("p50", "p95", "p99", "p999")
    },
    "cpu_throttling": "Mean throttled share of CFS periods over the hours that measured it.",
    "hours": "Rows the day's sli_hourly held for the service (24).",
    "hours_with_data": "Hours with samples.",
    "data_completeness": "hours_with_data / 24.",
    "errors_clamped_hours": "Hours whose errors exceeded requests at the source (clamped).",
}


@dg.asset(
    partitions_def=DAILY,
    io_manager_key="warehouse_io",
    deps=[sli_hourly],
    kinds={"duckdb", "parquet"},
    pool=HOURLY_FILES_POOL,  # reads the day's hourly file, which retention may remove
    group_name="telemetry",
    description=(
        "One row per service per day: the day's sli_hourly rolled up by DuckDB from its Parquet "
        "file (requests, errors, latency buckets summed per `le`, completeness). What remains "
        "of a day once retention removes its hours (TRD §7.2)."
    ),
    metadata=asset_tables.column_schema(SLI_DAILY_SCHEMA, SLI_DAILY_COLUMNS),
)
def sli_daily(
    context: dg.AssetExecutionContext, warehouse_io: dg.ResourceParam[PolarsParquetIOManager]
) -> dg.Output[pl.DataFrame]:
    """The day's rollup, unless it would be emptier than the one the warehouse has.

    Once retention removed a day's hours, its rollup is all that is left of it, and a re-run
    (a backfill after a rollup change, a re-fetch after Prometheus' own retention dropped the
    day) must not trade it for less: with no hourly file left, or a new rollup that gives any
    service fewer hours with data, the existing rows are kept, written back unchanged, and
    the materialization says so (`kept_existing_rollup`, `kept_because`, `hours_lost`).
    Deleting the rollup's file first is how a person accepts the emptier day."""
    day = context.partition_time_window.start.date()
    hourly = warehouse_io.partition_path(sli_hourly.key, context.partition_key)
    existing = warehouse_io.partition_path(sli_daily.key, context.partition_key)
    previous = pl.read_parquet(existing) if existing.exists() else None
    frame = rollup_if_present(hourly, day)
    if frame is None:
        if previous is None:
            raise dg.Failure(
                description=f"No sli_hourly file for {day} ({hourly}) and no earlier rollup: "
                "materialize sli_hourly for this day first.",
            )
        because = (
            f"no sli_hourly file for {day} any more (retention removes a day's hours once "
            "this rollup covers them): nothing newer to roll up"
        )
        return _kept_rollup(context, previous, hourly, because, lost=None)
    if previous is not None:
        lost = hours_lost(previous, frame)
        if not lost.is_empty():
            because = (
                f"the new rollup has fewer hours with data for {lost.height} service(s) "
                f"({_listed(lost['service'])}): the source no longer holds all of {day}. "
                f"Delete {existing} and re-run to accept the emptier day."
            )
            return _kept_rollup(context, previous, hourly, because, lost=lost)
    return dg.Output(
        frame, metadata={**_rollup_metadata(frame, hourly), "kept_existing_rollup": False}
    )


def _listed(services: pl.Series, most: int = 5) -> str:
    names = services.head(most).to_list()
    return ", ".join(names) + (
        f" and {services.len() - most} more" if services.len() > most else ""
    )


def _kept_rollup(
    context: dg.AssetExecutionContext,
    previous: pl.DataFrame,
    hourly: Path,
    because: str,
    *,
    lost: pl.DataFrame | None,
) -> dg.Output[pl.DataFrame]:
    """The existing rollup as the output (the same rows, rewritten atomically), with why."""
    context.log.warning(
        "sli_daily %s: kept the existing rollup: %s", context.partition_key, because
    )
    metadata: dict[str, Any] = {
        **_rollup_metadata(previous, hourly),
        "kept_existing_rollup": True,
        "kept_because": dg.MetadataValue.text(because),
    }
    if lost is not None:
        lines = ["| service | hours with data (kept) | in the new rollup |", "|---|---:|---:|"]
        lines += [f"| {s} | {before} | {now} |" for s, before, now in lost.head(10).iter_rows()]
        metadata["hours_lost"] = dg.MetadataValue.md("\n".join(lines))
    return dg.Output(previous, metadata=metadata)


def _rollup_metadata(frame: pl.DataFrame, hourly: Path) -> dict[str, Any]:
    summary = completeness_summary(frame)
    least = frame.filter(pl.col("data_completeness") < 1.0).sort("data_completeness", "service")
    return {
        "rows": dg.MetadataValue.int(frame.height),
        "services": dg.MetadataValue.int(frame["service"].n_unique()),
        "requests": dg.MetadataValue.int(int(frame["requests"].sum() or 0)),
        "errors": dg.MetadataValue.int(int(frame["errors"].sum() or 0)),
        **{
            name: dg.MetadataValue.float(value)
            if isinstance(value, float)
            else dg.MetadataValue.int(value)
            for name, value in summary.items()
        },
        "least_complete": dg.MetadataValue.md(
            _md(least.select("service", "data_completeness").head(10))
        ),
        "source": dg.MetadataValue.path(str(hourly)),
    }


@dg.asset(
    partitions_def=DAILY,
    deps=[sli_daily],
    kinds={"parquet"},
    pool=HOURLY_FILES_POOL,  # removes files the lookbacks of other runs may be reading
    group_name="telemetry",
    description=(
        "Removes sli_hourly partitions older than SLO_HOURLY_RETENTION_DAYS before this day, "
        "each only once its own day's sli_daily rollup exists and covers it."
    ),
)
def sli_hourly_retention(
    context: dg.AssetExecutionContext, warehouse_io: dg.ResourceParam[PolarsParquetIOManager]
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """A step of its own, after the day's rollup, rather than a side effect inside `sli_daily`:
    the rollup stays a pure function of its day (re-runnable, backfillable, no deletes), the
    deletes are visible as their own materialization with what they removed, and the daily job
    runs it after `sli_daily`, so yesterday's rollup exists before anything is due. Its
    partition P sets the horizon: the `SLO_HOURLY_RETENTION_DAYS` days ending at P stay hourly
    (≥ the lookback, so P's recommendations read hours only); older files go when their day's
    rollup covers them (`hourly_retention.sweep_hourly`), the others are kept and listed.
    Dagster still shows a removed hourly partition as materialized: lookbacks read that day
    from `sli_daily` (the `DAILY_FALLBACK` input metadata), and re-materializing it re-fetches
    the hours from the source if it still has them."""
    retention = get_settings().hourly_retention_days
    horizon = retention_horizon(context.partition_time_window.start.date(), retention)
    sweep = sweep_hourly(
        warehouse_io.partition_path(sli_hourly.key, None).parent,
        warehouse_io.partition_path(sli_daily.key, None).parent,
        horizon,
    )
    if sweep.kept_without_rollup:
        context.log.warning(
            "%d hourly partition(s) past the horizon kept: no covering sli_daily rollup (%s)",
            len(sweep.kept_without_rollup),
            ", ".join(map(str, sweep.kept_without_rollup)),
        )
    return dg.MaterializeResult(
        metadata={
            "retention_days": dg.MetadataValue.int(retention),
            "horizon": dg.MetadataValue.text(sweep.horizon.isoformat()),
            "removed": dg.MetadataValue.int(len(sweep.removed)),
            "removed_days": dg.MetadataValue.json([d.isoformat() for d in sweep.removed]),
            "bytes_removed": dg.MetadataValue.int(sweep.bytes_removed),
            "kept_without_rollup": dg.MetadataValue.json(
                [d.isoformat() for d in sweep.kept_without_rollup]
            ),
        }
    )
