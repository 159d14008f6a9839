"""Dependency subgraph around one service, walked in SQL (recursive CTE in sql/)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from analytics.edge_merge import EDGE_ATTRIBUTES, EdgeObservation, effective_edges
from analytics.graph_neighbourhood import edge_answer
from store.graph_version import graph_version
from store.service_lookup import get_service
from store.sql_files import load_sql
from store.tables import service_dependencies, services

Direction = Literal["upstream", "downstream", "both"]

#: (near, far) edge columns per walk direction; the only values substituted into the SQL.
_WALK_COLUMNS: Mapping[str, tuple[str, str]] = {
    "downstream": ("source_service_id", "target_service_id"),
    "upstream": ("target_service_id", "source_service_id"),
}


@dataclass
class Subgraph:
    service_id: str
    direction: Direction
    depth: int
    truncated: bool
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    graph_version: str = "unknown"


def reach_depths(
    conn: Connection, service_id: str, walk: str, depth: int, include_stale: bool
) -> dict[uuid.UUID, int]:
    near, far = _WALK_COLUMNS[walk]
    query = sa.text(load_sql("dependency_reach").format(near=near, far=far)).columns(
        sa.column("service_pk", sa.Uuid()), sa.column("depth", sa.Integer())
    )
    rows = conn.execute(
        query, {"service_id": service_id, "max_depth": depth, "include_stale": include_stale}
    )
    return {row.service_pk: row.depth for row in rows.all()}


def dependency_subgraph(
    engine: Engine,
    service_id: str,
    *,
    direction: Direction = "both",
    depth: int = 3,
    include_external: bool = True,
    include_stale: bool = False,
) -> Subgraph:
    """Nodes within `depth` hops and the edges that connect them along the walk.

    Edges are merged across discovery sources (effective attributes, combined confidence).
    A cheap second query (first match only) tells whether the answer was truncated.
    """
    walks = ["downstream", "upstream"] if direction == "both" else [direction]
    with engine.connect() as conn:
        version = graph_version(conn)
        root = get_service(conn, service_id).pk
        within = {
            walk: reach_depths(conn, service_id, walk, depth, include_stale) for walk in walks
        }
        truncated = any(
            _leaves_frontier(conn, walk, r, depth, include_stale) for walk, r in within.items()
        )
        all_pks = {pk for r in within.values() for pk in r}
        node_rows = {
            row.id: row
            for row in conn.execute(sa.select(services).where(_among(conn, services.c.id, all_pks)))
        }
        # Keyed by row id: with direction=both an edge inside a cycle is on both walks.
        edge_rows = {
            row.id: row
            for walk, r in within.items()
            for row in _walk_edges(conn, walk, r, depth, include_stale)
        }.values()

    def is_external(pk: uuid.UUID) -> bool:
        return (node_rows[pk].metadata or {}).get("service_type") == "external"

    keep: set[uuid.UUID] = {
        pk for pk in all_pks if pk == root or include_external or not is_external(pk)
    }
    observations: list[EdgeObservation] = []
    for row in edge_rows:
        src, tgt = row.source_service_id, row.target_service_id
        if src not in keep or tgt not in keep:
            continue
        observations.append(
            EdgeObservation(
                source=node_rows[src].service_id,
                target=node_rows[tgt].service_id,
                discovery_source=row.discovery_source,
                attributes={a: getattr(row, a) for a in EDGE_ATTRIBUTES},
                confidence=row.confidence_score,
                is_stale=row.is_stale,
            )
        )
    edges = [edge_answer(e) for e in effective_edges(observations)]
    nodes = []
    for pk in sorted(keep, key=lambda p: (_distance(p, within), node_rows[p].service_id)):
        row = node_rows[pk]
        nodes.append(
            {
                "service_id": row.service_id,
                "depth": _distance(pk, within),
                "relation": _relation(pk, root, within),
                "team": row.team,
                "criticality": row.criticality,
                "discovered": row.discovered,
                "service_type": (row.metadata or {}).get("service_type"),
                "metadata": row.metadata or {},
            }
        )
    return Subgraph(
        service_id=service_id,
        direction=direction,
        depth=depth,
        truncated=truncated,
        nodes=nodes,
        edges=edges,
        graph_version=version,
    )


def _among(
    conn: Connection, column: sa.ColumnElement[Any], pks: Iterable[uuid.UUID]
) -> sa.ColumnElement[bool]:
    """`column IN (...)`; on PostgreSQL as `= ANY(array)`: one parameter instead of thousands,
    which the driver and the planner otherwise spend most of a large traversal parsing."""
    values = list(pks)
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(sa.Uuid())))
    return column.in_(values)


def _leaves_frontier(
    conn: Connection,
    walk: str,
    reached: Mapping[uuid.UUID, int],
    depth: int,
    include_stale: bool,
) -> bool:
    """Does any edge lead from the outermost ring to a service the walk did not reach?"""
    frontier = [pk for pk, distance in reached.items() if distance == depth]
    if not frontier:
        return False
    near_column, far_column = _WALK_COLUMNS[walk]
    d = service_dependencies
    query = (
        sa.select(sa.literal(1))
        .where(
            _among(conn, d.c[near_column], frontier),
            sa.not_(_among(conn, d.c[far_column], reached)),
        )
        .limit(1)
    )
    if not include_stale:
        query = query.where(d.c.is_stale.is_(False))
    return conn.execute(query).first() is not None


def _walk_edges(
    conn: Connection,
    walk: str,
    reached: Mapping[uuid.UUID, int],
    depth: int,
    include_stale: bool,
) -> Sequence[Any]:
    """Edges leading one hop outward from a node inside the walk to a node inside it."""
    near_column, far_column = _WALK_COLUMNS[walk]
    d = service_dependencies
    inner = [pk for pk, distance in reached.items() if distance < depth]
    query = sa.select(d).where(
        _among(conn, d.c[near_column], inner), _among(conn, d.c[far_column], reached)
    )
    if not include_stale:
        query = query.where(d.c.is_stale.is_(False))
    return conn.execute(query).all()


def _distance(pk: uuid.UUID, within: Mapping[str, Mapping[uuid.UUID, int]]) -> int:
    return min(r[pk] for r in within.values() if pk in r)


def _relation(pk: uuid.UUID, root: uuid.UUID, within: Mapping[str, Mapping[uuid.UUID, int]]) -> str:
    if pk == root:
        return "self"
    sides = [walk for walk, r in within.items() if pk in r]
    return "both" if len(sides) == 2 else sides[0]
