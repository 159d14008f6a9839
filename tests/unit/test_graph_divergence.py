"""Declared vs observed graph: only services described by both views are compared."""

from __future__ import annotations

from analytics.edge_merge import EdgeObservation
from analytics.graph_divergence import graph_divergences


def o(source: str, target: str, discovery: str, mode: str = "sync") -> EdgeObservation:
    return EdgeObservation(source, target, discovery, {"communication_mode": mode})


def test_divergences_both_ways_only_for_services_with_both_views() -> None:
    observations = [
        o("api", "db", "manual"),
        o("api", "cache", "manual"),
        o("api", "events", "manual", mode="async"),  # a queue hop is not a traced call
        o("api", "db", "otel_service_graph"),
        o("api", "search", "service_mesh"),
        o("worker", "queue", "manual"),  # no runtime view of worker: not compared
        o("batch", "db", "otel_service_graph"),  # no declaration of batch: not compared
    ]
    found = [d.as_dict() for d in graph_divergences(observations)]
    assert found == [
        {"source": "api", "target": "cache", "kind": "declared_not_observed"},
        {"source": "api", "target": "search", "kind": "observed_not_declared"},
    ]
    assert graph_divergences(observations, services={"worker"}) == []
