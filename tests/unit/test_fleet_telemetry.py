"""Synthetic telemetry: what the generator says it drew is what the data shows."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy.stats import lognorm

from analytics.fleet_telemetry import (
    PROPAGATION_FACTOR,
    SLI_HOURLY_SCHEMA,
    generate_telemetry,
    hourly_frame,
    openmetrics_lines,
)
from analytics.fleet_topology import generate_topology
from analytics.latency_histogram import LATENCY_BUCKETS, histogram_quantile

END = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleet():  # type: ignore[no-untyped-def]
    topology = generate_topology(80, seed=11)
    return topology, generate_telemetry(topology, days=14, seed=11, end=END)


def test_deterministic_by_seed() -> None:
    topology = generate_topology(20, seed=1)
    a = generate_telemetry(topology, days=2, seed=5, end=END)
    b = generate_telemetry(topology, days=2, seed=5, end=END)
    c = generate_telemetry(topology, days=2, seed=6, end=END)
    assert np.array_equal(a.requests, b.requests) and a.truth == b.truth
    assert not np.array_equal(a.requests, c.requests)


def test_hourly_frame_has_the_sli_schema_and_adds_up(fleet) -> None:  # type: ignore[no-untyped-def]
    _, telemetry = fleet
    frame = hourly_frame(telemetry)
    assert frame.schema == SLI_HOURLY_SCHEMA
    assert frame.height == 80 * 14 * 24
    assert frame["hour"].min() == END - timedelta(days=14)
    assert frame.filter(pl.col("errors") > pl.col("requests")).is_empty()
    totals = frame.group_by("service").agg(pl.col("requests").sum(), pl.col("errors").sum())
    for row in totals.iter_rows(named=True):
        truth = telemetry.truth["services"][row["service"]]
        assert truth["realized_availability"] == pytest.approx(1 - row["errors"] / row["requests"])
    buckets = np.stack(frame["latency_buckets"].to_numpy())
    assert (np.diff(buckets, axis=1) >= 0).all()
    assert (buckets[:, -1] == frame["requests"].to_numpy()).all()


def quiet_steps(telemetry, service: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Steps in which no incident, propagated incident or bad deploy touched the service."""
    quiet = np.ones(telemetry.steps, dtype=bool)
    windows = [
        (i["start"], i["end"])
        for i in telemetry.truth["incidents"]
        if service == i["service"] or service in i["propagated_to"]
    ] + [
        (r["deployed_at"], r["rolled_back_at"])
        for r in telemetry.truth["deploy_regressions"]
        if r["service"] == service
    ]
    for start, end in windows:
        lo = (datetime.fromisoformat(start) - telemetry.start).total_seconds()
        hi = (datetime.fromisoformat(end) - telemetry.start).total_seconds()
        quiet[int(lo) // telemetry.step_seconds : int(hi) // telemetry.step_seconds] = False
    return quiet


def test_quiet_periods_show_the_true_error_rate(fleet) -> None:  # type: ignore[no-untyped-def]
    _, telemetry = fleet
    for i, service in enumerate(telemetry.services):
        mask = quiet_steps(telemetry, service)
        n, k = telemetry.requests[i, mask].sum(), telemetry.errors[i, mask].sum()
        p = telemetry.truth["services"][service]["baseline_error_rate"]
        assert abs(k - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 2, service


def test_latency_quantiles_match_the_drawn_distribution(fleet) -> None:  # type: ignore[no-untyped-def]
    _, telemetry = fleet
    bounds = [0.0, *LATENCY_BUCKETS]
    for i, service in enumerate(telemetry.services):
        mask = quiet_steps(telemetry, service)
        cumulative = telemetry.bucket_counts(i)[mask].sum(axis=0)
        p50 = histogram_quantile(0.5, LATENCY_BUCKETS, cumulative)[0]
        true_median = telemetry.truth["services"][service]["latency_median_s"]
        # The estimate lies in the histogram bucket that holds the true median.
        b = int(np.searchsorted(LATENCY_BUCKETS, true_median))
        assert bounds[b] <= p50 <= LATENCY_BUCKETS[min(b, len(LATENCY_BUCKETS) - 1)], service


def test_traffic_has_daily_and_weekly_seasonality(fleet) -> None:  # type: ignore[no-untyped-def]
    _, telemetry = fleet
    frame = hourly_frame(telemetry).with_columns(
        pl.col("hour").dt.hour().alias("h"), pl.col("hour").dt.weekday().alias("wd")
    )
    by_hour = frame.group_by("h").agg(pl.col("requests").sum()).sort("h")["requests"]
    assert by_hour[14] > 1.5 * by_hour[2]
    weekend = frame.filter(pl.col("wd") >= 6)["requests"].mean()
    weekday = frame.filter(pl.col("wd") < 6)["requests"].mean()
    assert weekend < 0.85 * weekday  # type: ignore[operator]


def test_incidents_propagate_to_hard_callers(fleet) -> None:  # type: ignore[no-untyped-def]
    topology, telemetry = fleet
    index = {s: i for i, s in enumerate(telemetry.services)}
    hard_callers = defaultdict(set)
    for e in topology.edges:
        a = e["attributes"]
        if a["communication_mode"] == "sync" and a["criticality"] == "hard":
            hard_callers[e["target"]].add(e["source"])
    propagated = [i for i in telemetry.truth["incidents"] if i["propagated_to"]]
    assert propagated
    for incident in propagated:
        first_hop = incident["propagated_to"][0]
        assert first_hop in hard_callers[incident["service"]]
        lo = int((datetime.fromisoformat(incident["start"]) - telemetry.start).total_seconds())
        hi = int((datetime.fromisoformat(incident["end"]) - telemetry.start).total_seconds())
        window = slice(lo // telemetry.step_seconds, hi // telemetry.step_seconds)
        i = index[first_hop]
        rate = telemetry.errors[i, window].sum() / max(1, telemetry.requests[i, window].sum())
        baseline = telemetry.truth["services"][first_hop]["baseline_error_rate"]
        assert rate > baseline + 0.5 * incident["error_rate_added"] * PROPAGATION_FACTOR


def test_service_graph_calls_include_divergences(fleet) -> None:  # type: ignore[no-untyped-def]
    topology, telemetry = fleet
    declared = {(e["source"], e["target"]) for e in topology.edges}
    called = set(telemetry.edge_calls)
    assert {tuple(p) for p in telemetry.truth["undeclared_calls"]} == called - declared
    assert {tuple(p) for p in telemetry.truth["uncalled_declared_edges"]} <= declared - called


def test_openmetrics_text_is_well_formed(fleet) -> None:  # type: ignore[no-untyped-def]
    _, telemetry = fleet
    lines = "".join(openmetrics_lines(telemetry)).splitlines()
    assert lines[-1] == "# EOF"
    families = [ln.split()[2] for ln in lines if ln.startswith("# TYPE")]
    assert families == [
        "http_requests",
        "http_request_duration_seconds",
        "container_cpu_cfs_periods",
        "container_cpu_cfs_throttled_periods",
        "traces_service_graph_request",
    ]
    last: dict[str, tuple[float, float]] = {}
    seen_families: list[str] = []
    for line in lines:
        if line.startswith("#"):
            continue
        series, value, stamp = line.rsplit(" ", 2)
        name = series.split("{")[0]
        family = next(f for f in families if name.startswith(f))
        if not seen_families or seen_families[-1] != family:
            assert family not in seen_families  # each family written contiguously
            seen_families.append(family)
        if series in last:
            assert float(stamp) > last[series][1] and float(value) >= last[series][0]
        last[series] = (float(value), float(stamp))
    assert f'http_requests_total{{service="{telemetry.services[0]}",status="500"}}' in last


def test_histogram_quantile_follows_prometheus_interpolation() -> None:
    fine = np.geomspace(0.001, 20, 400)
    counts = np.append(lognorm.cdf(fine, 0.6, scale=0.05), 1.0) * 1e6
    for q in (0.5, 0.9, 0.99):
        assert histogram_quantile(q, list(fine), counts)[0] == pytest.approx(
            lognorm.ppf(q, 0.6, scale=0.05), rel=0.02
        )
    # Rank in the +Inf bucket: the highest finite bound, as Prometheus answers.
    assert histogram_quantile(0.99, [0.1, 0.2], [[0, 50, 100]])[0] == 0.2
    assert math.isnan(histogram_quantile(0.5, [0.1], [[0, 0]])[0])
