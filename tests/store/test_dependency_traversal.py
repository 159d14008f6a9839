"""The recursive-CTE traversal on both dialects: directions, depth, cycles, truncation, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from store.dependency_traversal import dependency_subgraph
from store.errors import ServiceNotFoundError
from store.graph_ingest import ingest_graph
from store.graph_model import EdgeRecord, GraphSubmission, NodeRecord

#   gw -> api -> db
#          |  -> pay -> stripe (external)
#          |      ^
#   worker-┘      |
#   api -> cache -> api   (cycle)
#   db -> d2 -> d3 -> d4  (a long chain for truncation)
EDGES = [
    ("gw", "api"),
    ("api", "db"),
    ("api", "pay"),
    ("pay", "stripe"),
    ("worker", "pay"),
    ("api", "cache"),
    ("cache", "api"),
    ("db", "d2"),
    ("d2", "d3"),
    ("d3", "d4"),
]


@pytest.fixture
def graph(engine: Engine) -> Engine:
    ingest_graph(
        engine,
        GraphSubmission(
            source="manual",
            nodes=[NodeRecord("stripe", {"service_type": "external", "published_sla": 99.99})],
            edges=[EdgeRecord(s, t, {"protocol": "grpc"}) for s, t in EDGES],
        ),
        stale_after=timedelta(hours=168),
    )
    return engine


def ids(nodes: list[dict[str, object]]) -> set[object]:
    return {n["service_id"] for n in nodes}


def test_downstream_within_depth(graph: Engine) -> None:
    sub = dependency_subgraph(graph, "gw", direction="downstream", depth=2)
    assert ids(sub.nodes) == {"gw", "api", "db", "pay", "cache"}
    assert {(e["source"], e["target"]) for e in sub.edges} == {
        ("gw", "api"),
        ("api", "db"),
        ("api", "pay"),
        ("api", "cache"),
    }
    assert sub.truncated is True
    depths = {n["service_id"]: n["depth"] for n in sub.nodes}
    assert depths == {"gw": 0, "api": 1, "db": 2, "pay": 2, "cache": 2}


def test_cycles_terminate_and_their_edges_are_returned(graph: Engine) -> None:
    sub = dependency_subgraph(graph, "api", direction="downstream", depth=10)
    assert ids(sub.nodes) == {"api", "db", "pay", "cache", "stripe", "d2", "d3", "d4"}
    assert ("cache", "api") in {(e["source"], e["target"]) for e in sub.edges}
    assert sub.truncated is False


def test_upstream_walks_callers(graph: Engine) -> None:
    sub = dependency_subgraph(graph, "pay", direction="upstream", depth=3)
    assert ids(sub.nodes) == {"pay", "api", "worker", "gw", "cache"}
    assert all(n["relation"] in {"self", "upstream"} for n in sub.nodes)
    assert ("pay", "stripe") not in {(e["source"], e["target"]) for e in sub.edges}


def test_both_directions_label_relations(graph: Engine) -> None:
    sub = dependency_subgraph(graph, "pay", direction="both", depth=1)
    relation = {n["service_id"]: n["relation"] for n in sub.nodes}
    assert relation == {
        "pay": "self",
        "api": "upstream",
        "worker": "upstream",
        "stripe": "downstream",
    }


def test_external_services_can_be_excluded(graph: Engine) -> None:
    sub = dependency_subgraph(graph, "api", direction="downstream", depth=3, include_external=False)
    assert "stripe" not in ids(sub.nodes)
    assert all(e["target"] != "stripe" for e in sub.edges)


def test_stale_edges_are_skipped_unless_asked(graph: Engine) -> None:
    later = datetime.now(UTC) + timedelta(days=10)
    ingest_graph(
        graph,
        GraphSubmission(source="manual", nodes=[], edges=[EdgeRecord("gw", "api")]),
        stale_after=timedelta(hours=168),
        now=later,
    )
    live = dependency_subgraph(graph, "gw", direction="downstream", depth=3)
    assert ids(live.nodes) == {"gw", "api"}
    everything = dependency_subgraph(
        graph, "gw", direction="downstream", depth=3, include_stale=True
    )
    assert {"db", "pay", "cache"} <= ids(everything.nodes)
    assert any(e["is_stale"] for e in everything.edges)


def test_edges_merge_sources_into_one_with_combined_confidence(graph: Engine) -> None:
    ingest_graph(
        graph,
        GraphSubmission(
            source="kubernetes", nodes=[], edges=[EdgeRecord("gw", "api", {"protocol": "http"})]
        ),
        stale_after=timedelta(hours=168),
    )
    sub = dependency_subgraph(graph, "gw", direction="downstream", depth=1)
    (edge,) = sub.edges
    assert edge["discovery_sources"] == ["manual", "kubernetes"]
    assert edge["protocol"] == "grpc"
    assert edge["conflicting_attributes"] == ["protocol"]
    assert edge["confidence"] == 1.0


def test_unknown_service_raises(graph: Engine) -> None:
    with pytest.raises(ServiceNotFoundError):
        dependency_subgraph(graph, "nope")


def test_edges_on_both_walks_are_counted_once(graph: Engine) -> None:
    sub = dependency_subgraph(graph, "api", direction="both", depth=2)
    pairs = [(e["source"], e["target"]) for e in sub.edges]
    assert len(pairs) == len(set(pairs))
    cycle_edge = next(e for e in sub.edges if (e["source"], e["target"]) == ("cache", "api"))
    assert cycle_edge["discovery_sources"] == ["manual"]
