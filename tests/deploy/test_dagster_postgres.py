"""The compose Dagster instance (deploy/dagster/dagster.yaml) on a real PostgreSQL: the pinned
dagster-postgres imports, creates its schema, and records a run of our own assets, so the
webserver and the daemon (two containers) really can share one instance."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parents[2]


def test_compose_instance_stores_runs_in_postgres(
    empty_postgres: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(ROOT / "deploy" / "dagster" / "dagster.yaml", tmp_path / "dagster.yaml")
    # The driver compose and the Helm values name (see deploy/dagster/dagster.yaml).
    dagster_url = empty_postgres.set(drivername="postgresql+psycopg2")
    monkeypatch.setenv("SLO_DAGSTER_PG_URL", dagster_url.render_as_string(hide_password=False))

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
    with psycopg.connect(empty_postgres.render_as_string(hide_password=False)) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables")}
    assert {"runs", "event_logs"} <= tables
