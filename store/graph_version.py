"""A cheap fingerprint of the graph: it changes exactly when an ingestion commits.

Staleness flags, edges and services only change inside ingestions (the staleness sweep runs
there too), so the completion time of the latest successful ingestion identifies a graph state
and lets readers cache derived answers without ever serving one from an older graph.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store.tables import graph_ingestions
from store.timeutil import as_utc


def graph_version(conn: Connection) -> str:
    latest = conn.execute(
        sa.select(sa.func.max(graph_ingestions.c.completed_at)).where(
            graph_ingestions.c.status == "completed"
        )
    ).scalar_one_or_none()
    return as_utc(latest).isoformat() if latest is not None else "empty"
