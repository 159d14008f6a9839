"""Synthetic telemetry for a synthetic fleet, with the ground truth kept beside it.

Recommendations can only be checked against a fleet whose true reliability is known. This
module draws, for every service of a topology, traffic with daily and weekly seasonality, a true
baseline error rate, a heavy-tailed (log-normal) latency distribution, incidents and deploys, a
few of which regress. Those make up each service's *own* failures. Failures then travel through
calls: every request of a service calls each of its hard synchronous dependencies, and a failed
call fails the request, so a service's delivered errors are its own failures plus those of its
hard dependency chain (see `generate_telemetry`).

A fleet of 50,000 services over 30 days does not fit in memory as (services, steps) matrices,
so generation streams: `plan_fleet` draws what is small (per-service parameters, the call plan,
incidents and deploy regressions as step intervals) and `FleetPlan.day` then draws one day's
step arrays from it alone, with a random stream of its own, so days can be written and dropped
one at a time. `generate_telemetry` concatenates the days for fleets small enough to hold; the
writers (hourly frames, OpenMetrics text) read either, and `truth` tells what was drawn,
including each service's own availability.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
#: Tags of the random streams derived from the seed: one per day for its step draws, and the
#: CPU throttling's own (so adding it changed no other figure of a seeded fleet).
_DAY_STREAM = 0xDA
_CPU_STREAM = 0xC9
#: Elements per temporary array when a writer works through a fleet block by block: a few
#: tens of MB, whatever the fleet's size.
_BLOCK_ELEMENTS = 1 << 21

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass
class FleetTelemetry:
    """Per-step counts for every service (of the whole horizon, or of one streamed day, or of a
    block of services); `truth` is what generated them (set on the whole horizon only)."""

    services: list[str]
    start: datetime
    step_seconds: int
    requests: Int64Array  # (services, steps)
    errors: Int64Array  # (services, steps): delivered (own + dependency) failures
    latency_median: FloatArray  # (services, steps), seconds
    latency_sigma: FloatArray  # (services,), log-space spread
    edge_calls: dict[tuple[str, str], Int64Array] = field(default_factory=dict)
    #: Failed calls per edge and step (the service graph's `request_failed` counter).
    edge_failed: dict[tuple[str, str], Int64Array] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    #: CFS periods throttled per step (cAdvisor's container_cpu_cfs_throttled_periods_total)
    #: out of `cpu_periods_per_step` (container_cpu_cfs_periods_total).
    cpu_throttled: npt.NDArray[np.int32] | None = None
    cpu_periods_per_step: int = 0
    #: (services, steps): the failures each service caused itself (baseline, own incidents,
    #: bad deploys), a subset of `errors`.
    own_errors: Int64Array = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))

    @property
    def steps(self) -> int:
        return int(self.requests.shape[1])

    @property
    def steps_per_hour(self) -> int:
        return 3600 // self.step_seconds

    def step_times(self) -> FloatArray:
        """End of each step (Unix seconds): when a counter sample covering it is taken."""
        base = self.start.timestamp()
        return (base + self.step_seconds * (np.arange(self.steps) + 1.0)).astype(np.float64)

    def select(self, rows: Sequence[int]) -> FleetTelemetry:
        """These services' step arrays (copies), without edges or truth: lets a writer work
        through a large day a block of services at a time, in any order it needs."""
        index = np.asarray(rows, dtype=np.int64)
        return FleetTelemetry(
            services=[self.services[i] for i in index.tolist()],
            start=self.start,
            step_seconds=self.step_seconds,
            requests=self.requests[index],
            errors=self.errors[index],
            latency_median=self.latency_median[index],
            latency_sigma=self.latency_sigma[index],
            cpu_throttled=None if self.cpu_throttled is None else self.cpu_throttled[index],
            cpu_periods_per_step=self.cpu_periods_per_step,
            own_errors=self.own_errors[index] if self.own_errors.size else self.own_errors,
        )

    def bucket_counts(self, index: int) -> Int64Array:
        """Cumulative `le` counts per step for one service: shape (steps, buckets + 1)."""
        rows = slice(index, index + 1)
        block = _bucket_counts(
            self.latency_median[rows], self.latency_sigma[rows], self.requests[rows]
        )
        return np.asarray(block[0], dtype=np.int64)


def _bucket_counts(median: FloatArray, sigma: FloatArray, requests: Int64Array) -> Int64Array:
    """Cumulative `le` counts of a block of services: shape (services, steps, buckets + 1),
    each step's requests spread over the buckets by its log-normal latency distribution."""
    bounds = np.log(np.asarray(LATENCY_BUCKETS))
    z = (bounds[np.newaxis, np.newaxis, :] - np.log(median)[:, :, np.newaxis]) / (
        sigma[:, np.newaxis, np.newaxis]
    )
    share = ndtr(z)
    counts = requests[:, :, np.newaxis]
    finite = np.floor(counts * share + 0.5).astype(np.int64)
    return np.concatenate([np.minimum(finite, counts), counts], axis=2)


@dataclass
class _CallPlan:
    """Which calls the service graph sees, decided before any step is drawn (indices)."""

    #: caller -> dependencies called once by every request (hard sync, no redundancy group)
    hard: dict[int, list[int]]
    #: caller -> live members of each of its redundancy groups
    groups: dict[int, list[list[int]]]
    #: soft/degraded sync calls (caller, dependency, share of the caller's requests): never
    #: fail the caller
    partial: list[tuple[int, int, float]]
    #: every called edge, in the order the service graph lists them
    called: list[tuple[int, int]]
    uncalled: list[tuple[str, str]]
    undeclared: list[tuple[str, str]]


