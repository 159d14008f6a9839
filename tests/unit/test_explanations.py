"""Explanations: SHAP additivity over the fleet, counterfactuals that are the recommender's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from analytics import explanations
from analytics.composite_availability import Edge, composite_availability
from analytics.explanations import (
    AVAILABILITY_FEATURES,
    attribute_fleet,
    availability_counterfactuals,
    explain_fleet,
    latency_counterfactuals,
)
from analytics.latency_histogram import LATENCY_BUCKETS
from analytics.service_recommendation import recommend_service
from analytics.slo_tiers import TierSet, fleet_prior, recommend_tiers
from synthetic_fleet.telemetry import generate_telemetry, hourly_frame
from synthetic_fleet.topology import generate_topology

END = datetime(2026, 11, 23, tzinfo=UTC)
DAYS = 14


@pytest.fixture(scope="module")
def fleet():  # type: ignore[no-untyped-def]
    topology = generate_topology(60, seed=21)
    telemetry = generate_telemetry(topology, days=DAYS, seed=21, end=END)
    frame = hourly_frame(telemetry)
    edges = [
        Edge(e["source"], e["target"], e["attributes"]["communication_mode"],
             e["attributes"]["criticality"], e["attributes"].get("redundancy_group"))
        for e in topology.edges
    ]  # fmt: skip
    totals = frame.group_by("service").agg(pl.col("requests").sum(), pl.col("errors").sum())
    observed = {s: 1 - e / r for s, r, e in totals.iter_rows()}
    bounds = composite_availability(observed, edges)
    hours = [END - timedelta(days=DAYS) + timedelta(hours=h) for h in range(DAYS * 24)]
    documents = []
    for service in telemetry.services:
        _, document = recommend_service(
            service, frame.filter(pl.col("service") == service), hours, bounds.get(service),
            generated_at=END,
        )  # fmt: skip
        documents.append(document)
    return telemetry, documents


def test_shap_attributions_add_up_to_prediction_minus_base_value(fleet) -> None:  # type: ignore[no-untyped-def]
    _, documents = fleet
    fits = attribute_fleet(documents)
    assert set(fits) == {"availability_r2", "latency_r2"}
    assert fits["latency_r2"] > 0.9  # latency targets are nearly a formula of the p99
    checked = 0
    for document in documents:
        if "model_inputs" not in document:
            continue
        for recommendation in document["recommendations"]:
            explanation = recommendation["explanation"]
            model = explanation["attribution_model"]
            total = sum(a["contribution"] for a in explanation["feature_attribution"])
            assert total == pytest.approx(model["prediction"] - model["base_value"], abs=1e-5)
            shares = [a["share"] for a in explanation["feature_attribution"]]
            assert sum(shares) == pytest.approx(1.0, abs=1e-3)
            magnitudes = [abs(a["contribution"]) for a in explanation["feature_attribution"]]
            assert magnitudes == sorted(magnitudes, reverse=True)
            checked += 1
    assert checked >= 100


def test_explain_fleet_is_exactly_additive_and_finds_the_driving_feature() -> None:
    rng = np.random.default_rng(3)
    rows = [{f: float(rng.normal()) for f in AVAILABILITY_FEATURES} for _ in range(300)]
    targets = [3 + 0.8 * r["historical_availability_nines"] + 0.1 * r["call_chain_depth"]
               for r in rows]  # fmt: skip
    explained = explain_fleet(rows, targets, AVAILABILITY_FEATURES, unit="nines")
    assert explained is not None
    np.testing.assert_allclose(
        explained.contributions.sum(axis=1), explained.predictions - explained.base_value,
        atol=1e-6,  # TreeSHAP sums in float32 inside the trees
    )  # fmt: skip
    mean_abs = np.abs(explained.contributions).mean(axis=0)
    assert AVAILABILITY_FEATURES[int(mean_abs.argmax())] == "historical_availability_nines"
    assert explain_fleet(rows[:10], targets[:10], AVAILABILITY_FEATURES, unit="nines") is None


def test_reported_r2_is_out_of_sample() -> None:
    rng = np.random.default_rng(5)
    rows = [{f: float(rng.normal()) for f in AVAILABILITY_FEATURES} for _ in range(300)]
    noise = [float(v) for v in rng.normal(size=300)]
    explained = explain_fleet(rows, noise, AVAILABILITY_FEATURES, unit="nines")
    assert explained is not None
    y = np.asarray(noise)
    in_sample = 1 - ((y - explained.predictions) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert in_sample > 0.5  # the trees memorise noise...
    assert explained.r2 <= 0.2  # ...which cross-validation does not credit
    assert explained.r2_rows == 300
    smooth = [2 + np.sin(r["dependency_bound_nines"]) for r in rows]
    explained = explain_fleet(rows, smooth, AVAILABILITY_FEATURES, unit="nines")
    assert explained is not None and explained.r2 > 0.8


def test_cross_validation_runs_on_a_deterministic_sample_of_a_large_fleet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(explanations, "CV_MAX_ROWS", 40)
    rng = np.random.default_rng(6)
    rows = [{f: float(rng.normal()) for f in AVAILABILITY_FEATURES} for _ in range(120)]
    targets = [r["call_chain_depth"] for r in rows]
    first = explain_fleet(rows, targets, AVAILABILITY_FEATURES, unit="nines")
    again = explain_fleet(rows, targets, AVAILABILITY_FEATURES, unit="nines")
    assert first is not None and again is not None
    assert first.r2_rows == 40 and first.r2 == again.r2
    assert len(first.predictions) == 120  # attributions still cover the whole fleet
    block = explanations.attribution_of(first, 0, AVAILABILITY_FEATURES, rows[0])
    model = block["attribution_model"]
    assert model["fleet_r2"] == model["fleet_r2_out_of_sample"] == round(first.r2, 4)
    assert model["r2_method"] == "5-fold cross-validated" and model["r2_rows"] == 40


def _hourly(telemetry, i: int):  # type: ignore[no-untyped-def]
    per_hour = telemetry.steps_per_hour
    hours = telemetry.steps // per_hour
    requests = telemetry.requests[i].reshape(hours, per_hour).sum(axis=1).astype(float)
    errors = telemetry.errors[i].reshape(hours, per_hour).sum(axis=1).astype(float)
    buckets = telemetry.bucket_counts(i).reshape(hours, per_hour, -1).sum(axis=1)
    return requests, errors, buckets


def test_counterfactuals_equal_rerunning_the_recommender(fleet) -> None:  # type: ignore[no-untyped-def]
    """Every what-if is the recommender's own answer on the changed input, fleet prior
    included: the history ones re-run the bootstrap, the dependency ones the bound's cap."""
    telemetry, _ = fleet
    requests, errors, buckets = _hourly(telemetry, 5)
    ones = np.ones(len(requests))
    days = len(requests) // 24
    prior = fleet_prior(
        np.stack([requests[: days * 24].reshape(days, 24).sum(axis=1)] * 3),
        np.stack([errors[: days * 24].reshape(days, 24).sum(axis=1) * k for k in (1, 2, 4)]),
    )

    def run(scale: float, bound: float | None, success: float = 1.0,
            interval: bool = False) -> TierSet:  # fmt: skip
        changed = np.clip(requests - (requests - errors * scale) * success, 0.0, requests)
        return recommend_tiers(requests, changed, LATENCY_BUCKETS, buckets, ones,
                               composite_bound=bound, fleet_excess=prior, seed=7,
                               with_interval=interval)  # fmt: skip

    free = run(1.0, None)
    assert free.observed_availability is not None
    # A made-up chain: the service (at its own availability) and one weak dependency.
    composite = composite_availability(
        {"svc": free.observed_availability, "dep": 0.98}, [Edge("svc", "dep")]
    )["svc"]
    tiers = run(1.0, composite.composite_bound, interval=True)
    answers = availability_counterfactuals(
        tiers, composite, rerun=lambda e, b, k, _: run(e, b, k).availability["balanced"].target
    )
    history = {
        a["condition"]: a for a in answers if a["feature"] == "historical_availability_nines"
    }
    own = composite.self_availability
    for scale, wording in ((0.5, "50% fewer"), (1.5, "50% more")):
        answer = next(a for c, a in history.items() if wording in c)
        scaled_bound = composite.composite_bound * (1 - (1 - own) * scale) / own
        rerun = run(scale, scaled_bound)
        assert answer["balanced_target"] == rerun.availability["balanced"].target
    for answer in (a for a in answers if a.get("dependency") == "dep"):
        new = 0.998 if "improved" in answer["condition"] else 0.8
        rerun = run(1.0, composite.composite_bound * new / 0.98, new / 0.98)
        assert answer["balanced_target"] == rerun.availability["balanced"].target
    degraded = next(a for a in answers if "dep degraded" in a["condition"])
    assert degraded["delta"] < 0 and "decrease" in degraded["result"]
    fewer = next(a for a in answers if "50% fewer" in a["condition"])
    assert fewer["delta"] > 0 and "increase" in fewer["result"]

    latency = latency_counterfactuals(tiers)
    faster = next(a for a in latency if "faster" in a["condition"])
    assert faster["balanced_target_ms"] < tiers.latency["balanced"].target_ms


