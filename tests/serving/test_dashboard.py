"""Dashboards (TRD FR-12) on a published fleet: computed by the hourly asset, served as is."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.published_fleet import SERVICES, TEAMS, ingest_chain, publish

from pipelines.defs.dashboard.assets import slo_dashboard
from pipelines.resources import OperationalStoreResource
from store.tables import slo_recommendations

BOARD = "/api/v1/dashboard/{}"


@pytest.fixture
def published(engine: Engine) -> dict[str, dict[str, str]]:
    ingest_chain(engine)
    return publish(engine, generated_at=datetime.now(UTC))


def _decide(client: TestClient, service: str, rec: str, action: str, **extra: object) -> None:
    body = {"recommendation_id": rec, "action": action, "actor": "jane@example.com", **extra}
    if action != "reject":
        body["selected_tier"] = "balanced"
    response = client.post(f"/api/v1/services/{service}/slos", json=body)
    assert response.status_code == 200, response.text


def _materialize(store_url: str) -> None:
    resources = {"store": OperationalStoreResource(database_url=store_url)}
    assert dg.materialize([slo_dashboard], resources=resources).success


def test_dashboards_are_served_from_the_hourly_snapshot(
    client: TestClient, engine: Engine, store_url: str, published: dict[str, dict[str, str]]
) -> None:
    missing = client.get(BOARD.format("coverage"))
    assert missing.status_code == 404 and "slo_dashboard" in missing.json()["detail"]
    _decide(client, "web", published["web"]["availability"], "accept")
    _decide(client, "batch", published["batch"]["availability"], "modify",
            modifications={"availability_target": 99.9999}, rationale="we promised")  # fmt: skip
    _decide(client, "email", published["email"]["availability"], "reject", rationale="no")
    _materialize(store_url)

    cover = client.get(BOARD.format("coverage")).json()
    total = {"name": "all", "services": len(SERVICES), "with_active_slo": 2,
             "with_recommendation": len(SERVICES), "coverage": round(2 / 6, 4)}  # fmt: skip
    assert cover["total"] == total
    by_team = {row["name"]: row for row in cover["by_team"]}
    assert set(by_team) == set(TEAMS.values())
    assert by_team["edge"]["with_active_slo"] == 1 and by_team["edge"]["coverage"] == 1.0
    assert by_team["shop"]["with_active_slo"] == 0
    assert datetime.fromisoformat(cover["computed_at"]) <= datetime.now(UTC)

    health = client.get(BOARD.format("error-budget-health")).json()
    assert health["services_with_slo_and_data"] == 2
    bands = {b["band"]: b["services"] for b in health["distribution"]}
    assert sum(bands.values()) == 2
    assert bands["exhausted (≥ 100%)"] >= 1  # batch promised 99.9999%: never delivered

    quality = client.get(BOARD.format("recommendation-quality")).json()
    assert quality["decisions"]["accept"] == 1 and quality["decisions"]["reject"] == 1
    assert quality["acceptance_rate"] == round(1 / 3, 4)
    assert quality["rejection_rate"] == round(1 / 3, 4)
    assert quality["slos_from_recommendations"] == 2
    assert quality["breached_slos"] >= 1 and quality["breach_rate"] >= 0.5


def test_the_endpoints_serve_the_snapshot_not_the_live_state(
    client: TestClient, engine: Engine, store_url: str, published: dict[str, dict[str, str]]
) -> None:
    _materialize(store_url)
    before = client.get(BOARD.format("coverage")).json()
    with engine.begin() as conn:
        conn.execute(sa.update(slo_recommendations).values(status="superseded"))
    assert client.get(BOARD.format("coverage")).json() == before  # until the next hour
    _materialize(store_url)
    after = client.get(BOARD.format("coverage")).json()
    assert after["total"]["with_recommendation"] == 0
    assert after["computed_at"] > before["computed_at"]
