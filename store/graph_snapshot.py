"""The effective live graph, read once per pipeline run, and the record of each snapshot."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from analytics.edge_merge import EffectiveEdge, effective_edges
from store.graph_ingest import load_live_observations
from store.tables import graph_snapshots, services


@dataclass
class EffectiveGraph:
    nodes: dict[str, dict[str, Any]]  # service_id -> metadata
    edges: list[EffectiveEdge]

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.nodes):
            digest.update(name.encode())
        for e in self.edges:
            digest.update(
                f"{e.source}>{e.target}:{e.attributes.get('communication_mode')}:"
                f"{e.attributes.get('criticality')}:{e.attributes.get('redundancy_group')}".encode()
            )
        return digest.hexdigest()


def _service_metadata(conn: Connection) -> dict[str, dict[str, Any]]:
    return {
        row.service_id: dict(row.metadata or {})
        for row in conn.execute(sa.select(services.c.service_id, services.c.metadata))
    }


def load_service_metadata(engine: Engine) -> dict[str, dict[str, Any]]:
    """Service id → metadata, for steps that already have the edges (from a snapshot)."""
    with engine.connect() as conn:
        return _service_metadata(conn)


def load_effective_graph(engine: Engine) -> EffectiveGraph:
    with engine.connect() as conn:
        nodes = _service_metadata(conn)
        edges = effective_edges(load_live_observations(conn))
    return EffectiveGraph(nodes=nodes, edges=edges)


def record_snapshot(
    engine: Engine,
    graph: EffectiveGraph,
    *,
    as_of: datetime,
    cycle_count: int,
    storage_uri: str | None,
    run_id: str | None,
) -> uuid.UUID:
    snapshot_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(graph_snapshots).values(
                id=snapshot_id,
                as_of=as_of,
                node_count=len(graph.nodes),
                edge_count=len(graph.edges),
                cycle_count=cycle_count,
                graph_hash=graph.fingerprint(),
                storage_uri=storage_uri,
                producer="pipeline:graph_snapshot",
                run_id=run_id,
            )
        )
    return snapshot_id
