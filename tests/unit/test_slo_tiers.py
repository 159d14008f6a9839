"""Tier targets: ordered, evidence-backed, capped by dependencies, honest about cold starts."""

from __future__ import annotations

import math
import tracemalloc
from datetime import UTC, datetime

import numpy as np
import pytest

from analytics.latency_histogram import LATENCY_BUCKETS
from analytics.slo_tiers import (
    _index_tables,
    error_budget_minutes,
    noise_margin,
    recommend_tiers,
    telemetry_gaps,
    unachievable_target_warning,
)
from synthetic_fleet.telemetry import generate_telemetry
from synthetic_fleet.topology import generate_topology

END = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleet():  # type: ignore[no-untyped-def]
    topology = generate_topology(30, seed=8)
    return generate_telemetry(topology, days=30, seed=8, end=END)


def hourly(telemetry, i: int):  # type: ignore[no-untyped-def]
    per_hour = telemetry.steps_per_hour
    hours = telemetry.steps // per_hour
    requests = telemetry.requests[i].reshape(hours, per_hour).sum(axis=1)
    errors = telemetry.errors[i].reshape(hours, per_hour).sum(axis=1)
    buckets = telemetry.bucket_counts(i).reshape(hours, per_hour, -1).sum(axis=1)
    return requests, errors, buckets


def test_tiers_are_ordered_and_carry_their_evidence(fleet) -> None:  # type: ignore[no-untyped-def]
    for i, service in enumerate(fleet.services):
        requests, errors, buckets = hourly(fleet, i)
        tiers = recommend_tiers(requests, errors, LATENCY_BUCKETS, buckets, np.ones(len(requests)))
        a = tiers.availability
        assert (
            0 <= a["conservative"].target <= a["balanced"].target <= a["aggressive"].target <= 100
        )
        assert (
            a["conservative"].estimated_breach_probability
            <= a["balanced"].estimated_breach_probability
            <= a["aggressive"].estimated_breach_probability
        )
        # Each tier is met by its share of simulated months: 99.9%, 99%, 95%.
        assert a["conservative"].estimated_breach_probability <= 0.001 + 1e-9
        assert a["balanced"].estimated_breach_probability <= 0.01 + 1e-9
        assert a["aggressive"].estimated_breach_probability <= 0.05 + 1e-9
        assert a["balanced"].target <= tiers.observed_availability * 100 + 1e-9
        for tier in a.values():
            low, high = tier.confidence_interval
            assert low <= high
            assert tier.error_budget_monthly_minutes == error_budget_minutes(tier.target)
        lat = tiers.latency
        assert (
            lat["conservative"].target_ms
            >= lat["balanced"].target_ms
            >= lat["aggressive"].target_ms
        )
        assert tiers.data_quality.confidence == "high" and not tiers.cold_start
        assert tiers.observed_availability == pytest.approx(
            fleet.truth["services"][service]["realized_availability"]
        )


def test_a_bound_below_history_caps_unless_the_service_absorbs_failures(fleet) -> None:  # type: ignore[no-untyped-def]
    """The bound multiplies intrinsic availabilities, so it caps balanced (the TRD). Only a
    service whose own estimate was capped (it beats the product of its dependencies: retries,
    caches, fallbacks) keeps what it measured, and says so."""
    requests, errors, buckets = hourly(fleet, 3)
    ones = np.ones(len(requests))
    free = recommend_tiers(requests, errors, LATENCY_BUCKETS, buckets, ones)
    assert free.observed_availability is not None
    bound = free.availability["balanced"].target / 100 - 0.001  # below history, below balanced
    assert bound < free.observed_availability
    capped = recommend_tiers(requests, errors, LATENCY_BUCKETS, buckets, ones,
                             composite_bound=bound)  # fmt: skip
    assert capped.capped_by_composite
    assert capped.availability["balanced"].target <= bound * 100 + 1e-9
    assert capped.availability["balanced"].target < free.availability["balanced"].target
    absorbing = recommend_tiers(requests, errors, LATENCY_BUCKETS, buckets, ones,
                                composite_bound=bound, absorbs=True)  # fmt: skip
    assert not absorbing.capped_by_composite
    assert absorbing.availability["balanced"].target == free.availability["balanced"].target
    assert any("beats the serial composite bound" in n for n in absorbing.notes)
    assert not any("beats" in n for n in capped.notes + free.notes)


