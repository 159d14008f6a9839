"""Days of a lookback that only `sli_daily` still holds, in the shape the consumers read.

Hourly partitions older than `SLO_HOURLY_RETENTION_DAYS` are removed once their day is rolled
up (TRD §7.2). A lookback reaching past that horizon (a backfill, a re-run of an old partition)
reads those days from `sli_daily` instead, converted here, and every consumer keeps its answer:

- **the loader** (`lookback_rows_from_daily`) turns each daily row into *one* row of the
  `sli_hourly` schema at the day's first hour, carrying the day's totals, merged buckets and
  quantiles, plus `rolled_up_hours`: how many hours with data it stands for (null on genuine
  hourly rows). Nothing downstream mistakes it for an hour: it says what it is.
- **the tiers** (`analytics/service_recommendation._aligned`) spread such a row evenly over its
  first `rolled_up_hours` hours: the day's requests, errors and buckets are exact, and so are
  everything the tiers draw from days (the day table of simulated months, their intervals, the
  fleet's bad-day prior), completeness and days with data; the merged latency histogram is
  exact too. What a day rollup cannot know is how the day varied inside: rolling 24-hour
  windows, traffic seasonality and the hours' latency breach shares see a flat day.
- **intrinsic availability** (`analytics/intrinsic_availability.intrinsic_hourly`) is
  estimated for such a day as one period: `calls_at_sli_grain` sums the day's service-graph
  calls to the same first hour, so failed calls and dependencies' availabilities are divided
  out over the day, not matched against the one hour of calls that shares the row's timestamp.
"""

from __future__ import annotations

from typing import TypeVar

import polars as pl

from analytics.sli_schema import ROLLED_UP_HOURS, SLI_HOURLY_SCHEMA

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def lookback_rows_from_daily(daily: Frame) -> Frame:
    """`sli_daily` rows as one lookback row per service-day (SLI_HOURLY_SCHEMA and
    `rolled_up_hours`), lazily if given a LazyFrame."""
    hour = SLI_HOURLY_SCHEMA["hour"]
    columns = {
        "service": pl.col("service"),
        "hour": pl.col("day").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(hour),
        "has_data": pl.col("hours_with_data").fill_null(0) > 0,
        "errors_clamped": pl.col("errors_clamped_hours").fill_null(0) > 0,
    }
    rows = daily.select(
        *[
            columns[name].alias(name) if name in columns else pl.col(name)
            for name in SLI_HOURLY_SCHEMA.names()
        ],
        pl.col("hours_with_data").cast(pl.Int64).alias(ROLLED_UP_HOURS),
    )
    return rows.cast(pl.Schema([*SLI_HOURLY_SCHEMA.items(), (ROLLED_UP_HOURS, pl.Int64())]))


def rolled_up_days(sli: pl.DataFrame) -> pl.Series:
    """The day starts of `sli`'s rows that stand for a whole day (empty for hourly data)."""
    if ROLLED_UP_HOURS not in sli.columns:
        return pl.Series("hour", [], dtype=SLI_HOURLY_SCHEMA["hour"])
    return sli.filter(pl.col(ROLLED_UP_HOURS).is_not_null())["hour"].unique()


def calls_at_sli_grain(edge_calls: pl.DataFrame, sli: pl.DataFrame) -> pl.DataFrame:
    """The service graph's hourly calls with the hours of days that `sli` holds as day rollups
    summed to the day's first hour (where those rows are), so calls and SLIs meet per row."""
    days = rolled_up_days(sli)
    if days.is_empty() or edge_calls.is_empty():
        return edge_calls
    day_start = pl.col("hour").dt.truncate("1d")
    rolled = day_start.is_in(days.implode())
    whole_days = (
        edge_calls.filter(rolled)
        .group_by("client", "server", day_start.alias("hour"))
        .agg(pl.col("calls").sum(), pl.col("failed").sum())
    )
    return pl.concat(
        [edge_calls.filter(~rolled), whole_days.select(edge_calls.columns)], how="vertical_relaxed"
    ).cast(edge_calls.schema)


def rolled_up_columns(lookback: pl.LazyFrame | pl.DataFrame) -> list[str]:
    """`[ROLLED_UP_HOURS]` when the lookback holds day rollups, else `[]`: what a consumer
    selecting columns of a lookback adds to its selection."""
    schema = lookback.collect_schema() if isinstance(lookback, pl.LazyFrame) else lookback.schema
    return [ROLLED_UP_HOURS] if ROLLED_UP_HOURS in schema else []