def test_a_redundancy_group_gets_what_ifs_on_its_members() -> None:
    """A group is a dependency too: its members are varied (a nine each), and degrading them
    lowers the target once the group's bound falls below it."""
    composite = composite_availability(
        {"svc": 0.9999, "a": 0.99, "b": 0.99},
        [Edge("svc", "a", redundancy_group="db"), Edge("svc", "b", redundancy_group="db")],
    )["svc"]
    group = composite.weakest_factors[0]
    assert group.kind == "redundancy_group" and group.members == ("a", "b")
    requests = np.full(24 * 14, 1000.0)
    errors = np.zeros(24 * 14)
    errors[::24] = 1.0
    buckets = np.tile(requests[:, np.newaxis], (1, len(LATENCY_BUCKETS) + 1))
    tiers = recommend_tiers(
        requests, errors, LATENCY_BUCKETS, buckets, np.ones(len(requests)),
        composite_bound=composite.composite_bound,
    )  # fmt: skip
    answers = [a for a in availability_counterfactuals(tiers, composite) if a.get("dependency")]
    assert {a["dependency"] for a in answers} == {"svc/db"}
    degraded = next(a for a in answers if "degraded" in a["condition"])
    assert "every member of svc/db (a, b)" in degraded["condition"]
    assert degraded["delta"] < 0


def test_cold_start_has_no_counterfactuals_nor_model_inputs() -> None:
    hours = [END - timedelta(hours=24 - h) for h in range(24)]
    rows = pl.DataFrame(
        {"hour": hours, "requests": [100] * 24, "errors": [0] * 24,
         "latency_buckets": [[0] * (len(LATENCY_BUCKETS) + 1)] * 24, "has_data": [True] * 24,
         "cpu_throttling": [None] * 24},
        schema_overrides={"hour": pl.Datetime("us", "UTC"), "cpu_throttling": pl.Float64},
    )  # fmt: skip
    tiers, document = recommend_service("new-svc", rows, hours, None, generated_at=END)
    assert tiers.cold_start and "model_inputs" not in document
    assert document["recommendations"][0]["explanation"]["counterfactuals"] == []
