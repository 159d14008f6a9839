"""Engines for the operational store: one URL selects PostgreSQL or the embedded SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (`postgres://`, `postgresql://`); pin the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _enable_sqlite_integrity(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked per connection; WAL lets the API read while an
    # ingestion writes; the busy timeout turns writer contention into waiting, not errors.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Engine:
    """Create an engine with the dialect-specific settings the store relies on."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _enable_sqlite_integrity)
        return engine
    # No pre-ping: it is a round trip on every checkout, a third of a cached read's time. A
    # connection the server dropped fails its request with a disconnect error instead, and
    # SQLAlchemy then invalidates the whole pool, so the next requests reconnect.
    return sa.create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800)


def read_connection(engine: Engine) -> Connection:
    """A connection for one-statement reads: autocommit, so no BEGIN and ROLLBACK round trips
    around a statement that is consistent on its own."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
