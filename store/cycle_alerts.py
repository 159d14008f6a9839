"""Reading and triaging circular-dependency alerts."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.errors import NotFoundError
from store.tables import circular_dependency_alerts as alerts
from store.timeutil import as_utc, utcnow


class AlertNotFoundError(NotFoundError):
    def __init__(self, alert_id: str) -> None:
        super().__init__(f"No circular-dependency alert with ID '{alert_id}'.")


def alert_document(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "cycle_path": row.cycle_path,
        "members": row.members,
        "size": row.size,
        "status": row.status,
        "detected_at": as_utc(row.detected_at),
        "last_seen_at": as_utc(row.last_seen_at),
        "acknowledged_by": row.acknowledged_by,
        "acknowledged_at": as_utc(row.acknowledged_at) if row.acknowledged_at else None,
        "resolved_by": row.resolved_by,
        "resolved_at": as_utc(row.resolved_at) if row.resolved_at else None,
        "resolution_notes": row.resolution_notes,
    }


def list_alerts(engine: Engine, status: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(alerts).order_by(alerts.c.detected_at.desc(), alerts.c.scc_key)
    if status is not None:
        query = query.where(alerts.c.status == status)
    with engine.connect() as conn:
        return [alert_document(r) for r in conn.execute(query)]


def update_alert(
    engine: Engine, alert_id: uuid.UUID, *, status: str, actor: str, notes: str | None
) -> dict[str, Any]:
    """Acknowledge or resolve an alert (or reopen it), recording who did it."""
    now = utcnow()
    values: dict[str, Any] = {"status": status}
    if status == "acknowledged":
        values |= {"acknowledged_by": actor, "acknowledged_at": now, "resolved_at": None}
    elif status == "resolved":
        values |= {"resolved_by": actor, "resolved_at": now}
    else:
        values |= {"resolved_by": None, "resolved_at": None}
    if notes is not None:
        values["resolution_notes"] = notes
    with engine.begin() as conn:
        updated = conn.execute(sa.update(alerts).where(alerts.c.id == alert_id).values(**values))
        if updated.rowcount == 0:
            raise AlertNotFoundError(str(alert_id))
        row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).one()
    return alert_document(row)
