"""Fleet-wide SLIs from a real, backfilled Prometheus match the generator's ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest
from sqlalchemy.engine import Engine
from support.history import END
from support.keys import make_key
from support.ports import free_port

from analytics.sli_schema import SLI_HOURLY_SCHEMA
from cli import prometheus_local
from pipelines.defs.telemetry.assets import sli_hourly
from pipelines.defs.telemetry.checks import sli_hourly_completeness, sli_hourly_counts_are_possible
from pipelines.resources import TelemetryResource
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn
from synthetic_fleet.telemetry import hourly_frame
from telemetry.prometheus_http import (
    CircuitBreaker,
    CircuitOpenError,
    PrometheusClient,
    PrometheusError,
    PrometheusQueryError,
)
from telemetry.promql import MetricNames
from telemetry.sli_sources import PrometheusSliSource

DAY = (END - timedelta(days=2)).date()


def test_a_day_costs_four_queries_and_matches_the_truth(
    prometheus_fleet: Any,
) -> None:
    client = PrometheusClient(prometheus_fleet.url)
    frame = PrometheusSliSource(client, MetricNames()).fetch_day(DAY)
    # Fleet-wide: one range query per metric (requests, errors, buckets, CPU throttling),
    # whatever the fleet size.
    assert client.calls == 4
    assert frame.schema == SLI_HOURLY_SCHEMA
    expected = hourly_frame(prometheus_fleet.telemetry).filter(pl.col("hour").dt.date() == DAY)
    assert set(frame["service"]) == set(expected["service"])
    assert frame["has_data"].all() and frame.height == expected.height

    joined = frame.join(expected, on=["service", "hour"], suffix="_true")
    # increase() extrapolates from 4 samples an hour: totals within a few percent.
    ratio = joined["requests"] / joined["requests_true"]
    assert float(np.median(ratio.to_numpy())) == pytest.approx(1.0, abs=0.02)
    daily = joined.group_by("service").agg(
        pl.col("requests").sum(),
        pl.col("errors").sum(),
        pl.col("requests_true").sum(),
        pl.col("errors_true").sum(),
    )
    for row in daily.iter_rows(named=True):
        measured = 1 - row["errors"] / row["requests"]
        true = 1 - row["errors_true"] / row["requests_true"]
        assert measured == pytest.approx(true, abs=max(2e-3, 0.1 * (1 - true))), row["service"]
    # Same buckets, scaled alike by extrapolation: latency quantiles agree closely.
    p99 = (joined["latency_p99"] / joined["latency_p99_true"]).to_numpy()
    assert np.nanmedian(np.abs(p99 - 1)) < 0.02
    # CPU throttling is a ratio of two counters: extrapolation cancels out.
    throttling = (joined["cpu_throttling"] - joined["cpu_throttling_true"]).abs()
    assert float(throttling.max()) < 0.01  # type: ignore[operator]
    heavy = joined.group_by("service").agg(pl.col("cpu_throttling").mean())
    assert heavy["cpu_throttling"].max() > 0.1  # type: ignore[operator]


def test_one_service_regeneration_uses_the_same_code_restricted(
    prometheus_fleet: Any,
) -> None:
    client = PrometheusClient(prometheus_fleet.url)
    service = prometheus_fleet.telemetry.services[3]
    frame = PrometheusSliSource(client, MetricNames()).fetch_day(DAY, services=[service])
    assert set(frame["service"]) == {service} and frame.height == 24


def test_materialize_two_partitions_from_prometheus(
    prometheus_fleet: Any, engine: Engine, materialize_day: Any
) -> None:
    payload = DependencyGraphIn.model_validate(prometheus_fleet.topology.to_payload())
    ingest_graph(engine, payload.to_submission(), stale_after=timedelta(days=7))
    telemetry = TelemetryResource(source="prometheus", prometheus_url=prometheus_fleet.url)
    for day in (DAY.isoformat(), (DAY + timedelta(days=1)).isoformat()):
        result = materialize_day(
            [sli_hourly, sli_hourly_counts_are_possible, sli_hourly_completeness], telemetry, day
        )
        assert result.success
        assert all(c.passed for c in result.get_asset_check_evaluations())
        written = pl.read_parquet(materialize_day.warehouse / "sli_hourly" / f"{day}.parquet")
        instrumented = {
            n["service_id"]
            for n in prometheus_fleet.topology.nodes
            if n["metadata"]["service_type"] != "external"
        }
        assert set(written["service"]) >= instrumented
        assert written.filter(pl.col("service").is_in(list(instrumented)))["has_data"].all()
        callers = {
            e["source"]
            for e in prometheus_fleet.topology.edges
            if e["attributes"]["communication_mode"] == "sync"
            and e["attributes"]["criticality"] == "hard"
        }
        assert_matches_truth(written, prometheus_fleet.telemetry.truth, day, callers)


def assert_matches_truth(
    written: pl.DataFrame, truth: dict[str, Any], day: str, callers: set[str]
) -> None:
    """Services no incident or bad deploy touched that day, and whose hard dependencies'
    failures do not reach them (they have none), show truth.json's error rate."""
    touched = {
        name
        for incident in truth["incidents"]
        if incident["start"][:10] <= day <= incident["end"][:10]
        for name in (incident["service"], *incident["propagated_to"])
    } | {
        r["service"]
        for r in truth["deploy_regressions"]
        if r["deployed_at"][:10] <= day <= r["rolled_back_at"][:10]
    }
    daily = written.group_by("service").agg(pl.col("requests").sum(), pl.col("errors").sum())
    checked = 0
    for service, requests, errors in daily.iter_rows():
        if service in touched or service in callers or service not in truth["services"]:
            continue
        p = truth["services"][service]["baseline_error_rate"]
        # Binomial sampling error, widened for increase()'s extrapolation from 4 samples/hour.
        assert abs(errors - requests * p) <= 6 * (requests * p) ** 0.5 + 0.05 * requests * p + 3
        checked += 1
    assert checked >= 5


