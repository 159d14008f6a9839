"""TRD FR-3, said out loud: an availability target above the service's composite bound is
applied — a decision or an OpenSLO import — but with the TRD's warning in the response and in
the audit entry. (Impact analysis lists such callers too: tests/serving/test_impact_analysis_api.)

The chain of tests/support/published_fleet, published here *with* a dependency analysis (every
service's R_self taken as 99.9%): checkout's bound is 99.9%³ ≈ 99.70%, payments' 99.9%² ≈ 99.80%;
email (an async leaf) is taken as 90%, a bound below what its history shows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.published_fleet import (
    DAYS,
    END,
    SERVICES,
    TOPOLOGY,
    ingest_chain,
    recommendation_ids,
)

from analytics.composite_availability import Edge, composite_availability
from analytics.service_recommendation import recommend_service
from analytics.slo_tiers import unachievable_target_warning
from store.published_recommendations import publish_recommendations
from synthetic_fleet.telemetry import generate_telemetry, hourly_frame

SLOS = "/api/v1/services/{}/slos"
HISTORY = "/api/v1/services/{}/slo-history"
IMPORT = "/api/v1/slos/openslo"


def _publish_with_bounds(engine: Engine, generated_at: datetime) -> dict[str, dict[str, str]]:
    telemetry = generate_telemetry(TOPOLOGY, days=DAYS, seed=4, end=END)
    frame = hourly_frame(telemetry)
    hours = [END - timedelta(days=DAYS) + timedelta(hours=h) for h in range(DAYS * 24)]
    edges = [
        Edge(e["source"], e["target"], e["attributes"]["communication_mode"],
             e["attributes"]["criticality"], None)
        for e in TOPOLOGY.edges
    ]  # fmt: skip
    composites = composite_availability(dict.fromkeys(SERVICES, 0.999) | {"email": 0.9}, edges)
    documents = [
        recommend_service(service, frame.filter(pl.col("service") == service), hours,
                          composites[service], generated_at=generated_at)[1]
        for service in SERVICES
    ]  # fmt: skip
    publish_recommendations(engine, documents, snapshot_id=None, generated_at=generated_at)
    return recommendation_ids(engine)


@pytest.fixture
def published(engine: Engine) -> dict[str, dict[str, str]]:
    ingest_chain(engine)
    return _publish_with_bounds(engine, datetime.now(UTC))


def _bound(client: TestClient, service: str) -> float:
    """The published document's composite availability bound (percent)."""
    document = client.get(f"/api/v1/services/{service}/slo-recommendations").json()
    availability = document["recommendations"][0]
    assert availability["sli_type"] == "availability"
    bound: float = availability["explanation"]["dependency_impact"]["composite_availability_bound"]
    return bound


def _tier_target(client: TestClient, service: str, tier: str) -> float:
    document = client.get(f"/api/v1/services/{service}/slo-recommendations").json()
    target: float = document["recommendations"][0]["tiers"][tier]["target"]
    return target


