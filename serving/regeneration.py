"""`force_regenerate=true`: one service's recommendation recomputed now, from its own SLIs and
its hard dependencies' (the same code the daily pipeline runs for every service), and
published so that later reads get it too."""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

from analytics.composite_availability import Edge, composite_availability, external_availability
from analytics.service_recommendation import recommend_service
from config.settings import Settings
from serving.graph_cache import effective_graph
from serving.observability import RECOMMENDATIONS_GENERATED
from store.dependency_traversal import ServiceNotFoundError
from store.recommendation_store import publish_recommendations
from telemetry.sli_sources import SliSource


def regenerate_recommendation(
    engine: Engine, settings: Settings, source: SliSource, service_id: str, lookback_days: int
) -> dict[str, Any]:
    graph = effective_graph(engine)
    if service_id not in graph.nodes:
        raise ServiceNotFoundError(service_id)
    edges = [
        Edge(
            e.source,
            e.target,
            e.attributes.get("communication_mode") or "sync",
            e.attributes.get("criticality") or "hard",
            e.attributes.get("redundancy_group"),
        )
        for e in graph.edges
    ]
    hard: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if e.is_hard_sync:
            hard[e.source].append(e.target)
    needed = {service_id}
    queue = deque([service_id])
    while queue:  # only this service's dependency subgraph is queried
        for nxt in hard[queue.popleft()]:
            if nxt not in needed:
                needed.add(nxt)
                queue.append(nxt)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=lookback_days)
    frame = source.fetch_window(start, lookback_days, sorted(needed))
    totals = (
        frame.filter(pl.col("has_data"))
        .group_by("service")
        .agg(pl.col("requests").sum(), pl.col("errors").sum())
        .filter(pl.col("requests") > 0)
    )
    observed = {
        s: 1 - e / r for s, r, e in totals.select("service", "requests", "errors").iter_rows()
    }
    externals = {
        s: observed.get(s)
        or external_availability(float(graph.nodes[s].get("published_sla", 99.9)))
        for s in needed
        if graph.nodes.get(s, {}).get("service_type") == "external"
    }
    availability = {s: observed.get(s, 1.0) for s in needed if s not in externals}
    local_edges = [e for e in edges if e.source in needed]
    composite = composite_availability(
        availability,
        local_edges,
        externals=externals,
        observed_externals=frozenset(s for s in externals if s in observed),
    )[service_id]
    generated_at = datetime.now(UTC)
    _, document = recommend_service(
        service_id,
        frame.filter(pl.col("service") == service_id),
        [start + timedelta(hours=h) for h in range(lookback_days * 24)],
        composite,
        generated_at=generated_at,
        service_type=graph.nodes[service_id].get("service_type"),
    )
    document["provenance"] = {
        "regenerated_on_demand": True,
        "telemetry": settings.telemetry,
        "services_queried": len(needed),
    }
    publish_recommendations(engine, [document], snapshot_id=None, generated_at=generated_at)
    for recommendation in document["recommendations"]:
        RECOMMENDATIONS_GENERATED.labels(recommendation["sli_type"]).inc()
    return document