def test_a_bad_query_is_reported_at_once_not_retried(
    prometheus_fleet: Any,
) -> None:
    sleeps: list[float] = []
    client = PrometheusClient(prometheus_fleet.url, sleep=sleeps.append)
    with pytest.raises(PrometheusQueryError, match="parse error"):
        client.query("sum by (service) (rate(", prometheus_fleet.telemetry.start)
    assert sleeps == [] and client.calls == 1


def test_outage_retries_then_opens_the_circuit_with_a_clear_error(
    prometheus_binaries: None, tmp_path: Path
) -> None:
    """Prometheus stopped: bounded retries with backoff, then an open circuit; never a hang."""
    server = prometheus_local.start(tmp_path / "tsdb", port=free_port())
    assert httpx.get(f"{server.url}/-/ready").status_code == 200
    server.stop()

    # One query: bounded retries with the documented backoff, then a clear error.
    sleeps: list[float] = []
    single = PrometheusClient(server.url, timeout_s=1.0, sleep=sleeps.append)
    with pytest.raises(PrometheusError, match="did not answer after 4 attempts"):
        single.query("up", datetime.now(UTC))
    assert sleeps == [1.0, 2.0, 4.0]

    # A day partition (4 concurrent queries): the 10th consecutive failure opens the circuit,
    # and from then on calls are refused at once, without touching the network.
    sleeps.clear()
    breaker = CircuitBreaker(failure_threshold=10, reset_after_s=30.0)
    client = PrometheusClient(server.url, timeout_s=1.0, sleep=sleeps.append, breaker=breaker)
    source = PrometheusSliSource(client, MetricNames())
    with pytest.raises(PrometheusError):
        source.fetch_day(DAY)
    assert breaker.state == "open"
    assert 10 <= client.calls <= 13  # the threshold, plus those already in flight
    assert set(sleeps) <= {1.0, 2.0, 4.0}
    calls = client.calls
    with pytest.raises(CircuitOpenError, match="circuit open"):
        source.fetch_day(DAY)
    assert client.calls == calls


