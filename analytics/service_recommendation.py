"""One service's recommendation from its hourly SLIs: shared by the daily pipeline (for every
service) and by the API's on-demand regeneration (for one), so both give the same answer."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from analytics.composite_availability import CompositeResult
from analytics.explanations import (
    availability_counterfactuals,
    latency_counterfactuals,
    service_features,
)
from analytics.latency_histogram import LATENCY_BUCKETS
from analytics.recommendation_document import recommendation_document
from analytics.sli_schema import ROLLED_UP_HOURS
from analytics.slo_tiers import TierSet, balanced_target, recommend_tiers


def recommendation_seed(partition: str, service: str, graph: str) -> int:
    """The resampling seed of one recommendation, from what it is a recommendation *of*: the
    day partition, the service and the graph's content hash. The same inputs give the same
    recommendation, byte for byte, whichever run (or `force_regenerate`) computes it."""
    digest = hashlib.blake2b(f"{partition}|{service}|{graph}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def recommend_service(
    service: str,
    rows: pl.DataFrame,
    hours: Sequence[datetime],
    composite: CompositeResult | None,
    *,
    generated_at: datetime,
    service_type: str | None = None,
    fleet_excess: npt.NDArray[np.float64] | None = None,
    seed: int = 0,
    absorbs: bool = False,
    published_sla: float | None = None,
) -> tuple[TierSet, dict[str, Any]]:
    """Tiers and the TRD-shaped document; `rows` are the service's `sli_hourly` rows, aligned
    here to `hours` (the lookback, hour starts) so gaps count as gaps."""
    requests, errors, present, buckets, throttling = _aligned(rows, hours)

    promised = composite.promised_bound if composite else None
    tiers = recommend_tiers(
        requests,
        errors,
        LATENCY_BUCKETS,
        buckets,
        present,
        composite_bound=composite.composite_bound if composite else None,
        service_type=service_type,
        fleet_excess=fleet_excess,
        cpu_throttling_ratio=throttling,
        seed=seed,
        absorbs=absorbs,
        promised_bound=promised,
        published_sla=published_sla,
    )

    request_months: dict[float, npt.NDArray[np.float64]] = {}

    def rerun(
        error_scale: float, bound: float | None, success_scale: float, promised: float | None
    ) -> float:
        """The balanced target of changed history: errors scaled, successes scaled (a
        dependency's what-if), with that bound (the promise caps only conservative)."""
        changed = requests - (requests - errors * error_scale) * success_scale
        return balanced_target(
            requests,
            np.clip(changed, 0.0, requests),
            composite_bound=bound,
            seed=seed,
            fleet_excess=fleet_excess,
            absorbs=absorbs,
            request_months=request_months,
        )

    document = recommendation_document(
        service,
        tiers,
        composite,
        generated_at=generated_at,
        lookback_start=hours[0],
        lookback_end=hours[-1] + (hours[1] - hours[0] if len(hours) > 1 else hours[0] - hours[0]),
        service_type=service_type,
        availability_source=tiers.availability_source,
    )
    availability, latency = document["recommendations"]
    availability["explanation"]["counterfactuals"] = availability_counterfactuals(
        tiers, composite, rerun=rerun
    )
    latency["explanation"]["counterfactuals"] = latency_counterfactuals(tiers)
    if not tiers.cold_start:
        # What the fleet model explains this service by; attributions come with the fleet run.
        document["model_inputs"] = service_features(tiers, composite, requests, errors)
    return tiers, document


@lru_cache(maxsize=4)
def _hour_index(hours: tuple[datetime, ...]) -> npt.NDArray[np.int64]:
    """The lookback's hour starts as epoch microseconds (sorted), shared by a fleet run."""
    index = pl.Series(hours, dtype=pl.Datetime("us", "UTC")).dt.epoch("us").to_numpy()
    index.setflags(write=False)  # cached: shared by every caller
    return index


def _aligned(
    rows: pl.DataFrame, hours: Sequence[datetime]
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.float64],
    float | None,
]:
    """Requests, errors, has-data flags and latency buckets per lookback hour (zeros for
    hours without rows or with a malformed bucket list) and the mean CPU throttling.

    Every row spans k hours and is spread evenly over them, a share 1/k of its counts and
    buckets in each: k = 1 for an hourly row, k = `rolled_up_hours` for a row standing for a
    whole day (its hourly partition is gone, see `analytics/sli_daily.py`), which covers the
    day's first k hours, so the day's totals, its merged buckets, its completeness and every
    daily figure stay exact. One path for both, so an hour means the same in either.

    One `select` and numpy scatters: the fleet run does this 5,000 times, and a join plus
    Series arithmetic per service cost more than the tiers themselves."""
    index = _hour_index(tuple(hours))
    n, width = len(index), len(LATENCY_BUCKETS) + 1
    last = max(n - 1, 0)
    span = (
        pl.col(ROLLED_UP_HOURS).fill_null(1).clip(lower_bound=1)
        if ROLLED_UP_HOURS in rows.columns
        else pl.lit(1)
    )
    columns = rows.select(
        pl.col("hour").dt.epoch("us").alias("at"),
        pl.col("requests").fill_null(0).cast(pl.Float64),
        pl.col("errors").fill_null(0).cast(pl.Float64),
        pl.col("has_data").fill_null(False),
        pl.col("cpu_throttling").cast(pl.Float64).fill_null(np.nan),
        span.cast(pl.Int64).alias("span"),
        pl.when(pl.col("latency_buckets").list.len() == width)
        .then(pl.col("latency_buckets"))
        .otherwise(pl.lit([0] * width, dtype=rows.schema["latency_buckets"]))
        .list.to_array(width)
        .alias("buckets"),
    )
    at = columns["at"].to_numpy()
    slot = np.minimum(np.searchsorted(index, at), last)
    # Rows outside the lookback are ignored, as a left join on the hours would.
    matched = index[slot] == at if n else np.zeros(len(at), dtype=bool)
    slot = slot[matched]
    span_of = columns["span"].to_numpy()[matched]
    has_data = columns["has_data"].to_numpy()[matched]
    # Row r covers slots slot[r] … slot[r] + span[r] − 1 (a day's hours lie inside the lookback).
    source = np.repeat(np.arange(len(slot)), span_of)
    step = np.arange(len(source)) - np.repeat(np.cumsum(span_of) - span_of, span_of)
    target = np.minimum(slot[source] + step, last)
    present = np.zeros(n, dtype=bool)
    present[target] = has_data[source]
    # Each of a row's hours holds 1/k of it; an hour without data counts no requests or errors.
    share = 1.0 / span_of
    requests, errors = np.zeros(n), np.zeros(n)
    requests[target] = np.where(has_data, columns["requests"].to_numpy()[matched] * share, 0.0)[
        source
    ]
    errors[target] = np.where(has_data, columns["errors"].to_numpy()[matched] * share, 0.0)[source]
    buckets = np.zeros((n, width))
    if len(columns):
        bucket_rows = columns["buckets"].to_numpy().reshape(len(columns), width)[matched]
        buckets[target] = (bucket_rows * share[:, np.newaxis])[source]
    cpu = np.repeat(columns["cpu_throttling"].to_numpy()[matched], span_of)  # a day: its hours
    cpu = cpu[~np.isnan(cpu)]
    throttling = float(cpu.mean()) if len(cpu) else None
    return requests, errors, present, buckets, throttling