def test_balanced_never_exceeds_the_bound(fleet) -> None:  # type: ignore[no-untyped-def]
    requests, errors, buckets = hourly(fleet, 3)
    for bound in (0.95, 0.99, 0.999, 0.9999):
        tiers = recommend_tiers(
            requests, errors, LATENCY_BUCKETS, buckets, np.ones(len(requests)),
            composite_bound=bound,
        )  # fmt: skip
        assert tiers.observed_availability is not None
        ceiling = bound * 100
        assert tiers.availability["balanced"].target <= ceiling + 1e-9
        assert tiers.availability["conservative"].target <= tiers.availability["balanced"].target


def test_cold_start_archetype_is_capped_by_the_composite_bound() -> None:
    hours = 24 * 3
    counts = np.full(hours, 1000.0)
    buckets = np.tile(np.append(np.linspace(0, 1000, len(LATENCY_BUCKETS)), 1000), (hours, 1))
    tiers = recommend_tiers(
        counts, np.zeros(hours), LATENCY_BUCKETS, buckets, np.ones(hours),
        composite_bound=0.995, service_type="backend",
    )  # fmt: skip
    assert tiers.cold_start and tiers.capped_by_composite
    assert tiers.availability["balanced"].target == 99.5
    assert tiers.availability["conservative"].target <= 99.5
    assert tiers.availability["aggressive"].target >= tiers.availability["balanced"].target
    assert any("capped" in n for n in tiers.notes)


def test_latency_balanced_is_p99_plus_margin() -> None:
    from scipy.stats import lognorm

    hours = 24 * 10
    share = np.append(lognorm.cdf(LATENCY_BUCKETS, 0.5, scale=0.04), 1.0)
    buckets = np.tile(np.rint(share * 10_000), (hours, 1))
    requests = buckets[:, -1]
    tiers = recommend_tiers(
        requests,
        np.zeros(hours),
        LATENCY_BUCKETS,
        buckets,
        np.ones(hours),
        cpu_throttling_ratio=0.5,
    )
    p99 = lognorm.ppf(0.99, 0.5, scale=0.04)
    # Within the histogram's bucket (0.1–0.25 s) and with the 10% margin of heavy throttling.
    assert 0.1 * 1.1 * 1000 <= tiers.latency["balanced"].target_ms <= 0.25 * 1.1 * 1000 + 1
    assert tiers.latency["balanced"].percentile == "p99"
    assert tiers.latency["aggressive"].estimated_breach_probability == 0.0
    assert p99 < 0.25
    assert noise_margin(None) == 0.05 and noise_margin(1.0) == pytest.approx(0.10)


def test_cold_start_uses_the_archetype_and_says_so() -> None:
    hours = 24 * 3
    tiers = recommend_tiers(
        np.full(hours, 100.0), np.zeros(hours), LATENCY_BUCKETS,
        np.tile(np.full(12, 100.0), (hours, 1)), np.ones(hours), service_type="external",
    )  # fmt: skip
    assert tiers.cold_start and tiers.data_quality.confidence == "low"
    assert tiers.availability["balanced"].target == 99.5
    assert tiers.latency["balanced"].target_ms == 2000
    assert "archetype" in tiers.data_quality.confidence_note
    assert math.isnan(tiers.availability["balanced"].estimated_breach_probability)


def test_gaps_are_reported_as_hour_ranges() -> None:
    present = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    assert telemetry_gaps(present) == ((2, 4), (5, 6))


def test_unachievable_target_gets_the_explicit_warning() -> None:
    warning = unachievable_target_warning(99.99, 0.997)
    assert warning is not None
    assert "99.99% is unachievable" in warning and "99.70%" in warning
    assert "99.999%" in warning and "10x rule" in warning
    assert unachievable_target_warning(99.9, 0.9995) is None


