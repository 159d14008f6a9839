"""Emptying a test store between uses (tests create and drop their own databases)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.tables import metadata


def empty_store(engine: Engine) -> None:
    """Delete every row. On PostgreSQL the audit log's append-only triggers hold for every
    client; emptying a test database is the one thing that switches them off (superuser)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for table in reversed(metadata.sorted_tables):
            conn.execute(sa.delete(table))
