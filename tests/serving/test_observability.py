"""Request ids, JSON logs and the engine's own metrics (no per-service labels)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.observability import JsonFormatter

GRAPH = {
    "source": "manual",
    "nodes": [{"service_id": "web"}, {"service_id": "api"}],
    "edges": [{"source": "web", "target": "api"}],
}


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("slo_engine.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


def test_request_ids_are_echoed_or_made_and_logged(
    client: TestClient, access_log: io.StringIO
) -> None:
    given = client.get("/api/v1/services", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = client.get("/api/v1/services/nope/dependencies")
    assert made.status_code == 404 and made.headers["X-Request-ID"].startswith("req-")
    hostile = client.get("/api/v1/health", headers={"X-Request-ID": 'x"\n{injected}'})
    assert hostile.headers["X-Request-ID"].startswith("req-")  # not echoed into logs
    lines = [json.loads(line) for line in access_log.getvalue().splitlines()]
    first, second = lines[0], lines[1]
    assert first["request_id"] == "abc-123" and first["status_code"] == 200
    assert first["endpoint"] == "/api/v1/services" and first["level"] == "INFO"
    assert first["principal"].startswith("api_key:")
    assert second["request_id"] == made.headers["X-Request-ID"]
    assert second["endpoint"] == "/api/v1/services/{service_id}/dependencies"
    assert second["status_code"] == 404 and second["duration_ms"] >= 0


def _value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        named = line.startswith(name + "{") or line.startswith(name + " ")
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_use_route_templates_and_count_the_graph(client: TestClient) -> None:
    assert client.post("/api/v1/services/dependencies", json=GRAPH).status_code == 202
    endpoint = "/api/v1/services/{service_id}/dependencies"
    before = _value(client.get("/metrics").text, "slo_engine_http_requests_total",
                    endpoint=endpoint, status_code="200")  # fmt: skip
    for service in ("web", "api", "web"):
        assert client.get(f"/api/v1/services/{service}/dependencies").status_code == 200
    metrics = client.get("/metrics", headers={"X-API-Key": ""})  # open, like /health
    assert metrics.status_code == 200
    text = metrics.text
    after = _value(text, "slo_engine_http_requests_total", endpoint=endpoint, status_code="200")
    assert after - before == 3
    assert _value(text, "slo_engine_dependency_graph_nodes") == 2
    assert "slo_engine_http_request_duration_seconds_bucket" in text
    assert "slo_engine_prometheus_query_duration_seconds" in text
    # Cardinality: concrete service ids never become label values.
    assert 'endpoint="/api/v1/services/web/dependencies"' not in text
