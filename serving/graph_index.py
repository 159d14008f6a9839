"""The effective graph, loaded once per graph version and shared by the request handlers."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.graph_neighbourhood import GraphIndex, ServiceRecord, build_index, neighbourhood
from serving.versioned_cache import VersionedCache
from store.dependency_traversal import Direction, Subgraph
from store.errors import ServiceNotFoundError
from store.graph_snapshot import EffectiveGraph, load_effective_graph
from store.graph_version import graph_version
from store.tables import services

#: The effective graph per database, with the graph version it was loaded at: an on-demand
#: regeneration needs the whole graph, which changes only when an ingestion commits.
_GRAPHS: VersionedCache[str, EffectiveGraph] = VersionedCache()
_INDEXES: VersionedCache[str, GraphIndex] = VersionedCache()


def _version(engine: Engine) -> str:
    with engine.connect() as conn:
        return graph_version(conn)


def _database(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def effective_graph(engine: Engine) -> EffectiveGraph:
    return _GRAPHS.get(
        _database(engine), lambda: _version(engine), lambda _: load_effective_graph(engine)
    )[1]


def graph_index(engine: Engine) -> tuple[str, GraphIndex]:
    """(graph version, adjacency index) for in-memory subgraph answers, built once per version
    from the cached effective graph plus what a node shows of its service row."""

    def build(_: str) -> GraphIndex:
        graph = effective_graph(engine)
        columns = (services.c.service_id, services.c.team, services.c.criticality,
                   services.c.discovered)  # fmt: skip
        with engine.connect() as conn:
            # Metadata is the graph's own (same rows): a second copy would double it per
            # process.
            records = {
                row.service_id: ServiceRecord(
                    row.team, row.criticality, row.discovered, graph.nodes.get(row.service_id, {})
                )
                for row in conn.execute(sa.select(*columns))
            }
        return build_index(records, graph.edges)

    return _INDEXES.get(_database(engine), lambda: _version(engine), build)


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
