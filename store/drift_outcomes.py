"""What a confirmed drift does to the store (TRD FR-9): the service's live recommendations
expire (the API then serves them with `stale: true` until the re-run recomputes them), and
the append-only audit log gets a `drift_triggered` entry saying what moved."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.service_lookup import find_service
from store.slo_decisions import slo_snapshot
from store.tables import active_slos, slo_audit_log, slo_recommendations

ACTOR = "drift-detector"


@dataclass(frozen=True)
class ConfirmedDrift:
    service_id: str
    rationale: str  # what moved, with the detectors' votes


def record_drift(
    engine: Engine, drifts: list[ConfirmedDrift], *, now: datetime
) -> list[dict[str, Any]]:
    """One transaction for the day's confirmed drifts; returns who was affected (for the
    webhook: service, team, audit id, expired recommendations)."""
    r = slo_recommendations
    affected = []
    with engine.begin() as conn:
        for found in drifts:
            service = find_service(conn, found.service_id)
            if service is None:
                continue
            live = conn.execute(
                sa.select(r.c.id, r.c.sli_type).where(
                    r.c.service_id == service.pk, r.c.status == "active", r.c.expires_at > now
                )
            ).all()
            expired = conn.execute(
                sa.update(r)
                .where(r.c.service_id == service.pk, r.c.status == "active", r.c.expires_at > now)
                .values(expires_at=now)
            ).rowcount
            slo = conn.execute(
                sa.select(active_slos).where(active_slos.c.service_id == service.pk)
            ).mappings().first()  # fmt: skip
            availability = next((row.id for row in live if row.sli_type == "availability"), None)
            audit_id = uuid.uuid4()
            conn.execute(sa.insert(slo_audit_log).values(
                id=audit_id, service_id=service.pk, action="drift_triggered", actor=ACTOR,
                recommendation_id=availability,
                previous_slo=slo_snapshot(dict(slo)) if slo is not None else None,
                new_slo=None, rationale=found.rationale, timestamp=now,
            ))  # fmt: skip
            affected.append({"service_id": found.service_id, "team": service.team,
                             "audit_id": str(audit_id), "recommendations_expired": expired,
                             "reason": found.rationale})  # fmt: skip
    return affected
