"""One service's recommendation from its hourly SLIs: shared by the daily pipeline (for every
service) and by the API's on-demand regeneration (for one), so both give the same answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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
from analytics.slo_tiers import TierSet, recommend_tiers


def recommend_service(
    service: str,
    rows: pl.DataFrame,
    hours: Sequence[datetime],
    composite: CompositeResult | None,
    *,
    generated_at: datetime,
    service_type: str | None = None,
    fleet_excess: npt.NDArray[np.float64] | None = None,
) -> tuple[TierSet, dict[str, Any]]:
    """Tiers and the TRD-shaped document; `rows` are the service's `sli_hourly` rows, aligned
    here to `hours` (the lookback, hour starts) so gaps count as gaps."""
    frame = pl.DataFrame({"hour": list(hours)}, schema={"hour": pl.Datetime("us", "UTC")}).join(
        rows.select("hour", "requests", "errors", "latency_buckets", "has_data", "cpu_throttling"),
        on="hour",
        how="left",
    )
    width = len(LATENCY_BUCKETS) + 1
    zeros = pl.lit([0] * width, dtype=frame.schema["latency_buckets"])
    buckets = (
        frame.select(
            pl.when(pl.col("latency_buckets").list.len() == width)
            .then(pl.col("latency_buckets"))
            .otherwise(zeros)
            .list.to_array(width)
        )
        .to_series()
        .to_numpy()
        .astype(np.float64)
        .reshape(len(frame), width)
    )
    mean_throttling = frame["cpu_throttling"].drop_nulls().drop_nans().mean()
    throttling = float(mean_throttling) if mean_throttling is not None else None  # type: ignore[arg-type]
    present = frame["has_data"].fill_null(False).to_numpy()
    requests = np.where(present, frame["requests"].fill_null(0).to_numpy(), 0).astype(np.float64)
    errors = np.where(present, frame["errors"].fill_null(0).to_numpy(), 0).astype(np.float64)
    tiers = recommend_tiers(
        requests,
        errors,
        LATENCY_BUCKETS,
        buckets,
        frame["has_data"].fill_null(False).to_numpy(),
        composite_bound=composite.composite_bound if composite else None,
        service_type=service_type,
        fleet_excess=fleet_excess,
        cpu_throttling_ratio=throttling,
    )
    document = recommendation_document(
        service,
        tiers,
        composite,
        generated_at=generated_at,
        lookback_start=hours[0],
        lookback_end=hours[-1] + (hours[1] - hours[0] if len(hours) > 1 else hours[0] - hours[0]),
    )
    availability, latency = document["recommendations"]
    availability["explanation"]["counterfactuals"] = availability_counterfactuals(tiers, composite)
    latency["explanation"]["counterfactuals"] = latency_counterfactuals(tiers)
    if not tiers.cold_start:
        # What the fleet model explains this service by; attributions come with the fleet run.
        document["model_inputs"] = service_features(tiers, composite, requests, errors)
    return tiers, document
