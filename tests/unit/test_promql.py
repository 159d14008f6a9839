"""Fleet-wide PromQL and label hygiene (SEC-008)."""

from __future__ import annotations

import pytest

from telemetry.promql import (
    MetricNames,
    UnsafeLabelValueError,
    buckets_query,
    errors_query,
    label_matcher,
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


@pytest.mark.parametrize("value", ["", "a\nb", "tab\there", "nul\x00", "del\x7f"])
def test_what_cannot_be_a_label_value_never_reaches_promql(value: str) -> None:
    with pytest.raises(UnsafeLabelValueError):
        quote_label_value(value)
    with pytest.raises(UnsafeLabelValueError):
        requests_query(MetricNames(), only=[value])


@pytest.mark.parametrize(
    ("value", "literal", "regex"),
    [
        (r'a"}) or vector(1) #', r'"a\"}) or vector(1) #"', r"a\"\\}\\) or vector\\(1\\) #"),
        (r"back\slash", r'"back\\slash"', r"back\\\\slash"),
        ("build-20261125123045", '"build-20261125123045"', "build-20261125123045"),
        ("a.b+c*?(d)|[e]{f}^$", None, r"a\\.b\\+c\\*\\?\\(d\\)\\|\\[e\\]\\{f\\}\\^\\$"),
    ],
)
def test_values_are_escaped_not_guessed_at(value: str, literal: str | None, regex: str) -> None:
    """Quoting keeps any label value one literal (no PII guess: ids are identifiers), and a
    regex matcher escapes every RE2 metacharacter, whatever the id rule at the door."""
    if literal is not None:
        assert quote_label_value(value) == literal
    assert label_matcher("service", [value]) == f'service=~"{regex}"'


def test_safe_values_are_quoted() -> None:
    assert quote_label_value("payments/checkout-api:v2") == '"payments/checkout-api:v2"'
