"""Synthetic telemetry: what the generator says it drew is what the data shows."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy.stats import lognorm

from analytics.latency_histogram import LATENCY_BUCKETS, histogram_quantile
from analytics.sli_schema import EDGE_HOURLY_SCHEMA, SLI_HOURLY_SCHEMA
from synthetic_fleet.telemetry import (
    FleetTelemetry,
    generate_telemetry,
    hourly_frame,
    openmetrics_lines,
    service_graph_hourly,
)
from synthetic_fleet.topology import FleetTopology, generate_topology

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
    assert np.array_equal(a.errors, b.errors) and np.array_equal(a.own_errors, b.own_errors)
    assert a.edge_calls.keys() == b.edge_calls.keys() == a.edge_failed.keys()
    for pair in a.edge_calls:
        assert np.array_equal(a.edge_calls[pair], b.edge_calls[pair])
        assert np.array_equal(a.edge_failed[pair], b.edge_failed[pair])
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
    buckets = np.stack(list(frame["latency_buckets"].to_numpy()))
    assert (np.diff(buckets, axis=1) >= 0).all()
    assert (buckets[:, -1] == frame["requests"].to_numpy()).all()


def quiet_steps(telemetry, service: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Steps in which no incident (its own or a hard dependency's) or bad deploy touched it."""
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


