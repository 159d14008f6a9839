"""The pipeline's TelemetryResource builds its sources as the API does (issue 15 item 4):
through telemetry.sources_from_settings, with the SLO_* circuit breaker settings, and one
client (one breaker) for both the SLI and the service-graph queries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import get_settings
from pipelines.resources import TelemetryResource
from telemetry.service_graph_sources import (
    ParquetServiceGraphSource,
    PrometheusServiceGraphSource,
)
from telemetry.sli_sources import ParquetSliSource, PrometheusSliSource


@pytest.fixture
def breaker_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SLO_PROMETHEUS_CIRCUIT_FAILURES", "3")
    monkeypatch.setenv("SLO_PROMETHEUS_CIRCUIT_RESET_S", "5")
    monkeypatch.setenv("SLO_PROMETHEUS_BEARER_TOKEN", "s3cret")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_prometheus_resource_uses_the_settings_breaker_and_one_client(breaker_env: None) -> None:
    resource = TelemetryResource(
        source="prometheus",
        prometheus_url="http://prometheus.invalid:9090",
        timeout_s=7.0,
        window="5m",
        backoff_s=[0.5],
        service_label="job",
    )
    sli = resource.sli_source()
    graph = resource.service_graph_source()
    assert isinstance(sli, PrometheusSliSource)
    assert isinstance(graph, PrometheusServiceGraphSource)
    client = resource.client()
    assert sli.client is graph.client is client  # one breaker sees every failure
    assert (client.breaker.failure_threshold, client.breaker.reset_after_s) == (3, 5.0)
    assert client.bearer_token == "s3cret"
    assert (client.url, client.timeout_s, tuple(client.backoff_s)) == (
        "http://prometheus.invalid:9090",
        7.0,
        (0.5,),
    )
    assert sli.window == "5m"
    assert resource.metric_names().service_label == "job" == sli.names.service_label


def test_parquet_resource_still_reads_files(tmp_path: Path) -> None:
    folder = tmp_path / "fleet" / "sli_hourly"
    resource = TelemetryResource(source="parquet", parquet_path=str(folder))
    sli = resource.sli_source()
    assert isinstance(sli, ParquetSliSource) and sli.folder == folder
    graph = resource.service_graph_source()
    assert isinstance(graph, ParquetServiceGraphSource)
    assert graph.folder == tmp_path / "fleet" / "service_graph"


def test_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown telemetry source"):
        TelemetryResource(source="influx").sli_source()
