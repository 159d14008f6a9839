"""Multi-window, multi-burn-rate alerting math (Google SRE Workbook, "Alerting on SLOs").

A burn rate of 1 spends exactly the error budget over the SLO period. An alert fires when both
a long window (is it real?) and a short window (is it still happening?) burn faster than a
factor chosen so that the alert means "this fraction of the period's budget is gone":
factor = budget fraction × period hours / long-window hours. The Workbook's 14.4 / 6 / 3 / 1
are that formula for a 30-day period; a 28-day period gets 13.44 / 5.6 / 2.8 / 0.933, so the
alerts keep meaning the same share of the budget.

The two page conditions are OR'd into one page alert and the two ticket conditions into one
ticket alert (as Sloth does), so an incident pages once and resolves once. The low-traffic
guard counts errors, not requests: a condition also needs `min_errors` failures in its long
window, which keeps one stray error from paging a quiet service but never silences an outage
that really spends the budget (at 1 request a minute failing 100%, the page fires once the
`min_errors`-th request has failed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Every window a rule reads: the error ratio is recorded once per window and shared.
WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

_HOURS = {"m": 1 / 60, "h": 1.0, "d": 24.0}

#: (severity, long window, short window, share of the period's budget spent in the long window)
POLICY: tuple[tuple[str, str, str, float], ...] = (
    ("page", "1h", "5m", 0.02),
    ("page", "6h", "30m", 0.05),
    ("ticket", "1d", "2h", 0.10),
    ("ticket", "3d", "6h", 0.10),
)


def window_hours(window: str) -> float:
    """Hours in a Prometheus duration of one unit ("5m", "6h", "3d")."""
    return float(window[:-1]) * _HOURS[window[-1]]


@dataclass(frozen=True)
class BurnRateAlert:
    severity: str
    long_window: str
    short_window: str
    budget_share: float
    factor: float  # burn rate both windows must exceed
    error_ratio_threshold: float  # factor × error budget
    min_errors: int  # failures the long window must hold before the alert may fire


def error_budget(target_percent: float) -> float:
    """The allowed error ratio of an objective given in percent (99.9 → 0.001)."""
    if not 0 < target_percent < 100:
        raise ValueError(f"an objective must lie strictly between 0 and 100%, not {target_percent}")
    return round(1 - target_percent / 100, 12)


#: Default low-traffic guard: errors a long window needs before its condition may fire.
MIN_ERRORS = 5

#: How an SLO may count its budget (the active SLO's `budgeting_method` column).
BUDGETING_METHODS = ("occurrences", "timeslices")
#: Time slices the rules can evaluate: the page alert's 5-minute short window must hold at
#: least one whole slice, and a slice needs a few scrapes of its counters.
TIMESLICE_WINDOW_SECONDS = (60, 300)


@dataclass(frozen=True)
class Budgeting:
    """How an SLO counts its error budget — OpenSLO's `budgetingMethod`, as the store keeps it.

    `occurrences`: good requests over all requests. `timeslices` with a `timeslice_target`
    (OpenSLO `Timeslices`): the window is cut into slices of `timeslice_window_seconds`; a
    slice is good when its own good ratio reaches the slice target, and the objective is the
    share of good slices. `timeslices` without a slice target (OpenSLO `RatioTimeslices`): the
    objective is the mean of the slices' good ratios. The budget is `1 − target` of whatever
    is counted, so the burn-rate factors (`burn_rate_alerts`) are the same for all three: a
    burn rate is the counted error ratio over the budget, and "2% of the period's budget in an
    hour" is 14.4× over 30 days whichever way the budget is counted."""

    method: str = "occurrences"
    timeslice_target: float | None = None
    timeslice_window_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.method not in BUDGETING_METHODS:
            raise ValueError(f"budgeting method must be one of {BUDGETING_METHODS}, "
                             f"not {self.method!r}")  # fmt: skip
        if self.method == "occurrences":
            if self.timeslice_target is not None or self.timeslice_window_seconds is not None:
                raise ValueError("occurrences budgeting has no time slices")
            return
        low, high = TIMESLICE_WINDOW_SECONDS
        seconds = self.timeslice_window_seconds
        if seconds is None or not low <= seconds <= high or seconds % 60:
            raise ValueError(f"a time slice must be whole minutes from {low // 60}m to "
                             f"{high // 60}m, not {seconds!r} seconds")  # fmt: skip
        target = self.timeslice_target
        if target is not None and not 0 < target <= 1:
            raise ValueError(f"a slice target must lie in (0, 1], not {target}")

    @property
    def openslo_method(self) -> str:
        """`Occurrences`, `Timeslices` or `RatioTimeslices`."""
        if self.method == "occurrences":
            return "Occurrences"
        return "Timeslices" if self.timeslice_target is not None else "RatioTimeslices"

    @property
    def slice_window(self) -> str | None:
        """The slice as a Prometheus duration ("1m"), None for occurrences."""
        seconds = self.timeslice_window_seconds
        return f"{seconds // 60}m" if seconds is not None else None


OCCURRENCES = Budgeting()


def burn_rate_alerts(
    target_percent: float, *, period_days: int = 30, min_errors: int = MIN_ERRORS
) -> list[BurnRateAlert]:
    """The four multiwindow conditions for one objective (two page, two ticket).

    `min_errors` is the low-traffic guard: besides both windows burning faster than the factor,
    the long window must hold at least `min_errors` failed requests. It is a count of errors,
    never a request volume, so a quiet service failing all its requests still pages (after
    `min_errors` failures) while a single stray error does not."""
    if min_errors < 1:
        raise ValueError(f"the low-traffic guard needs at least one error, not {min_errors}")
    budget = error_budget(target_percent)
    period_hours = period_days * 24
    alerts = []
    for severity, long_window, short_window, share in POLICY:
        factor = round(share * period_hours / window_hours(long_window), 4)
        alerts.append(
            BurnRateAlert(
                severity=severity,
                long_window=long_window,
                short_window=short_window,
                budget_share=share,
                factor=factor,
                error_ratio_threshold=factor * budget,
                min_errors=min_errors,
            )
        )
    return alerts


@dataclass(frozen=True)
class SnappedThreshold:
    le: float  # the bucket bound the rules count as "fast enough"
    target_ms: int  # what the SLO says
    snapped: bool  # the target is not a bucket bound: the rules use the next one up


def snap_to_bucket(target_ms: int, bounds_seconds: Sequence[float]) -> SnappedThreshold | None:
    """The smallest histogram bound at or above the latency target: Prometheus can only count
    requests per bucket, so a 237 ms target is measured as "≤ 250 ms" (never stricter than the
    SLO: a request that met it cannot count against it). None above the largest finite bound."""
    target_s = target_ms / 1000
    for bound in sorted(b for b in bounds_seconds if math.isfinite(b)):
        if bound >= target_s - 1e-12:
            snapped = abs(bound - target_s) > 1e-9
            return SnappedThreshold(le=bound, target_ms=target_ms, snapped=snapped)
    return None
