"""`force_regenerate=true`: one service's recommendation recomputed now by the daily run's own
code path — intrinsic availability, the composite inputs' one builder, the bound, the fleet prior
the last daily run published, the seed of (partition, service, graph) — restricted to the service
and its hard dependencies, and published so that later reads get it too. On unchanged data it
reproduces the published recommendation."""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

from analytics.composite_inputs import (
    assumed_externals,
    composite_bounds,
    composite_inputs,
    edges_of,
    exercised,
)
from analytics.intrinsic_availability import intrinsic_hourly, intrinsic_totals
from analytics.service_recommendation import recommend_service, recommendation_seed
from config.settings import Settings
from serving.graph_index import effective_graph
from serving.observability import RECOMMENDATIONS_GENERATED
from store.active_targets import active_availability_targets
from store.errors import ServiceNotFoundError
from store.fleet_prior import load_fleet_prior
from store.published_recommendations import publish_recommendations
from telemetry.service_graph_sources import ServiceGraphSource
from telemetry.sli_sources import SliSource


def regenerate_recommendation(
    engine: Engine,
    settings: Settings,
    source: SliSource,
    service_id: str,
    lookback_days: int,
    *,
    graph_source: ServiceGraphSource | None = None,
) -> dict[str, Any]:
    graph = effective_graph(engine)
    if service_id not in graph.nodes:
        raise ServiceNotFoundError(service_id)
    edges = edges_of(graph.edges)
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
    # The lookback of yesterday's partition: what the daily run published today.
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=lookback_days)
    partition = (end - timedelta(days=1)).date().isoformat()
    frame = source.fetch_window(start, lookback_days, sorted(needed))
    calls = (
        graph_source.fetch_hourly(start, lookback_days, sorted(needed)) if graph_source else None
    )
    local_edges = [e for e in edges if e.source in needed]
    nodes = {s: graph.nodes.get(s, {}) for s in needed}
    totals = intrinsic_totals(intrinsic_hourly(frame, local_edges, calls, assumed_externals(nodes)))
    inputs = composite_inputs(totals, nodes)
    bounds = composite_bounds(
        inputs, exercised(local_edges, calls), promises=active_availability_targets(engine)
    )
    composite = bounds[service_id]
    generated_at = datetime.now(UTC)
    meta = graph.nodes[service_id]
    sla = meta.get("published_sla")
    graph_hash = graph.fingerprint()
    _, document = recommend_service(
        service_id,
        frame.filter(pl.col("service") == service_id),
        [start + timedelta(hours=h) for h in range(lookback_days * 24)],
        composite,
        generated_at=generated_at,
        service_type=meta.get("service_type"),
        fleet_excess=load_fleet_prior(engine, partition),
        seed=recommendation_seed(partition, service_id, graph_hash),
        absorbs=service_id in inputs.absorbs,
        published_sla=float(sla) if sla is not None else None,
    )
    document["provenance"] = {
        "regenerated_on_demand": True,
        "telemetry": settings.telemetry,
        "services_queried": len(needed),
        "partition": partition,
        "graph_hash": graph_hash,
    }
    publish_recommendations(engine, [document], snapshot_id=None, generated_at=generated_at)
    for recommendation in document["recommendations"]:
        RECOMMENDATIONS_GENERATED.labels(recommendation["sli_type"]).inc()
    return document
