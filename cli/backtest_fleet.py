"""The backtest's fleets: recommend on a generated fleet's first window, keep the next one.

Kept apart from the CLI so the backtest and its test share one code path.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
from rich.console import Console

from analytics.composite_availability import Edge
from analytics.composite_inputs import (
    assumed_externals,
    composite_bounds,
    composite_inputs,
    exercised,
)
from analytics.intrinsic_availability import intrinsic_hourly, intrinsic_totals
from analytics.latency_histogram import LATENCY_BUCKETS
from analytics.slo_tiers import fleet_prior, recommend_tiers
from synthetic_fleet.telemetry import generate_telemetry, hourly_frame, service_graph_hourly
from synthetic_fleet.topology import generate_topology


def backtest_fleet(
    services: int, seed: int, train_days: int, test_days: int, console: Console
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """(targets[tier][service] in percent, test-window availability per service)."""
    topology = generate_topology(services, seed=seed)
    with console.status(f"drawing {train_days + test_days} days of telemetry"):
        telemetry = generate_telemetry(topology, days=train_days + test_days, seed=seed)
    per_hour = telemetry.steps_per_hour
    hours = telemetry.steps // per_hour
    split = train_days * 24
    requests = telemetry.requests.reshape(-1, hours, per_hour).sum(axis=2).astype(float)
    errors = telemetry.errors.reshape(-1, hours, per_hour).sum(axis=2).astype(float)
    kinds = {n["service_id"]: n["metadata"] for n in topology.nodes}
    edges = [
        Edge(e["source"], e["target"], e["attributes"]["communication_mode"],
             e["attributes"]["criticality"], e["attributes"].get("redundancy_group"))
        for e in topology.edges
    ]  # fmt: skip
    # The daily run's inputs over the training window: intrinsic availability (failed calls
    # from the service graph), then the one builder of the bound's inputs.
    cutoff = telemetry.start + timedelta(hours=split)
    sli = hourly_frame(telemetry).filter(pl.col("hour") < cutoff)
    calls = service_graph_hourly(telemetry).filter(pl.col("hour") < cutoff)
    totals = intrinsic_totals(intrinsic_hourly(sli, edges, calls, assumed_externals(kinds)))
    inputs = composite_inputs(totals, kinds)
    bounds = composite_bounds(inputs, exercised(edges, calls))
    externals = inputs.externals
    days_in = split // 24
    pool = fleet_prior(
        requests[:, :split].reshape(len(requests), days_in, 24).sum(axis=2),
        errors[:, :split].reshape(len(errors), days_in, 24).sum(axis=2),
    )
    targets: dict[str, dict[str, float]] = {"conservative": {}, "balanced": {}, "aggressive": {}}
    test_availability = {}
    with console.status("recommending"):
        for i, service in enumerate(telemetry.services):
            if service in externals:
                continue
            buckets = telemetry.bucket_counts(i).reshape(hours, per_hour, -1).sum(axis=1)
            tiers = recommend_tiers(
                requests[i, :split], errors[i, :split], LATENCY_BUCKETS, buckets[:split],
                np.ones(split, dtype=bool), composite_bound=bounds[service].composite_bound,
                service_type=kinds[service].get("service_type"), seed=i, fleet_excess=pool,
                absorbs=service in inputs.absorbs,
            )  # fmt: skip
            for tier, value in tiers.availability.items():
                targets[tier][service] = value.target
            test_availability[service] = 1 - errors[i, split:].sum() / max(
                1.0, requests[i, split:].sum()
            )
    return targets, test_availability
