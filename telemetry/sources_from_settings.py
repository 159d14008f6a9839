"""The telemetry source the settings describe: the one builder, for the API and the pipelines.

The pipelines' `TelemetryResource` lays its run configuration over the settings and calls these
functions; a run may also set its own retry delays and PromQL window, passed here as overrides
rather than patched onto the built objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from config.settings import Settings
from telemetry.prometheus_http import CircuitBreaker, PrometheusClient
from telemetry.promql import MetricNames
from telemetry.service_graph_sources import (
    ParquetServiceGraphSource,
    PrometheusServiceGraphSource,
    ServiceGraphSource,
)
from telemetry.sli_sources import ParquetSliSource, PrometheusSliSource, SliSource


def metric_names_from_settings(settings: Settings) -> MetricNames:
    return MetricNames.configured(
        settings.metric_profile,
        requests=settings.metric_requests,
        duration_bucket=settings.metric_duration_bucket,
        service_label=settings.metric_service_label,
        error_selector=settings.metric_error_selector,
        cpu_periods=settings.metric_cpu_periods,
        cpu_throttled_periods=settings.metric_cpu_throttled_periods,
    )


def backoff_for(retries: int) -> tuple[float, ...]:
    """Delays before each retry: 1 s, 2 s, 4 s, … (`SLO_PROMETHEUS_RETRIES` of them)."""
    return tuple(float(2**i) for i in range(retries))


def prometheus_client_from_settings(
    settings: Settings, *, backoff_s: Sequence[float] | None = None
) -> PrometheusClient:
    """`backoff_s`, if given, replaces the delays that `prometheus_retries` implies."""
    user, password = settings.prometheus_username, settings.prometheus_password
    return PrometheusClient(
        url=settings.prometheus_url,
        bearer_token=settings.prometheus_bearer_token,
        basic_auth=(user, password) if user and password else None,
        timeout_s=settings.prometheus_timeout_s,
        backoff_s=(
            tuple(backoff_s) if backoff_s is not None else backoff_for(settings.prometheus_retries)
        ),
        breaker=CircuitBreaker(
            failure_threshold=settings.prometheus_circuit_failures,
            reset_after_s=settings.prometheus_circuit_reset_s,
        ),
    )


def sli_source_from_settings(
    settings: Settings,
    *,
    backoff_s: Sequence[float] | None = None,
    window: str = PrometheusSliSource.window,
) -> SliSource:
    """`backoff_s` and `window` (the PromQL range of each hourly point) apply to Prometheus."""
    if settings.telemetry == "prometheus":
        return PrometheusSliSource(
            prometheus_client_from_settings(settings, backoff_s=backoff_s),
            metric_names_from_settings(settings),
            window,
            max_series_per_query=settings.prometheus_max_series_per_query,
        )
    return ParquetSliSource(Path(settings.telemetry_parquet_path))


def service_graph_source_from_settings(settings: Settings, sli: SliSource) -> ServiceGraphSource:
    """The service graph's calls, through the SLI source's client (one breaker per process)."""
    if isinstance(sli, PrometheusSliSource):
        return PrometheusServiceGraphSource(
            sli.client, sli.names, max_series_per_query=settings.prometheus_max_series_per_query
        )
    return ParquetServiceGraphSource(Path(settings.telemetry_parquet_path).parent / "service_graph")