def test_edges_discovered_from_traces_are_merged_and_divergences_reported(
    prometheus_fleet: Any, engine: Engine, materialize_day: Any
) -> None:
    from pipelines.defs.graph.assets import observed_service_graph
    from store.dependency_traversal import dependency_subgraph

    payload = DependencyGraphIn.model_validate(prometheus_fleet.topology.to_payload())
    ingest_graph(engine, payload.to_submission(), stale_after=timedelta(days=3650))
    truth = prometheus_fleet.telemetry.truth
    result = materialize_day(
        [observed_service_graph],
        TelemetryResource(source="prometheus", prometheus_url=prometheus_fleet.url),
        DAY.isoformat(),
        stale_edge_hours=24 * 3650,
    )
    assert result.success
    metadata = result.asset_materializations_for_node("observed_service_graph")[0].metadata
    observed = pl.read_parquet(
        materialize_day.warehouse / "observed_service_graph" / f"{DAY.isoformat()}.parquet"
    )
    assert (
        metadata["edges_observed"].value
        == observed.height
        == len(prometheus_fleet.telemetry.edge_calls)
    )
    assert observed["confidence"].is_between(0.5, 0.9).all()
    # Every hidden dependency the generator planted is found, and nothing else is.
    assert metadata["called_but_undeclared"].value == len(truth["undeclared_calls"])
    assert metadata["otel_rows_created"].value == observed.height  # first trace ingestion
    # Dead declarations are found for callers that traces do see.
    callers_seen = set(observed["client"])
    planted = [p for p in truth["uncalled_declared_edges"] if p[0] in callers_seen]
    assert metadata["declared_but_never_called"].value >= len(planted)
    # The traced edge now backs the declared one: two sources, combined confidence.
    client, server = observed.row(0)[:2]
    edge = next(
        e
        for e in dependency_subgraph(engine, client, direction="downstream", depth=1).edges
        if e["target"] == server
    )
    if (client, server) in {tuple(p) for p in truth["undeclared_calls"]}:
        assert edge["discovery_sources"] == ["otel_service_graph"]
    else:
        assert edge["discovery_sources"] == ["manual", "otel_service_graph"]
        assert edge["effective_source"] == "manual"


def test_force_regenerate_from_prometheus_and_stale_when_it_is_down_ac008(
    prometheus_fleet: Any, engine: Engine, settings: Any
) -> None:
    from fastapi.testclient import TestClient

    from serving.main import create_app

    payload = DependencyGraphIn.model_validate(prometheus_fleet.topology.to_payload())
    ingest_graph(engine, payload.to_submission(), stale_after=timedelta(days=3650))
    caller = next(  # a service with hard sync dependencies (a BFF first)
        e["source"]
        for e in sorted(
            prometheus_fleet.topology.edges, key=lambda e: not e["source"].endswith("-bff")
        )
        if e["attributes"]["communication_mode"] == "sync"
        and e["attributes"]["criticality"] == "hard"
    )
    url = f"/api/v1/services/{caller}/slo-recommendations"
    live = settings.model_copy(
        update={"telemetry": "prometheus", "prometheus_url": prometheus_fleet.url}
    )
    key = {"X-API-Key": make_key(settings)}
    with TestClient(create_app(live), headers=key) as client:
        fresh = client.get(url, params={"force_regenerate": True, "lookback_days": 7})
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert body["stale"] is False and body["provenance"]["regenerated_on_demand"] is True
    impact = next(r for r in body["recommendations"] if r["sli_type"] == "availability")
    assert impact["explanation"]["dependency_impact"]["distinct_hard_dependencies"] > 0
    assert body["provenance"]["services_queried"] > 1
    # Its own share, estimated from the failed calls Prometheus holds, meets the generator's
    # truth (the whole history lies inside the lookback), and is above what it delivered.
    telemetry = prometheus_fleet.telemetry
    i = telemetry.services.index(caller)
    requests = float(telemetry.requests[i].sum())
    delivered = 1 - float(telemetry.errors[i].sum()) / requests
    own = telemetry.truth["services"][caller]["own_availability"]
    estimate = impact["explanation"]["intrinsic_availability"]
    sigma = (own * (1 - own) / requests) ** 0.5
    assert abs(estimate - own) <= 4 * sigma + 0.1 * (1 - own), (estimate, own, delivered)
    assert estimate > delivered

    down = settings.model_copy(
        update={
            "telemetry": "prometheus",
            "prometheus_url": f"http://127.0.0.1:{free_port()}",
            "prometheus_retries": 0,
            "prometheus_timeout_s": 1.0,
        }
    )
    with TestClient(create_app(down), raise_server_exceptions=False, headers=key) as client:
        stale = client.get(url, params={"force_regenerate": True, "lookback_days": 7})
        assert stale.status_code == 200, stale.text
        assert stale.json()["stale"] is True
        assert "Telemetry unavailable" in stale.json()["warnings"][0]
        assert stale.json()["recommendations"] == body["recommendations"]
        other = next(s for s in prometheus_fleet.telemetry.services if s != caller)
        never = client.get(
            f"/api/v1/services/{other}/slo-recommendations", params={"force_regenerate": True}
        )
        assert never.status_code == 503
        assert never.headers["content-type"].startswith("application/problem+json")
