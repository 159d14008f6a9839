"""Hostile and broken bodies (issue 7 §3): each is a 4xx problem naming what is wrong, and the
store is exactly as it was, on both dialects."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

GRAPH = "/api/v1/services/dependencies"


def _graph(client: TestClient) -> Any:
    return client.get("/api/v1/services", params={"limit": 1000}).json()


def _seed(client: TestClient) -> Any:
    body = {"source": "manual", "nodes": [{"service_id": "web", "metadata": {"team": "edge"}}],
            "edges": [{"source": "web", "target": "api"}]}  # fmt: skip
    assert client.post(GRAPH, json=body).status_code == 202
    return _graph(client)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ('{"team": "a\\u0000b"}', "team"),
        ('{"labels": {"owner": ["ok", "x\\u0000"]}}', "labels.owner[1]"),
        ('{"team": "\\udc16"}', "team"),
        ('{"k\\u0000": 1}', "k\\u0000"),  # shown escaped
    ],
)
def test_text_the_database_cannot_store_is_a_422_naming_the_field(
    client: TestClient, raw: str, where: str
) -> None:
    """Found by schemathesis: PostgreSQL rejects NUL and unpaired surrogates, which once made
    a 500 out of a valid-looking ingestion."""
    before = _seed(client)
    body = (
        '{"source": "manual", "nodes": [{"service_id": "web"}, {"service_id": "api", '
        f'"metadata": {raw}}}]}}'
    )
    answer = client.post(GRAPH, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["errors"][0]["field"] == "nodes[1].metadata"
    assert problem["errors"][0]["message"].split(": ")[0].endswith(where)
    assert _graph(client) == before


def test_a_nul_in_a_query_filter_is_a_422_naming_it(client: TestClient) -> None:
    """Found by schemathesis: `GET /services?team=%00` reached PostgreSQL and answered 500."""
    answer = client.get("/api/v1/services", params={"team": "\x00"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["errors"][0]["field"] == "team"


@pytest.mark.parametrize("depth", [2_000, 200_000])
def test_deeply_nested_json_is_refused_not_a_crash(client: TestClient, depth: int) -> None:
    before = _seed(client)
    nested = "[" * depth + "]" * depth
    node = f'{{"service_id": "x", "metadata": {{"a": {nested}}}}}'
    body = f'{{"source": "manual", "nodes": [{node}]}}'
    answer = client.post(GRAPH, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code in (400, 422), answer.text[:300]
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert _graph(client) == before


@pytest.mark.parametrize(
    "service_id",
    [
        'a"} or vector(1) or {x="',  # closes the matcher and appends a selector
        "a|b",
        'a=~".*"',
        "checkout})[5m]",
        "ünicode",
        "-leading-dash",
    ],
)
def test_promql_injection_in_service_ids_is_rejected_everywhere(
    client: TestClient, service_id: str
) -> None:
    """Ids are validated at the door (store/service_id_rule.py): every route that takes one
    answers a 422 problem naming the field, before any query is built — not a 404 or a 5xx."""
    before = _seed(client)
    segment = quote(service_id, safe="")
    reads = ["slo-recommendations", "dependencies", "slos", "slo-history", "slos/alerts",
             "slos/openslo"]  # fmt: skip
    for read in reads:
        answer = client.get(f"/api/v1/services/{segment}/{read}",
                            params={"force_regenerate": True} if read == "slo-recommendations"
                            else None)  # fmt: skip
        assert answer.status_code == 422, (read, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "service_id" in {e["field"] for e in answer.json()["errors"]}, (read, answer.text)
    decision = client.post(f"/api/v1/services/{segment}/slos", json={})
    assert decision.status_code == 422, decision.text
    assert "service_id" in {e["field"] for e in decision.json()["errors"]}, decision.text
    impact = {"service_id": service_id, "proposed_change": {"proposed_target": 99.0}}
    answer = client.post("/api/v1/slos/impact-analysis", json=impact)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "service_id", answer.text
    body = {"source": "manual", "nodes": [{"service_id": service_id}]}
    rejected = client.post(GRAPH, json=body)
    assert rejected.status_code == 422
    assert rejected.json()["errors"][0]["field"] == "nodes[0].service_id"
    edge = {"source": "manual", "edges": [{"source": "web", "target": service_id}]}
    answer = client.post(GRAPH, json=edge)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "edges[0].target"
    edge = {"source": "manual", "edges": [{"source": service_id, "target": "web"}]}
    assert client.post(GRAPH, json=edge).json()["errors"][0]["field"] == "edges[0].source"
    assert _graph(client) == before
