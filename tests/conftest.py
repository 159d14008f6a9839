"""Fixtures that give tests a real, migrated operational store on both dialects.

With SLO_REQUIRE_SERVICES=1 (CI), an unreachable PostgreSQL fails the tests that need it
instead of skipping them, so a green run always means both dialects were exercised.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL, Engine, make_url
from support.empty_store import empty_store
from support.keys import make_key
from support.required import skip_or_fail

from config.settings import Settings
from serving.main import create_app
from store.engine import make_engine
from store.migrate import upgrade

PG_ADMIN_DSN = os.environ.get("SLO_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def _unavailable(what: str, exc: Exception) -> None:
    skip_or_fail(f"{what} is not reachable ({type(exc).__name__}: {exc})")


@contextmanager
def _database(prefix: str) -> Iterator[URL]:
    """An empty PostgreSQL database of its own (its URL, no driver named), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN_DSN).set(database=name)
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated, dropped afterwards."""
    with _database("slo_test") as database:
        url = database.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        upgrade(url)
        yield url


@pytest.fixture
def empty_postgres() -> Iterator[URL]:
    """A fresh, unmigrated PostgreSQL database for one test (for a schema not ours)."""
    with _database("slo_empty") as database:
        yield database


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated store: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
        return url
    url: str = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    try:
        empty_store(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """An emptied PostgreSQL store, for behaviour that only the server dialect has."""
    eng = make_engine(postgres_url)
    empty_store(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    eng = make_engine(store_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(store_url: str) -> Settings:
    # Fast bcrypt for throwaway keys; rate limits have tests of their own.
    return Settings(database_url=store_url, api_key_bcrypt_rounds=4, rate_limit_enabled=False)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app over ASGI, authenticated as an sre_admin API key."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        test_client.headers["X-API-Key"] = make_key(settings)
        yield test_client


@pytest.fixture
def materialize_day(store_url: str, tmp_path: Path) -> Any:
    """Materialize daily assets for one partition against this test's store and a warehouse
    under tmp_path/warehouse; returns (result, warehouse path)."""
    import dagster as dg

    from pipelines.resources import OperationalStoreResource, PolarsParquetIOManager

    warehouse = tmp_path / "warehouse"

    def run(
        assets: list[Any], telemetry: Any, day: str, selection: Any = None, **store: Any
    ) -> Any:
        return dg.materialize(
            assets,
            selection=selection,
            resources={
                "telemetry": telemetry,
                "store": OperationalStoreResource(database_url=store_url, **store),
                "warehouse_io": PolarsParquetIOManager(base_path=str(warehouse)),
            },
            partition_key=day,
        )

    run.warehouse = warehouse  # type: ignore[attr-defined]
    return run


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The machine's Redis (a database of its own for the tests), flushed afterwards."""
    import redis

    url = os.environ.get("SLO_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    yield url
    client.flushdb()
    client.close()
