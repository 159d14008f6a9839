"""Where hourly SLIs come from: a Prometheus (or Mimir) queried fleet-wide, or Parquet files.

Both sources answer the same question — the `sli_hourly` rows of one UTC day — so the embedded
demo (Parquet written by `slo-engine fleet generate`) and production (PromQL) run the same
pipeline. A Prometheus day costs three range queries, whatever the number of services.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from analytics.latency_histogram import QUANTILES, histogram_quantile
from analytics.sli_schema import SLI_HOURLY_SCHEMA
from telemetry.prometheus_http import PrometheusClient
from telemetry.promql import (
    MetricNames,
    buckets_query,
    errors_query,
    requests_query,
    throttling_query,
)


class SliSource(Protocol):
    def fetch_day(self, day: date, services: Sequence[str] | None = None) -> pl.DataFrame:
        """`sli_hourly` rows for the UTC day; `services` restricts the query (None: all)."""
        ...

    def fetch_window(
        self, start: datetime, days: int, services: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """`sli_hourly` rows for `days` whole UTC days from `start` (a midnight)."""
        ...


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def empty_sli_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=SLI_HOURLY_SCHEMA)


@dataclass
class ParquetSliSource:
    """Reads `<folder>/<YYYY-MM-DD>.parquet` as written by `slo-engine fleet generate`."""

    folder: Path

    def fetch_day(self, day: date, services: Sequence[str] | None = None) -> pl.DataFrame:
        path = self.folder / f"{day.isoformat()}.parquet"
        if not path.exists():
            return empty_sli_frame()
        frame = pl.read_parquet(path)
        if services is not None:
            frame = frame.filter(pl.col("service").is_in(list(services)))
        missing = [pl.lit(None).alias(n) for n in SLI_HOURLY_SCHEMA.names() if n not in frame]
        # Files written before a column existed (cpu_throttling) read it as "not measured".
        return frame.with_columns(missing).select(SLI_HOURLY_SCHEMA.names()).cast(SLI_HOURLY_SCHEMA)

    def fetch_window(
        self, start: datetime, days: int, services: Sequence[str] | None = None
    ) -> pl.DataFrame:
        if services is None:
            parts = [self.fetch_day((start + timedelta(days=d)).date()) for d in range(days)]
            return pl.concat(parts) if parts else empty_sli_frame()
        # A few services over many days (a one-service regeneration): one lazy scan, so the
        # filter reaches the row groups and the files are read in parallel.
        paths = [
            path
            for d in range(days)
            if (
                path := self.folder / f"{(start + timedelta(days=d)).date().isoformat()}.parquet"
            ).exists()
        ]
        if not paths:
            return empty_sli_frame()
        wanted = pl.col("service").is_in(list(services))
        scans = [pl.scan_parquet(p).filter(wanted) for p in paths]
        frame = pl.concat(scans, how="diagonal_relaxed").collect()
        missing = [pl.lit(None).alias(n) for n in SLI_HOURLY_SCHEMA.names() if n not in frame]
        return frame.with_columns(missing).select(SLI_HOURLY_SCHEMA.names()).cast(SLI_HOURLY_SCHEMA)


@dataclass
class PrometheusSliSource:
    client: PrometheusClient
    names: MetricNames
    window: str = "1h"

    def fetch_day(self, day: date, services: Sequence[str] | None = None) -> pl.DataFrame:
        start, _ = day_bounds(day)
        return self.fetch_window(start, 1, services)

    def fetch_window(
        self, start: datetime, days: int, services: Sequence[str] | None = None
    ) -> pl.DataFrame:
        hours = 24 * days
        # Each point at t is the increase over (t - 1h, t]: the hour that starts at t - 1h.
        first, last = start + timedelta(hours=1), start + timedelta(hours=hours)
        only = list(services) if services is not None else None
        label = self.names.service_label
        queries = [
            build(self.names, self.window, only)
            for build in (requests_query, errors_query, buckets_query, throttling_query)
        ]
        # Independent queries: Prometheus evaluates one while we decode another.
        with ThreadPoolExecutor(max_workers=len(queries)) as pool:
            requests, errors, buckets, throttling = pool.map(
                lambda q: self.client.query_range(q, first, last, 3600), queries
            )
        frame = assemble_day(
            start, label, requests, errors, buckets, hours=hours, throttling=throttling
        )
        # Completeness is a per-day figure, whatever the window.
        return frame.with_columns(
            pl.col("has_data")
            .cast(pl.Float64)
            .mean()
            .over("service", pl.col("hour").dt.date())
            .alias("data_completeness")
        )


def _long(result: list[dict[str, Any]], label: str, value: str) -> pl.DataFrame:
    """A range-query matrix as a long table (service, le, ts, value), built column-wise."""
    services: list[str] = []
    bounds: list[str] = []
    stamps: list[float] = []
    values: list[str] = []
    for series in result:
        points = series["values"]
        metric = series["metric"]
        services += [metric.get(label, "")] * len(points)
        bounds += [metric.get("le", "+Inf")] * len(points)
        point_stamps, point_values = zip(*points, strict=True)
        stamps += point_stamps
        values += point_values
    return pl.DataFrame(
        {"service": services, "le": bounds, "ts": stamps, value: values},
        schema={"service": pl.String, "le": pl.String, "ts": pl.Float64, value: pl.String},
    ).with_columns(
        pl.col("ts").cast(pl.Int64),
        pl.col(value).cast(pl.Float64),
        pl.col("le").cast(pl.Float64),
    )


def assemble_day(
    start: datetime,
    label: str,
    requests: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    buckets: list[dict[str, Any]],
    *,
    hours: int = 24,
    throttling: list[dict[str, Any]] | None = None,
) -> pl.DataFrame:
    """Turn three fleet-wide range-query matrices into `sli_hourly` rows for `hours` hours.

    An hour for which Prometheus has no request samples is kept as a row with
    `has_data = false` and null values: a gap is a fact about the data, not a zero.
    """
    req = _long(requests, label, "requests").drop("le")
    err = _long(errors, label, "errors").drop("le")
    hist = _long(buckets, label, "count").filter(pl.col("count").is_not_nan())
    services = sorted(set(req["service"].to_list()) | set(hist["service"].to_list()))
    hour_ends = [int((start + timedelta(hours=h + 1)).timestamp()) for h in range(hours)]
    # Typed even when Prometheus returned no series: an empty window is an answer, not an error.
    grid = pl.DataFrame({"service": services}, schema={"service": pl.String}).join(
        pl.DataFrame({"ts": hour_ends}, schema={"ts": pl.Int64}), how="cross"
    )
    bounds = sorted(b for b in set(hist["le"].to_list()) if math.isfinite(b))
    columns = [*bounds, math.inf]
    matrix = np.zeros((grid.height, len(columns)))
    if hist.height:
        wide = hist.with_columns(
            pl.col("le").replace_strict(columns, list(range(len(columns))))
        ).pivot(on="le", index=["service", "ts"], values="count", aggregate_function="sum")
        ordered = [str(i) for i in range(len(columns)) if str(i) in wide.columns]
        placed = grid.join(wide, on=["service", "ts"], how="left")
        for i in range(len(columns)):
            if str(i) in ordered:
                matrix[:, i] = placed[str(i)].fill_null(0.0).fill_nan(0.0).to_numpy()
        # Buckets are cumulative; extrapolation noise must not make them decrease.
        matrix = np.maximum.accumulate(matrix, axis=1)
    cpu = (
        _long(throttling, label, "cpu_throttling").drop("le")
        if throttling
        else pl.DataFrame(
            schema={"service": pl.String, "ts": pl.Int64, "cpu_throttling": pl.Float64}
        )
    ).filter(pl.col("cpu_throttling").is_finite())
    frame = (
        grid.join(req.filter(pl.col("requests").is_not_nan()), on=["service", "ts"], how="left")
        .join(cpu, on=["service", "ts"], how="left")
        .join(err.filter(pl.col("errors").is_not_nan()), on=["service", "ts"], how="left")
        .with_columns(
            pl.col("requests").round().cast(pl.Int64),
            pl.col("errors").round().cast(pl.Int64),
        )
        .with_columns(
            has_data=pl.col("requests").is_not_null(),
            # Downstream needs possible counts, so errors are clamped to requests; the row
            # keeps the fact that they were, for the check that blocks on impossible counts.
            errors=pl.when(pl.col("requests").is_not_null())
            .then(pl.min_horizontal(pl.col("errors").fill_null(0), pl.col("requests")))
            .otherwise(None),
            errors_clamped=pl.when(pl.col("requests").is_not_null()).then(
                pl.col("errors").fill_null(0) > pl.col("requests")
            ),
            hour=pl.from_epoch(pl.col("ts") - 3600, time_unit="s").dt.replace_time_zone("UTC"),
        )
    )
    has_data = frame["has_data"].to_numpy()
    quantiles = {
        f"latency_{name}": np.where(
            has_data,
            histogram_quantile(q, bounds, matrix) if bounds else np.nan,
            np.nan,
        )
        for name, q in QUANTILES.items()
    }
    frame = frame.with_columns(
        availability=pl.when(pl.col("requests") > 0).then(
            1.0 - pl.col("errors") / pl.col("requests")
        ),
        latency_buckets=pl.Series("latency_buckets", np.rint(matrix).astype(np.int64)).cast(
            pl.List(pl.Int64)
        ),
        data_completeness=pl.lit(0.0),
        **{k: pl.Series(k, v).fill_nan(None) for k, v in quantiles.items()},
    ).with_columns(
        latency_buckets=pl.when(pl.col("has_data")).then(pl.col("latency_buckets")),
    )
    return with_completeness(frame.select(SLI_HOURLY_SCHEMA.names()).cast(SLI_HOURLY_SCHEMA))


def with_completeness(frame: pl.DataFrame) -> pl.DataFrame:
    """Set each row's `data_completeness`: the share of its service's hours that have data."""
    return frame.with_columns(
        pl.col("has_data").cast(pl.Float64).mean().over("service").alias("data_completeness")
    )
