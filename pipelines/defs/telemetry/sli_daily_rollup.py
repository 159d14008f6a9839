"""The `sli_daily` rollup: one UTC day of `sli_hourly`, summed per service by DuckDB.

DuckDB reads the day's Parquet file(s) directly (read-only, in an in-memory database: never a
`.duckdb` file shared between runs) and runs `sql/sli_daily_rollup.sql`; the quantiles are then
interpolated from the merged buckets by the same `histogram_quantile` the tiers use, so a daily
p99 means what an hourly one does. Partitions written before a column existed read it as null.

A rollup is what remains of a day once retention removes its hours, so a re-run never replaces
it with an emptier one (`hours_lost`): the asset keeps the rollup it has and says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from analytics.latency_histogram import LATENCY_BUCKETS, QUANTILES, histogram_quantile
from analytics.sli_schema import SLI_DAILY_SCHEMA
from store.sql_files import load_sql

#: The `sli_hourly` columns the rollup reads, as DuckDB types (for files that lack one).
_READ_COLUMNS = {
    "service": "VARCHAR",
    "requests": "BIGINT",
    "errors": "BIGINT",
    "latency_buckets": "BIGINT[]",
    "cpu_throttling": "DOUBLE",
    "has_data": "BOOLEAN",
    "errors_clamped": "BOOLEAN",
}

#: Buckets per histogram: the finite bounds and +Inf.
BUCKET_WIDTH = len(LATENCY_BUCKETS) + 1


def rollup_day(files: Sequence[Path], day: date) -> pl.DataFrame:
    """The `sli_daily` rows (SLI_DAILY_SCHEMA) of `day` from its `sli_hourly` file(s)."""
    if not files:
        raise FileNotFoundError(f"no sli_hourly file for {day}")
    with duckdb.connect(":memory:") as con:
        raw = con.read_parquet([str(f) for f in files], union_by_name=True)
        raw.create_view("sli_hourly_raw")
        present = set(raw.columns)
        missing = [(name, kind) for name, kind in _READ_COLUMNS.items() if name not in present]
        filled = ", ".join(f'NULL::{kind} AS "{name}"' for name, kind in missing)
        con.execute(
            "CREATE VIEW sli_hourly_day AS SELECT *" + (f", {filled}" if filled else "")
            + " FROM sli_hourly_raw"
        )  # fmt: skip
        frame = con.sql(
            load_sql("sli_daily_rollup"), params={"day": day, "width": BUCKET_WIDTH}
        ).pl()
    return with_quantiles(frame).select(SLI_DAILY_SCHEMA.names()).cast(SLI_DAILY_SCHEMA)


def rollup_if_present(hourly: Path, day: date) -> pl.DataFrame | None:
    """`rollup_day` of the day's one hourly file, or None when that file is gone (retention
    removed it once a rollup covered it), also when it goes while DuckDB opens it."""
    if not hourly.exists():
        return None
    try:
        return rollup_day([hourly], day)
    except duckdb.IOException:
        if hourly.exists():
            raise
        return None


def hours_lost(previous: pl.DataFrame, rollup: pl.DataFrame) -> pl.DataFrame:
    """The services of an existing rollup (`previous`) for which a new one of the same day
    holds fewer hours with data, or none at all: `service`, `hours_with_data` (before) and
    `hours_with_data_now`, most lost first. Empty when the new rollup keeps every hour.

    A day's hours only ever gain data (a late fetch, a re-fetch once the source caught up);
    a rollup with fewer is one of a source that has since lost them (Prometheus' own
    retention, a dropped series) and would replace facts with gaps."""
    before = previous.select("service", pl.col("hours_with_data").fill_null(0).cast(pl.Int64))
    now = rollup.select(
        "service",
        pl.col("hours_with_data").fill_null(0).cast(pl.Int64).alias("hours_with_data_now"),
    )
    return (
        before.join(now, on="service", how="left")
        .with_columns(pl.col("hours_with_data_now").fill_null(0))
        .filter(pl.col("hours_with_data_now") < pl.col("hours_with_data"))
        .sort(pl.col("hours_with_data") - pl.col("hours_with_data_now"), "service",
              descending=[True, False])
    )  # fmt: skip


def with_quantiles(frame: pl.DataFrame) -> pl.DataFrame:
    """`latency_p50` … `latency_p999` of each row's (merged, cumulative) buckets; null
    where the row has no histogram or no observations."""
    valid = frame["latency_buckets"].list.len().fill_null(0) == BUCKET_WIDTH
    counts = np.zeros((frame.height, BUCKET_WIDTH))
    if valid.any():
        merged = frame.filter(valid)["latency_buckets"].list.to_array(BUCKET_WIDTH)
        counts[valid.to_numpy()] = merged.to_numpy().astype(np.float64)
    return frame.with_columns(
        pl.Series(f"latency_{name}", histogram_quantile(q, LATENCY_BUCKETS, counts),
                  dtype=pl.Float64, nan_to_null=True)
        for name, q in QUANTILES.items()
    )  # fmt: skip


def completeness_summary(daily: pl.DataFrame) -> dict[str, float | int]:
    """What a person checks first about a day's rollup: how complete its services were."""
    completeness = daily["data_completeness"].cast(pl.Float64)
    mean, low = completeness.mean(), completeness.min()
    return {
        "mean_completeness": float(mean) if isinstance(mean, int | float) else 0.0,
        "min_completeness": float(low) if isinstance(low, int | float) else 0.0,
        "services_complete": int((completeness >= 1.0).sum()),
        "services_with_gaps": int(((completeness > 0) & (completeness < 1.0)).sum()),
        "services_without_data": int((completeness == 0).sum()),
    }
