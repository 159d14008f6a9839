"""Ingesting one submission of the dependency graph, atomically.

Everything one submission changes — services, edges, staleness flags, cycle alerts and the
ingestion record — is written in a single transaction: a failure leaves the previous graph
exactly as it was, and the failure itself is recorded afterwards in a transaction of its own.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from analytics.edge_merge import (
    EDGE_ATTRIBUTES,
    SOURCE_CONFIDENCE,
    EdgeObservation,
    effective_edges,
)
from analytics.graph_cycles import BREAK_ADVICE, DependencyCycle, find_cycles
from analytics.graph_divergence import graph_divergences
from store.graph_model import EdgeRecord, GraphSubmission, NodeRecord
from store.tables import (
    circular_dependency_alerts,
    graph_ingestions,
    service_dependencies,
    services,
)
from store.timeutil import as_utc, utcnow

log = logging.getLogger("slo_engine.ingestion")

#: Values per IN-list query (pairs take 2 bind parameters each): far below both dialects' caps.
PAIR_BATCH = 5000

#: A response lists at most this many divergences; the warning carries the total.
MAX_LISTED_DIVERGENCES = 200

EDGE_DEFAULTS: Mapping[str, Any] = {"communication_mode": "sync", "criticality": "hard"}


@dataclass
class IngestionCounts:
    services_created: int = 0
    services_updated: int = 0
    placeholders_created: int = 0
    edges_created: int = 0
    edges_updated: int = 0
    edges_refreshed: int = 0
    edges_marked_stale: int = 0
    edges_revived: int = 0


@dataclass
class IngestionResult:
    ingestion_id: uuid.UUID
    source: str
    status: str
    nodes_received: int
    edges_received: int
    submitted_at: datetime
    completed_at: datetime | None = None
    duration_ms: float | None = None
    counts: IngestionCounts = field(default_factory=IngestionCounts)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    circular_dependencies: list[dict[str, Any]] = field(default_factory=list)
    divergences: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def as_document(self) -> dict[str, Any]:
        """The JSON stored with the ingestion and returned by the API."""
        return {
            "ingestion_id": str(self.ingestion_id),
            "source": self.source,
            "status": self.status,
            "nodes_received": self.nodes_received,
            "edges_received": self.edges_received,
            "estimated_completion_seconds": 0,
            "submitted_at": self.submitted_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "duration_ms": self.duration_ms,
            "counts": vars(self.counts),
            "warnings": self.warnings,
            "conflicts": self.conflicts,
            "circular_dependencies": self.circular_dependencies,
            "divergences": self.divergences,
            "error": self.error,
        }


class IngestionError(RuntimeError):
    """The submission was rolled back; `result` is what was recorded about the failure."""

    def __init__(self, result: IngestionResult) -> None:
        super().__init__(result.error or "ingestion failed")
        self.result = result


def ingest_graph(
    engine: Engine,
    submission: GraphSubmission,
    *,
    stale_after: timedelta,
    now: datetime | None = None,
) -> IngestionResult:
    """Merge a (possibly partial) graph from one discovery source into the store."""
    started = time.perf_counter()
    now = as_utc(now or utcnow())
    observed_at = min(as_utc(submission.observed_at), now) if submission.observed_at else now
    result = IngestionResult(
        ingestion_id=uuid.uuid4(),
        source=submission.source,
        status="processing",
        nodes_received=len(submission.nodes),
        edges_received=len(submission.edges),
        submitted_at=now,
    )
    try:
        with engine.begin() as conn:
            ids = _upsert_services(conn, submission, result, now)
            touched = _upsert_edges(conn, submission, ids, observed_at, result, now)
            _sweep_staleness(conn, now - stale_after, result, now)
            _merge_and_detect_cycles(conn, touched, result, now)
            result.status = "completed"
            result.completed_at = utcnow()
            result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
            conn.execute(sa.insert(graph_ingestions).values(**_ingestion_row(result)))
    except Exception as exc:
        log.exception("ingestion %s rolled back", result.ingestion_id)
        result.status = "failed"
        result.error = f"{type(exc).__name__}: the submission was rolled back, nothing was written"
        result.completed_at = utcnow()
        with engine.begin() as conn:
            conn.execute(sa.insert(graph_ingestions).values(**_ingestion_row(result)))
        raise IngestionError(result) from exc
    return result


def get_ingestion(engine: Engine, ingestion_id: uuid.UUID) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(graph_ingestions.c.result).where(graph_ingestions.c.id == ingestion_id)
        ).first()
    return dict(row.result) if row is not None else None


def _ingestion_row(result: IngestionResult) -> dict[str, Any]:
    return {
        "id": result.ingestion_id,
        "source": result.source,
        "status": result.status,
        "nodes_received": result.nodes_received,
        "edges_received": result.edges_received,
        "submitted_at": result.submitted_at,
        "completed_at": result.completed_at,
        "result": result.as_document(),
        "error": result.error,
    }


def _insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which is the one that knows ON CONFLICT."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _service_columns(node: NodeRecord) -> dict[str, Any]:
    metadata = dict(node.metadata)
    columns: dict[str, Any] = {"metadata": metadata, "discovered": False}
    if metadata.get("team") is not None:
        columns["team"] = metadata["team"]
    if metadata.get("criticality") is not None:
        columns["criticality"] = metadata["criticality"]
    return columns


def _upsert_services(
    conn: Connection, submission: GraphSubmission, result: IngestionResult, now: datetime
) -> dict[str, uuid.UUID]:
    """Register declared services, merge their metadata, and create placeholders for the rest.

    Metadata merges key by key so that a source that only knows the team does not erase the
    runtime another source reported.
    """
    existing = {
        row.service_id: row
        for row in conn.execute(
            sa.select(
                services.c.id,
                services.c.service_id,
                services.c.metadata,
                services.c.team,
                services.c.criticality,
                services.c.discovered,
            )
        )
    }
    new_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    declared: set[str] = set()
    for node in submission.nodes:
        declared.add(node.service_id)
        columns = _service_columns(node)
        current = existing.get(node.service_id)
        if current is None:
            new_rows.append(
                {
                    "id": uuid.uuid4(),
                    "service_id": node.service_id,
                    "criticality": "medium",
                    "team": None,
                    **columns,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            continue
        merged = {**(current.metadata or {}), **columns["metadata"]}
        wanted = {
            "metadata": merged,
            "discovered": False,
            "team": columns.get("team", current.team),
            "criticality": columns.get("criticality", current.criticality),
        }
        if any(getattr(current, k) != v for k, v in wanted.items()):
            updates.append({"pk": current.id, **wanted, "updated_at": now})
    result.counts.services_created = len(new_rows)
    result.counts.services_updated = len(updates)

    endpoints = {e.source for e in submission.edges} | {e.target for e in submission.edges}
    placeholders = sorted(endpoints - declared - existing.keys())
    for service_id in placeholders:
        new_rows.append(
            {
                "id": uuid.uuid4(),
                "service_id": service_id,
                "metadata": {},
                "criticality": "medium",
                "team": None,
                "discovered": True,
                "created_at": now,
                "updated_at": now,
            }
        )
    result.counts.placeholders_created = len(placeholders)
    if placeholders:
        result.warnings.append(
            {
                "code": "placeholder_services_created",
                "message": (
                    f"{len(placeholders)} service(s) appear only in edges; they were registered "
                    "as discovered placeholders (unregistered) until a source declares them."
                ),
                "service_ids": placeholders[:100],
            }
        )

    if new_rows:
        # ON CONFLICT DO NOTHING: a concurrent ingestion may register the same service first.
        # Sorted: concurrent ingestions then take row locks in the same order (no deadlock).
        new_rows.sort(key=lambda r: str(r["service_id"]))
        conn.execute(_insert(conn, services).on_conflict_do_nothing(), new_rows)
    if updates:
        stmt = (
            sa.update(services)
            .where(services.c.id == sa.bindparam("pk"))
            .values(
                metadata=sa.bindparam("metadata", type_=services.c.metadata.type),
                discovered=sa.bindparam("discovered"),
                team=sa.bindparam("team"),
                criticality=sa.bindparam("criticality"),
                updated_at=sa.bindparam("updated_at"),
            )
        )
        updates.sort(key=lambda r: str(r["pk"]))
        conn.execute(stmt, updates)
    ids = {sid: existing[sid].id for sid in (declared | endpoints) & existing.keys()}
    # Rows just inserted — or inserted first by a concurrent ingestion, whose id wins.
    fresh = [str(r["service_id"]) for r in new_rows]
    for start in range(0, len(fresh), PAIR_BATCH):
        batch = fresh[start : start + PAIR_BATCH]
        query = sa.select(services.c.service_id, services.c.id).where(
            services.c.service_id.in_(batch)
        )
        ids.update((row.service_id, row.id) for row in conn.execute(query))
    return ids


def _edge_columns(edge: EdgeRecord) -> dict[str, Any]:
    attributes = {**EDGE_DEFAULTS, **{k: v for k, v in edge.attributes.items() if v is not None}}
    return {a: attributes.get(a) for a in EDGE_ATTRIBUTES}


def _upsert_edges(
    conn: Connection,
    submission: GraphSubmission,
    ids: Mapping[str, uuid.UUID],
    observed_at: datetime,
    result: IngestionResult,
    now: datetime,
) -> set[tuple[str, str]]:
    """One row per (source, target, discovery_source), upserted with INSERT … ON CONFLICT."""
    d = service_dependencies
    existing = {
        (row.source_service_id, row.target_service_id): row
        for row in conn.execute(
            sa.select(
                d.c.source_service_id, d.c.target_service_id, *(d.c[a] for a in EDGE_ATTRIBUTES)
            ).where(d.c.discovery_source == submission.source)
        )
    }
    rows: list[dict[str, Any]] = []
    touched: set[tuple[str, str]] = set()
    for edge in submission.edges:
        touched.add((edge.source, edge.target))
        columns = _edge_columns(edge)
        key = (ids[edge.source], ids[edge.target])
        current = existing.get(key)
        if current is None:
            result.counts.edges_created += 1
        elif any(getattr(current, a) != columns[a] for a in EDGE_ATTRIBUTES):
            result.counts.edges_updated += 1
        else:
            result.counts.edges_refreshed += 1
        rows.append(
            {
                "id": uuid.uuid4(),
                "source_service_id": key[0],
                "target_service_id": key[1],
                **columns,
                "discovery_source": submission.source,
                "confidence_score": (
                    edge.confidence
                    if edge.confidence is not None
                    else SOURCE_CONFIDENCE[submission.source]
                ),
                "last_observed_at": observed_at,
                "is_stale": False,
                "created_at": now,
                "updated_at": now,
            }
        )
    if not rows:
        return touched
    # Sorted: concurrent ingestions then lock rows in the same order (no deadlock).
    rows.sort(key=lambda r: (str(r["source_service_id"]), str(r["target_service_id"])))
    if conn.dialect.name == "postgresql":
        _copy_upsert(conn, d, rows)
    else:
        conn.execute(_edge_upsert(_insert(conn, d), latest=sa.func.max), rows)
    return touched


def _edge_upsert(stmt: Any, *, latest: Any) -> Any:
    """ON CONFLICT (source, target, discovery_source) DO UPDATE, shared by both dialects."""
    d = service_dependencies
    excluded = stmt.excluded
    changed = sa.or_(*(d.c[a].is_distinct_from(excluded[a]) for a in EDGE_ATTRIBUTES))
    return stmt.on_conflict_do_update(
        index_elements=[d.c.source_service_id, d.c.target_service_id, d.c.discovery_source],
        set_={
            **{a: excluded[a] for a in EDGE_ATTRIBUTES},
            "confidence_score": excluded.confidence_score,
            # An older replayed payload never moves an edge's observation time backwards.
            "last_observed_at": latest(d.c.last_observed_at, excluded.last_observed_at),
            # updated_at moves only when an attribute really changed.
            "updated_at": sa.case((changed, excluded.updated_at), else_=d.c.updated_at),
        },
    )


def _copy_upsert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT.

    A row-by-row executemany of 50,000 upserts costs seconds in round trips; COPY streams them.
    """
    staging = f"incoming_{table.name}"
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {staging} (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    columns = list(rows[0])
    json_columns = {c for c in columns if isinstance(table.c[c].type, sa.JSON)}
    raw = conn.connection.driver_connection
    assert raw is not None
    copy_sql = f"COPY {staging} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(
                [
                    Jsonb(row[c]) if c in json_columns and row[c] is not None else row[c]
                    for c in columns
                ]
            )
    incoming = sa.Table(staging, sa.MetaData(), *(sa.Column(c, table.c[c].type) for c in columns))
    select = sa.select(*(incoming.c[c] for c in columns)).order_by(
        incoming.c.source_service_id, incoming.c.target_service_id
    )
    conn.execute(
        _edge_upsert(postgresql.insert(table).from_select(columns, select), latest=sa.func.greatest)
    )


