"""Explanation texts say where each number came from: histogram or archetype, counts or SLA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from analytics.composite_availability import Edge, composite_availability
from analytics.latency_histogram import LATENCY_BUCKETS
from analytics.recommendation_document import recommendation_document
from analytics.slo_tiers import TierSet, recommend_tiers

END = datetime(2026, 11, 23, tzinfo=UTC)
LOOKBACK = 14


def _tiers(days_with_data: int, *, composite_bound: float | None = None) -> TierSet:
    """A service with `days_with_data` days of traffic at the end of a LOOKBACK-day window."""
    hours = LOOKBACK * 24
    rng = np.random.default_rng(4)
    present = np.zeros(hours, dtype=bool)
    present[hours - days_with_data * 24 :] = True
    requests = np.where(present, 1000.0, 0.0)
    errors = np.where(present, rng.poisson(0.2, hours).astype(float), 0.0)
    buckets = np.zeros((hours, len(LATENCY_BUCKETS) + 1))  # cumulative `le` counts
    buckets[:, 3:] = np.where(present, 990.0, 0.0)[:, None]
    buckets[:, 6:] = np.where(present, 1000.0, 0.0)[:, None]
    return recommend_tiers(requests, errors, LATENCY_BUCKETS, buckets, present,
                           composite_bound=composite_bound)  # fmt: skip


def _document(tiers: TierSet, composite=None, **kwargs):  # type: ignore[no-untyped-def]
    return recommendation_document(
        "svc", tiers, composite, generated_at=END,
        lookback_start=END - timedelta(days=LOOKBACK), lookback_end=END, **kwargs,
    )  # fmt: skip


def _summaries(document) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    availability, latency = document["recommendations"]
    return availability["explanation"]["summary"], latency["explanation"]["summary"]


def test_cold_start_says_archetype_not_histogram() -> None:
    tiers = _tiers(3)
    assert tiers.cold_start
    availability, latency = _summaries(_document(tiers))
    assert "histogram" not in latency
    assert "archetype baseline for its service type" in latency
    assert "archetype" in availability and "SLA" not in availability
    assert "request/error counts" not in availability
    availability, latency = _summaries(_document(tiers, service_type="datastore"))
    assert "datastore archetype baseline" in latency
    assert "datastore archetype baseline" in availability


def test_cold_start_external_with_published_sla_says_so() -> None:
    tiers = _tiers(0)
    availability, latency = _summaries(_document(tiers, availability_source="published_sla"))
    assert "derived from its published SLA" in availability
    assert "archetype" not in availability
    assert "histogram" not in latency


def test_warm_summaries_name_the_lookback_and_the_counts() -> None:
    tiers = _tiers(LOOKBACK)
    assert not tiers.cold_start
    availability, latency = _summaries(_document(tiers))
    assert (
        f"measured from {LOOKBACK} days of request/error counts in the {LOOKBACK}-day lookback"
        in availability
    )
    assert "archetype" not in availability
    assert f"histogram merged over the {LOOKBACK}-day lookback" in latency
    gappy, _ = _summaries(_document(_tiers(10)))
    assert f"measured from 10 days of request/error counts in the {LOOKBACK}-day lookback" in gappy


def test_bottleneck_share_is_a_would_take_not_a_consumes() -> None:
    tiers = _tiers(LOOKBACK)
    assert tiers.observed_availability is not None
    composite = composite_availability(
        {"svc": tiers.observed_availability, "dep": 0.9995}, [Edge("svc", "dep")]
    )["svc"]
    impact = _document(tiers, composite)["recommendations"][0]["explanation"]["dependency_impact"]
    assert impact["bottleneck_service"] == "dep"
    text = impact["bottleneck_contribution"]
    assert text.startswith("Its unavailability alone would take ")
    assert "Consumes" not in text
    assert f"of the error budget at the {tiers.availability['balanced'].target}% target" in text
