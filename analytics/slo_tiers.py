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
    #: Before the cap, for counterfactuals: the balanced level (percent) and the merged p99 (s).
    uncapped_balanced: float | None = None
    observed_p99_s: float | None = None


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
) -> npt.NDArray[np.float64]:
    """Availability of simulated 30-day periods: rows of `draws` index the observed days.

    The fleet run calls this ~20,000 times: `np.take` with native-width indices and a
    matrix product for the month sums (BLAS) are 3× faster than fancy indexing and `sum`."""
    days = np.ones(draws.shape[-1])
    month_req = np.take(daily_requests, draws) @ days
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


@lru_cache(maxsize=32)
def _index_tables(
    n: int, extra: int, prior_share: float, seed: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Which days each simulated month draws: for the targets, and for the nested interval
    (outer resamples of the observed days × inner months). Only the shape of a service's
    history matters here, so one table serves every service with as many days (the fleet's
    usual case): the pipeline draws its random numbers once, not once per service."""
    rng = np.random.default_rng(seed + 1)

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
    # Native-width indices: `np.take` converts int32 ones on every call.
    tables = draws.astype(np.intp), resampled.astype(np.intp)
    for table in tables:
        table.setflags(write=False)
    return tables


def availability_tiers(
    requests: npt.ArrayLike,
    errors: npt.ArrayLike,
    *,
    composite_bound: float | None = None,
    window_hours: int = 24,
    seed: int = 0,
    fleet_excess: npt.NDArray[np.float64] | None = None,
) -> tuple[dict[str, AvailabilityTier], float, bool]:
    """Tiers from hourly counts. Returns (tiers, observed availability, capped by the bound).

    An SLO is judged over a month, so the tiers are quantiles of the availability of simulated
    months — 30 days drawn with replacement from the observed ones, which keeps each day's
    incidents whole: a target met by 99.9% / 99% / 95% of such months. The interval comes from
    resampling the observed days themselves and recomputing the tier (a bootstrap around the
    bootstrap), so a short or incident-heavy history shows as a wide interval.

    A month of history rarely shows the incidents the next month will bring: a service that
    was lucky would get a target it cannot keep. With `fleet_excess` (the fleet's daily error
    ratios above each service's own normal, see `fleet_excess_pool`), simulated months also
    draw the fleet's bad days, with the weight of PRIOR_DAYS pseudo-days against the service's
    own: an empirical-Bayes prior that fades as a service's own history grows.
    """
    req = np.nan_to_num(np.asarray(requests, dtype=np.float64))
    err = np.nan_to_num(np.asarray(errors, dtype=np.float64))
    observed = 1.0 - err.sum() / req.sum() if req.sum() > 0 else 1.0
    windows = rolling_availability(req, err, window_hours)
    days = len(req) // 24
    daily_req, daily_err = _daily(req, days), _daily(err, days)
    traffic = daily_req > 0
    daily_req, daily_err = daily_req[traffic], daily_err[traffic]
    n = max(1, len(daily_req))
    rng = np.random.default_rng(seed)
    table_req, table_err, prior_share = _with_fleet_days(daily_req, daily_err, fleet_excess, rng)

    draws, resampled = _index_tables(n, len(table_req) - n, prior_share, seed)
    monthly = monthly_availability(table_req, table_err, draws)
    levels = np.array(list(AVAILABILITY_LEVELS.values()))
    raw = dict(zip(AVAILABILITY_LEVELS, (np.quantile(monthly, levels) * 100).tolist(), strict=True))
    for tier, factor in TIER_PRIOR_FACTORS.items():
        if prior_share <= 0 or factor <= 1:
            continue
        # Safer tiers must also survive what this service has not shown yet: their months
        # draw the fleet's bad days with more weight.
        heavy = factor * PRIOR_DAYS
        heavy_draws, _ = _index_tables(n, len(table_req) - n, heavy / (heavy + n), seed)
        pessimistic = monthly_availability(table_req, table_err, heavy_draws)
        level = float(np.quantile(pessimistic, AVAILABILITY_LEVELS[tier])) * 100
        raw[tier] = min(raw[tier], level)
    per_resample = np.quantile(
        monthly_availability(table_req, table_err, resampled), levels, axis=1
    )  # (levels, resamples)
    low, high = np.quantile(per_resample, [0.025, 0.975], axis=1) * 100

    uncapped = raw["balanced"]
    raw["balanced"] = balanced_under_bound(uncapped, composite_bound, float(observed))
    capped = raw["balanced"] < uncapped
    raw["conservative"] = min(raw["conservative"], raw["balanced"])
    raw["aggressive"] = max(raw["aggressive"], raw["balanced"])
    tiers = {}
    for k, tier in enumerate(AVAILABILITY_LEVELS):
        target = floor_to(raw[tier])
        tiers[tier] = AvailabilityTier(
            target=target,
            error_budget_monthly_minutes=error_budget_minutes(target),
            estimated_breach_probability=round(float((monthly * 100 < target).mean()), 4),
            historical_breach_share=round(float((windows * 100 < target).mean()), 4),
            confidence_interval=(floor_to(float(low[k])), floor_to(float(high[k]))),
        )
    return tiers, float(observed), capped


def balanced_under_bound(
    uncapped_percent: float, composite_bound: float | None, observed: float
) -> float:
    """The balanced level (percent) the composite bound leaves: the tiers and the
    counterfactuals both go through here, so "what if" answers are the recommender's own.

    A service that delivered more than the serial model allows absorbs some of its
    dependencies' failures (retries, caches, fallbacks): the model, not the history, is wrong
    for it, so the cap never goes below what was measured.
    """
    if composite_bound is None:
        return uncapped_percent
    return min(uncapped_percent, max(composite_bound, observed) * 100)


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
    service_type: str | None,
) -> tuple[dict[str, AvailabilityTier], dict[str, LatencyTier]]:
    """Cold-start baselines by kind of service (TRD), spread into three tiers."""
    availability, p99_ms = ARCHETYPES.get(service_type or "backend", ARCHETYPES["backend"])
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
) -> TierSet:
    """All tiers for one service from its hourly SLIs over the lookback (hours in order)."""
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
        avail, latency = archetype_tiers(service_type)
        confidence = "low"
        note = (
            f"Only {days_with_data} day(s) of data: targets are the "
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
        return _tier_set(avail, latency, completeness, days_with_data, gaps, confidence, note,
                         observed=None, capped=capped, cold_start=True, notes=notes)  # fmt: skip
    avail, observed, capped = availability_tiers(
        req, err, composite_bound=composite_bound, seed=seed, fleet_excess=fleet_excess
    )
    # The level before the cap, recovered without a second bootstrap.
    uncapped = (
        availability_tiers(req, err, seed=seed, fleet_excess=fleet_excess)[0]["balanced"].target
        if capped
        else avail["balanced"].target
    )
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
    if composite_bound is not None and observed > composite_bound:
        notes.append(
            f"Measured availability ({observed * 100:.3f}%) beats the serial composite bound "
            f"({composite_bound * 100:.3f}%): this service absorbs part of its hard "
            "dependencies' failures (retries, caches, fallbacks), so the bound is reported but "
            "does not lower the target. Review whether those edges are really hard."
        )
    warm = _tier_set(avail, latency, completeness, days_with_data, gaps, confidence, note,
                     observed=observed, capped=capped, cold_start=False, notes=notes)  # fmt: skip
    merged = buckets.sum(axis=0, keepdims=True)
    return replace(
        warm,
        cpu_throttling_ratio=cpu_throttling_ratio,
        latency_noise_margin=noise_margin(cpu_throttling_ratio),
        uncapped_balanced=uncapped,
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
