"""`GET /api/v1/backstage/entities/{kind}/{namespace}/{name}`: what Backstage's entity page
shows, on a catalog imported through the ingestion path and recommendations published the
way the daily run publishes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.keys import make_key
from support.published_fleet import publish

from config.settings import Settings
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn
from telemetry.backstage_catalog import catalog_graph, parse_catalog_yaml

ENTITY = "/api/v1/backstage/entities/{}"

#: The published fleet's chain (web → checkout → payments → ledger-db, email, batch) as
#: Backstage declares it; checkout's entity is named differently from its service.
CHAIN = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: web}
spec: {type: website, lifecycle: production, owner: group:default/edge,
       dependsOn: [component:checkout-service]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout-service
  annotations: {slo-engine.io/service-id: checkout}
spec: {type: service, lifecycle: production, owner: group:default/shop,
       dependsOn: [component:payments]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: payments}
spec: {type: service, lifecycle: production, owner: money, dependsOn: [resource:ledger-db]}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: ledger-db}
spec: {type: database, owner: money}
"""


@pytest.fixture
def published(engine: Engine) -> dict[str, dict[str, str]]:
    documents, issues = parse_catalog_yaml(CHAIN, "catalog-info.yaml")
    imported = catalog_graph(documents, issues)
    assert imported.report.issues == []
    ingest_graph(engine, imported.payload.to_submission(), stale_after=timedelta(days=7))
    others = {"source": "manual", "nodes": [{"service_id": s, "metadata": {"team": "shop"}}
                                            for s in ("email", "batch", "legacy")]}  # fmt: skip
    ingest_graph(engine, DependencyGraphIn.model_validate(others).to_submission(),
                 stale_after=timedelta(days=7))  # fmt: skip
    return publish(engine, generated_at=datetime.now(UTC) - timedelta(hours=1))


def _accept(client: TestClient, service: str, recommendation_id: str) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/services/{service}/slos",
        json={"recommendation_id": recommendation_id, "action": "accept",
              "selected_tier": "balanced", "actor": "jane@example.com"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_one_call_answers_service_tiers_active_slo_and_budget(
    client: TestClient, published: dict[str, dict[str, str]]
) -> None:
    _accept(client, "checkout", published["checkout"]["availability"])
    response = client.get(ENTITY.format("component/default/checkout-service"))
    assert response.status_code == 200, response.text
    entity = response.json()
    assert entity["entity_ref"] == "component:default/checkout-service"
    assert (entity["service_id"], entity["resolved_by"]) == ("checkout", "entity_ref")
    assert entity["team"] == "shop"

    # The same numbers the service's own endpoints answer.
    recommendations = client.get("/api/v1/services/checkout/slo-recommendations").json()
    summary = entity["recommendation"]
    assert summary["status"] == "active" and summary["stale"] is False
    assert summary["generated_at"] == recommendations["generated_at"].replace("+00:00", "Z")
    by_type = {t["sli_type"]: t for t in summary["tiers"]}
    for rec in recommendations["recommendations"]:
        tiers = by_type[rec["sli_type"]]
        assert tiers["recommendation_id"] == rec["recommendation_id"]
        key = "target" if rec["sli_type"] == "availability" else "target_ms"
        assert tiers["unit"] == ("percent" if key == "target" else "ms")
        for tier in ("conservative", "balanced", "aggressive"):
            assert tiers[tier] == rec["tiers"][tier][key]
    assert entity["active_slo"] == client.get("/api/v1/services/checkout/slos").json()

    target = entity["active_slo"]["availability_target"]
    availability = next(r for r in recommendations["recommendations"]
                        if r["sli_type"] == "availability")  # fmt: skip
    observed = availability["explanation"]["observed_availability"]
    used = (1 - observed) / (1 - target / 100)
    budget = entity["budget"]
    assert budget["availability_target"] == target
    assert budget["observed_availability"] == observed
    assert budget["budget_used"] == pytest.approx(used, abs=1e-4)
    limits = [("healthy (< 50%)", 0.5), ("watch (50–80%)", 0.8), ("at risk (80–100%)", 1.0)]
    assert budget["band"] == next((b for b, limit in limits if used < limit), "exhausted (≥ 100%)")
    assert entity["links"]["recommendations"] == "/api/v1/services/checkout/slo-recommendations"

    # Kinds and namespaces are case-insensitive in Backstage's refs.
    assert client.get(ENTITY.format("Component/Default/checkout-service")).json() == entity


def test_without_an_slo_and_by_name(
    client: TestClient, published: dict[str, dict[str, str]]
) -> None:
    web = client.get(ENTITY.format("component/default/web")).json()
    assert (web["service_id"], web["resolved_by"]) == ("web", "entity_ref")
    assert web["active_slo"] is None and web["budget"] is None
    assert web["recommendation"]["status"] == "active"
    db = client.get(ENTITY.format("resource/default/ledger-db")).json()
    assert db["service_id"] == "ledger-db" and db["team"] == "money"
    # A service no catalog import described is found by the entity's name.
    legacy = client.get(ENTITY.format("component/default/legacy")).json()
    assert (legacy["service_id"], legacy["resolved_by"]) == ("legacy", "name")
    assert legacy["recommendation"]["status"] == "cold_start"


@pytest.mark.parametrize(
    "path",
    [
        "component/default/nowhere",
        # `checkout` is checkout-service's service: another entity of that name is not it.
        "component/default/checkout",
        # web was imported as a Component: the same name in another namespace is another entity.
        "component/other/web",
    ],
)
def test_an_unknown_entity_is_a_404_problem(
    client: TestClient, published: dict[str, dict[str, str]], path: str
) -> None:
    response = client.get(ENTITY.format(path))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/backstage-entity-not-found")
    assert "slo-engine graph import-backstage" in problem["detail"]


def test_a_viewer_may_read_and_nobody_anonymous(
    client: TestClient, settings: Settings, published: dict[str, dict[str, str]]
) -> None:
    path = ENTITY.format("component/default/checkout-service")
    viewer = make_key(settings, role="viewer")
    assert client.get(path, headers={"X-API-Key": viewer}).status_code == 200
    bad = client.get(ENTITY.format("component/default/not..a-name"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "name"
    del client.headers["X-API-Key"]
    assert client.get(path).status_code == 401
