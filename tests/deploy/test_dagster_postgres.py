"""The compose Dagster instance (deploy/dagster/dagster.yaml) on a real PostgreSQL: the pinned
dagster-postgres imports, creates its schema, and records a run of our own assets, so the
webserver and the daemon (two containers) really can share one instance."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_DSN = os.environ.get("SLO_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def dagster_database() -> Iterator[str]:
    name = f"dagster_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("SLO_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL is not reachable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        # The driver compose and the Helm values name (see deploy/dagster/dagster.yaml).
        server = ADMIN_DSN.rsplit("/", 1)[0].split("://", 1)[1]
        yield f"postgresql+psycopg2://{server}/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_compose_instance_stores_runs_in_postgres(
    dagster_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(ROOT / "deploy" / "dagster" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("SLO_DAGSTER_PG_URL", dagster_database)

    @dg.asset
    def probe() -> int:
        return 1

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert instance.run_coordinator is not None
        result = dg.materialize([probe], instance=instance)
        assert result.success
    # A second process (the webserver, next to the daemon) sees the same run.
    with dg.DagsterInstance.from_config(str(tmp_path)) as other:
        (run,) = other.get_runs()
        assert run.run_id == result.run_id and run.is_success
    with psycopg.connect(dagster_database.replace("+psycopg2", "")) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
    assert {"runs", "event_logs"} <= tables
