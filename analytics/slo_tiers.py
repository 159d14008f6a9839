"""Three tiers of SLO targets per service, each with the evidence for it.

Availability tiers are levels the service's history says it meets in most months — conservative
in 99.9% of simulated months, balanced in 99% (and never above what its dependencies allow),
aggressive in 95% — so a tier is a statement about observed behaviour, not a wish. The balanced
tier is capped by the composite bound, but never below the availability the service actually
delivered over the lookback. Latency tiers are the observed p99.9 / p99 / p95 of the whole
lookback plus a noise margin for shared infrastructure. Every target carries its monthly breach
probability, the share of historical 24 h windows that would have breached it, and a bootstrap
confidence interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from analytics.composite_availability import EXTERNAL_SLA_ADJUSTMENT_PP, external_availability
from analytics.latency_histogram import histogram_quantile

MINUTES_PER_MONTH = 365 * 24 * 60 / 12  # 43,800: the TRD's error-budget month
AVAILABILITY_LEVELS = {"conservative": 0.001, "balanced": 0.01, "aggressive": 0.05}
LATENCY_QUANTILES = {"conservative": 0.999, "balanced": 0.99, "aggressive": 0.95}
LATENCY_PERCENTILE_NAMES = {"conservative": "p99.9", "balanced": "p99", "aggressive": "p95"}
MIN_DAYS = 7  # below this, history says too little: archetype baselines
FULL_CONFIDENCE_DAYS = 30
MONTH_DRAWS = 4000  # simulated months behind each target and breach probability
INTERVAL_RESAMPLES = 50  # resamples of the observed days behind each interval
INTERVAL_DRAWS = 200  # simulated months per resample
#: How much more than PRIOR_DAYS each tier weighs the fleet's bad days.
TIER_PRIOR_FACTORS = {"conservative": 6.0, "balanced": 1.5, "aggressive": 1.0}
PRIOR_DAYS = 10.0  # weight of the fleet's experience, in days of a service's own history
FLEET_PROFILES = 2000  # fleet bad-day profiles sampled into each service's day table

#: TRD cold-start archetypes: (availability %, p99 latency ms).
ARCHETYPES: dict[str, tuple[float, float]] = {
    "api_gateway": (99.95, 200.0),
    "bff": (99.9, 500.0),
    "backend": (99.9, 500.0),
    "consumer": (99.9, 500.0),
    "datastore": (99.95, 200.0),
    "cache": (99.95, 200.0),
    "queue": (99.95, 200.0),
    "external": (99.5, 2000.0),
}


@dataclass(frozen=True)
class AvailabilityTier:
    target: float  # percent
    error_budget_monthly_minutes: float
    estimated_breach_probability: float
    historical_breach_share: float
    confidence_interval: tuple[float, float]


@dataclass(frozen=True)
class LatencyTier:
    target_ms: float
    percentile: str
    estimated_breach_probability: float


@dataclass(frozen=True)
class DataQuality:
    data_completeness: float
    days_with_data: int
    telemetry_gaps: tuple[tuple[int, int], ...]  # [start, end) hour offsets without data
    confidence: str  # high | medium | low
    confidence_note: str


@dataclass(frozen=True)
class TierSet:
    availability: dict[str, AvailabilityTier]
    latency: dict[str, LatencyTier]
    data_quality: DataQuality
    observed_availability: float | None
    capped_by_composite: bool
    cold_start: bool
    notes: tuple[str, ...] = field(default=())
    cpu_throttling_ratio: float | None = None
    latency_noise_margin: float = 0.05
    #: Before the cap, for counterfactuals: each tier's level (percent), and the merged p99 (s).
    raw_levels: dict[str, float] | None = None
    absorbs: bool = False
    composite_bound: float | None = None
    promised_bound: float | None = None
    observed_p99_s: float | None = None
    availability_source: str = "history"  # history | archetype | published_sla

    @property
    def uncapped_balanced(self) -> float | None:
        return self.raw_levels["balanced"] if self.raw_levels else None


def error_budget_minutes(target_percent: float) -> float:
    return round((1 - target_percent / 100) * MINUTES_PER_MONTH, 1)


def floor_to(value: float, decimals: int = 3) -> float:
    """Round a percentage down: a target must not promise more than was measured."""
    scale: float = 10.0**decimals
    return math.floor(value * scale + 1e-9) / scale


#: Throttling below this share of CFS periods is background noise; at THROTTLING_HIGH and above
#: the latency margin doubles (a throttled container's tail latency moves with its neighbours).
THROTTLING_NORMAL = 0.05
THROTTLING_HIGH = 0.25


def noise_margin(cpu_throttling_ratio: float | None) -> float:
    """5% headroom for shared infrastructure, growing to 10% as CPU throttling gets high."""
    if not cpu_throttling_ratio or cpu_throttling_ratio <= THROTTLING_NORMAL:
        return 0.05
    excess = (float(cpu_throttling_ratio) - THROTTLING_NORMAL) / (
        THROTTLING_HIGH - THROTTLING_NORMAL
    )
    return 0.05 + 0.05 * min(1.0, excess)


def telemetry_gaps(has_data: npt.NDArray[np.bool_]) -> tuple[tuple[int, int], ...]:
    edges = np.diff(np.concatenate([[1], has_data.astype(np.int8), [1]]))
    starts, ends = np.flatnonzero(edges == -1), np.flatnonzero(edges == 1)
    return tuple((int(a), int(b)) for a, b in zip(starts, ends, strict=True))


def rolling_availability(
    requests: npt.NDArray[np.float64], errors: npt.NDArray[np.float64], window: int
) -> npt.NDArray[np.float64]:
    """Request-weighted availability of every `window`-hour window (step 1 h) with traffic."""
    if len(requests) < window:
        window = len(requests)
    req = np.convolve(requests, np.ones(window), mode="valid")
    err = np.convolve(errors, np.ones(window), mode="valid")
    keep = req > 0
    return np.asarray(1.0 - err[keep] / req[keep], dtype=np.float64)


def _daily(values: npt.NDArray[np.float64], days: int) -> npt.NDArray[np.float64]:
    return np.asarray(values[: days * 24].reshape(days, 24).sum(axis=1), dtype=np.float64)


def monthly_availability(
    daily_requests: npt.NDArray[np.float64],
    daily_errors: npt.NDArray[np.float64],
    draws: npt.NDArray[np.intp],
    month_requests: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """Availability of simulated 30-day periods: rows of `draws` index the observed days.

    The fleet run calls this ~20,000 times: `np.take` with native-width, writable indices
    (`_index_tables` says why both) and a matrix product for the month sums (BLAS) are 3×
    faster than fancy indexing and `sum`.
    `month_requests` (the same draws' request sums) spares a what-if whose errors alone
    changed half the work."""
    days = np.ones(draws.shape[-1])
    month_req = (
        month_requests if month_requests is not None else np.take(daily_requests, draws) @ days
    )
    month_err = np.take(daily_errors, draws) @ days
    return np.asarray(1.0 - month_err / np.maximum(month_req, 1.0), dtype=np.float64)


def fleet_excess_pool(
    daily_requests: npt.NDArray[np.float64], daily_errors: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Every service-day's error ratio above that service's median day (services × days in)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = daily_errors / daily_requests
    normal = np.nanmedian(ratios, axis=1, keepdims=True)
    excess = np.clip(ratios - normal, 0.0, 1.0)
    return np.asarray(excess[~np.isnan(excess)], dtype=np.float64)


#: The fleet prior is kept as this many evenly spaced quantiles of the fleet's bad-day excess:
#: the same distribution for the draws, small enough to publish beside the recommendations so
#: that `force_regenerate` uses the prior the daily run used, and independent of row order.
PRIOR_POINTS = 1024


def fleet_prior(
    daily_requests: npt.NDArray[np.float64], daily_errors: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64] | None:
    """The fleet prior (services × days in): `fleet_excess_pool` as PRIOR_POINTS quantiles."""
    pool = fleet_excess_pool(daily_requests, daily_errors)
    if not len(pool):
        return None
    return np.asarray(np.quantile(pool, np.linspace(0.0, 1.0, PRIOR_POINTS)), dtype=np.float64)


def _with_fleet_days(
    daily_req: npt.NDArray[np.float64],
    daily_err: npt.NDArray[np.float64],
    fleet_excess: npt.NDArray[np.float64] | None,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float]:
    """The service's day table extended with fleet bad-day profiles at its own traffic."""
    if fleet_excess is None or not len(fleet_excess) or not len(daily_req):
        return daily_req, daily_err, 0.0
    profiles = rng.choice(fleet_excess, size=FLEET_PROFILES)
    traffic = rng.choice(daily_req, size=FLEET_PROFILES)
    normal = float(np.median(daily_err / daily_req))
    synthetic_err = traffic * np.clip(normal + profiles, 0.0, 1.0)
    share = PRIOR_DAYS / (PRIOR_DAYS + len(daily_req))
    return (
        np.concatenate([daily_req, traffic]),
        np.concatenate([daily_err, synthetic_err]),
        share,
    )


#: The day-index tables only depend on the shape of a history, so they are drawn from a
#: constant seed and shared by every service; what is particular to a service (which fleet
#: bad days it borrows) is drawn from its own seed.
TABLE_SEED = 0


@lru_cache(maxsize=32)
def _index_tables(
    n: int, extra: int, prior_share: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Which days each simulated month draws: for the targets, and for the nested interval
    (outer resamples of the observed days × inner months). Only the shape of a service's
    history matters here, so one table serves every service with as many days (the fleet's
    usual case): the pipeline draws its random numbers once, not once per service."""
    rng = np.random.default_rng(TABLE_SEED + 1)

    def mix(picks: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        if prior_share <= 0 or extra <= 0:
            return picks
        # One uniform decides both whether a day is a fleet day and which one.
        u = rng.random(picks.shape, dtype=np.float32)
        fleet_day = np.minimum((u * (extra / prior_share)).astype(np.int32), extra - 1)
        return np.asarray(np.where(u < prior_share, n + fleet_day, picks), dtype=np.int32)

    draws = mix(rng.integers(0, n, size=(MONTH_DRAWS, 30), dtype=np.int32))
    outer = rng.integers(0, n, size=(INTERVAL_RESAMPLES, n), dtype=np.int32)
    inner = rng.integers(0, n, size=(INTERVAL_DRAWS, 30), dtype=np.int32)
    resampled = mix(outer[:, inner])  # (resamples, draws, 30)
    # Native-width, writable indices: `np.take` copies indices that are not C-contiguous,
    # native `intp` and writable on every call. A read-only table (the obvious guard for a
    # cached array) made each take copy 2.4 MB and fault it in: 10x slower, 60 % of a shard.
    # Nothing writes to them: `monthly_availability` only reads.
    return draws.astype(np.intp), resampled.astype(np.intp)


def _tier_shares(prior_share: float, n: int) -> dict[str, float]:
    """Each tier's weight of the fleet's bad days: safer tiers weigh them more."""
    shares = {}
    for tier, factor in TIER_PRIOR_FACTORS.items():
        if prior_share <= 0 or factor <= 1:
            shares[tier] = prior_share
        else:
            heavy = factor * PRIOR_DAYS
            shares[tier] = heavy / (heavy + n)
    return shares


def _raw_levels(
    table_req: npt.NDArray[np.float64],
    table_err: npt.NDArray[np.float64],
    n: int,
    prior_share: float,
    *,
    resampled: bool,
    tiers: Sequence[str] = tuple(AVAILABILITY_LEVELS),
    request_months: dict[float, npt.NDArray[np.float64]] | None = None,
) -> tuple[dict[str, npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    """Each tier's level (percent) before the bound: the tier's quantile of simulated months,
    and for a safer tier also of months weighing the fleet's bad days more (the lower wins).
    With `resampled`, one level per resample of the observed days (the interval's statistic);
    also returns the months behind the plain targets. Only `tiers` are computed (a what-if
    needs the balanced one alone), and each weighting's months take one quantile call.
    `request_months` caches the months' request sums across what-ifs of one service (they
    change its errors, never its requests)."""
    extra = len(table_req) - n
    shares = _tier_shares(prior_share, n)
    wanted: dict[float, set[str]] = {prior_share: set(tiers)}
    for tier in tiers:
        wanted.setdefault(shares[tier], set()).add(tier)
    months: dict[float, npt.NDArray[np.float64]] = {}
    quantiles: dict[tuple[float, str], npt.NDArray[np.float64]] = {}
    for share, for_tiers in wanted.items():
        draws, nested = _index_tables(n, extra, share)
        table = nested if resampled else draws
        if request_months is not None and not resampled:
            if share not in request_months:
                request_months[share] = np.take(table_req, table) @ np.ones(table.shape[-1])
            months[share] = monthly_availability(table_req, table_err, table, request_months[share])
        else:
            months[share] = monthly_availability(table_req, table_err, table)
        names = sorted(for_tiers)
        values = np.quantile(months[share], [AVAILABILITY_LEVELS[t] for t in names], axis=-1)
        for k, tier in enumerate(names):
            quantiles[(share, tier)] = np.asarray(values[k], dtype=np.float64) * 100
    levels = {}
    for tier in tiers:
        value = quantiles[(prior_share, tier)]
        if shares[tier] != prior_share:
            value = np.minimum(value, quantiles[(shares[tier], tier)])
        levels[tier] = value
    return levels, months[prior_share]


def shape_tiers(
    raw: dict[str, npt.NDArray[np.float64]] | dict[str, float],
    composite_bound: float | None,
    observed: float,
    *,
    absorbs: bool = False,
    promised: float | None = None,
) -> dict[str, npt.NDArray[np.float64]]:
    """The bound's cap and the tiers' order applied to raw levels (percent): the one step the
    targets, their intervals and every counterfactual go through. `promised` (the bound if the
    dependencies delivered only their accepted SLOs) caps the conservative tier."""
    uncapped = np.asarray(raw["balanced"], dtype=np.float64)
    balanced = balanced_under_bound(uncapped, composite_bound, observed, absorbs=absorbs)
    conservative = np.minimum(np.asarray(raw["conservative"], dtype=np.float64), balanced)
    if promised is not None:
        conservative = np.minimum(conservative, promised * 100)
    return {
        "conservative": conservative,
        "balanced": balanced,
        "aggressive": np.maximum(np.asarray(raw["aggressive"], dtype=np.float64), balanced),
    }


def availability_tiers(
    requests: npt.ArrayLike,
    errors: npt.ArrayLike,
    *,
    composite_bound: float | None = None,
    window_hours: int = 24,
    seed: int = 0,
    fleet_excess: npt.NDArray[np.float64] | None = None,
    absorbs: bool = False,
    with_interval: bool = True,
    promised_bound: float | None = None,
) -> tuple[dict[str, AvailabilityTier], float, bool]:
    """Tiers from hourly counts. Returns (tiers, observed availability, capped by the bound).

    An SLO is judged over a month, so the tiers are quantiles of the availability of simulated
    months — 30 days drawn with replacement from the observed ones, which keeps each day's
    incidents whole: a target met by 99.9% / 99% / 95% of such months. The interval bootstraps
    each tier's own statistic: the observed days are resampled and the whole tier is recomputed
    on each resample (same prior weight, same cap, same ordering), so a short or
    incident-heavy history shows as a wide interval and the target lies inside it.

    A month of history rarely shows the incidents the next month will bring: a service that
    was lucky would get a target it cannot keep. With `fleet_excess` (the fleet's daily error
    ratios above each service's own normal, see `fleet_excess_pool`), simulated months also
    draw the fleet's bad days, with the weight of PRIOR_DAYS pseudo-days against the service's
    own: an empirical-Bayes prior that fades as a service's own history grows. `seed` chooses
    which of the fleet's bad days this service borrows: the pipeline derives it from (partition,
    service, graph), so the same inputs give the same recommendation.
    """
    levels, _, observed, capped, months, windows = _availability_levels(
        requests, errors, composite_bound, window_hours, seed, fleet_excess, absorbs,
        with_interval, promised_bound,
    )  # fmt: skip
    tiers = _availability_tier_objects(levels, months, windows)
    return tiers, observed, capped


def balanced_target(
    requests: npt.ArrayLike,
    errors: npt.ArrayLike,
    *,
    composite_bound: float | None = None,
    seed: int = 0,
    fleet_excess: npt.NDArray[np.float64] | None = None,
    absorbs: bool = False,
    request_months: dict[float, npt.NDArray[np.float64]] | None = None,
) -> float:
    """The balanced target alone, by the same steps as `availability_tiers` (the what-ifs'
    answer: a third of the work of all three tiers, and no interval). Pass one dict as
    `request_months` to every what-if of a service: its requests never change."""
    _, _, observed, n, table_req, table_err, prior_share = _day_tables(
        requests, errors, seed, fleet_excess
    )
    raw, _ = _raw_levels(table_req, table_err, n, prior_share, resampled=False,
                         tiers=("balanced",), request_months=request_months)  # fmt: skip
    return floor_to(
        float(balanced_under_bound(raw["balanced"], composite_bound, observed, absorbs=absorbs))
    )


def _day_tables(
    requests: npt.ArrayLike,
    errors: npt.ArrayLike,
    seed: int,
    fleet_excess: npt.NDArray[np.float64] | None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    float,
    int,
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    float,
]:
    """Hourly counts → (requests, errors, observed availability, days with traffic, the day
    table with the fleet's bad days appended (requests, errors), the prior's share)."""
    req = np.nan_to_num(np.asarray(requests, dtype=np.float64))
    err = np.nan_to_num(np.asarray(errors, dtype=np.float64))
    observed = float(1.0 - err.sum() / req.sum()) if req.sum() > 0 else 1.0
    days = len(req) // 24
    daily_req, daily_err = _daily(req, days), _daily(err, days)
    traffic = daily_req > 0
    daily_req, daily_err = daily_req[traffic], daily_err[traffic]
    n = max(1, len(daily_req))
    rng = np.random.default_rng(seed)
    table_req, table_err, prior_share = _with_fleet_days(daily_req, daily_err, fleet_excess, rng)
    return req, err, observed, n, table_req, table_err, prior_share


def _availability_levels(
    requests: npt.ArrayLike,
    errors: npt.ArrayLike,
    composite_bound: float | None,
    window_hours: int,
    seed: int,
    fleet_excess: npt.NDArray[np.float64] | None,
    absorbs: bool,
    with_interval: bool,
    promised_bound: float | None = None,
) -> tuple[
    dict[str, list[float]],
    dict[str, float],
    float,
    bool,
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]:
    """(per tier: [target, interval low, interval high]; raw levels before the bound; observed
    availability; capped; the simulated months; the rolling windows)."""
    req, err, observed, n, table_req, table_err, prior_share = _day_tables(
        requests, errors, seed, fleet_excess
    )
    windows = rolling_availability(req, err, window_hours)
    raw, months = _raw_levels(table_req, table_err, n, prior_share, resampled=False)
    shaped = shape_tiers(raw, composite_bound, observed, absorbs=absorbs, promised=promised_bound)
    capped = bool(shaped["balanced"] < raw["balanced"])
    result = {tier: [float(shaped[tier])] for tier in AVAILABILITY_LEVELS}
    if with_interval:
        per_resample, _ = _raw_levels(table_req, table_err, n, prior_share, resampled=True)
        spread = shape_tiers(
            per_resample, composite_bound, observed, absorbs=absorbs, promised=promised_bound
        )
        for tier in AVAILABILITY_LEVELS:
            low, high = np.quantile(spread[tier], [0.025, 0.975])
            result[tier] += [float(low), float(high)]
    raw_levels = {tier: float(value) for tier, value in raw.items()}
    return result, raw_levels, observed, capped, months, windows


def _availability_tier_objects(
    levels: dict[str, list[float]],
    months: npt.NDArray[np.float64],
    windows: npt.NDArray[np.float64],
) -> dict[str, AvailabilityTier]:
    """Each tier's target (floored), its evidence, and its interval where one was computed
    (`levels[tier]` is [target] or [target, low, high])."""
    tiers = {}
    for tier, (value, *interval) in levels.items():
        target = floor_to(value)
        low, high = (floor_to(v) for v in interval) if interval else (math.nan, math.nan)
        tiers[tier] = AvailabilityTier(
            target=target,
            error_budget_monthly_minutes=error_budget_minutes(target),
            estimated_breach_probability=round(float((months * 100 < target).mean()), 4),
            historical_breach_share=round(float((windows * 100 < target).mean()), 4),
            confidence_interval=(low, high),
        )
    return tiers


def balanced_under_bound(
    uncapped_percent: npt.NDArray[np.float64] | float,
    composite_bound: float | None,
    observed: float,
    *,
    absorbs: bool = False,
) -> npt.NDArray[np.float64]:
    """The balanced level (percent) the composite bound leaves (the TRD: balanced is capped by
    the bound). The bound multiplies *intrinsic* availabilities, so it is not below what a
    service delivered unless something is off; only a service that visibly beats the serial
    model (`absorbs`: its own estimate was capped in many hours: retries, caches, fallbacks)
    keeps what it measured, and its recommendation says so.
    """
    uncapped = np.asarray(uncapped_percent, dtype=np.float64)
    if composite_bound is None:
        return uncapped
    ceiling = max(composite_bound, observed) if absorbs else composite_bound
    return np.asarray(np.minimum(uncapped, ceiling * 100), dtype=np.float64)


def latency_tiers(
    bounds: Sequence[float],
    hourly_buckets: npt.ArrayLike,
    *,
    cpu_throttling_ratio: float | None = None,
) -> dict[str, LatencyTier]:
    """Tiers from hourly cumulative `le` buckets (rows = hours, last column = +Inf)."""
    hourly = np.asarray(hourly_buckets, dtype=np.float64)
    merged = hourly.sum(axis=0, keepdims=True)
    margin = noise_margin(cpu_throttling_ratio)
    tiers = {}
    for tier, q in LATENCY_QUANTILES.items():
        seconds = float(histogram_quantile(q, bounds, merged)[0])
        with_margin = seconds * (1 + margin) if tier != "aggressive" else seconds
        target_ms = math.ceil(with_margin * 1000)
        per_hour = histogram_quantile(q, bounds, hourly)
        per_hour = per_hour[~np.isnan(per_hour)]
        breach = float((per_hour * 1000 > target_ms).mean()) if len(per_hour) else 0.0
        tiers[tier] = LatencyTier(
            target_ms=float(target_ms),
            percentile=LATENCY_PERCENTILE_NAMES[tier],
            estimated_breach_probability=round(breach, 4),
        )
    return tiers


def _capped(tier: AvailabilityTier, ceiling: float) -> AvailabilityTier:
    if tier.target <= ceiling:
        return tier
    return AvailabilityTier(
        target=ceiling,
        error_budget_monthly_minutes=error_budget_minutes(ceiling),
        estimated_breach_probability=tier.estimated_breach_probability,
        historical_breach_share=tier.historical_breach_share,
        confidence_interval=tier.confidence_interval,
    )


def archetype_tiers(
    service_type: str | None, *, availability_percent: float | None = None
) -> tuple[dict[str, AvailabilityTier], dict[str, LatencyTier]]:
    """Cold-start baselines by kind of service (TRD), spread into three tiers; an external's
    published SLA (already adjusted) replaces the archetype's availability."""
    availability, p99_ms = ARCHETYPES.get(service_type or "backend", ARCHETYPES["backend"])
    if availability_percent is not None:
        availability = availability_percent
    spread = {"conservative": -0.4, "balanced": 0.0, "aggressive": +0.04}
    avail = {
        tier: AvailabilityTier(
            target=round(min(99.999, availability + delta), 3),
            error_budget_monthly_minutes=error_budget_minutes(availability + delta),
            estimated_breach_probability=float("nan"),
            historical_breach_share=float("nan"),
            confidence_interval=(float("nan"), float("nan")),
        )
        for tier, delta in spread.items()
    }
    factors = {"conservative": 1.5, "balanced": 1.0, "aggressive": 0.6}
    latency = {
        tier: LatencyTier(p99_ms * f, LATENCY_PERCENTILE_NAMES[tier], float("nan"))
        for tier, f in factors.items()
    }
    return avail, latency


def recommend_tiers(
    requests: npt.ArrayLike,
    errors: npt.ArrayLike,
    bounds: Sequence[float],
    hourly_buckets: npt.ArrayLike,
    has_data: npt.ArrayLike,
    *,
    composite_bound: float | None = None,
    service_type: str | None = None,
    cpu_throttling_ratio: float | None = None,
    seed: int = 0,
    fleet_excess: npt.NDArray[np.float64] | None = None,
    absorbs: bool = False,
    promised_bound: float | None = None,
    published_sla: float | None = None,
    with_interval: bool = True,
) -> TierSet:
    """All tiers for one service from its hourly SLIs over the lookback (hours in order).

    `absorbs`: the service beats the product of its dependencies (see `balanced_under_bound`);
    `promised_bound`: its bound if every hard dependency delivered only its accepted SLO (the
    conservative tier stays below it); `published_sla`: for an external without telemetry."""
    present = np.asarray(has_data, dtype=bool)
    req = np.where(present, np.nan_to_num(np.asarray(requests, dtype=np.float64)), 0.0)
    err = np.where(present, np.nan_to_num(np.asarray(errors, dtype=np.float64)), 0.0)
    completeness = float(present.mean()) if len(present) else 0.0
    days_with_data = (
        int(np.count_nonzero(present.reshape(-1, 24).any(axis=1))) if len(present) >= 24 else 0
    )
    gaps = telemetry_gaps(present)
    notes: list[str] = []
    if days_with_data < MIN_DAYS or req.sum() == 0:
        from_sla = published_sla is not None and service_type == "external"
        avail, latency = archetype_tiers(
            service_type,
            availability_percent=external_availability(published_sla) * 100
            if from_sla and published_sla is not None
            else None,
        )
        confidence = "low"
        note = (
            f"Only {days_with_data} day(s) of data: availability targets come from its "
            f"published SLA of {published_sla:g}% less {EXTERNAL_SLA_ADJUSTMENT_PP:g} pp, "
            "latency targets from the external archetype."
            if from_sla
            else f"Only {days_with_data} day(s) of data: targets are the "
            f"{service_type or 'backend'} archetype baseline, to be re-evaluated when 30 days "
            "have accumulated."
        )
        capped = composite_bound is not None and avail["balanced"].target > composite_bound * 100
        if capped:
            # No history to contradict the dependency model: the bound is all we know.
            assert composite_bound is not None
            ceiling = floor_to(composite_bound * 100)
            avail = {
                tier: _capped(value, ceiling) if tier != "aggressive" else value
                for tier, value in avail.items()
            }
            notes.append(
                "The archetype's balanced target exceeds the dependency bound: it is capped by "
                "the composite availability bound."
            )
        cold = _tier_set(avail, latency, completeness, days_with_data, gaps, confidence, note,
                         observed=None, capped=capped, cold_start=True, notes=notes)  # fmt: skip
        return replace(
            cold,
            composite_bound=composite_bound,
            availability_source="published_sla" if from_sla else "archetype",
        )
    levels, raw, observed, capped, months, windows = _availability_levels(
        req, err, composite_bound, 24, seed, fleet_excess, absorbs, with_interval, promised_bound
    )
    avail = _availability_tier_objects(levels, months, windows)
    buckets = np.asarray(hourly_buckets, dtype=np.float64)[present]
    latency = latency_tiers(bounds, buckets, cpu_throttling_ratio=cpu_throttling_ratio)
    if days_with_data >= FULL_CONFIDENCE_DAYS and completeness >= 0.95:
        confidence = "high"
    elif days_with_data >= FULL_CONFIDENCE_DAYS:
        confidence = "medium"
    else:
        confidence = "low"
    note = f"Based on {days_with_data} days of data with {completeness:.0%} completeness" + (
        "" if confidence == "high" else " (fewer than 30 full days: lower confidence)"
    )
    if capped:
        notes.append("The balanced target is capped by the composite availability bound.")
    if composite_bound is not None and absorbs and observed > composite_bound:
        notes.append(
            f"Measured availability ({observed * 100:.3f}%) beats the serial composite bound "
            f"({composite_bound * 100:.3f}%): in many hours this service failed less than its "
            "hard dependencies did (retries, caches, fallbacks), so its own share was capped "
            "and the cap keeps what it measured. Review whether those edges are really hard."
        )
    if promised_bound is not None and avail["conservative"].target >= floor_to(
        promised_bound * 100
    ):
        notes.append(
            f"The conservative target stays achievable ({promised_bound * 100:.3f}%) if each "
            "hard dependency delivers only its accepted SLO."
        )
    warm = _tier_set(avail, latency, completeness, days_with_data, gaps, confidence, note,
                     observed=observed, capped=capped, cold_start=False, notes=notes)  # fmt: skip
    merged = buckets.sum(axis=0, keepdims=True)
    return replace(
        warm,
        cpu_throttling_ratio=cpu_throttling_ratio,
        latency_noise_margin=noise_margin(cpu_throttling_ratio),
        raw_levels=raw,
        absorbs=absorbs,
        composite_bound=composite_bound,
        promised_bound=promised_bound,
        observed_p99_s=float(histogram_quantile(0.99, bounds, merged)[0]),
    )


def _tier_set(
    availability: dict[str, AvailabilityTier],
    latency: dict[str, LatencyTier],
    completeness: float,
    days_with_data: int,
    gaps: tuple[tuple[int, int], ...],
    confidence: str,
    note: str,
    *,
    observed: float | None,
    capped: bool,
    cold_start: bool,
    notes: list[str],
) -> TierSet:
    return TierSet(
        availability=availability,
        latency=latency,
        data_quality=DataQuality(completeness, days_with_data, gaps, confidence, note),
        observed_availability=observed,
        capped_by_composite=capped,
        cold_start=cold_start,
        notes=tuple(notes),
    )


def unachievable_target_warning(desired_percent: float, bound: float) -> str | None:
    """The TRD's explicit warning, with Google's 10× rule for the dependencies."""
    if bound * 100 >= desired_percent:
        return None
    per_dependency = 100 - (100 - desired_percent) / 10
    return (
        f"The desired target of {desired_percent:g}% is unachievable. Composite availability "
        f"bound is {bound * 100:.2f}% given current dependency chain. To achieve "
        f"{desired_percent:g}%, each critical dependency must be at least {per_dependency:g}% "
        "(Google's 10x rule)."
    )
