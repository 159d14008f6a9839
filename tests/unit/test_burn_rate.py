"""Burn-rate math: the Workbook's factors, scaled periods, the traffic guard, bucket snapping."""

from __future__ import annotations

import pytest

from analytics.burn_rate import burn_rate_alerts, error_budget, snap_to_bucket, window_hours
from analytics.latency_histogram import LATENCY_BUCKETS


def test_thirty_day_factors_are_the_workbooks() -> None:
    alerts = burn_rate_alerts(99.9, period_days=30)
    assert [(a.severity, a.long_window, a.short_window, a.factor) for a in alerts] == [
        ("page", "1h", "5m", 14.4),
        ("page", "6h", "30m", 6.0),
        ("ticket", "1d", "2h", 3.0),
        ("ticket", "3d", "6h", 1.0),
    ]
    assert alerts[0].error_ratio_threshold == pytest.approx(0.0144)


def test_a_28_day_period_keeps_each_alert_meaning_the_same_budget_share() -> None:
    alerts = burn_rate_alerts(99.9, period_days=28)
    assert [a.factor for a in alerts] == pytest.approx([13.44, 5.6, 2.8, 0.9333], abs=1e-4)
    for alert in alerts:
        # factor × window / period = the share of the budget the long window burns
        spent = alert.factor * window_hours(alert.long_window) / (28 * 24)
        assert spent == pytest.approx(alert.budget_share, rel=1e-3)


def test_the_traffic_guard_needs_min_errors_worth_of_requests() -> None:
    page = burn_rate_alerts(99.9, min_errors=10)[0]
    # 10 errors must be needed to cross 1.44%: 695 requests in the hour.
    assert page.min_requests == 695
    assert (page.min_requests - 1) * page.error_ratio_threshold < 10
    assert page.min_requests * page.error_ratio_threshold >= 10
    # A looser objective needs less traffic for the same guard.
    assert burn_rate_alerts(99.0, min_errors=10)[0].min_requests == 70


def test_error_budget_rejects_impossible_objectives() -> None:
    assert error_budget(99.95) == pytest.approx(0.0005)
    with pytest.raises(ValueError, match="strictly between"):
        error_budget(100.0)


@pytest.mark.parametrize(
    ("target_ms", "le", "snapped"),
    [(250, 0.25, False), (237, 0.25, True), (1, 0.005, True), (10_000, 10.0, False)],
)
def test_latency_targets_snap_up_to_a_bucket(target_ms: int, le: float, snapped: bool) -> None:
    result = snap_to_bucket(target_ms, LATENCY_BUCKETS)
    assert result is not None
    assert (result.le, result.snapped) == (le, snapped)


def test_a_target_above_every_bucket_cannot_be_measured() -> None:
    assert snap_to_bucket(12_000, LATENCY_BUCKETS) is None
