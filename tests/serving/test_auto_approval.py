"""Auto-approval rules (TRD FR-11): AC-011, the critical-service guard, disabled by default,
sre_admin-only writes, validation, and the pipeline asset that runs them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.keys import make_key
from support.published_fleet import ingest_chain, publish

from config.settings import Settings
from pipelines.defs.decide.assets import auto_approvals
from pipelines.resources import OperationalStoreResource
from store.tables import services

RULES = "/api/v1/auto-approval-rules"


@pytest.fixture
def published(engine: Engine) -> dict[str, dict[str, str]]:
    ingest_chain(engine)
    ids = publish(engine, generated_at=datetime.now(UTC))
    with engine.begin() as conn:
        for service, level in {"email": "low", "batch": "low", "payments": "critical"}.items():
            conn.execute(
                sa.update(services).where(services.c.service_id == service)
                .values(criticality=level)
            )  # fmt: skip
    return ids


def _rule(client: TestClient, name: str, enabled: bool = True, **conditions: Any) -> str:
    body = {"name": name, "enabled": enabled, "conditions": {"tier": "balanced", **conditions}}
    response = client.post(RULES, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _run(client: TestClient) -> dict[str, Any]:
    response = client.post(f"{RULES}/run")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_matching_recommendation_is_auto_accepted_and_audited_ac011(
    client: TestClient, published: dict[str, dict[str, str]]
) -> None:
    _rule(client, "low-criticality", criticality=["low"])
    result = _run(client)
    assert result["approved"] == {"batch": "low-criticality", "email": "low-criticality"}
    active = client.get("/api/v1/services/email/slos").json()
    assert active["source"] == "auto_approved" and active["selected_tier"] == "balanced"
    assert active["recommendation_id"] == published["email"]["availability"]
    entry = client.get("/api/v1/services/email/slo-history").json()["entries"][0]
    assert entry["action"] == "auto_approve"
    assert entry["actor"] == "auto-approval:low-criticality"
    assert "low-criticality" in entry["rationale"]
    # Medium-criticality services were not touched; a second run finds nothing new.
    assert client.get("/api/v1/services/web/slos").status_code == 404
    assert _run(client)["approved"] == {}


def test_critical_services_need_a_rule_that_names_them(
    client: TestClient, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    _rule(client, "everything", criticality=["critical", "high", "medium"])
    approved = _run(client)["approved"]
    assert "payments" not in approved and {"web", "checkout"} <= set(approved)
    # Approving ledger-db expired its caller's (payments') recommendation: publish anew.
    publish(engine, generated_at=datetime.now(UTC), seed=5)
    _rule(client, "payments-by-name", services=["payments"], tier="conservative")
    assert _run(client)["approved"]["payments"] == "payments-by-name"
    assert client.get("/api/v1/services/payments/slos").json()["selected_tier"] == "conservative"


def test_rules_are_disabled_by_default_and_conditions_filter(
    client: TestClient, published: dict[str, dict[str, str]]
) -> None:
    rule = _rule(client, "dormant", enabled=False, criticality=["low"])
    assert client.get(f"{RULES}/{rule}").json()["enabled"] is False
    assert _run(client)["enabled_rules"] == 0
    # Ten days of history give low confidence: a rule wanting high approves nothing.
    patched = client.patch(f"{RULES}/{rule}", json={"enabled": True, "conditions": {
        "tier": "balanced", "criticality": ["low"], "confidence_min": "high"}})  # fmt: skip
    assert patched.status_code == 200 and patched.json()["enabled"] is True
    result = _run(client)
    assert result["enabled_rules"] == 1 and result["approved"] == {}
    assert client.delete(f"{RULES}/{rule}").status_code == 204
    assert client.get(f"{RULES}/{rule}").status_code == 404


def test_only_sre_admins_write_rules(
    client: TestClient, settings: Settings, published: dict[str, dict[str, str]]
) -> None:
    body = {"name": "mine", "conditions": {"tier": "balanced", "criticality": ["low"]}}
    owner = {"X-API-Key": make_key(settings, "service_owner", "shop")}
    assert client.post(RULES, json=body, headers=owner).status_code == 403
    assert client.post(f"{RULES}/run", headers=owner).status_code == 403
    viewer = {"X-API-Key": make_key(settings, "viewer")}
    assert client.get(RULES, headers=viewer).status_code == 200


@pytest.mark.parametrize(
    ("conditions", "field"),
    [
        ({"tier": "balanced"}, "conditions"),
        ({"tier": "best", "criticality": ["low"]}, "conditions.tier"),
        ({"tier": "balanced", "criticality": ["tiny"]}, "conditions.criticality[0]"),
        ({"tier": "balanced", "criticality": ["low"], "max_breach_probability": 2},
         "conditions.max_breach_probability"),
        ({"tier": "balanced", "criticality": ["low"], "owner": "me"}, "conditions.owner"),
    ],
)  # fmt: skip
def test_bad_rules_name_the_field(
    client: TestClient, published: dict[str, dict[str, str]], conditions: Any, field: str
) -> None:
    response = client.post(RULES, json={"name": "bad", "conditions": conditions})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert client.get(RULES).json() == []
    dup = {"name": "x", "conditions": {"tier": "balanced", "criticality": ["low"]}}
    assert client.post(RULES, json=dup).status_code == 201
    assert client.post(RULES, json=dup).status_code == 409


def test_the_pipeline_asset_applies_the_rules(
    client: TestClient, store_url: str, published: dict[str, dict[str, str]]
) -> None:
    _rule(client, "low-criticality", criticality=["low"])
    result = dg.materialize(
        [auto_approvals],
        resources={"store": OperationalStoreResource(database_url=store_url)},
        partition_key="2026-11-20",
    )
    assert result.success
    metadata = result.asset_materializations_for_node("auto_approvals")[0].metadata
    assert metadata["approved"].value == 2 and metadata["enabled_rules"].value == 1
    assert client.get("/api/v1/services/batch/slos").json()["source"] == "auto_approved"
