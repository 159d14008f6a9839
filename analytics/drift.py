"""Has a service's latency changed under its SLO? Three detectors and a majority (TRD FR-9).

The signal is the log of each hour's p99 (a 20% regression is the same step for a 50 ms and a
2 s service), standardised by the baseline's median and MAD so one threshold fits the fleet.
Page-Hinkley (river) watches the cumulative deviation, ADWIN (river) a change of mean
between adaptive windows, and a two-sample Kolmogorov-Smirnov test (scipy) compares the recent
hours with the baseline's. Drift is confirmed when at least two agree *and* the recent median
moved by at least `min_shift`: a one-hour incident trips the streaming detectors but moves
no median, and it is not what re-recommending an SLO is for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from river import drift
from scipy import stats

MIN_HOURS_BASELINE = 72  # fewer hours of history: no verdict
MIN_HOURS_RECENT = 12
KS_ALPHA = 0.001
Z_CLIP = 6.0
MIN_SHIFT = math.log(1.02)  # the recent median must move ≥ 2% (in p99 terms) …
DAY_TO_DAY = 3.0  # … and ≥ 3 standard deviations of the baseline's day-to-day median


@dataclass(frozen=True)
class DriftVerdict:
    page_hinkley: bool
    adwin: bool
    ks: bool
    ks_pvalue: float
    shift: float  # recent median p99 / baseline median p99 - 1
    day_to_day: float  # standard deviation of the baseline days' median log p99
    hours_baseline: int
    hours_recent: int

    @property
    def votes(self) -> int:
        return int(self.page_hinkley) + int(self.adwin) + int(self.ks)

    @property
    def confirmed(self) -> bool:
        moved = abs(math.log1p(self.shift))
        return self.votes >= 2 and moved >= max(MIN_SHIFT, DAY_TO_DAY * self.day_to_day)


def _standardised(
    baseline: npt.NDArray[np.float64], recent: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    center = float(np.median(baseline))
    spread = 1.4826 * float(np.median(np.abs(baseline - center)))
    spread = max(spread, 0.01)  # a flat baseline must not turn noise into huge z-scores
    # Clipped: an incident hour in the baseline would otherwise trip (and reset) the streaming
    # detectors just before the hours that matter.
    return (
        np.clip((baseline - center) / spread, -Z_CLIP, Z_CLIP),
        np.clip((recent - center) / spread, -Z_CLIP, Z_CLIP),
    )


class _Detector(Protocol):
    @property
    def drift_detected(self) -> bool: ...

    def update(self, x: float) -> Any: ...


def _detects_in_recent(
    detector: _Detector, z_base: npt.NDArray[np.float64], z_recent: npt.NDArray[np.float64]
) -> bool:
    for value in z_base:
        detector.update(float(value))
    fired = False
    for value in z_recent:
        detector.update(float(value))
        fired = fired or bool(detector.drift_detected)
    return fired


def latency_drift(
    baseline_p99: npt.ArrayLike, recent_p99: npt.ArrayLike, *, seed: int = 0
) -> DriftVerdict | None:
    """A verdict from hourly p99 values (seconds; NaN for hours without traffic), or None when
    either window is too short to say anything."""
    base = np.asarray(baseline_p99, dtype=np.float64)
    last = np.asarray(recent_p99, dtype=np.float64)
    base = np.log(base[np.isfinite(base) & (base > 0)])
    last = np.log(last[np.isfinite(last) & (last > 0)])
    if len(base) < MIN_HOURS_BASELINE or len(last) < MIN_HOURS_RECENT:
        return None
    z_base, z_recent = _standardised(base, last)
    page_hinkley = _detects_in_recent(
        drift.PageHinkley(min_instances=24, delta=0.5, threshold=25.0),
        z_base, z_recent,
    )  # fmt: skip
    window = drift.ADWIN(delta=0.002, clock=4)  # type: ignore[no-untyped-call]
    adwin = _detects_in_recent(window, z_base, z_recent)
    pvalue = float(stats.ks_2samp(base, last).pvalue)
    usable = np.asarray(baseline_p99, dtype=np.float64)
    days = len(usable) // 24
    with np.errstate(invalid="ignore", divide="ignore"):
        daily = np.nanmedian(np.log(usable[: days * 24].reshape(days, 24)), axis=1)
    daily = daily[np.isfinite(daily)]
    day_to_day = float(np.std(daily, ddof=1)) if len(daily) > 2 else float("inf")
    return DriftVerdict(
        page_hinkley=page_hinkley,
        adwin=adwin,
        ks=pvalue < KS_ALPHA,
        ks_pvalue=pvalue,
        shift=float(math.expm1(np.median(last) - np.median(base))),
        day_to_day=day_to_day,
        hours_baseline=len(base),
        hours_recent=len(last),
    )
