"""Burn-rate math: the Workbook's factors, scaled periods, the error-count guard, the rule
file's shape (one alert per severity, absent alert, budget remaining), bucket snapping."""

from __future__ import annotations

import pytest

from analytics.burn_rate import (
    MIN_ERRORS,
    OCCURRENCES,
    Budgeting,
    burn_rate_alerts,
    error_budget,
    snap_to_bucket,
    window_hours,
)
from analytics.latency_histogram import LATENCY_BUCKETS
from telemetry.alert_rules import slo_rules
from telemetry.promql import MetricNames


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


def test_the_traffic_guard_counts_errors_not_requests() -> None:
    # The guard is a number of failures in the long window, the same for every objective and
    # traffic level: a quiet service failing every request is never out of reach of a page.
    assert {a.min_errors for a in burn_rate_alerts(99.9)} == {MIN_ERRORS}
    assert 1 < MIN_ERRORS <= 5
    assert {a.min_errors for a in burn_rate_alerts(99.0, min_errors=3)} == {3}
    with pytest.raises(ValueError, match="at least one error"):
        burn_rate_alerts(99.9, min_errors=0)


def test_the_rules_page_once_per_severity_and_watch_for_absent_metrics() -> None:
    rules = slo_rules("checkout", MetricNames(), availability_target=99.9,
                      latency_targets_ms={}, bucket_bounds=LATENCY_BUCKETS)  # fmt: skip
    recordings, alerts, budget = (group["rules"] for group in rules.groups)
    assert [(a["alert"], a["labels"]["severity"]) for a in alerts] == [
        ("SLOBurnRate", "page"), ("SLOBurnRate", "ticket"), ("SLOMetricAbsent", "ticket")
    ]  # fmt: skip
    page = alerts[0]["expr"]
    # Both page conditions in one alert; each guarded by an error count, not a request volume.
    assert "ratio_rate1h" in page and "ratio_rate6h" in page and "\nor\n" in page
    assert page.count(f") >= {MIN_ERRORS}") == 2
    assert alerts[2]["expr"] == 'absent(http_requests_total{service="checkout"})'
    assert alerts[2]["for"] == "10m"
    assert [r["record"] for r in budget] == [
        "slo:sli_error:ratio_rate30d", "slo:error_budget_remaining:ratio"
    ]  # fmt: skip
    assert "[30d]" in budget[0]["expr"] and budget[1]["expr"].endswith("/ 0.001")
    assert len(recordings) == 14
    (objective,) = rules.objectives
    assert objective["alerts"][0]["min_errors_in_long_window"] == MIN_ERRORS


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


def test_any_window_scales_the_factors_to_the_same_budget_shares() -> None:
    # f · D · 24 / w_hours: 2% of a 14-day budget in an hour is a burn rate of 6.72.
    assert [a.factor for a in burn_rate_alerts(99.0, period_days=14)] == pytest.approx(
        [6.72, 2.8, 1.4, 0.4667], abs=1e-4
    )
    assert burn_rate_alerts(99.0, period_days=90)[0].factor == pytest.approx(43.2)


def test_budgeting_names_the_three_openslo_methods_and_refuses_what_rules_cannot_count() -> None:
    assert OCCURRENCES.openslo_method == "Occurrences" and OCCURRENCES.slice_window is None
    timeslices = Budgeting("timeslices", 0.95, 60)
    assert (timeslices.openslo_method, timeslices.slice_window) == ("Timeslices", "1m")
    assert Budgeting("timeslices", None, 300).openslo_method == "RatioTimeslices"
    for bad in (
        {"method": "weekly"},
        {"method": "occurrences", "timeslice_window_seconds": 60},
        {"method": "timeslices", "timeslice_window_seconds": 600},  # longer than the 5m window
        {"method": "timeslices", "timeslice_window_seconds": 90},  # not whole minutes
        {"method": "timeslices", "timeslice_target": 1.5, "timeslice_window_seconds": 60},
    ):
        with pytest.raises(ValueError):
            Budgeting(**bad)  # type: ignore[arg-type]
