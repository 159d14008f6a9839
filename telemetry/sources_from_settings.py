"""The telemetry source the settings describe, for code that is not a Dagster run (the API)."""

from __future__ import annotations

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


def prometheus_client_from_settings(settings: Settings) -> PrometheusClient:
    user, password = settings.prometheus_username, settings.prometheus_password
    return PrometheusClient(
        url=settings.prometheus_url,
        bearer_token=settings.prometheus_bearer_token,
        basic_auth=(user, password) if user and password else None,
        timeout_s=settings.prometheus_timeout_s,
        backoff_s=tuple(float(2**i) for i in range(settings.prometheus_retries)),
        breaker=CircuitBreaker(
            failure_threshold=settings.prometheus_circuit_failures,
            reset_after_s=settings.prometheus_circuit_reset_s,
        ),
    )


def sli_source_from_settings(settings: Settings) -> SliSource:
    if settings.telemetry == "prometheus":
        return PrometheusSliSource(
            prometheus_client_from_settings(settings), metric_names_from_settings(settings)
        )
    return ParquetSliSource(Path(settings.telemetry_parquet_path))


def service_graph_source_from_settings(settings: Settings, sli: SliSource) -> ServiceGraphSource:
    """The service graph's calls, through the SLI source's client (one breaker per process)."""
    if isinstance(sli, PrometheusSliSource):
        return PrometheusServiceGraphSource(sli.client, sli.names)
    return ParquetServiceGraphSource(Path(settings.telemetry_parquet_path).parent / "service_graph")
