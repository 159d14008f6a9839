"""Synthetic telemetry for a synthetic fleet, with the ground truth kept beside it.

Recommendations can only be checked against a fleet whose true reliability is known. This
module draws, for every service of a topology, traffic with daily and weekly seasonality, a true
baseline error rate, a heavy-tailed (log-normal) latency distribution, incidents — some of them
caused by a failing dependency and propagated to its callers along hard synchronous edges — and
deploys, a few of which regress. Everything is a numpy array indexed (service, step); the
writers (hourly frame, OpenMetrics text) read those arrays and `truth` tells what was drawn.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.special import ndtr

from analytics.fleet_topology import FleetTopology
from analytics.latency_histogram import LATENCY_BUCKETS, QUANTILES, histogram_quantile
from analytics.sli_schema import SLI_HOURLY_SCHEMA

#: Typical request rate (per second) and median latency (seconds) by kind of service.
BASE_RPS = {
    "api_gateway": 400.0, "bff": 80.0, "backend": 25.0, "consumer": 8.0,
    "queue": 40.0, "datastore": 120.0, "cache": 200.0, "external": 15.0,
}  # fmt: skip
BASE_LATENCY_S = {
    "api_gateway": 0.09, "bff": 0.07, "backend": 0.035, "consumer": 0.06,
    "queue": 0.004, "datastore": 0.005, "cache": 0.002, "external": 0.18,
}  # fmt: skip
PROPAGATION_DEPTH = 3
PROPAGATION_FACTOR = 0.6


@dataclass
class FleetTelemetry:
    """Per-step counts for every service; `truth` is what generated them."""

    services: list[str]
    start: datetime
    step_seconds: int
    requests: npt.NDArray[np.int64]  # (services, steps)
    errors: npt.NDArray[np.int64]  # (services, steps)
    latency_median: npt.NDArray[np.float64]  # (services, steps), seconds
    latency_sigma: npt.NDArray[np.float64]  # (services,), log-space spread
    edge_calls: dict[tuple[str, str], npt.NDArray[np.int64]] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    #: CFS periods throttled per step (cAdvisor's container_cpu_cfs_throttled_periods_total)
    #: out of `cpu_periods_per_step` (container_cpu_cfs_periods_total).
    cpu_throttled: npt.NDArray[np.int32] | None = None
    cpu_periods_per_step: int = 0

    @property
    def steps(self) -> int:
        return int(self.requests.shape[1])

    @property
    def steps_per_hour(self) -> int:
        return 3600 // self.step_seconds

    def step_times(self) -> npt.NDArray[np.float64]:
        """End of each step (Unix seconds): when a counter sample covering it is taken."""
        base = self.start.timestamp()
        return (base + self.step_seconds * (np.arange(self.steps) + 1.0)).astype(np.float64)

    def bucket_counts(self, index: int) -> npt.NDArray[np.int64]:
        """Cumulative `le` counts per step for one service: shape (steps, buckets + 1)."""
        bounds = np.log(np.asarray(LATENCY_BUCKETS))
        z = (bounds[np.newaxis, :] - np.log(self.latency_median[index])[:, np.newaxis]) / (
            self.latency_sigma[index]
        )
        share = ndtr(z)
        requests = self.requests[index][:, np.newaxis]
        finite = np.floor(requests * share + 0.5).astype(np.int64)
        return np.concatenate([np.minimum(finite, requests), requests], axis=1)


def _hard_callers(topology: FleetTopology) -> dict[str, list[str]]:
    callers: dict[str, list[str]] = defaultdict(list)
    for edge in topology.edges:
        attrs = edge["attributes"]
        if attrs.get("communication_mode") == "sync" and attrs.get("criticality") == "hard":
            callers[edge["target"]].append(edge["source"])
    return callers


def generate_telemetry(
    topology: FleetTopology,
    *,
    days: int,
    seed: int = 42,
    end: datetime | None = None,
    step_minutes: int = 15,
) -> FleetTelemetry:
    """`days` of telemetry up to `end` (default: today 00:00 UTC), a step every `step_minutes`."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if 60 % step_minutes:
        raise ValueError("step_minutes must divide an hour")
    rng = np.random.default_rng(seed)
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end.astimezone(UTC) - timedelta(days=days)
    step = step_minutes * 60
    steps = days * 24 * 3600 // step
    services = [n["service_id"] for n in topology.nodes]
    kinds = [n["metadata"].get("service_type") or "backend" for n in topology.nodes]
    index = {s: i for i, s in enumerate(services)}
    n = len(services)

    base_rps = np.array([BASE_RPS.get(k, 25.0) for k in kinds]) * rng.lognormal(0.0, 0.8, n)
    error_rate = 10 ** rng.uniform(-4.3, -2.3, n)
    median = np.array([BASE_LATENCY_S.get(k, 0.035) for k in kinds]) * rng.lognormal(0, 0.35, n)
    sigma = rng.uniform(0.35, 0.9, n)

    # Seasonality: a daily wave peaking mid-afternoon UTC and quieter weekends.
    moments = start.timestamp() + step * (np.arange(steps) + 0.5)
    hour_of_day = (moments % 86400) / 3600
    weekday = ((moments // 86400).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    season = (1 + 0.45 * np.sin(2 * math.pi * (hour_of_day - 8) / 24)) * np.where(
        weekday >= 5, 0.7, 1.0
    )
    expected = base_rps[:, np.newaxis] * step * season[np.newaxis, :]
    requests = rng.poisson(expected).astype(np.int64)

    error_boost = np.zeros((n, steps))
    latency_factor = np.ones((n, steps))
    callers = _hard_callers(topology)
    incidents: list[dict[str, Any]] = []

    def hit(i: int, lo: int, hi: int, errors: float, slow: float) -> None:
        error_boost[i, lo:hi] += errors
        latency_factor[i, lo:hi] = np.maximum(latency_factor[i, lo:hi], slow)

    steps_per_hour = 3600 // step
    for i, service in enumerate(services):
        for _ in range(rng.poisson(days / 30)):  # about one incident a month
            lo = int(rng.integers(0, steps))
            hi = min(steps, lo + int(rng.integers(1, 5)) * steps_per_hour)
            added, slow = float(rng.uniform(0.01, 0.2)), float(rng.uniform(1.5, 4.0))
            hit(i, lo, hi, added, slow)
            affected = _propagate(i, lo, hi, added, slow, services, index, callers, hit)
            incidents.append(
                {
                    "service": service,
                    "start": _iso(start + timedelta(seconds=lo * step)),
                    "end": _iso(start + timedelta(seconds=hi * step)),
                    "error_rate_added": round(added, 4),
                    "latency_factor": round(slow, 3),
                    "propagated_to": affected,
                }
            )

    deploys: dict[str, list[str]] = {}
    regressions: list[dict[str, Any]] = []
    for i, service in enumerate(services):
        times: list[str] = []
        lo = int(rng.integers(0, 3 * 24 * steps_per_hour))
        while lo < steps:
            times.append(_iso(start + timedelta(seconds=lo * step)))
            if rng.random() < 0.1:
                hi = min(steps, lo + int(rng.integers(2, 13)) * steps_per_hour)
                slow = float(rng.uniform(1.2, 1.6))
                extra = float(error_rate[i] * rng.uniform(1.0, 4.0))
                error_boost[i, lo:hi] += extra
                latency_factor[i, lo:hi] = np.maximum(latency_factor[i, lo:hi], slow)
                regressions.append(
                    {
                        "service": service,
                        "deployed_at": times[-1],
                        "rolled_back_at": _iso(start + timedelta(seconds=hi * step)),
                        "latency_factor": round(slow, 3),
                        "error_rate_added": extra,
                    }
                )
            lo += int(rng.integers(36, 108)) * steps_per_hour
        deploys[service] = times

    rate = np.clip(error_rate[:, np.newaxis] + error_boost, 0.0, 1.0)
    errors = rng.binomial(requests, rate).astype(np.int64)
    cpu_throttled, periods, throttling = _cpu_throttling(seed, n, steps, step, season)
    latency_median = median[:, np.newaxis] * latency_factor

    edge_calls, uncalled, undeclared = _service_graph_calls(topology, requests, index, rng)
    telemetry = FleetTelemetry(
        services=services,
        start=start,
        step_seconds=step,
        requests=requests,
        errors=errors,
        latency_median=latency_median,
        latency_sigma=sigma,
        edge_calls=edge_calls,
        cpu_throttled=cpu_throttled,
        cpu_periods_per_step=periods,
    )
    total_requests = requests.sum(axis=1)
    total_errors = errors.sum(axis=1)
    telemetry.truth = {
        "start": _iso(start),
        "end": _iso(end),
        "step_seconds": step,
        "latency_buckets": list(LATENCY_BUCKETS),
        "services": {
            service: {
                "service_type": kinds[i],
                "base_rps": round(float(base_rps[i]), 4),
                "baseline_error_rate": float(error_rate[i]),
                "baseline_availability": 1.0 - float(error_rate[i]),
                "realized_availability": 1.0 - float(total_errors[i]) / max(1, total_requests[i]),
                "latency_median_s": float(median[i]),
                "latency_sigma": float(sigma[i]),
                "baseline_latency_p99_s": float(median[i] * math.exp(2.3263 * sigma[i])),
                "deploys": deploys[service],
                "cpu_throttling_ratio": float(throttling[i]),
            }
            for i, service in enumerate(services)
        },
        "incidents": incidents,
        "deploy_regressions": regressions,
        "uncalled_declared_edges": [list(p) for p in uncalled],
        "undeclared_calls": [list(p) for p in undeclared],
    }
    return telemetry


def _cpu_throttling(
    seed: int, n: int, steps: int, step: int, season: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int32], int, npt.NDArray[np.float64]]:
    """Throttled CFS periods per step: most services barely throttle, about one in eight runs
    against its CPU limit (12–40% of periods), worse at peak load. Its own random stream, so
    adding it changed no other figure of a seeded fleet."""
    rng = np.random.default_rng([seed, 0xC9])
    heavy = rng.random(n) < 0.12
    base = np.where(heavy, rng.uniform(0.12, 0.4, n), rng.beta(1.2, 60.0, n))
    load = (season / season.mean()) ** 2
    ratio = np.clip(base[:, np.newaxis] * load[np.newaxis, :], 0.0, 0.95)
    periods = step * 10 * 3  # 100 ms CFS periods, three replicas
    throttled = rng.binomial(periods, ratio).astype(np.int32)
    realized = throttled.sum(axis=1, dtype=np.int64) / (periods * steps)
    return throttled, periods, np.asarray(realized, dtype=np.float64)