@dataclass(frozen=True)
class _Intervals:
    """Step intervals [lo, hi) of one service each, with a value (an error rate added, or a
    latency factor). Incidents and bad deploys are kept as these events rather than as
    (services, steps) matrices, so a day applies only those that overlap it: one that crosses
    midnight is applied, clipped, to both days."""

    service: Int64Array
    lo: Int64Array
    hi: Int64Array
    value: FloatArray

    @classmethod
    def of(cls, rows: list[tuple[int, int, int, float]]) -> _Intervals:
        table = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
        return cls(
            table[:, 0].astype(np.int64),
            table[:, 1].astype(np.int64),
            table[:, 2].astype(np.int64),
            np.ascontiguousarray(table[:, 3]),
        )

    def apply(self, target: FloatArray, combine: np.ufunc, services: range, steps: range) -> None:
        """`combine.at` every interval of `services` overlapping `steps` into `target`, whose
        rows are those services and whose columns are those steps (np.add: error rates add up;
        np.maximum: the worst slowdown wins)."""
        first, stop = services.start, services.stop
        s0, s1 = steps.start, steps.stop
        chosen = (self.lo < s1) & (self.hi > s0) & (self.service >= first) & (self.service < stop)
        if not chosen.any():
            return
        lo = np.maximum(self.lo[chosen], s0) - s0
        lengths = np.minimum(self.hi[chosen], s1) - s0 - lo
        offsets = np.cumsum(lengths) - lengths
        columns = np.arange(int(lengths.sum())) - np.repeat(offsets - lo, lengths)
        rows = np.repeat(self.service[chosen] - first, lengths)
        combine.at(target, (rows, columns), np.repeat(self.value[chosen], lengths))


