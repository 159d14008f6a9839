"""The API answers dependency questions from the in-memory index (analytics.graph_neighbourhood);
the recursive-CTE traversal stays for `include_stale=true`. Both must give the same answer,
field for field, on a generated fleet with cycles, externals, several sources and stale edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.graph_neighbourhood import neighbourhood
from serving.graph_index import graph_index
from store.dependency_traversal import dependency_subgraph
from store.graph_ingest import ingest_graph
from store.graph_model import EdgeRecord, GraphSubmission
from store.graph_payload import DependencyGraphIn
from store.tables import service_dependencies
from synthetic_fleet.topology import generate_topology

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _fleet(engine: Engine) -> list[str]:
    topology = generate_topology(120, seed=3, cycles=4)
    payload = DependencyGraphIn.model_validate(topology.to_payload(source="kubernetes"))
    ingest_graph(engine, payload.to_submission(), stale_after=timedelta(days=7), now=T0)
    edges = [(e["source"], e["target"]) for e in topology.edges]
    # Traces confirm two thirds of the edges with their own attributes, and one new edge...
    traced = [EdgeRecord(s, t, {"protocol": "grpc"}, 0.7) for s, t in edges[::3]]
    traced.append(EdgeRecord(edges[0][1], edges[5][0], {}, 0.6))
    ingest_graph(engine, GraphSubmission("otel_service_graph", [], traced),
                 stale_after=timedelta(days=7), now=T0 + timedelta(days=9))  # fmt: skip
    # ...and ten days later kubernetes reports only half of its edges: the rest go stale.
    later = DependencyGraphIn.model_validate(
        {**topology.to_payload(source="kubernetes"), "edges": topology.edges[::2]}
    )
    ingest_graph(engine, later.to_submission(), stale_after=timedelta(days=7),
                 now=T0 + timedelta(days=10))  # fmt: skip
    return sorted(n["service_id"] for n in topology.nodes)


def test_in_memory_answers_equal_the_sql_traversal(engine: Engine) -> None:
    services = _fleet(engine)
    with engine.connect() as conn:
        stale = conn.execute(sa.select(sa.func.count()).where(service_dependencies.c.is_stale))
        assert stale.scalar_one() > 50  # stale rows exist and must be walked around
    version, index = graph_index(engine)
    assert any(len(e.discovery_sources) == 2 for e in index.edges.values())
    compared = 0
    some_truncated = some_external_dropped = False
    for service in services[::3]:
        for direction in ("downstream", "upstream", "both"):
            for depth in (1, 2, 4):
                for include_external in (True, False):
                    sql = dependency_subgraph(engine, service, direction=direction, depth=depth,
                                              include_external=include_external)  # fmt: skip
                    nodes, edges, truncated = neighbourhood(
                        index, service, direction=direction, depth=depth,
                        include_external=include_external,
                    )  # fmt: skip
                    assert (nodes, truncated) == (sql.nodes, sql.truncated), (service, direction)
                    assert _rounded(edges) == _rounded(sql.edges), (service, direction, depth)
                    assert sql.graph_version == version
                    compared += 1
                    some_truncated |= truncated
                    some_external_dropped |= not include_external and len(nodes) < len(
                        neighbourhood(index, service, direction=direction, depth=depth,
                                      include_external=True)[0]
                    )  # fmt: skip
    assert compared == 18 * len(services[::3])
    assert some_truncated and some_external_dropped  # the comparison reached those branches


def _rounded(edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "confidence": round(e["confidence"], 9)} for e in edges]
