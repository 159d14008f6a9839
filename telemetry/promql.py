"""PromQL for fleet-wide SLI queries, and the label hygiene that keeps them safe.

Every query aggregates `by (service)` over the whole fleet: the cost of a pipeline run is a
handful of queries per day partition, never one per service. Counts are rounded server-side:
they are whole requests anyway, and short numbers halve the JSON to transfer and decode.
Values that reach a query from outside (a service id for a one-service regeneration) are
escaped, not guessed at: which ids exist is decided once, at the API's door
(store/service_id_rule.py); here anything that can be a label value is quoted so that it stays
one literal, and only what cannot be one (empty, control characters) is refused.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

#: RE2's metacharacters outside a character class: backslash-escaped in a regex matcher.
RE2_METACHARACTERS = frozenset("\\.+*?()|[]{}^$")


class UnsafeLabelValueError(ValueError):
    pass


def quote_label_value(value: str) -> str:
    """A quoted PromQL string literal for a label matcher: backslash and double quote escaped,
    so the value stays one literal whatever it holds. Refused only what cannot be a label
    value: empty (Prometheus reads it as "label absent") or holding control characters or
    lone surrogates (not UTF-8)."""
    if not value:
        raise UnsafeLabelValueError("an empty label value matches series without the label")
    for i, char in enumerate(value):
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise UnsafeLabelValueError(
                f"label value has a control character {char!r} at position {i}"
            )
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def regex_escape(value: str) -> str:
    """`value` as an RE2 regex matching exactly itself: every metacharacter backslash-escaped
    (RE2's own list, not Python's `re.escape`, which escapes more than RE2 needs)."""
    return "".join("\\" + c if c in RE2_METACHARACTERS else c for c in value)


@dataclass(frozen=True)
class MetricNames:
    """Names and labels of the metrics the SLIs come from (settings; two built-in profiles)."""

    requests: str = "http_requests_total"
    duration_bucket: str = "http_request_duration_seconds_bucket"
    service_graph: str = "traces_service_graph_request_total"
    #: The OTel service graph connector's failed-call counter (same client/server labels).
    service_graph_failed: str = "traces_service_graph_request_failed_total"
    service_label: str = "service"
    error_selector: str = 'status=~"5.."'
    client_label: str = "client"
    server_label: str = "server"
    #: cAdvisor's CFS counters, relabelled with the service label (both profiles: these are
    #: infrastructure metrics, not span metrics).
    cpu_periods: str = "container_cpu_cfs_periods_total"
    cpu_throttled_periods: str = "container_cpu_cfs_throttled_periods_total"

    @classmethod
    def profile(cls, name: str) -> MetricNames:
        if name == "prometheus":
            return cls()
        if name == "otel_spanmetrics":
            # OpenTelemetry Collector spanmetrics connector defaults (server spans).
            return cls(
                requests="traces_span_metrics_calls_total",
                duration_bucket="traces_span_metrics_duration_seconds_bucket",
                service_label="service_name",
                error_selector='status_code="STATUS_CODE_ERROR"',
            )
        raise ValueError(f"unknown metric profile {name!r} (prometheus | otel_spanmetrics)")

    @classmethod
    def configured(
        cls,
        profile: str,
        *,
        requests: str | None = None,
        duration_bucket: str | None = None,
        service_label: str | None = None,
        error_selector: str | None = None,
        cpu_periods: str | None = None,
        cpu_throttled_periods: str | None = None,
    ) -> MetricNames:
        """A profile with single names overridden (the ones given and non-empty)."""
        overrides = {
            "requests": requests,
            "duration_bucket": duration_bucket,
            "service_label": service_label,
            "error_selector": error_selector,
            "cpu_periods": cpu_periods,
            "cpu_throttled_periods": cpu_throttled_periods,
        }
        return replace(cls.profile(profile), **{k: v for k, v in overrides.items() if v})


def _matchers(*parts: str) -> str:
    kept = [p for p in parts if p]
    return "{" + ",".join(kept) + "}" if kept else ""


def service_matcher(names: MetricNames, services: list[str] | None) -> str:
    return label_matcher(names.service_label, services)


def requests_query(names: MetricNames, window: str = "1h", only: list[str] | None = None) -> str:
    selector = names.requests + _matchers(service_matcher(names, only))
    return f"round(sum by ({names.service_label}) (increase({selector}[{window}])))"


def errors_query(names: MetricNames, window: str = "1h", only: list[str] | None = None) -> str:
    selector = names.requests + _matchers(names.error_selector, service_matcher(names, only))
    return f"round(sum by ({names.service_label}) (increase({selector}[{window}])))"


def buckets_query(names: MetricNames, window: str = "1h", only: list[str] | None = None) -> str:
    selector = names.duration_bucket + _matchers(service_matcher(names, only))
    return f"round(sum by ({names.service_label}, le) (increase({selector}[{window}])))"


def service_graph_query(
    names: MetricNames, window: str = "1d", clients: list[str] | None = None
) -> str:
    selector = names.service_graph + _matchers(label_matcher(names.client_label, clients))
    return f"sum by ({names.client_label}, {names.server_label}) (increase({selector}[{window}]))"


def edge_fan_out_query(
    names: MetricNames, seconds: int, clients: list[str], *, failed: bool = True
) -> str:
    """Servers each client called in the last `seconds` (calls or, with `failed`, failed
    calls): the series a `sum by (client, server)` of those clients over that time can return,
    one answer series per client — what a service-graph shard is sized by."""
    matcher = _matchers(label_matcher(names.client_label, clients))
    metrics = [names.service_graph, *([names.service_graph_failed] if failed else [])]
    seen = " or ".join(f"count_over_time({m}{matcher}[{seconds}s])" for m in metrics)
    by = f"{names.client_label}, {names.server_label}"
    return f"count by ({names.client_label}) (count by ({by}) ({seen}))"


#: PromQL's duration units, in seconds.
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def duration_seconds(text: str) -> float:
    """A PromQL duration (`1h`, `90m`, `1h30m`) in seconds; anything else is refused."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a PromQL duration: {text!r}")
    return sum(int(n) * _DURATION_UNITS[u] for n, u in parts)