def _season(moments: npt.NDArray[np.floating[Any]]) -> FloatArray:
    """Traffic seasonality at Unix times `moments`: a daily wave peaking mid-afternoon UTC and
    quieter weekends."""
    hour_of_day = (moments % 86400) / 3600
    weekday = ((moments // 86400).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    season = (1 + 0.45 * np.sin(2 * math.pi * (hour_of_day - 8) / 24)) * np.where(
        weekday >= 5, 0.7, 1.0
    )
    return np.asarray(season, dtype=np.float64)


@dataclass
class FleetTotals:
    """Per-service sums over the days drawn so far: what `truth` needs of the step arrays,
    accumulated as days stream by."""

    requests: Int64Array
    errors: Int64Array
    own_errors: Int64Array
    cpu_throttled: Int64Array
    steps: int = 0

    @classmethod
    def zeros(cls, services: int) -> FleetTotals:
        def zero() -> Int64Array:
            return np.zeros(services, dtype=np.int64)

        return cls(zero(), zero(), zero(), zero())

    def add(self, day: FleetTelemetry) -> None:
        self.requests += day.requests.sum(axis=1)
        self.errors += day.errors.sum(axis=1)
        self.own_errors += day.own_errors.sum(axis=1)
        if day.cpu_throttled is not None:
            self.cpu_throttled += day.cpu_throttled.sum(axis=1, dtype=np.int64)
        self.steps += day.steps


@dataclass
class FleetPlan:
    """Everything about a fleet's telemetry drawn before its first step: per-service parameters,
    the call plan, the dependency order and every incident and deploy regression as intervals.

    It is small (per service and per event, never per step), and `day(d)` draws day d's step
    arrays from it alone, so a fleet of any size streams one day at a time.
    """

    services: list[str]
    kinds: list[str]
    seed: int
    start: datetime
    end: datetime
    step_seconds: int
    days: int
    base_rps: FloatArray
    error_rate: FloatArray
    median: FloatArray
    sigma: FloatArray
    calls: _CallPlan
    #: the called hard sync graph's strongly connected components by dependency level
    levels: list[_Level]
    #: calls inside hard sync cycles to a member not yet computed (fail at its own ratio)
    at_own_rate: list[tuple[int, int]]
    #: error rate added to a service's own (incidents, bad deploys)
    boosts: _Intervals
    #: latency factors (incidents, their attenuated spread to callers, bad deploys)
    slowdowns: _Intervals
    incidents: list[dict[str, Any]]
    regressions: list[dict[str, Any]]
    deploys: dict[str, list[str]]
    #: CPU throttling: each service's base ratio, and the horizon's mean seasonality (peak
    #: load throttles more, relative to the horizon's mean)
    throttle_base: FloatArray
    season_mean: float

    @property
    def steps_per_day(self) -> int:
        return 86400 // self.step_seconds

    @property
    def steps(self) -> int:
        return self.days * self.steps_per_day

    @property
    def cpu_periods_per_step(self) -> int:
        return self.step_seconds * 10 * 3  # 100 ms CFS periods, three replicas

    def edge_pairs(self) -> list[tuple[str, str]]:
        """The called edges by name, sorted (the order every writer lists them in)."""
        return sorted((self.services[s], self.services[d]) for s, d in self.calls.called)

    def latency_median(self, services: range, steps: range) -> FloatArray:
        """Median latency of `services` over `steps`: deterministic given the plan (the
        baseline median times the worst slowdown in force), so it is never stored."""
        factor = np.ones((len(services), len(steps)))
        self.slowdowns.apply(factor, np.maximum, services, steps)
        return np.asarray(self.median[services.start : services.stop, np.newaxis] * factor)

    def day(self, d: int) -> FleetTelemetry:
        """Day d's step arrays (every service), drawn from the plan and day d's own random
        stream: the same for a seed whichever other days are drawn, and in whatever order."""
        if not 0 <= d < self.days:
            raise IndexError(f"day {d} is outside the plan's {self.days} days")
        per_day, step, n = self.steps_per_day, self.step_seconds, len(self.services)
        steps = range(d * per_day, (d + 1) * per_day)
        everyone = range(n)
        rng = np.random.default_rng([self.seed, _DAY_STREAM, d])
        moments = self.start.timestamp() + step * (np.arange(steps.start, steps.stop) + 0.5)
        season = _season(moments)
        expected = self.base_rps[:, np.newaxis] * step * season[np.newaxis, :]
        requests = rng.poisson(expected).astype(np.int64)
        del expected
        calls = _draw_calls(self.calls, requests, rng)
        own_rate = np.zeros((n, per_day))
        self.boosts.apply(own_rate, np.add, everyone, steps)
        own_rate += self.error_rate[:, np.newaxis]
        np.clip(own_rate, 0.0, 1.0, out=own_rate)
        own_errors = rng.binomial(requests, own_rate).astype(np.int64)
        del own_rate
        errors, failed = _draw_failures(self.calls, self.levels, calls, requests, own_errors, rng)
        services = self.services

        def named(pair: tuple[int, int]) -> tuple[str, str]:
            return services[pair[0]], services[pair[1]]

        return FleetTelemetry(
            services=services,
            start=self.start + timedelta(days=d),
            step_seconds=step,
            requests=requests,
            errors=errors,
            latency_median=self.latency_median(everyone, steps),
            latency_sigma=self.sigma,
            edge_calls={named(pair): calls[pair] for pair in self.calls.called},
            edge_failed={named(pair): failed[pair] for pair in self.calls.called},
            cpu_throttled=self._cpu_throttled(d, season),
            cpu_periods_per_step=self.cpu_periods_per_step,
            own_errors=own_errors,
        )

    def _cpu_throttled(self, d: int, season: FloatArray) -> npt.NDArray[np.int32]:
        """Throttled CFS periods per step of day d: most services barely throttle, about one
        in eight runs against its CPU limit (12–40% of periods), worse at peak load."""
        rng = np.random.default_rng([self.seed, _CPU_STREAM, d])
        load = (season / self.season_mean) ** 2
        ratio = np.clip(self.throttle_base[:, np.newaxis] * load[np.newaxis, :], 0.0, 0.95)
        return rng.binomial(self.cpu_periods_per_step, ratio).astype(np.int32)

    def truth(self, totals: FleetTotals) -> dict[str, Any]:
        """What was drawn, with the realized availabilities of `totals` (every day's sums)."""
        if totals.steps != self.steps:
            raise ValueError(
                f"the truth covers the whole horizon: {totals.steps} of {self.steps} steps drawn"
            )
        services, median, sigma, rate = self.services, self.median, self.sigma, self.error_rate
        served = np.maximum(totals.requests, 1)
        throttling = totals.cpu_throttled / (self.cpu_periods_per_step * self.steps)
        return {
            "start": _iso(self.start),
            "end": _iso(self.end),
            "step_seconds": self.step_seconds,
            "latency_buckets": list(LATENCY_BUCKETS),
            "services": {
                service: {
                    "service_type": self.kinds[i],
                    "base_rps": round(float(self.base_rps[i]), 4),
                    "baseline_error_rate": float(rate[i]),
                    "own_error_rate_baseline": float(rate[i]),
                    "baseline_availability": 1.0 - float(rate[i]),
                    "own_availability": 1.0 - float(totals.own_errors[i]) / float(served[i]),
                    "realized_availability": 1.0 - float(totals.errors[i]) / float(served[i]),
                    "latency_median_s": float(median[i]),
                    "latency_sigma": float(sigma[i]),
                    "baseline_latency_p99_s": float(median[i] * math.exp(2.3263 * sigma[i])),
                    "deploys": self.deploys[service],
                    "cpu_throttling_ratio": float(throttling[i]),
                }
                for i, service in enumerate(services)
            },
            "incidents": self.incidents,
            "deploy_regressions": self.regressions,
            "uncalled_declared_edges": [list(p) for p in self.calls.uncalled],
            "undeclared_calls": [list(p) for p in self.calls.undeclared],
            "cycle_calls_at_own_rate": [[services[s], services[d]] for s, d in self.at_own_rate],
        }


def generate_telemetry(
    topology: FleetTopology,
    *,
    days: int,
    seed: int = 42,
    end: datetime | None = None,
    step_minutes: int = 15,
) -> FleetTelemetry:
    """`days` of telemetry up to `end` (default: today 00:00 UTC), a step every `step_minutes`,
    held whole: the streamed days of `plan_fleet(...)` concatenated, with their truth. For a
    fleet too large to hold, draw `plan.day(d)` one at a time instead (`fleet generate` does).

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

    Every step depends only on that step (and on the plan), so drawing day by day changes
    nothing of the model: incidents and bad deploys are intervals, applied to each day they
    overlap.
    """
    plan = plan_fleet(topology, days=days, seed=seed, end=end, step_minutes=step_minutes)
    totals = FleetTotals.zeros(len(plan.services))
    parts: list[FleetTelemetry] = []
    for d in range(plan.days):
        parts.append(plan.day(d))
        totals.add(parts[-1])
    telemetry = _concatenate(parts)
    telemetry.truth = plan.truth(totals)
    return telemetry


def _concatenate(parts: list[FleetTelemetry]) -> FleetTelemetry:
    """Consecutive days of the same fleet as one horizon."""
    first = parts[0]

    def joined(arrays: list[Any]) -> Any:
        return np.concatenate(arrays, axis=1)

    cpu = [p.cpu_throttled for p in parts]
    return FleetTelemetry(
        services=first.services,
        start=first.start,
        step_seconds=first.step_seconds,
        requests=joined([p.requests for p in parts]),
        errors=joined([p.errors for p in parts]),
        latency_median=joined([p.latency_median for p in parts]),
        latency_sigma=first.latency_sigma,
        edge_calls={
            pair: np.concatenate([p.edge_calls[pair] for p in parts]) for pair in first.edge_calls
        },
        edge_failed={
            pair: np.concatenate([p.edge_failed[pair] for p in parts]) for pair in first.edge_failed
        },
        cpu_throttled=None if any(c is None for c in cpu) else joined(cpu),
        cpu_periods_per_step=first.cpu_periods_per_step,
        own_errors=joined([p.own_errors for p in parts]),
    )


def plan_fleet(
    topology: FleetTopology,
    *,
    days: int,
    seed: int = 42,
    end: datetime | None = None,
    step_minutes: int = 15,
) -> FleetPlan:
    """Draw everything but the step arrays of `days` of telemetry up to `end` (default: today
    00:00 UTC): the model is `generate_telemetry`'s. Incidents (about one every two months per
    service) and deploys (every 1.5–4.5 days, one in ten regressing) are drawn over the whole
    horizon, so an event crossing midnight is one event, not two."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if 60 % step_minutes:
        raise ValueError("step_minutes must divide an hour")
    rng = np.random.default_rng(seed)
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end.astimezone(UTC) - timedelta(days=days)
    step = step_minutes * 60
    steps = days * 24 * 3600 // step
    steps_per_hour = 3600 // step
    services = [n["service_id"] for n in topology.nodes]
    kinds = [n["metadata"].get("service_type") or "backend" for n in topology.nodes]
    index = {s: i for i, s in enumerate(services)}
    n = len(services)

    base_rps = np.array([BASE_RPS.get(k, 25.0) for k in kinds]) * rng.lognormal(0.0, 0.8, n)
    error_rate = 10 ** rng.uniform(-4.4, -2.4, n)
    median = np.array([BASE_LATENCY_S.get(k, 0.035) for k in kinds]) * rng.lognormal(0, 0.35, n)
    sigma = rng.uniform(0.35, 0.9, n)
    plan = _plan_calls(topology, index, rng)
    callers: dict[int, list[int]] = defaultdict(list)
    for source, targets in plan.hard.items():
        for target in targets:
            callers[target].append(source)

    boosts: list[tuple[int, int, int, float]] = []
    slowdowns: list[tuple[int, int, int, float]] = []
    incidents: list[dict[str, Any]] = []
    for i, service in enumerate(services):
        # About one incident every two months per service: with every failure of a hard
        # dependency now reaching its callers, a fleet of 300 still sees several a day.
        for _ in range(rng.poisson(days / 60)):
            lo = int(rng.integers(0, steps))
            hi = min(steps, lo + int(rng.integers(1, 5)) * steps_per_hour)
            added, slow = float(rng.uniform(0.01, 0.2)), float(rng.uniform(1.5, 4.0))
            boosts.append((i, lo, hi, added))
            slowdowns.append((i, lo, hi, slow))
            affected = _slow_callers(i, lo, hi, slow, callers, slowdowns)
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
                boosts.append((i, lo, hi, extra))
                slowdowns.append((i, lo, hi, slow))
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

    throttle = np.random.default_rng([seed, _CPU_STREAM])
    heavy = throttle.random(n) < 0.12
    throttle_base = np.where(heavy, throttle.uniform(0.12, 0.4, n), throttle.beta(1.2, 60.0, n))
    levels = _dependency_levels(n, plan)
    return FleetPlan(
        services=services,
        kinds=kinds,
        seed=seed,
        start=start,
        end=end,
        step_seconds=step,
        days=days,
        base_rps=base_rps,
        error_rate=error_rate,
        median=median,
        sigma=sigma,
        calls=plan,
        levels=levels,
        at_own_rate=_calls_at_own_rate(levels, plan),
        boosts=_Intervals.of(boosts),
        slowdowns=_Intervals.of(slowdowns),
        incidents=incidents,
        regressions=regressions,
        deploys=deploys,
        throttle_base=np.asarray(throttle_base, dtype=np.float64),
        season_mean=float(_season(start.timestamp() + step * (np.arange(steps) + 0.5)).mean()),
    )


def _plan_calls(
    topology: FleetTopology, index: dict[str, int], rng: np.random.Generator
) -> _CallPlan:
    """Which calls a tracing pipeline's service graph would see: a hard sync edge is called by
    every request, a redundancy group's members share them (multinomial), a soft/degraded edge
    by a share of them drawn here; async edges carry no calls. The counts themselves are drawn
    day by day (`_draw_calls`).

    A few declared sync edges are never exercised (dead configuration) and a few hard calls are
    not declared (hidden dependencies: every request makes them and fails with them), so edge
    discovery has real divergences to find.
    """
    hard: dict[int, list[int]] = defaultdict(list)
    grouped: dict[tuple[int, str], list[int]] = {}
    partial: list[tuple[int, int, float]] = []
    called: list[tuple[int, int]] = []
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
                called.append((s, d))
        else:
            partial.append((s, d, float(rng.uniform(*PARTIAL_CALL_SHARE))))
            called.append((s, d))
    groups: dict[int, list[list[int]]] = defaultdict(list)
    for (s, _), members in grouped.items():
        called.extend((s, m) for m in members)
        groups[s].append(members)
    backends = [
        n["service_id"] for n in topology.nodes if n["metadata"].get("service_type") == "backend"
    ]
    rank = {name: k for k, name in enumerate(backends)}
    undeclared: list[tuple[str, str]] = []
    taken = set(called)
    for _ in range(max(1, len(topology.nodes) // 50)):
        if len(backends) < 2:
            break
        # A hidden dependency is a real hard call nobody declared: every request makes it
        # and fails with it. Forward in call rank, so it never closes a cycle.
        a, b = sorted(
            (str(x) for x in rng.choice(backends, 2, replace=False)), key=lambda name: rank[name]
        )
        pair_index = (index[a], index[b])
        if (a, b) in declared or pair_index in taken:
            continue
        undeclared.append((a, b))
        hard[index[a]].append(index[b])
        called.append(pair_index)
        taken.add(pair_index)
    return _CallPlan(dict(hard), dict(groups), partial, called, uncalled, undeclared)


def _draw_calls(
    plan: _CallPlan, requests: Int64Array, rng: np.random.Generator
) -> dict[tuple[int, int], Int64Array]:
    """Calls per called edge and step. A hard edge's calls are its caller's requests (a view:
    nothing writes to either); soft/degraded edges draw their share (all in one draw),
    redundancy groups split the requests between their members."""
    calls: dict[tuple[int, int], Int64Array] = {}
    for s, targets in plan.hard.items():
        for d in targets:
            calls[(s, d)] = requests[s]
    if plan.partial:
        callers = np.asarray([s for s, _, _ in plan.partial], dtype=np.int64)
        shares = np.asarray([share for _, _, share in plan.partial])
        drawn = rng.binomial(requests[callers], shares[:, np.newaxis]).astype(np.int64)
        for k, (s, d, _) in enumerate(plan.partial):
            calls[(s, d)] = drawn[k]
    for s, groups in plan.groups.items():
        for members in groups:
            split = rng.multinomial(requests[s], np.full(len(members), 1.0 / len(members)))
            for k, m in enumerate(members):
                calls[(s, m)] = np.ascontiguousarray(split[:, k], dtype=np.int64)
    return calls


def _slow_callers(
    origin: int,
    lo: int,
    hi: int,
    slow: float,
    callers: dict[int, list[int]],
    slowdowns: list[tuple[int, int, int, float]],
) -> list[int]:
    """Every direct or transitive hard caller of `origin` (BFS order); the incident's slowdown
    reaches those within PROPAGATION_DEPTH hops, attenuated by PROPAGATION_FACTOR a hop (added
    to `slowdowns` as intervals)."""
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
                slowdowns.append((j, lo, hi, 1 + (slow - 1) * PROPAGATION_FACTOR ** (depth + 1)))
    return affected


@dataclass(frozen=True)
class _Level:
    """Services whose hard dependencies all lie in lower levels, so they are drawn together:
    one dependency level of the called hard sync graph's condensation."""

    #: services alone in their strongly connected component
    services: Int64Array
    #: (caller, dependency) of their hard calls, a caller's in its plan order
    hard: Int64Array
    #: (caller, members) of their redundancy groups
    groups: list[tuple[int, list[int]]]
    #: the failure reasons' composition, one round per rank: (rows of the level's reasons,
    #: hard calls then groups, and the callers they fail), a caller at most once a round
    ranks: list[tuple[Int64Array, Int64Array]]
    #: hard sync cycles at this level, each in its fixed order
    cycles: list[list[int]]


def _dependency_levels(n: int, plan: _CallPlan) -> list[_Level]:
    """The strongly connected components of the called hard sync graph by level, dependencies
    first (a reverse topological order of the condensation): a component's level is one more
    than its dependencies' highest."""
    edges = [(s, d) for s, targets in plan.hard.items() for d in targets]
    edges += [(s, m) for s, groups in plan.groups.items() for g in groups for m in g]
    graph = ig.Graph(n=n, edges=edges, directed=True)
    components = graph.connected_components(mode="strong")
    condensed = components.cluster_graph()
    condensed.simplify()
    members: dict[int, list[int]] = defaultdict(list)
    for vertex, component in enumerate(components.membership):
        members[component].append(vertex)
    depth = [0] * len(members)
    by_level: dict[int, list[int]] = defaultdict(list)
    for c in reversed(condensed.topological_sorting(mode="out")):
        depth[c] = max((depth[d] + 1 for d in condensed.successors(c)), default=0)
        by_level[depth[c]].append(c)
    levels: list[_Level] = []
    for level in sorted(by_level):
        alone = [members[c][0] for c in by_level[level] if len(members[c]) == 1]
        hard = [(s, d) for s in alone for d in plan.hard.get(s, ())]
        groups = [(s, g) for s in alone for g in plan.groups.get(s, ())]
        rows: dict[int, list[tuple[int, int]]] = defaultdict(list)  # rank -> (row, caller)
        seen: dict[int, int] = defaultdict(int)
        for row, (s, _) in enumerate([*hard, *groups]):
            rows[seen[s]].append((row, s))
            seen[s] += 1
        levels.append(
            _Level(
                services=np.asarray(alone, dtype=np.int64),
                hard=np.asarray(hard, dtype=np.int64).reshape(-1, 2),
                groups=groups,
                ranks=[
                    (
                        np.asarray([r for r, _ in rows[k]], dtype=np.int64),
                        np.asarray([c for _, c in rows[k]], dtype=np.int64),
                    )
                    for k in sorted(rows)
                ],
                cycles=[
                    _cycle_order(members[c], graph) for c in by_level[level] if len(members[c]) > 1
                ],
            )
        )
    return levels


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


def _calls_at_own_rate(levels: list[_Level], plan: _CallPlan) -> list[tuple[int, int]]:
    """Hard calls to a service not yet computed when its caller is: inside hard sync cycles
    only (everything else a caller calls lies in a lower level), the same every step."""
    approximated: list[tuple[int, int]] = []
    for level in levels:
        for cycle in level.cycles:
            later = set(cycle)
            for s in cycle:
                later.discard(s)
                approximated += [(s, d) for d in plan.hard.get(s, ()) if d in later]
                for members in plan.groups.get(s, ()):
                    approximated += [(s, m) for m in members if m in later]
    return approximated


def _draw_failures(
    plan: _CallPlan,
    levels: list[_Level],
    calls: dict[tuple[int, int], Int64Array],
    requests: Int64Array,
    own_errors: Int64Array,
    rng: np.random.Generator,
) -> tuple[Int64Array, dict[tuple[int, int], Int64Array]]:
    """(delivered errors, failed calls per edge) of a block of steps (a day): see
    `generate_telemetry` for the model. Each step depends only on itself, so any block of
    consecutive steps can be drawn on its own.

    A level's services are drawn together: all their hard calls in one binomial draw, then
    the composition a rank at a time (every caller's first reason, then every second, ...),
    which is each caller's own sequence of hypergeometric draws, only batched. Hard sync cycles
    go member by member, in their fixed order."""
    errors = own_errors.copy()
    served = np.maximum(requests, 1)
    #: delivered failure ratio of each service once computed (many callers read a hub's)
    delivered = np.zeros(requests.shape)
    done = np.zeros(len(requests), dtype=bool)
    failed: dict[tuple[int, int], Int64Array] = {}

    def ratio(d: int) -> FloatArray:
        return delivered[d] if done[d] else np.asarray(own_errors[d] / served[d])

    def group_reason(s: int, members: list[int]) -> Int64Array:
        # Load-balanced calls fail with each member's ratio; the request only when all do.
        all_fail = np.ones(requests.shape[1])
        for m in members:
            r = ratio(m)
            failed[(s, m)] = rng.binomial(calls[(s, m)], r).astype(np.int64)
            all_fail *= r
        return rng.binomial(requests[s], all_fail).astype(np.int64)

    def compose(s: int, k: Int64Array) -> None:
        # k failures spread over the step's requests: those on good requests are new.
        failing = errors[s]
        failing += rng.hypergeometric(requests[s] - failing, failing, k)

    for level in levels:
        callers, targets = level.hard[:, 0], level.hard[:, 1]
        hard_failed = rng.binomial(requests[callers], delivered[targets]).astype(np.int64)
        reasons = [hard_failed, *(group_reason(s, g)[np.newaxis, :] for s, g in level.groups)]
        stacked = np.concatenate(reasons) if level.groups else hard_failed
        for rows, owners in level.ranks:
            failing = errors[owners]
            good = requests[owners] - failing
            errors[owners] = failing + rng.hypergeometric(good, failing, stacked[rows])
        for k, (s, d) in enumerate(level.hard.tolist()):
            failed[(s, d)] = hard_failed[k]
        alone = level.services
        delivered[alone] = errors[alone] / served[alone]
        done[alone] = True
        for cycle in level.cycles:
            for s in cycle:
                for d in plan.hard.get(s, ()):
                    failed[(s, d)] = rng.binomial(requests[s], ratio(d)).astype(np.int64)
                    compose(s, failed[(s, d)])
                for members in plan.groups.get(s, ()):
                    compose(s, group_reason(s, members))
                delivered[s] = errors[s] / served[s]
                done[s] = True
    if plan.partial:
        pairs = np.asarray([(s, d) for s, d, _ in plan.partial], dtype=np.int64)
        partial_calls = np.stack([calls[(s, d)] for s, d in pairs.tolist()])
        drawn = rng.binomial(partial_calls, delivered[pairs[:, 1]]).astype(np.int64)
        for k, (s, d) in enumerate(pairs.tolist()):
            failed[(s, d)] = drawn[k]
    return errors, failed


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _blocks(rows: int, width: int) -> Iterator[range]:
    """Consecutive row ranges of about _BLOCK_ELEMENTS elements of `width` each."""
    size = max(1, _BLOCK_ELEMENTS // max(1, width))
    for first in range(0, rows, size):
        yield range(first, min(rows, first + size))


def _hour_stamps(start: datetime, hours: int, repeat: int) -> pl.Series:
    """Hour starts (µs since the epoch, UTC) for `repeat` series of `hours` hours each."""
    first = int(start.timestamp() * 1_000_000)
    stamps = first + np.tile(np.arange(hours, dtype=np.int64) * 3_600_000_000, repeat)
    return pl.Series(stamps).cast(pl.Datetime("us", "UTC"))


def hourly_frame(telemetry: FleetTelemetry) -> pl.DataFrame:
    """One row per service per hour, in the `sli_hourly` schema the pipeline also produces.

    Histograms are computed a block of services at a time and every column is built from
    arrays, not Python objects: one streamed day of 50,000 services is 1.2 million rows."""
    per_hour = telemetry.steps_per_hour
    hours = telemetry.steps // per_hour
    n = len(telemetry.services)
    requests = telemetry.requests.reshape(n, hours, per_hour).sum(axis=2)
    errors = telemetry.errors.reshape(n, hours, per_hour).sum(axis=2)
    width = len(LATENCY_BUCKETS) + 1
    buckets = np.empty((n, hours, width), dtype=np.int64)
    for block in _blocks(n, telemetry.steps * width):
        rows = slice(block.start, block.stop)
        counts = _bucket_counts(
            telemetry.latency_median[rows], telemetry.latency_sigma[rows], telemetry.requests[rows]
        )
        buckets[rows] = counts.reshape(len(block), hours, per_hour, width).sum(axis=2)
    flat = buckets.reshape(n * hours, width)
    with np.errstate(invalid="ignore", divide="ignore"):
        availability = np.where(requests > 0, 1.0 - errors / requests, np.nan)
    names = pl.Series(telemetry.services, dtype=pl.String())
    columns: dict[str, Any] = {
        "service": names.gather(np.repeat(np.arange(n), hours)),
        "hour": _hour_stamps(telemetry.start, hours, n),
        "requests": requests.ravel(),
        "errors": errors.ravel(),
        "availability": availability.ravel(),
        "latency_buckets": pl.Series(flat).cast(pl.List(pl.Int64())),
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


def _edge_sums(
    counters: dict[tuple[str, str], Int64Array],
    pairs: list[tuple[str, str]],
    periods: int,
    per_period: int,
) -> Int64Array:
    """(edges, periods) sums of each edge's counter over `per_period` steps (zeros for an edge
    without one), stacked a block of edges at a time."""
    sums = np.zeros((len(pairs), periods), dtype=np.int64)
    used = periods * per_period
    for block in _blocks(len(pairs), used):
        present = [(k, counters[pairs[k]]) for k in block if pairs[k] in counters]
        if present:
            stacked = np.stack([c[:used] for _, c in present])
            sums[[k for k, _ in present]] = stacked.reshape(-1, periods, per_period).sum(axis=2)
    return sums


def service_graph_daily(telemetry: FleetTelemetry) -> pl.DataFrame:
    """(day, client, server, calls): what a tracing service graph reports per UTC day."""
    per_day = 86400 // telemetry.step_seconds
    days = telemetry.steps // per_day
    pairs = sorted(telemetry.edge_calls)
    totals = _edge_sums(telemetry.edge_calls, pairs, days, per_day)
    edge = np.repeat(np.arange(len(pairs)), days)
    first = telemetry.start.date()
    dates = [first + timedelta(days=d) for d in range(days)]
    return pl.DataFrame(
        {
            "day": pl.Series(dates * len(pairs), dtype=pl.Date()),
            "client": pl.Series([c for c, _ in pairs], dtype=pl.String()).gather(edge),
            "server": pl.Series([s for _, s in pairs], dtype=pl.String()).gather(edge),
            "calls": totals.ravel(),
        },
        schema={"day": pl.Date(), "client": pl.String(), "server": pl.String(),
                "calls": pl.Int64()},
    )  # fmt: skip


def service_graph_hourly(
    telemetry: FleetTelemetry, pairs: Sequence[tuple[str, str]] | None = None
) -> pl.DataFrame:
    """(client, server, hour, calls, failed) for every edge with calls (or those of `pairs`, in
    that order: a writer's block of edges) and every whole hour, in the EDGE_HOURLY_SCHEMA
    (hour = its start), sorted by edge then hour."""
    per_hour = telemetry.steps_per_hour
    hours = telemetry.steps // per_hour
    pairs = sorted(telemetry.edge_calls) if pairs is None else list(pairs)
    if not pairs or not hours:
        return pl.DataFrame(schema=EDGE_HOURLY_SCHEMA)
    calls = _edge_sums(telemetry.edge_calls, pairs, hours, per_hour)
    failed = _edge_sums(telemetry.edge_failed, pairs, hours, per_hour)
    edge = pl.Series(np.repeat(np.arange(len(pairs)), hours))
    return pl.DataFrame(
        {
            "client": pl.Series([c for c, _ in pairs], dtype=pl.String()).gather(edge),
            "server": pl.Series([s for _, s in pairs], dtype=pl.String()).gather(edge),
            "hour": _hour_stamps(telemetry.start, hours, len(pairs)),
            "calls": calls.ravel(),
            "failed": failed.ravel(),
        },
        schema=EDGE_HOURLY_SCHEMA,
    )


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


#: A whole-horizon source of series for OpenMetrics: blocks of services (every step of each)
#: and, per edge, its calls and failed calls.
ServiceBlocks = Callable[[], Iterator[FleetTelemetry]]
EdgeSeries = Callable[[], Iterator[tuple[tuple[str, str], Int64Array, Int64Array]]]


def openmetrics_lines(telemetry: FleetTelemetry, progress: Any | None = None) -> Iterator[str]:
    """OpenMetrics text (for `promtool tsdb create-blocks-from openmetrics`) of the raw counters
    of a fleet held in memory (a streamed fleet: `TelemetrySpool.openmetrics_lines`).

    Counters are cumulative from the first sample, one sample per step; each metric family is
    written contiguously, as the format requires. `progress(k)` is called after each service.
    """
    zeros = np.zeros(telemetry.steps, dtype=np.int64)

    def edges() -> Iterator[tuple[tuple[str, str], Int64Array, Int64Array]]:
        for pair in sorted(telemetry.edge_calls):
            yield pair, telemetry.edge_calls[pair], telemetry.edge_failed.get(pair, zeros)

    cpu = telemetry.cpu_periods_per_step if telemetry.cpu_throttled is not None else 0
    return _openmetrics(
        telemetry.services, telemetry.step_times(), cpu, lambda: iter([telemetry]), edges,
        progress,
    )  # fmt: skip


def _openmetrics(
    services: list[str],
    step_times: FloatArray,
    cpu_periods_per_step: int,
    service_blocks: ServiceBlocks,
    edge_series: EdgeSeries,
    progress: Any | None,
) -> Iterator[str]:
    """The OpenMetrics families, each read in one pass over `service_blocks` or `edge_series`
    (whole-horizon blocks of services, in `services` order): a family is one contiguous run,
    so a source that cannot hold the fleet is read once per family instead."""
    times = [f"{t:.0f}" for t in step_times]
    yield "# HELP http_requests Requests served, by status code.\n"
    yield "# TYPE http_requests counter\n"
    for block in service_blocks():
        for i, service in enumerate(block.services):
            ok = np.cumsum(block.requests[i] - block.errors[i])
            bad = np.cumsum(block.errors[i])
            for status, series in (("200", ok), ("500", bad)):
                label = _labels(service=service, status=status)
                yield "".join(
                    f"http_requests_total{label} {v} {t}\n"
                    for v, t in zip(series, times, strict=True)
                )
    yield "# HELP http_request_duration_seconds Request latency.\n"
    yield "# TYPE http_request_duration_seconds histogram\n"
    bounds = [repr(float(b)) for b in LATENCY_BUCKETS] + ["+Inf"]
    written = 0
    for block in service_blocks():
        for i, service in enumerate(block.services):
            cumulative = np.cumsum(block.bucket_counts(i), axis=0)
            mean = block.latency_median[i] * math.exp(block.latency_sigma[i] ** 2 / 2)
            total_seconds = np.cumsum(block.requests[i] * mean)
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
            written += 1
            if progress is not None:
                progress(written)
    if cpu_periods_per_step:
        periods = np.cumsum(np.full(len(times), cpu_periods_per_step))
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
        for block in service_blocks():
            assert block.cpu_throttled is not None  # a source with CPU periods has throttling
            for i, service in enumerate(block.services):
                label = _labels(service=service)
                series = np.cumsum(block.cpu_throttled[i], dtype=np.int64)
                yield "".join(
                    f"container_cpu_cfs_throttled_periods_total{label} {v} {t}\n"
                    for v, t in zip(series, times, strict=True)
                )
    yield "# HELP traces_service_graph_request Calls between services seen in traces.\n"
    yield "# TYPE traces_service_graph_request counter\n"
    for (client, server), calls, _ in edge_series():
        label = _labels(client=client, server=server)
        yield "".join(
            f"traces_service_graph_request_total{label} {v} {t}\n"
            for v, t in zip(np.cumsum(calls), times, strict=True)
        )
    yield "# HELP traces_service_graph_request_failed Failed calls between services.\n"
    yield "# TYPE traces_service_graph_request_failed counter\n"
    for (client, server), _, failed in edge_series():
        label = _labels(client=client, server=server)
        yield "".join(
            f"traces_service_graph_request_failed_total{label} {v} {t}\n"
            for v, t in zip(np.cumsum(failed), times, strict=True)
        )
    yield "# EOF\n"


class TelemetrySpool:
    """Streamed days kept on disk until the whole horizon can be written per series.

    OpenMetrics wants each series' samples together, across every day, while the generator
    draws a day of every service at a time. Each day's counters go to one .npy file per array
    (`add`); `openmetrics_lines` then reads a block of services (or edges) across all days at a
    time, so memory holds one block's horizon, never the fleet's. Latency is not stored: the
    plan recomputes it (`FleetPlan.latency_median`).
    """

    ARRAYS = ("requests", "errors", "cpu_throttled", "edge_calls", "edge_failed")

    def __init__(self, folder: Path, plan: FleetPlan) -> None:
        self.folder = folder
        self.plan = plan
        self.pairs = plan.edge_pairs()
        self.drawn: set[int] = set()

    def _path(self, name: str, d: int) -> Path:
        return self.folder / f"{name}-{d:04d}.npy"

    def add(self, d: int, day: FleetTelemetry) -> None:
        """Keep day d's counters (as `FleetPlan.day(d)` drew them)."""
        assert day.cpu_throttled is not None  # the generator always draws throttling
        np.save(self._path("requests", d), day.requests)
        np.save(self._path("errors", d), day.errors)
        np.save(self._path("cpu_throttled", d), day.cpu_throttled)
        for name, counters in (("edge_calls", day.edge_calls), ("edge_failed", day.edge_failed)):
            stacked = np.empty((len(self.pairs), day.steps), dtype=np.int64)
            for k, pair in enumerate(self.pairs):
                stacked[k] = counters[pair]
            np.save(self._path(name, d), stacked)
        self.drawn.add(d)

    def _rows(self, name: str, rows: range) -> npt.NDArray[Any]:
        """Rows `rows` of array `name` over every day, read from each day's file through a
        memory map that is dropped at once (so the pages read do not stay resident)."""
        per_day = self.plan.steps_per_day
        parts = []
        for d in range(self.plan.days):
            mapped = np.load(self._path(name, d), mmap_mode="r")
            parts.append(np.array(mapped[rows.start : rows.stop]))
            del mapped
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(rows), per_day))

    def _service_blocks(self) -> Iterator[FleetTelemetry]:
        plan = self.plan
        everything = range(plan.steps)
        for block in _blocks(len(plan.services), plan.steps * (len(LATENCY_BUCKETS) + 1)):
            yield FleetTelemetry(
                services=plan.services[block.start : block.stop],
                start=plan.start,
                step_seconds=plan.step_seconds,
                requests=self._rows("requests", block),
                errors=self._rows("errors", block),
                latency_median=plan.latency_median(block, everything),
                latency_sigma=plan.sigma[block.start : block.stop],
                cpu_throttled=self._rows("cpu_throttled", block),
                cpu_periods_per_step=plan.cpu_periods_per_step,
            )

    def _edge_series(self) -> Iterator[tuple[tuple[str, str], Int64Array, Int64Array]]:
        for block in _blocks(len(self.pairs), 2 * self.plan.steps):
            calls, failed = self._rows("edge_calls", block), self._rows("edge_failed", block)
            for k, pair in enumerate(self.pairs[block.start : block.stop]):
                yield pair, calls[k], failed[k]

    def openmetrics_lines(self, progress: Any | None = None) -> Iterator[str]:
        """The same text as `openmetrics_lines` of the concatenated days."""
        missing = set(range(self.plan.days)) - self.drawn
        if missing:
            raise ValueError(f"days {sorted(missing)} were never added to the spool")
        start = self.plan.start.timestamp()
        times = (start + self.plan.step_seconds * (np.arange(self.plan.steps) + 1.0)).astype(
            np.float64
        )
        return _openmetrics(
            self.plan.services, times, self.plan.cpu_periods_per_step, self._service_blocks,
            self._edge_series, progress,
        )  # fmt: skip
