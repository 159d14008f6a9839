"""Published recommendations: what the API serves, superseded atomically by each publication."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from store.engine import read_connection
from store.tables import graph_snapshots, services, slo_recommendations
from store.timeutil import as_utc

RECOMMENDATION_TTL = timedelta(hours=24)


def latest_snapshot_id(engine: Engine, as_of: datetime) -> uuid.UUID | None:
    with engine.connect() as conn:
        found: uuid.UUID | None = conn.execute(
            sa.select(graph_snapshots.c.id)
            .where(graph_snapshots.c.as_of <= as_of)
            .order_by(graph_snapshots.c.as_of.desc(), graph_snapshots.c.taken_at.desc())
            .limit(1)
        ).scalar_one_or_none()
    return found


#: Documents parsed, superseded and inserted at a time: a 50,000-service publication is never
#: held as dicts at once, and each service is in exactly one batch (one document each).
PUBLISH_BATCH = 1000


def publish_recommendations(
    engine: Engine,
    documents: Iterable[dict[str, Any]],
    *,
    snapshot_id: uuid.UUID | None,
    generated_at: datetime,
    ttl: timedelta = RECOMMENDATION_TTL,
) -> dict[str, int]:
    """Replace the active recommendations of these services in one transaction.

    `documents` may be a generator (the pipeline parses its frame's column as it goes): it is
    consumed PUBLISH_BATCH at a time, each batch superseding its services' active rows and
    inserting theirs, all inside the one transaction — a reader sees all or none of it."""
    r = slo_recommendations
    published = superseded = unknown = 0
    with engine.begin() as conn:
        ids = dict(conn.execute(sa.select(services.c.service_id, services.c.id)).all())
        iterator = iter(documents)
        while batch := list(islice(iterator, PUBLISH_BATCH)):
            known = [d for d in batch if d["service_id"] in ids]
            unknown += len(batch) - len(known)
            pks = sorted({ids[d["service_id"]] for d in known}, key=str)
            if pks:
                superseded += conn.execute(
                    sa.update(r)
                    .where(r.c.service_id.in_(pks), r.c.status == "active")
                    .values(status="superseded")
                ).rowcount
            rows = [_row(d, rec, ids, snapshot_id, generated_at, ttl)
                    for d in known for rec in d["recommendations"]]  # fmt: skip
            if rows:
                conn.execute(sa.insert(r), rows)
            published += len(rows)
    return {"published": published, "superseded": superseded, "unknown_services": unknown}


def _row(
    d: dict[str, Any],
    rec: dict[str, Any],
    ids: dict[str, Any],
    snapshot_id: uuid.UUID | None,
    generated_at: datetime,
    ttl: timedelta,
) -> dict[str, Any]:
    """One SLI type's row of a document, as the table holds it."""
    return {
        "id": uuid.uuid4(),
        "service_id": ids[d["service_id"]],
        "sli_type": rec["sli_type"],
        "tiers": rec["tiers"],
        "explanation": {**rec["explanation"], "metric": rec["metric"]},
        "data_quality": {**d["data_quality"], "cold_start": d.get("cold_start", False)},
        "provenance": {**d.get("provenance", {}), "graph_snapshot_id": str(snapshot_id)},
        "lookback_window_start": datetime.fromisoformat(d["lookback_window"]["start"]),
        "lookback_window_end": datetime.fromisoformat(d["lookback_window"]["end"]),
        "dependency_graph_snapshot_id": snapshot_id,
        "composite_bound": (
            (rec["explanation"].get("dependency_impact") or {}).get("composite_availability_bound")
        ),
        "observed_availability": (
            rec["explanation"].get("observed_availability")
            if rec["sli_type"] == "availability"
            else None
        ),
        "intrinsic_availability": (
            rec["explanation"].get("intrinsic_availability")
            if rec["sli_type"] == "availability"
            else None
        ),
        "cold_start": bool(d.get("cold_start", False)),
        "generated_at": generated_at,
        "expires_at": generated_at + ttl,
        "status": "active",
    }


def active_recommendations(engine: Engine, service_id: str) -> list[dict[str, Any]]:
    r = slo_recommendations
    query = (
        sa.select(r)
        .join(services, services.c.id == r.c.service_id)
        .where(services.c.service_id == service_id, r.c.status == "active")
        .order_by(r.c.sli_type)
    )
    with read_connection(engine) as conn:
        return [
            {
                **dict(row._mapping),
                "generated_at": as_utc(row.generated_at),
                "expires_at": as_utc(row.expires_at),
                "lookback_window_start": as_utc(row.lookback_window_start),
                "lookback_window_end": as_utc(row.lookback_window_end),
            }
            for row in conn.execute(query)
        ]


def published_composite_bound(
    conn: Connection, service_pk: uuid.UUID, *, recommendation_id: uuid.UUID | None = None
) -> float | None:
    """A service's composite availability bound (percent) as its published recommendation
    states it — `explanation.dependency_impact.composite_availability_bound` of the availability
    recommendation — from the publication `recommendation_id` belongs to (either SLI type), or
    else from its latest active one. None when there is none, or it had no dependency analysis.
    What an availability target is held against (`unachievable_target_warning`)."""
    r = slo_recommendations
    query = sa.select(r.c.composite_bound).where(
        r.c.service_id == service_pk, r.c.sli_type == "availability"
    )
    if recommendation_id is not None:
        decided = r.alias("decided")
        publication = sa.select(decided.c.generated_at).where(decided.c.id == recommendation_id)
        query = query.where(r.c.generated_at == publication.scalar_subquery())
    else:
        query = query.where(r.c.status == "active")
    bound = conn.execute(query.order_by(r.c.generated_at.desc()).limit(1)).scalar_one_or_none()
    return float(bound) if bound is not None else None


def published_availability(
    engine: Engine,
) -> tuple[dict[str, float], dict[str, float], str]:
    """Each service's delivered and intrinsic availability from its active recommendation, and
    a key that changes with every publication (what derived caches are keyed on)."""
    r = slo_recommendations
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(services.c.service_id, r.c.observed_availability, r.c.intrinsic_availability)
            .join(services, services.c.id == r.c.service_id)
            .where(r.c.status == "active", r.c.sli_type == "availability")
        ).all()
    delivered = {
        row.service_id: float(row.observed_availability)
        for row in rows
        if row.observed_availability is not None
    }
    intrinsic = {
        row.service_id: float(row.intrinsic_availability)
        for row in rows
        if row.intrinsic_availability is not None
    }
    with engine.connect() as conn:
        return delivered, intrinsic, publication_key(conn)


def publication_key(conn: Connection) -> str:
    """Changes whenever the set of active availability recommendations changes: one row."""
    r = slo_recommendations
    latest, count = conn.execute(
        sa.select(sa.func.max(r.c.generated_at), sa.func.count()).where(
            r.c.status == "active", r.c.sli_type == "availability"
        )
    ).one()
    return f"{as_utc(latest).isoformat() if latest else 'none'}:{count}"
