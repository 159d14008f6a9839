"""Where hourly SLIs come from: a Prometheus (or Mimir) queried fleet-wide, or Parquet files.

Both sources answer the same question — the `sli_hourly` rows of one UTC day — so the embedded
demo (Parquet written by `slo-engine fleet generate`) and production (PromQL) run the same
pipeline. A Prometheus day costs four range queries, each cut into shards of services when a
series bound is set (`PrometheusSliSource.max_series_per_query`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
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
    duration_seconds,
    errors_query,
    label_matcher,
    requests_query,
    throttling_query,
)
from telemetry.query_shards import pack_shards, run_all


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
    """`sli_hourly` rows from four `sum by (service)` range queries a day (requests, errors,
    latency buckets, CPU throttling).

    With `max_series_per_query` unset, each is one fleet-wide query: ~14 series per service,
    beyond what Prometheus or Mimir fetch for one query at tens of thousands of services. Set
    (from `SLO_PROMETHEUS_MAX_SERIES_PER_QUERY`, as the pipelines and the API build it), each
    query is cut into shards of services whose answers hold at most that many series: over the
    ids the caller gives, or — none given — over the ids Prometheus's label index holds for the
    window (every service the fleet-wide query would return, so the pipeline's day keeps the
    services not registered yet, and observed externals). The frame is the same either way, but
    for series without the service label: a fleet-wide query sums them into a service "" that
    no shard asks for.
    """

    client: PrometheusClient
    names: MetricNames
    window: str = "1h"
    max_series_per_query: int | None = None

    def fetch_day(self, day: date, services: Sequence[str] | None = None) -> pl.DataFrame:
        start, _ = day_bounds(day)
        return self.fetch_window(start, 1, services)

    def fetch_window(
        self, start: datetime, days: int, services: Sequence[str] | None = None
    ) -> pl.DataFrame:
        hours = 24 * days
        # Each point at t is the increase over (t - 1h, t]: the hour that starts at t - 1h.
        first, last = start + timedelta(hours=1), start + timedelta(hours=hours)
        label = self.names.service_label
        builders = (requests_query, errors_query, buckets_query, throttling_query)
        shards = self._shards(first, last, services)
        tasks = [
            partial(self._long_of, build(self.names, self.window, shard), first, last)
            for build, query_shards in zip(builders, shards, strict=True)
            for shard in query_shards
        ]
        # Independent queries: Prometheus evaluates some while we decode others.
        longs = iter(run_all(tasks, what="SLI query"))
        requests, errors, buckets, throttling = (
            pl.concat([_long([], label, "value"), *(next(longs) for _ in query_shards)])
            for query_shards in shards
        )
        frame = assemble_long(start, requests, errors, buckets, throttling, hours=hours)
        # Completeness is a per-day figure, whatever the window.
        return frame.with_columns(
            pl.col("has_data")
            .cast(pl.Float64)
            .mean()
            .over("service", pl.col("hour").dt.date())
            .alias("data_completeness")
        )

    def _long_of(self, query: str, first: datetime, last: datetime) -> pl.DataFrame:
        """One query's answer as a long table, decoded in the worker that fetched it: the JSON
        of a shard is dropped as soon as its rows exist."""
        answer = self.client.query_range(query, first, last, 3600)
        return _long(answer, self.names.service_label, "value")

    def _shards(
        self, first: datetime, last: datetime, services: Sequence[str] | None
    ) -> list[list[list[str] | None]]:
        """The service restriction of each query's requests (requests, errors, buckets,
        throttling), in that order: one unrestricted request each (`None`) when unbounded and
        no ids are given; otherwise shards sized by the series one service adds to each answer
        (one for the counters summed by service, its `le` bounds for the histogram)."""
        if services is not None and not services:
            return [[] for _ in range(4)]  # no service asked for: nothing to ask Prometheus
        if self.max_series_per_query is None:
            return [[list(services) if services is not None else None] for _ in range(4)]
        # The points read back to `first - window`: ids of series seen from then on.
        since = first - timedelta(seconds=duration_seconds(self.window))
        bucket_series = self.names.duration_bucket
        ids = (
            sorted(set(services))
            if services is not None
            else sorted(
                self.client.label_values(
                    self.names.service_label, [self.names.requests, bucket_series], since, last
                )
            )
        )
        if not ids:
            return [[] for _ in range(4)]
        limit = self.max_series_per_query
        # Each service's buckets are among the bounds of the services asked — of the fleet, when
        # they are not a caller's few that fit one matcher: a bound on each one's series, read
        # from the label index (a one-service regeneration asks about its own series only).
        if services is not None and len(pack_shards(ids, 0, limit)) == 1:
            bucket_series += "{" + label_matcher(self.names.service_label, ids) + "}"
        bounds = len(self.client.label_values("le", [bucket_series], since, last))
        counters: list[list[str] | None] = [*pack_shards(ids, 1, limit)]
        histogram: list[list[str] | None] = [*pack_shards(ids, max(bounds, 1), limit)]
        return [counters, counters, histogram, counters]


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
    """Turn the range-query matrices (requests, errors, latency buckets, CPU throttling) into
    `sli_hourly` rows for `hours` hours; see `assemble_long`."""
    return assemble_long(
        start,
        *(
            _long(result or [], label, "value")
            for result in (requests, errors, buckets, throttling)
        ),
        hours=hours,
    )


def assemble_long(
    start: datetime,
    requests: pl.DataFrame,
    errors: pl.DataFrame,
    buckets: pl.DataFrame,
    throttling: pl.DataFrame,
    *,
    hours: int = 24,
) -> pl.DataFrame:
    """`sli_hourly` rows for `hours` hours from the answers as long tables (`_long`: service,
    le, ts, value), however many requests each came in: concatenated shards give the frame
    one fleet-wide answer gives, since every series belongs to exactly one shard.

    An hour for which Prometheus has no request samples is kept as a row with
    `has_data = false` and null values: a gap is a fact about the data, not a zero.
    """
    req = requests.drop("le").rename({"value": "requests"})
    err = errors.drop("le").rename({"value": "errors"})
    hist = buckets.rename({"value": "count"}).filter(pl.col("count").is_not_nan())
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
        throttling.drop("le")
        .rename({"value": "cpu_throttling"})
        .filter(pl.col("cpu_throttling").is_finite())
    )
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
