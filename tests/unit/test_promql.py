"""Fleet-wide PromQL and label hygiene (SEC-008)."""

from __future__ import annotations

import pytest

from telemetry.promql import (
    MetricNames,
    UnsafeLabelValueError,
    buckets_query,
    errors_query,
    quote_label_value,
    requests_query,
)


def test_queries_aggregate_by_service_over_the_whole_fleet() -> None:
    names = MetricNames()
    assert requests_query(names) == "round(sum by (service) (increase(http_requests_total[1h])))"
    assert errors_query(names) == (
        'round(sum by (service) (increase(http_requests_total{status=~"5.."}[1h])))'
    )
    assert buckets_query(names).startswith("round(sum by (service, le) (increase(")


def test_spanmetrics_profile_and_restriction_to_services() -> None:
    names = MetricNames.profile("otel_spanmetrics")
    query = errors_query(names, only=["checkout.v2", "cart"])
    assert "traces_span_metrics_calls_total" in query
    assert 'status_code="STATUS_CODE_ERROR"' in query
    assert 'service_name=~"checkout\\\\.v2|cart"' in query
    with pytest.raises(ValueError):
        MetricNames.profile("nagios")


@pytest.mark.parametrize(
    "value",
    ['a"}) or vector(1) #', "a b", "x{y}", "", "jane.doe@example.com", "4111-1111-1111-1111"],
)
def test_unsafe_or_pii_like_values_never_reach_promql(value: str) -> None:
    with pytest.raises(UnsafeLabelValueError):
        quote_label_value(value)
    with pytest.raises(UnsafeLabelValueError):
        requests_query(MetricNames(), only=[value])


def test_safe_values_are_quoted() -> None:
    assert quote_label_value("payments/checkout-api:v2") == '"payments/checkout-api:v2"'
