"""The FR-1 HTTP surface through the ASGI app, on both store dialects."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.keys import make_key

from config.settings import Settings
from serving.main import create_app

PROBLEM = "application/problem+json"

# Observed an hour ago: a fixed date would drift past the staleness window (168 h) and every
# edge would read as stale a week later.
OBSERVED = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

PAYLOAD: dict[str, Any] = {
    "source": "manual",
    "timestamp": OBSERVED,
    "nodes": [
        {
            "service_id": "checkout-service",
            "metadata": {"team": "payments", "criticality": "high", "tier": 1},
        },
        {"service_id": "payment-service", "metadata": {"team": "payments"}},
    ],
    "edges": [
        {
            "source": "checkout-service",
            "target": "payment-service",
            "attributes": {
                "communication_mode": "sync",
                "criticality": "hard",
                "protocol": "grpc",
                "timeout_ms": 5000,
                "retry_config": {"max_retries": 3, "backoff_strategy": "exponential"},
            },
        },
        {"source": "payment-service", "target": "ledger-service"},
        {"source": "ledger-service", "target": "checkout-service"},
    ],
}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "instance"} <= body.keys()
    assert "Traceback" not in response.text
    return body


def test_ingest_returns_202_and_the_result_can_be_fetched(client: TestClient) -> None:
    response = client.post("/api/v1/services/dependencies", json=PAYLOAD)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "completed"
    assert body["nodes_received"] == 2 and body["edges_received"] == 3
    assert body["counts"]["placeholders_created"] == 1
    cycle = body["circular_dependencies"][0]["cycle_path"]
    assert cycle[0] == cycle[-1] and set(cycle) == {
        "checkout-service",
        "payment-service",
        "ledger-service",
    }
    assert any(w["code"] == "circular_dependency" for w in body["warnings"])

    fetched = client.get(f"/api/v1/ingestions/{body['ingestion_id']}")
    assert fetched.status_code == 200
    assert fetched.json()["counts"] == body["counts"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.update(source="carrier_pigeon"), "source"),
        (lambda p: p["nodes"][1].update(service_id=""), "nodes[1].service_id"),
        (
            lambda p: p["edges"][0]["attributes"].update(criticality="vital"),
            "edges[0].attributes.criticality",
        ),
        (lambda p: p["edges"][1].update(target="payment-service"), "edges[1].target"),
        (
            lambda p: p["nodes"][0]["metadata"].update(criticality="urgent"),
            "nodes[0].metadata.criticality",
        ),
        (lambda p: p["edges"].append(dict(p["edges"][0])), "edges[3]"),
        (lambda p: p.update(timestamp="2026-11-20T10:00:00"), "timestamp"),
        (lambda p: p["edges"][0].update(source="bad id with spaces"), "edges[0].source"),
    ],
    ids=[
        "unknown-source",
        "empty-id",
        "unknown-enum",
        "self-loop",
        "bad-criticality",
        "duplicate-edge",
        "naive-timestamp",
        "unsafe-id",
    ],
)
def test_invalid_payloads_are_422_naming_the_field_and_write_nothing(
    client: TestClient, mutate: Any, field: str
) -> None:
    payload = json.loads(json.dumps(PAYLOAD))
    mutate(payload)
    body = assert_problem(client.post("/api/v1/services/dependencies", json=payload), 422)
    assert field in [e["field"] for e in body["errors"]]
    assert field in body["detail"]
    assert client.get("/api/v1/services").json()["items"] == []


def test_oversized_body_is_413(settings: Settings) -> None:
    small = settings.model_copy(update={"max_body_bytes": 2048})
    with TestClient(create_app(small), headers={"X-API-Key": make_key(small)}) as client:
        payload = dict(PAYLOAD, nodes=[{"service_id": f"svc-{i}"} for i in range(200)])
        body = assert_problem(client.post("/api/v1/services/dependencies", json=payload), 413)
        assert "2048" in body["detail"]
        # A chunked upload without Content-Length is counted as it streams.
        raw = json.dumps(payload).encode()
        chunked = client.post(
            "/api/v1/services/dependencies",
            content=iter([raw[:1500], raw[1500:]]),
            headers={"content-type": "application/json"},
        )
        assert_problem(chunked, 413)
        assert client.get("/api/v1/services").json()["items"] == []


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/api/v1/services/dependencies",
        content=b'{"source": "manual", "nodes": [',
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422)


def test_subgraph_endpoint(client: TestClient) -> None:
    client.post("/api/v1/services/dependencies", json=PAYLOAD)
    response = client.get(
        "/api/v1/services/checkout-service/dependencies",
        params={"direction": "downstream", "depth": 1},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {n["service_id"] for n in body["nodes"]} == {"checkout-service", "payment-service"}
    (edge,) = body["edges"]
    assert edge["timeout_ms"] == 5000 and edge["confidence"] == 1.0
    assert body["truncated"] is True
    assert body["warnings"] and "depth" in body["warnings"][0]

    full = client.get("/api/v1/services/checkout-service/dependencies", params={"depth": 10}).json()
    assert full["truncated"] is False
    assert full["node_count"] == 3


def test_subgraph_errors(client: TestClient) -> None:
    body = assert_problem(client.get("/api/v1/services/ghost/dependencies"), 404)
    assert "ghost" in body["detail"]
    assert body["type"].endswith("service-not-found")
    client.post("/api/v1/services/dependencies", json=PAYLOAD)
    body = assert_problem(
        client.get("/api/v1/services/checkout-service/dependencies", params={"depth": 11}), 422
    )
    assert body["errors"][0]["field"] == "depth"
    assert_problem(
        client.get(
            "/api/v1/services/checkout-service/dependencies", params={"direction": "sideways"}
        ),
        422,
    )


def test_services_list_paginates_and_filters(client: TestClient) -> None:
    nodes = [
        {
            "service_id": f"svc-{i:02d}",
            "metadata": {"team": "a" if i % 2 else "b", "criticality": "low"},
        }
        for i in range(7)
    ]
    client.post(
        "/api/v1/services/dependencies",
        json={"source": "manual", "nodes": nodes, "edges": [{"source": "svc-00", "target": "ext"}]},
    )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/services", params=params).json()
        seen += [s["service_id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted([f"svc-{i:02d}" for i in range(7)] + ["ext"])
    team_a = client.get("/api/v1/services", params={"team": "a"}).json()["items"]
    assert [s["service_id"] for s in team_a] == ["svc-01", "svc-03", "svc-05"]
    placeholders = client.get("/api/v1/services", params={"discovered": True}).json()["items"]
    assert [(s["service_id"], s["registration_status"]) for s in placeholders] == [
        ("ext", "unregistered")
    ]
    assert client.get("/api/v1/services", params={"criticality": "low"}).json()["items"]
    assert_problem(client.get("/api/v1/services", params={"cursor": "%%%"}), 422)


def test_circular_dependencies_can_be_listed_and_triaged(client: TestClient) -> None:
    client.post("/api/v1/services/dependencies", json=PAYLOAD)
    (alert,) = client.get("/api/v1/circular-dependencies").json()["items"]
    assert alert["status"] == "open" and alert["size"] == 3
    acked = client.patch(
        f"/api/v1/circular-dependencies/{alert['id']}",
        json={"status": "acknowledged", "actor": "sre@example.com"},
    )
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "sre@example.com"
    resolved = client.patch(
        f"/api/v1/circular-dependencies/{alert['id']}",
        json={"status": "resolved", "actor": "lead@example.com", "resolution_notes": "made async"},
    ).json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "lead@example.com"
    assert resolved["acknowledged_by"] == "sre@example.com"
    assert (
        client.get("/api/v1/circular-dependencies", params={"status": "open"}).json()["items"] == []
    )
    assert_problem(
        client.patch(
            "/api/v1/circular-dependencies/00000000-0000-0000-0000-000000000000",
            json={"status": "resolved", "actor": "x"},
        ),
        404,
    )
    assert_problem(
        client.patch(
            f"/api/v1/circular-dependencies/{alert['id']}", json={"status": "gone", "actor": "x"}
        ),
        422,
    )


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/api/v1/health").json()["status"] == "ok"
    ready = client.get("/api/v1/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["redis"] == "not_configured"
    assert ready.json()["telemetry_source"] == "parquet"


@pytest.mark.parametrize(("redis_url", "seen"), [("redis://127.0.0.1:6379/15", "up"),
                                                 ("redis://127.0.0.1:1/0", "down")])  # fmt: skip
def test_readiness_reports_redis_and_telemetry_but_gates_on_the_store_only(
    settings: Settings, redis_url: str, seen: str
) -> None:
    dead_prometheus = settings.model_copy(
        update={"redis_url": redis_url, "telemetry": "prometheus",
                "prometheus_url": "http://127.0.0.1:1"}
    )  # fmt: skip
    with TestClient(create_app(dead_prometheus)) as client:
        ready = client.get("/api/v1/health/ready")
    assert ready.status_code == 200, ready.text  # still serving: stale answers, local limits
    body = ready.json()
    assert body["redis"] == seen
    assert body["telemetry"] == "down" and body["telemetry_circuit"] == "closed"


def test_readiness_fails_cleanly_when_the_store_is_unreachable() -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/api/v1/health").status_code == 200
        body = assert_problem(client.get("/api/v1/health/ready"), 503)
        assert "store" in body["detail"]
        # Even checking a key needs the store: a clean 503, not a 500 or a false 401.
        key = {"X-API-Key": "slo_0123456789ab_secret"}
        assert_problem(client.get("/api/v1/services", headers=key), 503)


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/nope"), 404)
    assert_problem(client.delete("/api/v1/services"), 405)


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/services/dependencies",
        "/api/v1/services/{service_id}/dependencies",
        "/api/v1/services",
        "/api/v1/ingestions/{ingestion_id}",
        "/api/v1/circular-dependencies",
        "/api/v1/health",
        "/api/v1/health/ready",
        "/api/v1/services/{service_id}/slo-recommendations",
    ):
        assert path in paths
    recs = paths["/api/v1/services/{service_id}/slo-recommendations"]["get"]
    assert "SloRecommendationsOut" in str(recs["responses"]["200"])


def test_subgraph_cache_is_invalidated_by_the_next_ingestion(client: TestClient) -> None:
    client.post("/api/v1/services/dependencies", json=PAYLOAD)
    url = "/api/v1/services/checkout-service/dependencies"
    first = client.get(url, params={"direction": "downstream"}).json()
    again = client.get(url, params={"direction": "downstream"}).json()
    assert (first["cached"], again["cached"]) == (False, True)
    assert again["edges"] == first["edges"]
    client.post(
        "/api/v1/services/dependencies",
        json={
            "source": "manual",
            "edges": [{"source": "payment-service", "target": "fraud-service"}],
        },
    )
    fresh = client.get(url, params={"direction": "downstream"}).json()
    assert fresh["cached"] is False
    assert fresh["graph_version"] != first["graph_version"]
    assert "fraud-service" in {n["service_id"] for n in fresh["nodes"]}
