"""Synthetic telemetry for a synthetic fleet, with the ground truth kept beside it.

Recommendations can only be checked against a fleet whose true reliability is known. This
module draws, for every service of a topology, traffic with daily and weekly seasonality, a true
baseline error rate, a heavy-tailed (log-normal) latency distribution, incidents and deploys, a
few of which regress. Those make up each service's *own* failures. Failures then travel through
calls: every request of a service calls each of its hard synchronous dependencies, and a failed
call fails the request, so a service's delivered errors are its own failures plus those of its
hard dependency chain (see `generate_telemetry`). Everything is a numpy array indexed (service,
step); the writers (hourly frames, OpenMetrics text) read those arrays and `truth` tells what was
drawn, including each service's own availability.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import igraph as ig
import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.special import ndtr

from analytics.latency_histogram import LATENCY_BUCKETS, QUANTILES, histogram_quantile
from analytics.sli_schema import EDGE_HOURLY_SCHEMA, SLI_HOURLY_SCHEMA
from synthetic_fleet.topology import FleetTopology

#: Typical request rate (per second) and median latency (seconds) by kind of service.
BASE_RPS = {
    "api_gateway": 400.0, "bff": 80.0, "backend": 25.0, "consumer": 8.0,
    "queue": 40.0, "datastore": 120.0, "cache": 200.0, "external": 15.0,
}  # fmt: skip
BASE_LATENCY_S = {
    "api_gateway": 0.09, "bff": 0.07, "backend": 0.035, "consumer": 0.06,
    "queue": 0.004, "datastore": 0.005, "cache": 0.002, "external": 0.18,
}  # fmt: skip
#: A dependency's incident slows its hard callers within this many hops, by this share of the
#: slowdown per hop (errors are not attenuated: they travel through failed calls).
PROPAGATION_DEPTH = 3
PROPAGATION_FACTOR = 0.6
#: Share of declared sync edges never called (dead configuration).
UNCALLED_SHARE = 0.03
#: Share of the caller's requests that call a soft/degraded dependency.
PARTIAL_CALL_SHARE = (0.05, 0.5)


@dataclass
class FleetTelemetry:
    """Per-step counts for every service; `truth` is what generated them."""

    services: list[str]
    start: datetime
    step_seconds: int
    requests: npt.NDArray[np.int64]  # (services, steps)
    errors: npt.NDArray[np.int64]  # (services, steps): delivered (own + dependency) failures
    latency_median: npt.NDArray[np.float64]  # (services, steps), seconds
    latency_sigma: npt.NDArray[np.float64]  # (services,), log-space spread
    edge_calls: dict[tuple[str, str], npt.NDArray[np.int64]] = field(default_factory=dict)
    #: Failed calls per edge and step (the service graph's `request_failed` counter).
    edge_failed: dict[tuple[str, str], npt.NDArray[np.int64]] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    #: CFS periods throttled per step (cAdvisor's container_cpu_cfs_throttled_periods_total)
    #: out of `cpu_periods_per_step` (container_cpu_cfs_periods_total).
    cpu_throttled: npt.NDArray[np.int32] | None = None
    cpu_periods_per_step: int = 0
    #: (services, steps): the failures each service caused itself (baseline, own incidents,
    #: bad deploys), a subset of `errors`.
    own_errors: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros((0, 0), dtype=np.int64)
    )

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


@dataclass
class _CallPlan:
    """Which calls the service graph sees, decided before any failure is drawn (indices)."""

    #: caller -> dependencies called once by every request (hard sync, no redundancy group)
    hard: dict[int, list[int]]
    #: caller -> live members of each of its redundancy groups
    groups: dict[int, list[list[int]]]
    #: soft/degraded sync calls: a share of requests, never fail the caller
    partial: list[tuple[int, int]]
    calls: dict[tuple[int, int], npt.NDArray[np.int64]]
    uncalled: list[tuple[str, str]]
    undeclared: list[tuple[str, str]]


def generate_telemetry(
    topology: FleetTopology,
    *,
    days: int,
    seed: int = 42,
    end: datetime | None = None,
    step_minutes: int = 15,
) -> FleetTelemetry:
    """`days` of telemetry up to `end` (default: today 00:00 UTC), a step every `step_minutes`.

    Failure model, per step:

    - a service's **own** failure rate is its baseline error rate plus its own incidents and bad
      deploys; `own_errors = binomial(requests, own_rate)`;
    - every request calls each **hard sync dependency** without a redundancy group once
      (`calls = requests`); a call fails with the dependency's delivered failure ratio at that
      step, `failed = binomial(calls, errors_d / requests_d)`, and a failed call fails the
      request;
    - calls to a **redundancy group**'s members are load-balanced (multinomial, equal shares)
      and fail with each member's ratio, but the request fails through the group only when the
      failover fails too: `binomial(requests, Π_m ratio_m)` failures;
    - **soft/degraded** sync calls (a share of 0.05–0.5 of requests) fail with the
      dependency's ratio but never fail the caller; **undeclared** calls (hidden
      dependencies) are hard ones; async edges carry no calls; ~3% of declared sync edges are
      never called (and so propagate nothing);
    - a request fails if any of those reasons fails it. The reasons are independent random
      subsets of the step's requests: starting from the own failures, each further reason's
      failed count is spread over the requests uniformly and only those landing on still-good
      requests are added (a hypergeometric draw), so `errors ≥ own_errors`, every per-edge
      failed count stays the one emitted, and given those counts `E[1 − errors/requests] =
      (1 − own/requests) × Π_r (1 − failed_r/requests)` exactly.

    Services are computed dependencies first (reverse topological order of the condensation of
    the called hard sync graph). Inside a hard sync cycle members go in a fixed order
    (depth-first post-order from its first member), and a call to a member not yet computed
    fails with that member's *own* failure ratio (an approximation; such edges are listed in
    `truth["cycle_calls_at_own_rate"]`). An incident's `propagated_to` lists every service
    whose requests call the failing one on every request, directly or transitively (BFS order);
    latency slows, attenuated, within PROPAGATION_DEPTH hops of it.
    """
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
    error_rate = 10 ** rng.uniform(-4.4, -2.4, n)
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
    plan = _plan_calls(topology, requests, index, rng)
    callers: dict[int, list[int]] = defaultdict(list)
    for source, targets in plan.hard.items():
        for target in targets:
            callers[target].append(source)

    error_boost = np.zeros((n, steps))
    latency_factor = np.ones((n, steps))
    incidents: list[dict[str, Any]] = []
    steps_per_hour = 3600 // step
    for i, service in enumerate(services):
        # About one incident every two months per service: with every failure of a hard
        # dependency now reaching its callers, a fleet of 300 still sees several a day.
        for _ in range(rng.poisson(days / 60)):
            lo = int(rng.integers(0, steps))
            hi = min(steps, lo + int(rng.integers(1, 5)) * steps_per_hour)
            added, slow = float(rng.uniform(0.01, 0.2)), float(rng.uniform(1.5, 4.0))
            error_boost[i, lo:hi] += added
            latency_factor[i, lo:hi] = np.maximum(latency_factor[i, lo:hi], slow)
            affected = _slow_callers(i, lo, hi, slow, callers, latency_factor)
            incidents.append(
                {
                    "service": service,
                    "start": _iso(start + timedelta(seconds=lo * step)),
                    "end": _iso(start + timedelta(seconds=hi * step)),
                    "error_rate_added": round(added, 4),
                    "latency_factor": round(slow, 3),
                    "propagated_to": [services[j] for j in affected],
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

    own_rate = np.clip(error_rate[:, np.newaxis] + error_boost, 0.0, 1.0)
    del error_boost
    own_errors = rng.binomial(requests, own_rate).astype(np.int64)
    del own_rate
    errors, failed, approximated = _draw_failures(plan, requests, own_errors, rng)
    cpu_throttled, periods, throttling = _cpu_throttling(seed, n, steps, step, season)
    latency_median = median[:, np.newaxis] * latency_factor

    def named(pair: tuple[int, int]) -> tuple[str, str]:
        return services[pair[0]], services[pair[1]]

    telemetry = FleetTelemetry(
        services=services,
        start=start,
        step_seconds=step,
        requests=requests,
        errors=errors,
        latency_median=latency_median,
        latency_sigma=sigma,
        edge_calls={named(pair): calls for pair, calls in plan.calls.items()},
        edge_failed={named(pair): failed[pair] for pair in plan.calls},
        cpu_throttled=cpu_throttled,
        cpu_periods_per_step=periods,
        own_errors=own_errors,
    )
    total_requests = requests.sum(axis=1)
    total_errors = errors.sum(axis=1)
    total_own = own_errors.sum(axis=1)
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
                "own_error_rate_baseline": float(error_rate[i]),
                "baseline_availability": 1.0 - float(error_rate[i]),
                "own_availability": 1.0 - float(total_own[i]) / max(1, int(total_requests[i])),
                "realized_availability": 1.0
                - float(total_errors[i]) / max(1, int(total_requests[i])),
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
        "uncalled_declared_edges": [list(p) for p in plan.uncalled],
        "undeclared_calls": [list(p) for p in plan.undeclared],
        "cycle_calls_at_own_rate": [list(named(p)) for p in approximated],
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


def _plan_calls(
    topology: FleetTopology,
    requests: npt.NDArray[np.int64],
    index: dict[str, int],
    rng: np.random.Generator,
) -> _CallPlan:
    """Call counts as a tracing pipeline's service graph would see them: a hard sync edge is
    called by every request, a redundancy group's members share them (multinomial), a
    soft/degraded edge by a share of them; async edges carry no calls.

    A few declared sync edges are never exercised (dead configuration) and a few hard calls are
    not declared (hidden dependencies: every request makes them and fails with them), so edge
    discovery has real divergences to find.
    """
    hard: dict[int, list[int]] = defaultdict(list)
    grouped: dict[tuple[int, str], list[int]] = {}
    partial: list[tuple[int, int]] = []
    calls: dict[tuple[int, int], npt.NDArray[np.int64]] = {}
    uncalled: list[tuple[str, str]] = []
    declared: set[tuple[str, str]] = set()
    for edge in topology.edges:
        pair = (edge["source"], edge["target"])
        declared.add(pair)
        attrs = edge["attributes"]
        if attrs.get("communication_mode") != "sync":
            continue
        if rng.random() < UNCALLED_SHARE:
            uncalled.append(pair)
            continue
        s, d = index[pair[0]], index[pair[1]]
        if attrs.get("criticality") == "hard":
            if group := attrs.get("redundancy_group"):
                grouped.setdefault((s, str(group)), []).append(d)
            else:
                hard[s].append(d)
                calls[(s, d)] = requests[s].copy()
        else:
            share = rng.uniform(*PARTIAL_CALL_SHARE)
            calls[(s, d)] = rng.binomial(requests[s], share).astype(np.int64)
            partial.append((s, d))
    groups: dict[int, list[list[int]]] = defaultdict(list)
    for (s, _), members in grouped.items():
        split = rng.multinomial(requests[s], np.full(len(members), 1.0 / len(members)))
        for k, m in enumerate(members):
            calls[(s, m)] = np.ascontiguousarray(split[:, k], dtype=np.int64)
        groups[s].append(members)
    backends = [
        n["service_id"] for n in topology.nodes if n["metadata"].get("service_type") == "backend"
    ]
    rank = {name: k for k, name in enumerate(backends)}
    undeclared: list[tuple[str, str]] = []
    for _ in range(max(1, len(topology.nodes) // 50)):
        if len(backends) < 2:
            break
        # A hidden dependency is a real hard call nobody declared: every request makes it
        # and fails with it. Forward in call rank, so it never closes a cycle.
        a, b = sorted(
            (str(x) for x in rng.choice(backends, 2, replace=False)), key=lambda name: rank[name]
        )
        pair_index = (index[a], index[b])
        if (a, b) in declared or pair_index in calls:
            continue
        undeclared.append((a, b))
        hard[index[a]].append(index[b])
        calls[pair_index] = requests[index[a]].copy()
    return _CallPlan(dict(hard), dict(groups), partial, calls, uncalled, undeclared)


def _slow_callers(
    origin: int,
    lo: int,
    hi: int,
    slow: float,
    callers: dict[int, list[int]],
    latency_factor: npt.NDArray[np.float64],
) -> list[int]:
    """Every direct or transitive hard caller of `origin` (BFS order); the incident's slowdown
    reaches those within PROPAGATION_DEPTH hops, attenuated by PROPAGATION_FACTOR a hop."""
    affected: list[int] = []
    seen = {origin}
    queue = deque([(origin, 0)])
    while queue:
        i, depth = queue.popleft()
        for j in callers.get(i, ()):
            if j in seen:
                continue
            seen.add(j)
            affected.append(j)
            queue.append((j, depth + 1))
            if depth < PROPAGATION_DEPTH:
                factor = 1 + (slow - 1) * PROPAGATION_FACTOR ** (depth + 1)
                latency_factor[j, lo:hi] = np.maximum(latency_factor[j, lo:hi], factor)
    return affected


def _dependency_order(n: int, plan: _CallPlan) -> list[list[int]]:
    """Strongly connected components of the called hard sync graph, dependencies first."""
    edges = [(s, d) for s, targets in plan.hard.items() for d in targets]
    edges += [(s, m) for s, groups in plan.groups.items() for g in groups for m in g]
    graph = ig.Graph(n=n, edges=edges, directed=True)
    components = graph.connected_components(mode="strong")
    condensed = components.cluster_graph()
    condensed.simplify()
    members: dict[int, list[int]] = defaultdict(list)
    for vertex, component in enumerate(components.membership):
        members[component].append(vertex)
    order = reversed(condensed.topological_sorting(mode="out"))
    return [_cycle_order(members[c], graph) if len(members[c]) > 1 else members[c] for c in order]


def _cycle_order(members: list[int], graph: ig.Graph) -> list[int]:
    """A fixed order for a hard sync cycle: depth-first post-order from its first member, so
    that most calls inside it go to a member already computed (a simple cycle: all but one)."""
    inside = set(members)
    order: list[int] = []
    seen = {members[0]}
    stack = [(members[0], iter(sorted(graph.successors(members[0]))))]
    while stack:
        vertex, successors = stack[-1]
        following = next((v for v in successors if v in inside and v not in seen), None)
        if following is None:
            stack.pop()
            order.append(vertex)
        else:
            seen.add(following)
            stack.append((following, iter(sorted(graph.successors(following)))))
    return order


def _draw_failures(
    plan: _CallPlan,
    requests: npt.NDArray[np.int64],
    own_errors: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> tuple[
    npt.NDArray[np.int64], dict[tuple[int, int], npt.NDArray[np.int64]], list[tuple[int, int]]
]:
    """(delivered errors, failed calls per edge, calls drawn at a callee's own ratio):
    see `generate_telemetry` for the model."""
    errors = own_errors.copy()
    done = np.zeros(len(requests), dtype=bool)
    failed: dict[tuple[int, int], npt.NDArray[np.int64]] = {}
    approximated: list[tuple[int, int]] = []

    def ratio(d: int) -> npt.NDArray[np.float64]:
        counts = errors[d] if done[d] else own_errors[d]
        return np.asarray(counts / np.maximum(requests[d], 1), dtype=np.float64)

    for component in _dependency_order(len(requests), plan):
        for s in component:
            total = requests[s]
            reasons: list[npt.NDArray[np.int64]] = []
            for d in plan.hard.get(s, ()):
                if not done[d]:
                    approximated.append((s, d))
                failed[(s, d)] = rng.binomial(total, ratio(d)).astype(np.int64)
                reasons.append(failed[(s, d)])
            for members in plan.groups.get(s, ()):
                all_fail = np.ones(len(total))
                for m in members:
                    if not done[m]:
                        approximated.append((s, m))
                    r = ratio(m)
                    failed[(s, m)] = rng.binomial(plan.calls[(s, m)], r).astype(np.int64)
                    all_fail *= r
                reasons.append(rng.binomial(total, all_fail).astype(np.int64))
            failing = errors[s]  # a view: `errors` started as a copy of the own failures
            for k in reasons:
                # k failures spread over the step's requests: those on good requests are new.
                failing += rng.hypergeometric(total - failing, failing, k)
            done[s] = True
    for s, d in plan.partial:
        failed[(s, d)] = rng.binomial(plan.calls[(s, d)], ratio(d)).astype(np.int64)
    return errors, failed, approximated


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
    columns["errors_clamped"] = np.zeros(n * hours, dtype=bool)  # generated counts are possible
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


def service_graph_hourly(telemetry: FleetTelemetry) -> pl.DataFrame:
    """(client, server, hour, calls, failed) for every edge with calls and every whole hour, in
    the EDGE_HOURLY_SCHEMA (hour = its start), sorted by edge then hour."""
    per_hour = telemetry.steps_per_hour
    hours = telemetry.steps // per_hour
    pairs = sorted(telemetry.edge_calls)
    if not pairs or not hours:
        return pl.DataFrame(schema=EDGE_HOURLY_SCHEMA)
    calls = np.empty((len(pairs), hours), dtype=np.int64)
    failed = np.zeros((len(pairs), hours), dtype=np.int64)
    for k, pair in enumerate(pairs):  # edge by edge: no (edges, steps) copy of the counters
        calls[k] = telemetry.edge_calls[pair][: hours * per_hour].reshape(hours, per_hour).sum(1)
        if (edge_failed := telemetry.edge_failed.get(pair)) is not None:
            failed[k] = edge_failed[: hours * per_hour].reshape(hours, per_hour).sum(1)
    edge = pl.Series(np.repeat(np.arange(len(pairs)), hours))
    first = int(telemetry.start.timestamp() * 1_000_000)
    stamps = first + np.tile(np.arange(hours, dtype=np.int64) * 3_600_000_000, len(pairs))
    return pl.DataFrame(
        {
            "client": pl.Series([c for c, _ in pairs], dtype=pl.String()).gather(edge),
            "server": pl.Series([s for _, s in pairs], dtype=pl.String()).gather(edge),
            "hour": pl.Series(stamps).cast(pl.Datetime("us", "UTC")),
            "calls": calls.ravel(),
            "failed": failed.ravel(),
        },
        schema=EDGE_HOURLY_SCHEMA,
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
    yield "# HELP traces_service_graph_request_failed Failed calls between services.\n"
    yield "# TYPE traces_service_graph_request_failed counter\n"
    zeros = np.zeros(telemetry.steps, dtype=np.int64)
    for pair in sorted(telemetry.edge_calls):
        label = _labels(client=pair[0], server=pair[1])
        failed = np.cumsum(telemetry.edge_failed.get(pair, zeros))
        yield "".join(
            f"traces_service_graph_request_failed_total{label} {v} {t}\n"
            for v, t in zip(failed, times, strict=True)
        )
    yield "# EOF\n"