def test_quiet_periods_show_the_true_own_error_rate(fleet) -> None:  # type: ignore[no-untyped-def]
    topology, telemetry = fleet
    hard = hard_dependencies(topology)
    for i, service in enumerate(telemetry.services):
        mask = quiet_steps(telemetry, service)
        n, own = telemetry.requests[i, mask].sum(), telemetry.own_errors[i, mask].sum()
        p = telemetry.truth["services"][service]["own_error_rate_baseline"]
        assert p == telemetry.truth["services"][service]["baseline_error_rate"]
        assert abs(own - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 2, service
        if not hard[service]:  # nothing to inherit: what it delivers is its own
            assert np.array_equal(telemetry.errors[i], telemetry.own_errors[i]), service


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


def test_incidents_propagate_fully_to_hard_callers(fleet) -> None:  # type: ignore[no-untyped-def]
    topology, telemetry = fleet
    index = {s: i for i, s in enumerate(telemetry.services)}
    hard = hard_dependencies(topology)
    propagated = [i for i in telemetry.truth["incidents"] if i["propagated_to"]]
    assert propagated
    for incident in propagated:
        first_hop = incident["propagated_to"][0]
        assert incident["service"] in hard[first_hop]
        lo = int((datetime.fromisoformat(incident["start"]) - telemetry.start).total_seconds())
        hi = int((datetime.fromisoformat(incident["end"]) - telemetry.start).total_seconds())
        window = slice(lo // telemetry.step_seconds, hi // telemetry.step_seconds)
        i = index[first_hop]
        # Requests the caller did not fail itself: a dependency's failure landing on one of
        # those is a new error (the hypergeometric composition), one landing on an own failure
        # is not (a caller's own incident may overlap the dependency's).
        good = (telemetry.requests[i, window] - telemetry.own_errors[i, window]).sum()
        inherited = (telemetry.errors[i, window] - telemetry.own_errors[i, window]).sum()
        # Not attenuated: every request called the failing service during the incident.
        added = incident["error_rate_added"]
        assert inherited >= good * added - 5 * math.sqrt(good * added), incident


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
        "traces_service_graph_request_failed",
    ]
    last: dict[str, tuple[float, float]] = {}
    seen_families: list[str] = []
    for line in lines:
        if line.startswith("#"):
            continue
        series, value, stamp = line.rsplit(" ", 2)
        name = series.split("{")[0]
        family = max((f for f in families if name.startswith(f)), key=len)
        if not seen_families or seen_families[-1] != family:
            assert family not in seen_families  # each family written contiguously
            seen_families.append(family)
        if series in last:
            assert float(stamp) > last[series][1] and float(value) >= last[series][0]
        last[series] = (float(value), float(stamp))
    assert f'http_requests_total{{service="{telemetry.services[0]}",status="500"}}' in last
    # The failed-call counter: one cumulative series per edge with calls, ending at its total.
    failed = {
        series: value
        for series, (value, _) in last.items()
        if series.startswith("traces_service_graph_request_failed_total")
    }
    assert len(failed) == len(telemetry.edge_calls)
    for (client, server), counts in telemetry.edge_failed.items():
        series = f'traces_service_graph_request_failed_total{{client="{client}",server="{server}"}}'
        assert failed[series] == counts.sum()


def test_openmetrics_failed_calls_are_cumulative_per_step(fleet) -> None:  # type: ignore[no-untyped-def]
    _, telemetry = fleet
    client, server = max(telemetry.edge_failed, key=lambda p: telemetry.edge_failed[p].sum())
    prefix = f'traces_service_graph_request_failed_total{{client="{client}",server="{server}"}} '
    text = "".join(openmetrics_lines(telemetry))
    values = [int(ln.split()[1]) for ln in text.splitlines() if ln.startswith(prefix)]
    assert values == np.cumsum(telemetry.edge_failed[(client, server)]).tolist()


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


def hard_dependencies(topology: FleetTopology) -> dict[str, set[str]]:
    """Declared hard sync dependencies per caller (redundancy groups included)."""
    hard: dict[str, set[str]] = defaultdict(set)
    for e in topology.edges:
        a = e["attributes"]
        if a["communication_mode"] == "sync" and a["criticality"] == "hard":
            hard[e["source"]].add(e["target"])
    return hard


def called_hard_edges(
    topology: FleetTopology, telemetry: FleetTelemetry
) -> tuple[dict[str, list[str]], dict[str, dict[str, list[str]]]]:
    """(caller -> hard deps without a group, caller -> group -> members), called edges only,
    the undeclared (hidden) hard calls included."""
    plain: dict[str, list[str]] = defaultdict(list)
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for e in topology.edges:
        a, pair = e["attributes"], (e["source"], e["target"])
        if a["communication_mode"] != "sync" or a["criticality"] != "hard":
            continue
        if pair not in telemetry.edge_calls:
            continue
        if a.get("redundancy_group"):
            groups[e["source"]][a["redundancy_group"]].append(e["target"])
        else:
            plain[e["source"]].append(e["target"])
    for source, target in telemetry.truth["undeclared_calls"]:  # hidden hard dependencies
        plain[source].append(target)
    return plain, groups


def failure_ratio(telemetry: FleetTelemetry, service: str, own: bool = False) -> np.ndarray:
    i = telemetry.services.index(service)
    counts = telemetry.own_errors[i] if own else telemetry.errors[i]
    return np.asarray(counts / np.maximum(telemetry.requests[i], 1), dtype=np.float64)


def test_hard_edges_call_on_every_request_and_fail_like_the_dependency(fleet) -> None:  # type: ignore[no-untyped-def]
    topology, telemetry = fleet
    plain, _ = called_hard_edges(topology, telemetry)
    at_own_rate = {tuple(p) for p in telemetry.truth["cycle_calls_at_own_rate"]}
    # Inside hard sync cycles only: a simple cycle needs one call at the callee's own rate.
    assert len(at_own_rate) <= len(topology.cycles)
    checked = 0
    for caller, deps in plain.items():
        requests = telemetry.requests[telemetry.services.index(caller)]
        for dep in deps:
            calls, failed = (
                telemetry.edge_calls[(caller, dep)],
                telemetry.edge_failed[(caller, dep)],
            )
            assert np.array_equal(calls, requests)
            assert (failed <= calls).all()
            ratio = failure_ratio(telemetry, dep, own=(caller, dep) in at_own_rate)
            expected = (calls * ratio).sum()
            spread = math.sqrt((calls * ratio * (1 - ratio)).sum())
            assert abs(failed.sum() - expected) <= 5 * spread + 3, (caller, dep)
            # Over the window, failed / calls ≈ the dependency's delivered failure ratio.
            i = telemetry.services.index(dep)
            delivered = telemetry.errors[i].sum() / telemetry.requests[i].sum()
            if (caller, dep) not in at_own_rate:
                assert failed.sum() / calls.sum() == pytest.approx(
                    delivered, rel=0.1, abs=5 * math.sqrt(delivered / calls.sum()) + 1e-6
                )
            checked += 1
    assert checked > 50


def test_redundancy_groups_balance_calls_and_fail_only_with_the_failover(fleet) -> None:  # type: ignore[no-untyped-def]
    topology, telemetry = fleet
    _, groups = called_hard_edges(topology, telemetry)
    assert groups
    for caller, by_group in groups.items():
        requests = telemetry.requests[telemetry.services.index(caller)]
        for members in by_group.values():
            calls = [telemetry.edge_calls[(caller, m)] for m in members]
            assert np.array_equal(np.sum(calls, axis=0), requests)
            for m, c in zip(members, calls, strict=True):
                assert c.sum() == pytest.approx(requests.sum() / len(members), rel=0.01)
                failed = telemetry.edge_failed[(caller, m)]
                ratio = failure_ratio(telemetry, m)
                spread = math.sqrt((c * ratio).sum())
                assert abs(failed.sum() - (c * ratio).sum()) <= 5 * spread + 3, (caller, m)


def test_delivered_availability_is_own_times_hard_dependencies(fleet) -> None:  # type: ignore[no-untyped-def]
    """Full propagation: R_delivered = R_own × Π (1 − failed/calls) over direct hard deps
    (a redundancy group: 1 − Π of its members' failure ratios), per step, within sampling."""
    topology, telemetry = fleet
    plain, groups = called_hard_edges(topology, telemetry)
    assert (telemetry.errors >= telemetry.own_errors).all()
    assert (telemetry.errors <= telemetry.requests).all()
    checked = 0
    for i, service in enumerate(telemetry.services):
        requests = telemetry.requests[i].astype(float)
        safe = np.maximum(requests, 1)
        good = 1 - telemetry.own_errors[i] / safe
        for dep in plain.get(service, []):
            good *= 1 - telemetry.edge_failed[(service, dep)] / safe
        for members in groups.get(service, {}).values():
            good *= 1 - np.prod([failure_ratio(telemetry, m) for m in members], axis=0)
        expected_errors = (requests * (1 - good)).sum()
        spread = math.sqrt((requests * good * (1 - good)).sum())
        errors = telemetry.errors[i].sum()
        assert abs(errors - expected_errors) <= 5 * spread + 3, service
        if service in plain or service in groups:
            checked += 1
            # Over the whole window the product of the window ratios is close too (not equal:
            # dependencies sharing an incident fail together, a covariance the product misses).
            own = telemetry.truth["services"][service]["own_availability"]
            product = own * np.prod(
                [
                    1 - telemetry.edge_failed[(service, d)].sum() / requests.sum()
                    for d in plain.get(service, [])
                ]
            )
            if service not in groups:
                delivered = telemetry.truth["services"][service]["realized_availability"]
                assert delivered == pytest.approx(product, abs=0.15 * (1 - product) + 1e-4)
            assert errors > telemetry.own_errors[i].sum() or not plain.get(service)
    assert checked > 30


def test_soft_and_undeclared_calls_fail_like_the_dependency(fleet) -> None:  # type: ignore[no-untyped-def]
    topology, telemetry = fleet
    hard = {
        (e["source"], e["target"])
        for e in topology.edges
        if e["attributes"]["communication_mode"] == "sync"
        and e["attributes"]["criticality"] == "hard"
    }
    hidden = {tuple(p) for p in telemetry.truth["undeclared_calls"]}
    partial = [p for p in telemetry.edge_calls if p not in hard | hidden]
    assert partial
    for caller, dep in partial:
        calls, failed = telemetry.edge_calls[(caller, dep)], telemetry.edge_failed[(caller, dep)]
        requests = telemetry.requests[telemetry.services.index(caller)]
        assert (calls <= requests).all() and 0.04 < calls.sum() / requests.sum() < 0.51
        ratio = failure_ratio(telemetry, dep)
        assert abs(failed.sum() - (calls * ratio).sum()) <= 5 * math.sqrt((calls * ratio).sum()) + 3


def test_truth_tells_the_own_availability(fleet) -> None:  # type: ignore[no-untyped-def]
    _, telemetry = fleet
    for i, service in enumerate(telemetry.services):
        truth = telemetry.truth["services"][service]
        own = 1 - telemetry.own_errors[i].sum() / telemetry.requests[i].sum()
        assert truth["own_availability"] == pytest.approx(own, abs=1e-12)
        delivered = 1 - telemetry.errors[i].sum() / telemetry.requests[i].sum()
        assert truth["realized_availability"] == pytest.approx(delivered, abs=1e-12)
        assert truth["own_availability"] >= truth["realized_availability"]


def test_service_graph_hourly_adds_up(fleet) -> None:  # type: ignore[no-untyped-def]
    _, telemetry = fleet
    frame = service_graph_hourly(telemetry)
    assert frame.schema == EDGE_HOURLY_SCHEMA
    assert frame.height == len(telemetry.edge_calls) * 14 * 24
    assert frame["hour"].min() == END - timedelta(days=14)
    assert frame["hour"].max() == END - timedelta(hours=1)
    assert frame.filter(pl.col("failed") > pl.col("calls")).is_empty()
    totals = frame.group_by("client", "server").agg(pl.col("calls").sum(), pl.col("failed").sum())
    for client, server, calls, failed in totals.iter_rows():
        assert calls == telemetry.edge_calls[(client, server)].sum()
        assert failed == telemetry.edge_failed[(client, server)].sum()
    client, server = next(iter(telemetry.edge_calls))
    first_hour = frame.filter((pl.col("client") == client) & (pl.col("server") == server)).sort(
        "hour"
    )["calls"][0]
    assert first_hour == telemetry.edge_calls[(client, server)][: telemetry.steps_per_hour].sum()


def test_parquet_source_reads_the_hourly_edges_back(fleet, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from telemetry.service_graph_sources import ParquetServiceGraphSource

    _, telemetry = fleet
    frame = service_graph_hourly(telemetry)
    (tmp_path / "service_graph_hourly").mkdir()
    for (day,), part in frame.group_by(frame["hour"].dt.date(), maintain_order=True):
        part.write_parquet(tmp_path / "service_graph_hourly" / f"{day}.parquet")
    source = ParquetServiceGraphSource(tmp_path / "service_graph")
    start = END - timedelta(days=3)
    read = source.fetch_hourly(start, 2)
    assert read.schema == EDGE_HOURLY_SCHEMA
    window = (pl.col("hour") >= start) & (pl.col("hour") < start + timedelta(days=2))
    assert read.sort("client", "server", "hour").equals(frame.filter(window))
    client = frame["client"][0]
    only = source.fetch_hourly(start, 1, clients=[client])
    assert set(only["client"]) == {client} and only.height > 0
    # Days without a file (before the fleet's history, or after it): no rows.
    assert source.fetch_hourly(END, 2).is_empty()
    assert source.fetch_hourly(start, 1, clients=[]).is_empty()
