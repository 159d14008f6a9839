"""Where hourly SLIs come from: a Prometheus (or Mimir) queried fleet-wide, or Parquet files.

Both sources answer the same question — the `sli_hourly` rows of one UTC day — so the embedded
demo (Parquet written by `slo-engine fleet generate`) and production (PromQL) run the same
pipeline. A Prometheus day costs three range queries, whatever the number of services.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from analytics.fleet_telemetry import SLI_HOURLY_SCHEMA
from analytics.latency_histogram import QUANTILES, histogram_quantile
from pipelines.telemetry.prometheus_http import PrometheusClient
from pipelines.telemetry.promql import MetricNames, buckets_query, errors_query, requests_query


class SliSource(Protocol):
    def fetch_day(self, day: date, services: Sequence[str] | None = None) -> pl.DataFrame:
        """`sli_hourly` rows for the UTC day; `services` restricts the query (None: all)."""
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
        return frame.select(SLI_HOURLY_SCHEMA.names()).cast(SLI_HOURLY_SCHEMA)


@dataclass
class PrometheusSliSource:
    client: PrometheusClient
    names: MetricNames
    window: str = "1h"

    def fetch_day(self, day: date, services: Sequence[str] | None = None) -> pl.DataFrame:
        start, end = day_bounds(day)
        # Each point at t is the increase over (t - 1h, t]: the hour that starts at t - 1h.
        first, last = start + timedelta(hours=1), end
        only = list(services) if services is not None else None
        label = self.names.service_label
        requests = self.client.query_range(
            requests_query(self.names, self.window, only), first, last, 3600
        )
        errors = self.client.query_range(
            errors_query(self.names, self.window, only), first, last, 3600
        )
        buckets = self.client.query_range(
            buckets_query(self.names, self.window, only), first, last, 3600
        )
        return assemble_day(start, label, requests, errors, buckets)


def _points(series: dict[str, Any]) -> dict[int, float]:
    return {int(float(t)): float(v) for t, v in series["values"] if not math.isnan(float(v))}


def assemble_day(
    start: datetime,
    label: str,
    requests: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    buckets: list[dict[str, Any]],
) -> pl.DataFrame:
    """Turn three fleet-wide range-query matrices into `sli_hourly` rows for one day.

    An hour for which Prometheus has no request samples is kept as a row with
    `has_data = false` and null values: a gap is a fact about the data, not a zero.
    """
    hour_ends = [int((start + timedelta(hours=h + 1)).timestamp()) for h in range(24)]
    req = {s["metric"].get(label, ""): _points(s) for s in requests}
    err = {s["metric"].get(label, ""): _points(s) for s in errors}
    by_bound: dict[str, dict[float, dict[int, float]]] = defaultdict(dict)
    for s in buckets:
        le = float(s["metric"].get("le", "+Inf"))
        by_bound[s["metric"].get(label, "")][le] = _points(s)
    services = sorted(set(req) | set(by_bound))
    rows: dict[str, list[Any]] = {name: [] for name in SLI_HOURLY_SCHEMA.names()}
    cumulative_rows: list[list[float]] = []
    bounds: list[float] = []
    for service in services:
        series = by_bound.get(service, {})
        service_bounds = sorted(series)
        if service_bounds and not bounds:
            bounds = [b for b in service_bounds if b != math.inf]
        for t in hour_ends:
            n = req.get(service, {}).get(t)
            has_data = n is not None
            total = round(n) if n is not None else None
            bad = min(round(err.get(service, {}).get(t, 0.0)), total) if total is not None else None
            counts = [series[b].get(t, 0.0) for b in service_bounds] if has_data else []
            cumulative = np.maximum.accumulate(np.asarray(counts)) if counts else np.asarray([])
            rows["service"].append(service)
            rows["hour"].append(datetime.fromtimestamp(t - 3600, UTC))
            rows["requests"].append(total)
            rows["errors"].append(bad)
            rows["availability"].append(1.0 - bad / total if total and bad is not None else None)
            rows["latency_buckets"].append([round(c) for c in cumulative] if has_data else None)
            rows["has_data"].append(has_data)
            cumulative_rows.append(list(cumulative) if len(cumulative) == len(bounds) + 1 else [])
    width = len(bounds) + 1
    matrix = np.asarray(
        [r if len(r) == width else [0.0] * width for r in cumulative_rows], dtype=np.float64
    ).reshape(len(cumulative_rows), width)
    for name, q in QUANTILES.items():
        values = histogram_quantile(q, bounds, matrix) if bounds else np.full(len(matrix), np.nan)
        rows[f"latency_{name}"] = [None if math.isnan(v) else float(v) for v in values]
    rows["data_completeness"] = [0.0] * len(rows["service"])
    frame = pl.DataFrame(rows, schema=SLI_HOURLY_SCHEMA)
    return with_completeness(frame)


def with_completeness(frame: pl.DataFrame) -> pl.DataFrame:
    """Set each row's `data_completeness`: the share of its service's hours that have data."""
    return frame.with_columns(
        pl.col("has_data").cast(pl.Float64).mean().over("service").alias("data_completeness")
    )