def _modify(
    client: TestClient, service: str, recommendation_id: str, availability: float
) -> dict[str, Any]:
    response = client.post(
        SLOS.format(service),
        json={"recommendation_id": recommendation_id, "action": "modify",
              "selected_tier": "balanced", "modifications": {"availability_target": availability},
              "rationale": "the business wants more", "actor": "jane@example.com"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _latest_audit_entry(client: TestClient, service: str) -> dict[str, Any]:
    history = client.get(HISTORY.format(service))
    assert history.status_code == 200, history.text
    entry: dict[str, Any] = history.json()["entries"][0]
    return entry


def test_a_modify_above_the_bound_is_applied_with_the_warning_in_response_and_audit(
    client: TestClient, published: dict[str, dict[str, str]]
) -> None:
    bound = _bound(client, "checkout")
    assert bound == pytest.approx(99.7003, abs=1e-3)
    expected = unachievable_target_warning(99.95, bound / 100)
    assert expected is not None and "99.95% is unachievable" in expected

    result = _modify(client, "checkout", published["checkout"]["availability"], 99.95)
    assert result["status"] == "active"
    assert result["targets"]["availability"] == 99.95  # applied all the same
    assert result["warnings"] == [expected]
    assert client.get(SLOS.format("checkout")).json()["availability_target"] == 99.95

    entry = _latest_audit_entry(client, "checkout")
    assert entry["audit_id"] == result["audit_id"] and entry["action"] == "modify"
    assert entry["new_slo"]["warnings"] == [expected]  # what the audit row itself stores
    assert entry["warnings"] == [expected]
    assert entry["new_slo"]["availability_target"] == 99.95


def test_a_modify_below_the_bound_has_no_warning(
    client: TestClient, published: dict[str, dict[str, str]]
) -> None:
    assert _bound(client, "checkout") > 99.5
    result = _modify(client, "checkout", published["checkout"]["availability"], 99.5)
    assert result["warnings"] == []
    entry = _latest_audit_entry(client, "checkout")
    assert entry["warnings"] == [] and "warnings" not in entry["new_slo"]


def test_accepting_a_tier_above_the_bound_warns_too(
    client: TestClient, published: dict[str, dict[str, str]]
) -> None:
    bound = _bound(client, "email")
    assert bound == pytest.approx(90.0)
    aggressive = _tier_target(client, "email", "aggressive")
    assert aggressive > bound  # the aggressive tier is what history shows, uncapped
    response = client.post(
        SLOS.format("email"),
        json={"recommendation_id": published["email"]["availability"], "action": "accept",
              "selected_tier": "aggressive", "actor": "jane@example.com"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    expected = unachievable_target_warning(aggressive, bound / 100)
    assert response.json()["warnings"] == [expected]
    assert _latest_audit_entry(client, "email")["warnings"] == [expected]


def test_a_reject_has_no_warning(client: TestClient, published: dict[str, dict[str, str]]) -> None:
    response = client.post(
        SLOS.format("checkout"),
        json={"recommendation_id": published["checkout"]["availability"], "action": "reject",
              "rationale": "not now", "actor": "jane@example.com"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["warnings"] == []


def _slo_document(service: str, name: str, target_percent: float) -> str:
    return f"""
apiVersion: openslo/v1
kind: SLO
metadata:
  name: {name}
  annotations: {{slo-engine.io/service-id: {service}}}
spec:
  service: {service}
  budgetingMethod: Occurrences
  timeWindow: [{{duration: 30d, isRolling: true}}]
  objectives: [{{targetPercent: {target_percent}}}]
  indicator:
    metadata: {{name: {name}-errors}}
    spec:
      ratioMetric:
        counter: true
        bad: {{metricSource: {{type: Prometheus, spec: {{query: 'sum(http_requests_total{{service="{service}",status=~"5.."}})'}}}}}}
        total: {{metricSource: {{type: Prometheus, spec: {{query: 'sum(http_requests_total{{service="{service}"}})'}}}}}}
"""  # noqa: E501


def test_an_openslo_import_above_the_bound_is_imported_with_the_warning(
    client: TestClient, published: dict[str, dict[str, str]]
) -> None:
    checkout_bound, payments_bound = _bound(client, "checkout"), _bound(client, "payments")
    assert checkout_bound < 99.95 and payments_bound > 99.5
    body = "---".join([
        _slo_document("checkout", "checkout-availability", 99.95),  # above its bound
        _slo_document("payments", "payments-availability", 99.5),  # below its bound
    ])  # fmt: skip
    response = client.post(
        IMPORT, content=body, headers={"Content-Type": "application/yaml"},
        params={"actor": "jane@example.com"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    expected = unachievable_target_warning(99.95, checkout_bound / 100)
    assert expected is not None
    imported = {entry["service_id"]: entry for entry in response.json()["imported"]}
    assert imported["checkout"]["targets"]["availability"] == 99.95  # imported all the same
    assert imported["checkout"]["warnings"] == [expected]
    assert imported["payments"]["warnings"] == []
    assert response.json()["warnings"] == [
        {"document": "checkout-availability", "service_id": "checkout", "warning": expected}
    ]

    entry = _latest_audit_entry(client, "checkout")
    assert entry["audit_id"] == imported["checkout"]["audit_id"]
    assert entry["new_slo"]["warnings"] == [expected] and entry["warnings"] == [expected]
    assert _latest_audit_entry(client, "payments")["warnings"] == []