def _propagate(
    origin: int,
    lo: int,
    hi: int,
    errors: float,
    slow: float,
    services: Sequence[str],
    index: dict[str, int],
    callers: dict[str, list[str]],
    hit: Any,
) -> list[str]:
    """A failing dependency fails a share of its hard callers' requests, and theirs, attenuated."""
    affected: list[str] = []
    frontier = [(origin, errors, slow)]
    seen = {origin}
    for _ in range(PROPAGATION_DEPTH):
        following = []
        for i, err, lat in frontier:
            for caller in callers.get(services[i], []):
                j = index[caller]
                if j in seen:
                    continue
                seen.add(j)
                e, s = err * PROPAGATION_FACTOR, 1 + (lat - 1) * PROPAGATION_FACTOR
                hit(j, lo, hi, e, s)
                affected.append(caller)
                following.append((j, e, s))
        frontier = following
    return affected


def _service_graph_calls(
    topology: FleetTopology,
    requests: npt.NDArray[np.int64],
    index: dict[str, int],
    rng: np.random.Generator,
) -> tuple[
    dict[tuple[str, str], npt.NDArray[np.int64]], list[tuple[str, str]], list[tuple[str, str]]
]:
    """Call counts as a tracing pipeline's service graph would see them.

    A few declared sync edges are never exercised (dead configuration) and a few calls are not
    declared (hidden dependencies), so edge discovery has real divergences to find.
    """
    calls: dict[tuple[str, str], npt.NDArray[np.int64]] = {}
    uncalled: list[tuple[str, str]] = []
    declared: set[tuple[str, str]] = set()
    for edge in topology.edges:
        pair = (edge["source"], edge["target"])
        declared.add(pair)
        if edge["attributes"].get("communication_mode") != "sync":
            continue
        if rng.random() < 0.03:
            uncalled.append(pair)
            continue
        share = (
            rng.uniform(0.6, 1.0)
            if edge["attributes"].get("criticality") == "hard"
            else (rng.uniform(0.05, 0.5))
        )
        calls[pair] = rng.poisson(requests[index[pair[0]]] * share).astype(np.int64)
    services = [n["service_id"] for n in topology.nodes]
    backends = [
        n["service_id"] for n in topology.nodes if n["metadata"].get("service_type") == "backend"
    ]
    undeclared: list[tuple[str, str]] = []
    for _ in range(max(1, len(services) // 50)):
        if len(backends) < 2:
            break
        a, b = (str(x) for x in rng.choice(backends, 2, replace=False))
        if (a, b) in declared or (a, b) in calls:
            continue
        undeclared.append((a, b))
        calls[(a, b)] = rng.poisson(requests[index[a]] * 0.2).astype(np.int64)
    return calls, uncalled, undeclared


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hourly_frame(telemetry: FleetTelemetry) -> pl.DataFrame:
    """One row per service per hour, in the `sli_hourly` schema the pipeline also produces."""
    per_hour = telemetry.steps_per_hour
    hours = telemetry.steps // per_hour
    n = len(telemetry.services)
    requests = telemetry.requests.reshape(n, hours, per_hour).sum(axis=2)
    errors = telemetry.errors.reshape(n, hours, per_hour).sum(axis=2)
    buckets = np.stack(
        [telemetry.bucket_counts(i).reshape(hours, per_hour, -1).sum(axis=1) for i in range(n)]
    )  # (services, hours, buckets + 1)
    flat = buckets.reshape(n * hours, -1)
    hour_starts = [telemetry.start + timedelta(hours=h) for h in range(hours)]
    with np.errstate(invalid="ignore", divide="ignore"):
        availability = np.where(requests > 0, 1.0 - errors / requests, np.nan)
    columns: dict[str, Any] = {
        "service": np.repeat(np.asarray(telemetry.services, dtype=object), hours),
        "hour": hour_starts * n,
        "requests": requests.ravel(),
        "errors": errors.ravel(),
        "availability": availability.ravel(),
        "latency_buckets": list(flat),
    }
    for name, q in QUANTILES.items():
        columns[f"latency_{name}"] = histogram_quantile(q, LATENCY_BUCKETS, flat)
    if telemetry.cpu_throttled is not None and telemetry.cpu_periods_per_step:
        throttled = telemetry.cpu_throttled.reshape(n, hours, per_hour).sum(axis=2, dtype=np.int64)
        columns["cpu_throttling"] = throttled.ravel() / (telemetry.cpu_periods_per_step * per_hour)
    else:
        columns["cpu_throttling"] = np.full(n * hours, np.nan)
    columns["has_data"] = np.ones(n * hours, dtype=bool)
    columns["data_completeness"] = np.ones(n * hours)
    return pl.DataFrame(columns, schema=SLI_HOURLY_SCHEMA, nan_to_null=True)


def service_graph_daily(telemetry: FleetTelemetry) -> pl.DataFrame:
    """(day, client, server, calls): what a tracing service graph reports per UTC day."""
    per_day = 86400 // telemetry.step_seconds
    days = telemetry.steps // per_day
    rows = [
        (telemetry.start.date() + timedelta(days=d), client, server, int(total))
        for (client, server), calls in sorted(telemetry.edge_calls.items())
        for d, total in enumerate(calls[: days * per_day].reshape(days, per_day).sum(axis=1))
    ]
    return pl.DataFrame(
        rows,
        schema={
            "day": pl.Date(),
            "client": pl.String(),
            "server": pl.String(),
            "calls": pl.Int64(),
        },
        orient="row",
    )


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def openmetrics_lines(telemetry: FleetTelemetry, progress: Any | None = None) -> Iterator[str]:
    """OpenMetrics text (for `promtool tsdb create-blocks-from openmetrics`) of the raw counters.

    Counters are cumulative from the first sample, one sample per step; each metric family is
    written contiguously, as the format requires. `progress(k)` is called after each service.
    """
    times = [f"{t:.0f}" for t in telemetry.step_times()]
    services = telemetry.services
    yield "# HELP http_requests Requests served, by status code.\n"
    yield "# TYPE http_requests counter\n"
    for i, service in enumerate(services):
        ok = np.cumsum(telemetry.requests[i] - telemetry.errors[i])
        bad = np.cumsum(telemetry.errors[i])
        for status, series in (("200", ok), ("500", bad)):
            label = _labels(service=service, status=status)
            yield "".join(
                f"http_requests_total{label} {v} {t}\n" for v, t in zip(series, times, strict=True)
            )
    yield "# HELP http_request_duration_seconds Request latency.\n"
    yield "# TYPE http_request_duration_seconds histogram\n"
    bounds = [repr(float(b)) for b in LATENCY_BUCKETS] + ["+Inf"]
    for i, service in enumerate(services):
        cumulative = np.cumsum(telemetry.bucket_counts(i), axis=0)
        mean = telemetry.latency_median[i] * math.exp(telemetry.latency_sigma[i] ** 2 / 2)
        total_seconds = np.cumsum(telemetry.requests[i] * mean)
        for b, le in enumerate(bounds):
            label = _labels(service=service, le=le)
            yield "".join(
                f"http_request_duration_seconds_bucket{label} {v} {t}\n"
                for v, t in zip(cumulative[:, b], times, strict=True)
            )
        label = _labels(service=service)
        yield "".join(
            f"http_request_duration_seconds_count{label} {v} {t}\n"
            for v, t in zip(cumulative[:, -1], times, strict=True)
        )
        yield "".join(
            f"http_request_duration_seconds_sum{label} {v:.3f} {t}\n"
            for v, t in zip(total_seconds, times, strict=True)
        )
        if progress is not None:
            progress(i + 1)
    if telemetry.cpu_throttled is not None and telemetry.cpu_periods_per_step:
        periods = np.cumsum(np.full(telemetry.steps, telemetry.cpu_periods_per_step))
        yield "# HELP container_cpu_cfs_periods Elapsed CFS enforcement periods.\n"
        yield "# TYPE container_cpu_cfs_periods counter\n"
        for service in services:
            label = _labels(service=service)
            yield "".join(
                f"container_cpu_cfs_periods_total{label} {v} {t}\n"
                for v, t in zip(periods, times, strict=True)
            )
        yield "# HELP container_cpu_cfs_throttled_periods Throttled CFS periods.\n"
        yield "# TYPE container_cpu_cfs_throttled_periods counter\n"
        for i, service in enumerate(services):
            label = _labels(service=service)
            series = np.cumsum(telemetry.cpu_throttled[i], dtype=np.int64)
            yield "".join(
                f"container_cpu_cfs_throttled_periods_total{label} {v} {t}\n"
                for v, t in zip(series, times, strict=True)
            )
    yield "# HELP traces_service_graph_request Calls between services seen in traces.\n"
    yield "# TYPE traces_service_graph_request counter\n"
    for (client, server), calls in sorted(telemetry.edge_calls.items()):
        label = _labels(client=client, server=server)
        yield "".join(
            f"traces_service_graph_request_total{label} {v} {t}\n"
            for v, t in zip(np.cumsum(calls), times, strict=True)
        )
    yield "# EOF\n"
