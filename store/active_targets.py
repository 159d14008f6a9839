"""The accepted availability targets: what each service promised (a fraction)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.tables import active_slos, services


def active_availability_targets(engine: Engine) -> dict[str, float]:
    """Service id → its active SLO's availability target as a fraction."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(services.c.service_id, active_slos.c.availability_target)
            .join(services, services.c.id == active_slos.c.service_id)
            .where(active_slos.c.availability_target.is_not(None))
        ).all()
    return {name: float(target) / 100 for name, target in rows}
