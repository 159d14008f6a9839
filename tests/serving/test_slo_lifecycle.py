"""The decide workflow (TRD FR-5): AC-005, AC-006, conflicts, serialization, the audit trail."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.published_fleet import ingest_chain, publish, recommendation_ids

from store.tables import active_slos, slo_audit_log, slo_recommendations

URL = "/api/v1/services/{}/slos"


@pytest.fixture
def published(engine: Engine) -> dict[str, dict[str, str]]:
    ingest_chain(engine)
    return publish(engine, generated_at=datetime.now(UTC))


def _tiers(engine: Engine, recommendation_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        tiers: dict[str, Any] = conn.execute(
            sa.select(slo_recommendations.c.tiers).where(
                slo_recommendations.c.id == uuid.UUID(recommendation_id)
            )
        ).scalar_one()
    return tiers


def test_accept_makes_the_active_slo_and_audits_it_ac005(
    client: TestClient, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    rec = published["payments"]["availability"]
    body = {
        "recommendation_id": rec,
        "action": "accept",
        "selected_tier": "balanced",
        "rationale": "matches what we deliver",
        "actor": "jane.doe@company.com",
    }
    response = client.post(URL.format("payments"), json=body)
    assert response.status_code == 200, response.text
    decided = response.json()
    availability = _tiers(engine, rec)["balanced"]["target"]
    latency = _tiers(engine, published["payments"]["latency"])["balanced"]["target_ms"]
    assert decided["status"] == "active" and decided["source"] == "recommendation_accepted"
    assert decided["targets"]["availability"] == pytest.approx(availability)
    assert decided["targets"]["latency_p99_ms"] == latency
    assert decided["activated_by"] == "jane.doe@company.com"

    active = client.get(URL.format("payments")).json()
    assert active["slo_id"] == decided["slo_id"]
    assert active["availability_target"] == pytest.approx(availability)
    assert active["recommendation_id"] == rec

    history = client.get("/api/v1/services/payments/slo-history").json()["entries"]
    assert len(history) == 1
    entry = history[0]
    assert entry["action"] == "accept" and entry["actor"] == "jane.doe@company.com"
    assert entry["rationale"] == "matches what we deliver"
    assert entry["previous_slo"] is None
    assert entry["new_slo"]["availability_target"] == pytest.approx(availability)
    # Both SLI types of the publication are decided, the recommendation says so.
    with engine.connect() as conn:
        decisions = (
            conn.execute(
                sa.select(slo_recommendations.c.decision).where(
                    slo_recommendations.c.id.in_(
                        [uuid.UUID(i) for i in published["payments"].values()]
                    )
                )
            )
            .scalars()
            .all()
        )
    assert decisions == ["accepted", "accepted"]


def test_a_later_decision_keeps_the_previous_state_in_the_audit_entry(
    client: TestClient, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    first = client.post(
        URL.format("checkout"),
        json={"recommendation_id": published["checkout"]["availability"], "action": "accept",
              "selected_tier": "conservative", "actor": "a@x.io"},
    )  # fmt: skip
    assert first.status_code == 200, first.text
    newer = publish(engine, generated_at=datetime.now(UTC) + timedelta(seconds=1), seed=5)
    recommended = _tiers(engine, newer["checkout"]["availability"])["aggressive"]["target"]
    second = client.post(
        URL.format("checkout"),
        json={"recommendation_id": newer["checkout"]["availability"], "action": "modify",
              "selected_tier": "aggressive", "modifications": {"availability_target": 99.5,
              "latency_p99_target_ms": 750}, "rationale": "payment fallback next sprint",
              "actor": "b@x.io"},
    )  # fmt: skip
    assert second.status_code == 200, second.text
    result = second.json()
    assert result["slo_id"] == first.json()["slo_id"]  # one row per service, updated
    assert result["source"] == "recommendation_modified"
    assert result["targets"]["availability"] == 99.5
    assert result["targets"]["latency_p99_ms"] == 750
    change = round(99.5 - recommended, 4)
    assert (
        result["modification_delta"]["availability"]
        == f"{change:+g} from recommended {recommended:g}"
    )

    entries = client.get("/api/v1/services/checkout/slo-history").json()["entries"]
    assert [e["action"] for e in entries] == ["modify", "accept"]
    assert entries[0]["previous_slo"] == entries[1]["new_slo"]
    assert entries[0]["previous_slo"]["selected_tier"] == "conservative"
    assert entries[0]["new_slo"]["availability_target"] == 99.5
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(active_slos)).scalar() == 1


def test_reject_stores_the_rationale_and_the_recommendation_status_ac006(
    client: TestClient, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    rec = published["web"]["latency"]
    rationale = "target too aggressive for upcoming holiday traffic"
    response = client.post(
        URL.format("web"),
        json={"recommendation_id": rec, "action": "reject", "rationale": rationale,
              "actor": "sre@x.io"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert response.json()["recommendation_status"] == "rejected"
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(slo_audit_log.c.action, slo_audit_log.c.rationale, slo_audit_log.c.actor)
        ).one()
        status = conn.execute(
            sa.select(slo_recommendations.c.decision).where(
                slo_recommendations.c.id == uuid.UUID(rec)
            )
        ).scalar_one()
    assert tuple(row) == ("reject", rationale, "sre@x.io")
    assert status == "rejected"
    assert client.get(URL.format("web")).status_code == 404  # nothing became active


def test_decisions_on_stale_or_decided_recommendations_are_conflicts(
    client: TestClient, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    old = published["batch"]["availability"]
    publish(engine, generated_at=datetime.now(UTC) + timedelta(seconds=1), seed=6)
    superseded = client.post(
        URL.format("batch"),
        json={"recommendation_id": old, "action": "accept", "selected_tier": "balanced",
              "actor": "a@x.io"},
    )  # fmt: skip
    assert superseded.status_code == 409
    assert superseded.headers["content-type"].startswith("application/problem+json")
    assert "superseded" in superseded.json()["detail"]

    current = recommendation_ids(engine)["batch"]["availability"]
    body = {"recommendation_id": current, "action": "accept", "selected_tier": "balanced",
            "actor": "a@x.io"}  # fmt: skip
    assert client.post(URL.format("batch"), json=body).status_code == 200
    again = client.post(URL.format("batch"), json=body)
    assert again.status_code == 409 and "already accepted" in again.json()["detail"]

    # Another service's recommendation, or none at all: 404, and nothing written.
    foreign = client.post(URL.format("web"), json=body)
    assert foreign.status_code == 404
    assert foreign.json()["type"].endswith("/recommendation-not-found")
    unknown = client.post(URL.format("nope"), json=body)
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("/service-not-found")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(slo_audit_log)).scalar() == 1


def test_expired_recommendation_is_a_conflict(client: TestClient, engine: Engine) -> None:
    ingest_chain(engine)
    ids = publish(engine, generated_at=datetime.now(UTC) - timedelta(days=2))
    response = client.post(
        URL.format("web"),
        json={"recommendation_id": ids["web"]["availability"], "action": "accept",
              "selected_tier": "balanced", "actor": "a@x.io"},
    )  # fmt: skip
    assert response.status_code == 409 and "expired" in response.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"action": "accept", "selected_tier": None}, "selected_tier"),
        ({"action": "modify", "rationale": "x"}, "modifications"),
        ({"action": "modify", "modifications": {"availability_target": 99.5}}, "rationale"),
        ({"action": "reject"}, "rationale"),
        ({"modifications": {"availability_target": 99.5}}, "modifications"),
        (
            {"modifications": {"availability_target": 100.0}, "action": "modify", "rationale": "x"},
            "modifications.availability_target",
        ),
        ({"action": "approve"}, "action"),
        ({"recommendation_id": "not-a-uuid"}, "recommendation_id"),
        ({"actor": None}, "actor"),
    ],
)
def test_bad_decisions_name_the_field_and_write_nothing(
    client: TestClient,
    engine: Engine,
    published: dict[str, dict[str, str]],
    change: dict[str, Any],
    field: str,
) -> None:
    body = {"recommendation_id": published["web"]["availability"], "action": "accept",
            "selected_tier": "balanced", "actor": "a@x.io", **change}  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post(URL.format("web"), json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    assert field in [e["field"] for e in problem["errors"]]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(slo_audit_log)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(active_slos)).scalar() == 0


def test_concurrent_decisions_on_one_recommendation_serialize(
    client: TestClient, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    rec = published["ledger-db"]["availability"]
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def decide(k: int) -> None:
        barrier.wait()
        response = client.post(
            URL.format("ledger-db"),
            json={"recommendation_id": rec, "action": "accept", "selected_tier": "balanced",
                  "actor": f"sre{k}@x.io"},
        )  # fmt: skip
        statuses.append(response.status_code)

    threads = [threading.Thread(target=decide, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409, 409, 409, 409, 409]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(slo_audit_log)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(active_slos)).scalar() == 1


def test_accepting_expires_the_cached_recommendations_of_upstream_services(
    client: TestClient, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    response = client.post(
        URL.format("payments"),
        json={"recommendation_id": published["payments"]["availability"], "action": "accept",
              "selected_tier": "balanced", "actor": "a@x.io"},
    )  # fmt: skip
    # checkout and web call payments (hard sync); ledger-db, email and batch do not.
    assert response.json()["upstream_recommendations_invalidated"] == 4
    for service, stale in (("web", True), ("checkout", True), ("ledger-db", False),
                           ("batch", False)):  # fmt: skip
        body = client.get(f"/api/v1/services/{service}/slo-recommendations").json()
        assert body["stale"] is stale, service


def test_the_audit_log_refuses_update_and_delete_in_the_database(
    client: TestClient, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    response = client.post(
        URL.format("web"),
        json={"recommendation_id": published["web"]["availability"], "action": "reject",
              "rationale": "no", "actor": "a@x.io"},
    )  # fmt: skip
    assert response.status_code == 200
    for statement in (
        sa.update(slo_audit_log).values(actor="mallory"),
        sa.delete(slo_audit_log),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE slo_audit_log"))
    with engine.connect() as conn:
        assert conn.execute(sa.select(slo_audit_log.c.actor)).scalars().all() == ["a@x.io"]