def label_matcher(label: str, values: list[str] | None) -> str:
    """`label=~"a|b"` matching exactly these values ("" for None or no values: no restriction).

    Each value is escaped twice, independently of any id rule: once for the regex (every RE2
    metacharacter) and once for the PromQL string literal."""
    if not values:
        return ""
    return f'{label}=~"{"|".join(map(regex_alternative, values))}"'


def regex_alternative(value: str) -> str:
    """One value as an alternative inside a regex matcher's quotes: escaped for RE2, then for
    the string literal (what `label_matcher` joins, and what a shard's size is counted in)."""
    return quote_label_value(regex_escape(value))[1:-1]


def _edge_increase(names: MetricNames, metric: str, window: str, clients: list[str] | None) -> str:
    selector = metric + _matchers(label_matcher(names.client_label, clients))
    by = f"{names.client_label}, {names.server_label}"
    return f"round(sum by ({by}) (increase({selector}[{window}])))"


def service_graph_calls_query(
    names: MetricNames, window: str = "1h", clients: list[str] | None = None
) -> str:
    """Calls per (client, server) over `window`, optionally for some clients only."""
    return _edge_increase(names, names.service_graph, window, clients)


def service_graph_failed_query(
    names: MetricNames, window: str = "1h", clients: list[str] | None = None
) -> str:
    """Failed calls per (client, server) over `window`, optionally for some clients only."""
    return _edge_increase(names, names.service_graph_failed, window, clients)


def throttling_query(names: MetricNames, window: str = "1h", only: list[str] | None = None) -> str:
    """Share of CFS periods throttled per service: the latency noise margin grows with it."""
    matcher = _matchers(service_matcher(names, only))
    label = names.service_label
    return (
        f"sum by ({label}) (increase({names.cpu_throttled_periods}{matcher}[{window}])) / "
        f"sum by ({label}) (increase({names.cpu_periods}{matcher}[{window}]))"
    )