def test_the_fleet_prior_protects_a_lucky_service() -> None:
    from analytics.slo_tiers import availability_tiers, fleet_excess_pool

    days = 30
    quiet_req = np.full(days * 24, 1000.0)
    quiet_err = np.full(days * 24, 0.5)  # 99.95%, and not one bad day seen
    alone, _, _ = availability_tiers(quiet_req, quiet_err)
    # The fleet's experience: one bad day in twenty, at 5% errors.
    fleet_req = np.full((50, days), 24_000.0)
    fleet_err = fleet_req * 0.0005
    fleet_err[:, ::20] += fleet_req[:, ::20] * 0.05
    pool = fleet_excess_pool(fleet_req, fleet_err)
    assert pool.max() == pytest.approx(0.05) and np.median(pool) == 0.0
    guarded, _, _ = availability_tiers(quiet_req, quiet_err, fleet_excess=pool)
    assert guarded["balanced"].target < alone["balanced"].target
    assert alone["balanced"].target == pytest.approx(99.95, abs=0.001)


def test_throttled_services_get_a_wider_latency_margin(fleet) -> None:  # type: ignore[no-untyped-def]
    """The generated fleet's CPU throttling reaches the recommendation through `sli_hourly`."""
    from datetime import timedelta

    import polars as pl

    from analytics.service_recommendation import recommend_service
    from synthetic_fleet.telemetry import hourly_frame

    frame = hourly_frame(fleet)
    hours = [fleet.start + timedelta(hours=h) for h in range(fleet.steps // fleet.steps_per_hour)]
    truth = fleet.truth["services"]
    by_throttling = sorted(fleet.services, key=lambda s: truth[s]["cpu_throttling_ratio"])
    calm, throttled = by_throttling[0], by_throttling[-1]
    assert (
        truth[calm]["cpu_throttling_ratio"] < 0.05 < 0.12 < truth[throttled]["cpu_throttling_ratio"]
    )
    margins = {}
    for service in (calm, throttled):
        rows = frame.filter(pl.col("service") == service)
        measured = float(rows["cpu_throttling"].mean())  # type: ignore[arg-type]
        assert measured == pytest.approx(truth[service]["cpu_throttling_ratio"], abs=1e-9)
        tiers, document = recommend_service(service, rows, hours, None, generated_at=END)
        assert tiers.cpu_throttling_ratio == pytest.approx(measured)
        margins[service] = tiers.latency_noise_margin
        summary = document["recommendations"][1]["explanation"]["summary"]
        assert f"{tiers.latency_noise_margin:.1%} noise margin" in summary
    assert margins[calm] == 0.05
    assert margins[throttled] > 0.05
    assert margins[throttled] == pytest.approx(
        noise_margin(truth[throttled]["cpu_throttling_ratio"])
    )


def test_noise_margin_grows_with_throttling_between_normal_and_high() -> None:
    assert noise_margin(0.0) == noise_margin(0.05) == 0.05
    assert noise_margin(0.15) == pytest.approx(0.075)
    assert noise_margin(0.25) == noise_margin(0.9) == pytest.approx(0.10)


def test_an_external_without_telemetry_takes_its_targets_from_its_published_sla() -> None:
    """Not the generic external archetype (99.5%): the SLA it publishes, less the adjustment
    the bound also assumes (99.99 → 99.89), and the text says where the number came from."""
    hours = 24 * 7
    silent = recommend_tiers(
        np.zeros(hours), np.zeros(hours), LATENCY_BUCKETS,
        np.zeros((hours, len(LATENCY_BUCKETS) + 1)), np.zeros(hours, dtype=bool),
        service_type="external", published_sla=99.99,
    )  # fmt: skip
    assert silent.cold_start and silent.availability_source == "published_sla"
    assert silent.availability["balanced"].target == 99.89
    assert "published SLA of 99.99%" in silent.data_quality.confidence_note
    generic = recommend_tiers(
        np.zeros(hours), np.zeros(hours), LATENCY_BUCKETS,
        np.zeros((hours, len(LATENCY_BUCKETS) + 1)), np.zeros(hours, dtype=bool),
        service_type="external",
    )  # fmt: skip
    assert generic.availability_source == "archetype"
    assert generic.availability["balanced"].target == 99.5


def test_the_shared_day_tables_are_gathered_from_without_a_copy() -> None:
    """`np.take` copies an index table it cannot use as is (read-only, say) on every call: at
    ~30 calls per service that copy was 60 % of a recommendation shard. numpy reports its
    buffers to tracemalloc, so a gather's peak shows whether the indices were copied."""
    values = np.random.default_rng(0).random(30 + 2000)
    for table in _index_tables(30, 2000, 0.25):
        tracemalloc.start()
        try:
            gathered = np.take(values, table)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert gathered.nbytes <= peak < gathered.nbytes + table.nbytes // 2
