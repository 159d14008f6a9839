"""The effective graph, loaded once per graph version and shared by the request handlers."""

from __future__ import annotations

import gc
import threading

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.graph_neighbourhood import GraphIndex, ServiceRecord, build_index, neighbourhood
from store.dependency_traversal import Direction, Subgraph
from store.errors import ServiceNotFoundError
from store.graph_snapshot import EffectiveGraph, load_effective_graph
from store.graph_version import graph_version
from store.tables import services

#: The effective graph per database, with the graph version it was loaded at: an on-demand
#: regeneration needs the whole graph, which changes only when an ingestion commits.
_GRAPHS: dict[str, tuple[str, EffectiveGraph]] = {}
_GRAPHS_LOCK = threading.Lock()
_INDEXES: dict[str, tuple[str, GraphIndex]] = {}


def effective_graph(engine: Engine) -> EffectiveGraph:
    with engine.connect() as conn:
        version = graph_version(conn)
    key = engine.url.render_as_string(hide_password=True)
    with _GRAPHS_LOCK:
        hit = _GRAPHS.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    graph = load_effective_graph(engine)  # loaded after the version: never older than it
    with _GRAPHS_LOCK:
        _GRAPHS[key] = (version, graph)
    long_lived()
    return graph


def graph_index(engine: Engine) -> tuple[str, GraphIndex]:
    """(graph version, adjacency index) for in-memory subgraph answers, built once per version
    from the cached effective graph plus what a node shows of its service row."""
    with engine.connect() as conn:
        version = graph_version(conn)
    key = engine.url.render_as_string(hide_password=True)
    with _GRAPHS_LOCK:
        hit = _INDEXES.get(key)
    if hit is not None and hit[0] == version:
        return hit
    graph = effective_graph(engine)
    columns = (services.c.service_id, services.c.team, services.c.criticality,
               services.c.discovered)  # fmt: skip
    with engine.connect() as conn:
        # Metadata is the graph's own (same rows): a second copy would double it per process.
        records = {
            row.service_id: ServiceRecord(
                row.team, row.criticality, row.discovered, graph.nodes.get(row.service_id, {})
            )
            for row in conn.execute(sa.select(*columns))
        }
    index = build_index(records, graph.edges)
    with _GRAPHS_LOCK:
        _INDEXES[key] = (version, index)
    long_lived()
    return version, index


def long_lived() -> None:
    """Move what is cached so far out of the cyclic GC's sight: a 50,000-edge graph scanned by
    every full collection shows up as 100+ ms pauses in the API's tail latency. Reference
    counting still frees it once the cache lets it go (it holds no reference cycles)."""
    gc.collect()
    gc.freeze()


def indexed_subgraph(
    engine: Engine, service_id: str, direction: Direction, depth: int, include_external: bool
) -> Subgraph:
    """A live-edge subgraph answered from the per-version index, as the API serves it."""
    version, index = graph_index(engine)
    if service_id not in index.services:
        raise ServiceNotFoundError(service_id)
    nodes, edges, truncated = neighbourhood(
        index, service_id, direction=direction, depth=depth, include_external=include_external
    )
    return Subgraph(service_id, direction, depth, truncated, nodes, edges, version)
