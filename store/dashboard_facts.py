"""Facts the dashboards are computed from, and the snapshots they are served from (FR-12)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.dashboard import ServiceFacts
from store.tables import (
    active_slos,
    dashboard_snapshots,
    services,
    slo_audit_log,
    slo_recommendations,
)
from store.timeutil import as_utc

KEEP = timedelta(days=7)  # older snapshots are pruned when a new one is written


def service_facts(engine: Engine, service_id: str | None = None) -> list[ServiceFacts]:
    """Every service's facts, or only `service_id`'s."""
    r = slo_recommendations
    latest = (
        sa.select(r.c.service_id, r.c.observed_availability)
        .where(r.c.status == "active", r.c.sli_type == "availability")
        .subquery()
    )
    query = (
        sa.select(
            services.c.service_id,
            services.c.team,
            services.c.criticality,
            latest.c.service_id.is_not(None).label("has_recommendation"),
            latest.c.observed_availability,
            active_slos.c.availability_target,
            active_slos.c.source,
        )
        .outerjoin(latest, latest.c.service_id == services.c.id)
        .outerjoin(active_slos, active_slos.c.service_id == services.c.id)
        .order_by(services.c.service_id)
    )
    if service_id is not None:
        query = query.where(services.c.service_id == service_id)
    with engine.connect() as conn:
        return [
            ServiceFacts(
                service_id=row.service_id,
                team=row.team,
                criticality=row.criticality,
                has_recommendation=bool(row.has_recommendation),
                slo_target=row.availability_target,
                slo_source=row.source,
                observed_availability=row.observed_availability,
            )
            for row in conn.execute(query)
        ]


def decision_counts(engine: Engine, since: datetime) -> dict[str, int]:
    a = slo_audit_log
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(a.c.action, sa.func.count())
            .where(a.c.timestamp >= since)
            .group_by(a.c.action)
        ).all()
    return {str(action): int(count) for action, count in rows}


def write_dashboards(engine: Engine, payloads: dict[str, dict[str, Any]], now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(dashboard_snapshots), [
            {"id": uuid.uuid4(), "name": name, "computed_at": now, "payload": payload}
            for name, payload in payloads.items()
        ])  # fmt: skip
        conn.execute(sa.delete(dashboard_snapshots).where(
            dashboard_snapshots.c.computed_at < now - KEEP))  # fmt: skip


def latest_dashboard(engine: Engine, name: str) -> tuple[datetime, dict[str, Any]] | None:
    d = dashboard_snapshots
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(d.c.computed_at, d.c.payload).where(d.c.name == name)
            .order_by(d.c.computed_at.desc()).limit(1)
        ).first()  # fmt: skip
    return (as_utc(row.computed_at), dict(row.payload)) if row is not None else None
