"""Calls and failed calls per edge and hour from a real, backfilled Prometheus (the OTel service
graph connector's counters) match what the generator drew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from support.history import END

from analytics.sli_schema import EDGE_HOURLY_SCHEMA
from synthetic_fleet.telemetry import service_graph_hourly
from telemetry.prometheus_http import PrometheusClient
from telemetry.promql import MetricNames
from telemetry.service_graph_sources import PrometheusServiceGraphSource

DAY = (END - timedelta(days=2)).date()
DAY_START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)


def test_hourly_edges_cost_two_queries_and_match_the_truth(prometheus_fleet: Any) -> None:
    client = PrometheusClient(prometheus_fleet.url)
    frame = PrometheusServiceGraphSource(client, MetricNames()).fetch_hourly(DAY_START, 1)
    assert client.calls == 2  # calls and failed calls, fleet-wide, whatever the fleet size
    assert frame.schema == EDGE_HOURLY_SCHEMA
    expected = service_graph_hourly(prometheus_fleet.telemetry).filter(
        pl.col("hour").dt.date() == DAY
    )
    keys = ["client", "server", "hour"]
    assert frame.select(keys).sort(keys).equals(expected.select(keys).sort(keys))
    assert frame.height == len(prometheus_fleet.telemetry.edge_calls) * 24
    assert expected["failed"].sum() > 0

    joined = frame.join(expected, on=keys, suffix="_true")
    for column in ("calls", "failed"):
        measured = joined[column].to_numpy()
        true = joined[f"{column}_true"].to_numpy()
        # increase() over an hour of 15-minute samples: whole counts, exact up to
        # extrapolation (Prometheus 3 leaves the sample at t - 1h out and scales 45 → 60 min).
        assert np.abs(measured - true).max() <= np.maximum(1, 0.34 * true).max()
        busy = true >= 100
        assert float(np.median(measured[busy] / true[busy])) == pytest.approx(1.0, abs=0.02)
    daily = joined.group_by("client", "server").agg(pl.all().exclude("hour").sum())
    for row in daily.iter_rows(named=True):
        for column in ("calls", "failed"):
            true = row[f"{column}_true"]
            assert row[column] == pytest.approx(true, rel=0.05, abs=3), (row, column)


def test_hourly_edges_for_some_clients_only(prometheus_fleet: Any) -> None:
    telemetry = prometheus_fleet.telemetry
    wanted = sorted({client for client, _ in telemetry.edge_calls})[:2]
    source = PrometheusServiceGraphSource(PrometheusClient(prometheus_fleet.url), MetricNames())
    frame = source.fetch_hourly(DAY_START, 1, clients=wanted)
    assert set(frame["client"]) == set(wanted)
    pairs = {p for p in telemetry.edge_calls if p[0] in wanted}
    assert set(frame.select("client", "server").unique().iter_rows()) == pairs
    assert source.fetch_hourly(DAY_START, 1, clients=[]).is_empty()
