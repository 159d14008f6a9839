"""A known chain of services with real, published recommendations (for the workflow tests).

web → checkout → payments → ledger-db (hard sync), checkout → email (async), and a lone
`batch`: recommendations come from `recommend_service` over generated telemetry, published
through the same store function the pipeline uses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

from analytics.service_recommendation import recommend_service
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn
from store.published_recommendations import publish_recommendations
from synthetic_fleet.telemetry import generate_telemetry, hourly_frame
from synthetic_fleet.topology import FleetTopology

END = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 10
SERVICES = ["web", "checkout", "payments", "ledger-db", "email", "batch"]
TEAMS = {"web": "edge", "checkout": "shop", "payments": "money", "ledger-db": "money",
         "email": "shop", "batch": "data"}  # fmt: skip


def _edge(source: str, target: str, mode: str = "sync") -> dict[str, Any]:
    return {
        "source": source,
        "target": target,
        "attributes": {"communication_mode": mode, "criticality": "hard", "protocol": "grpc"},
    }


TOPOLOGY = FleetTopology(
    nodes=[
        {
            "service_id": s,
            "metadata": {
                "team": TEAMS[s],
                "tier": 1,
                "service_type": "datastore" if s == "ledger-db" else "backend",
            },
        }
        for s in SERVICES
    ],
    edges=[
        _edge("web", "checkout"),
        _edge("checkout", "payments"),
        _edge("payments", "ledger-db"),
        _edge("checkout", "email", mode="async"),
    ],
)


def ingest_chain(engine: Engine) -> None:
    ingest_graph(
        engine,
        DependencyGraphIn.model_validate(TOPOLOGY.to_payload()).to_submission(),
        stale_after=timedelta(days=3650),
        now=END,
    )


def publish(engine: Engine, *, generated_at: datetime, seed: int = 4) -> dict[str, dict[str, str]]:
    """Publish one recommendation per service; returns {service: {sli_type: recommendation_id}}."""
    documents = recommendation_documents(generated_at=generated_at, seed=seed)
    publish_recommendations(engine, documents, snapshot_id=None, generated_at=generated_at)
    return recommendation_ids(engine)


def recommendation_documents(*, generated_at: datetime, seed: int = 4) -> list[dict[str, Any]]:
    """One recommendation document per service of the chain, from generated telemetry."""
    telemetry = generate_telemetry(TOPOLOGY, days=DAYS, seed=seed, end=END)
    frame = hourly_frame(telemetry)
    hours = [END - timedelta(days=DAYS) + timedelta(hours=h) for h in range(DAYS * 24)]
    documents = []
    for service in SERVICES:
        _, document = recommend_service(
            service,
            frame.filter(pl.col("service") == service),
            hours,
            None,
            generated_at=generated_at,
        )
        documents.append(document)
    return documents


def recommendation_ids(engine: Engine) -> dict[str, dict[str, str]]:
    from store.published_recommendations import active_recommendations

    ids: dict[str, dict[str, str]] = {}
    for service in SERVICES:
        for row in active_recommendations(engine, service):
            ids.setdefault(service, {})[row["sli_type"]] = str(row["id"])
    return ids
