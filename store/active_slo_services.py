"""Which services have an active SLO, in the order a fleet overview shows them: the most
critical first (critical, high, medium, low), then by id, at most `limit` of them."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.tables import SERVICE_CRITICALITIES, active_slos, services


@dataclass(frozen=True)
class ActiveSloServices:
    service_ids: list[str]
    #: Services with an active SLO (of the team, when one is named), shown or not.
    total: int


def services_with_active_slo(
    engine: Engine, *, limit: int, team: str | None = None
) -> ActiveSloServices:
    # A CASE, not the column: PostgreSQL orders a native enum by declaration, SQLite by text.
    rank = sa.case(
        {level: i for i, level in enumerate(SERVICE_CRITICALITIES)},
        value=services.c.criticality,
        else_=len(SERVICE_CRITICALITIES),
    )
    joined = services.join(active_slos, active_slos.c.service_id == services.c.id)
    where = [services.c.team == team] if team is not None else []
    with engine.connect() as conn:
        ids = conn.execute(
            sa.select(services.c.service_id)
            .select_from(joined)
            .where(*where)
            .order_by(rank, services.c.service_id)
            .limit(limit)
        ).scalars()
        service_ids = list(ids)
        total = conn.execute(
            sa.select(sa.func.count()).select_from(joined).where(*where)
        ).scalar_one()
    return ActiveSloServices(service_ids=service_ids, total=int(total))