def _sweep_staleness(
    conn: Connection, cutoff: datetime, result: IngestionResult, now: datetime
) -> None:
    """Flag (never delete) edges nobody has reported within the window; unflag refreshed ones."""
    d = service_dependencies
    marked = conn.execute(
        sa.update(d)
        .where(d.c.is_stale.is_(False), d.c.last_observed_at < cutoff)
        .values(is_stale=True, updated_at=now)
    )
    revived = conn.execute(
        sa.update(d)
        .where(d.c.is_stale.is_(True), d.c.last_observed_at >= cutoff)
        .values(is_stale=False, updated_at=now)
    )
    result.counts.edges_marked_stale = marked.rowcount
    result.counts.edges_revived = revived.rowcount
    if marked.rowcount:
        result.warnings.append(
            {
                "code": "edges_marked_stale",
                "message": (
                    f"{marked.rowcount} edge(s) were not observed since {cutoff.isoformat()} and "
                    "are now stale: excluded from traversal and SLO math, kept for audit."
                ),
            }
        )


def load_live_observations(
    conn: Connection,
    attributes: Sequence[str] = EDGE_ATTRIBUTES,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> list[EdgeObservation]:
    """Non-stale per-source edge rows, named by business service ids.

    Callers that only need the shape of the graph ask for few `attributes` (no JSON to decode
    for 50,000 rows); `pairs` restricts the rows to those (source, target) pairs.
    """
    d = service_dependencies
    src = services.alias("src")
    tgt = services.alias("tgt")
    query = (
        sa.select(
            src.c.service_id.label("source"),
            tgt.c.service_id.label("target"),
            d.c.discovery_source,
            d.c.confidence_score,
            *(d.c[a] for a in attributes),
        )
        .join(src, src.c.id == d.c.source_service_id)
        .join(tgt, tgt.c.id == d.c.target_service_id)
        .where(d.c.is_stale.is_(False))
    )
    if pairs is None:
        batches = [query]
    else:
        pair_list = list(pairs)
        batches = [
            query.where(
                sa.tuple_(src.c.service_id, tgt.c.service_id).in_(pair_list[i : i + PAIR_BATCH])
            )
            for i in range(0, len(pair_list), PAIR_BATCH)
        ]
    return [
        EdgeObservation(
            source=row.source,
            target=row.target,
            discovery_source=row.discovery_source,
            attributes={a: row._mapping[a] for a in attributes},
            confidence=row.confidence_score,
        )
        for batch in batches
        for row in conn.execute(batch)
    ]


def _merge_and_detect_cycles(
    conn: Connection, touched: set[tuple[str, str]], result: IngestionResult, now: datetime
) -> None:
    # The whole graph only needs its shape here; full attributes are read just for the
    # touched pairs that several sources describe, where conflicts can exist.
    shape = load_live_observations(conn, attributes=("communication_mode",))
    _report_divergences(shape, {source for source, _ in touched}, result)
    edges = effective_edges(shape)
    contested = [
        (e.source, e.target)
        for e in edges
        if len(e.discovery_sources) > 1 and (e.source, e.target) in touched
    ]
    if contested:
        for edge in effective_edges(load_live_observations(conn, pairs=contested)):
            result.conflicts.extend(c.as_dict() for c in edge.conflicts)
    if result.conflicts:
        result.warnings.append(
            {
                "code": "attribute_conflicts",
                "message": (
                    f"{len(result.conflicts)} edge attribute(s) differ between discovery sources; "
                    "the effective value follows manual > backstage > service_mesh > "
                    "otel_service_graph > kubernetes (see `conflicts`)."
                ),
            }
        )
    cycles = find_cycles(
        (e.source, e.target) for e in edges if e.attributes.get("communication_mode") == "sync"
    )
    _record_cycle_alerts(conn, cycles, result, now)


def _report_divergences(
    observations: list[EdgeObservation], callers: set[str], result: IngestionResult
) -> None:
    divergences = graph_divergences(observations, callers)
    result.divergences = [d.as_dict() for d in divergences[:MAX_LISTED_DIVERGENCES]]
    if divergences:
        kinds = Counter(d.kind for d in divergences)
        result.warnings.append(
            {
                "code": "declared_vs_observed_divergence",
                "message": (
                    f"{kinds['declared_not_observed']} declared dependency(ies) are not observed "
                    f"at runtime and {kinds['observed_not_declared']} observed call(s) are not "
                    "declared (see `divergences`)."
                ),
                "total": len(divergences),
            }
        )


def _record_cycle_alerts(
    conn: Connection, cycles: Iterable[DependencyCycle], result: IngestionResult, now: datetime
) -> None:
    """One alert per SCC: insert new ones, refresh or reopen known ones, close vanished ones."""
    a = circular_dependency_alerts
    known = {row.scc_key: row for row in conn.execute(sa.select(a.c.id, a.c.scc_key, a.c.status))}
    present: set[str] = set()
    for cycle in cycles:
        present.add(cycle.key)
        current = known.get(cycle.key)
        path = list(cycle.path)
        if current is None:
            alert_id = uuid.uuid4()
            inserted = conn.execute(
                _insert(conn, a)
                .on_conflict_do_nothing(index_elements=[a.c.scc_key])
                .values(
                    id=alert_id,
                    cycle_path=path,
                    members=list(cycle.members),
                    scc_key=cycle.key,
                    size=len(cycle.members),
                    detected_at=now,
                    last_seen_at=now,
                    status="open",
                )
            )
            if inserted.rowcount == 0:  # a concurrent ingestion recorded it first
                alert_id = conn.execute(
                    sa.select(a.c.id).where(a.c.scc_key == cycle.key)
                ).scalar_one()
            is_new, status = inserted.rowcount == 1, "open"
        else:
            alert_id, is_new = current.id, False
            status = "open" if current.status == "resolved" else current.status
            values: dict[str, Any] = {"cycle_path": path, "last_seen_at": now, "status": status}
            if current.status == "resolved":
                values |= {
                    "resolved_at": None,
                    "resolved_by": None,
                    "resolution_notes": "Reopened: the cycle is back.",
                }
            conn.execute(sa.update(a).where(a.c.id == alert_id).values(**values))
        result.circular_dependencies.append(
            {
                "alert_id": str(alert_id),
                "cycle_path": path,
                "members": list(cycle.members),
                "status": status,
                "new": is_new,
            }
        )
        result.warnings.append(
            {
                "code": "circular_dependency",
                "message": f"Circular dependency {' -> '.join(path)}. {BREAK_ADVICE}",
                "cycle_path": path,
                "alert_id": str(alert_id),
            }
        )
    vanished = [
        row.id for key, row in known.items() if key not in present and row.status != "resolved"
    ]
    if vanished:
        conn.execute(
            sa.update(a)
            .where(a.c.id.in_(vanished))
            .values(
                status="resolved",
                resolved_by="slo-engine",
                resolved_at=now,
                resolution_notes="Auto-resolved: the cycle is no longer in the live sync graph.",
            )
        )
