"""`slo-engine warehouse sql` and `warehouse shell` over a warehouse under tmp_path (files
only: no operational store is involved)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app
from config.settings import get_settings
from pipelines.defs.telemetry.sli_daily_rollup import rollup_day
from pipelines.warehouse_sql import RUN_PARTS, warehouse_tables
from synthetic_fleet.telemetry import generate_telemetry, hourly_frame
from synthetic_fleet.topology import generate_topology

runner = CliRunner()
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Three days of sli_hourly, their sli_daily rollups and an unpartitioned table."""
    root = tmp_path / "warehouse"
    hourly = hourly_frame(generate_telemetry(generate_topology(15, seed=4), days=3, seed=4,
                                             end=END))  # fmt: skip
    for folder in ("sli_hourly", "sli_daily", "team_notes"):
        (root / folder).mkdir(parents=True)
    for (day,), part in hourly.group_by(pl.col("hour").dt.date()):
        path = root / "sli_hourly" / f"{day}.parquet"
        part.write_parquet(path)
        rollup_day([path], day).write_parquet(root / "sli_daily" / f"{day}.parquet")
    pl.DataFrame({"team": ["money"], "note": ["it's fine"]}).write_parquet(
        root / "team_notes" / "data.parquet"
    )
    # A sharded run's parts (pipelines.resources): Parquet, but no table of the warehouse.
    parts = root / RUN_PARTS / "run-1"
    parts.mkdir(parents=True)
    hourly.head(3).write_parquet(
        parts / "slo_recommendations.recommend_shard[shard_0000].x.parquet"
    )
    monkeypatch.setenv("SLO_WAREHOUSE_PATH", str(root))
    get_settings.cache_clear()
    yield root
    get_settings.cache_clear()


def test_every_asset_folder_is_a_view(warehouse: Path) -> None:
    assert set(warehouse_tables(warehouse)) == {"sli_hourly", "sli_daily", "team_notes"}


def test_sql_returns_the_rows_as_csv(warehouse: Path) -> None:
    hourly = pl.read_parquet(warehouse / "sli_hourly" / "*.parquet")
    expected = (
        hourly.filter(pl.col("has_data"))
        .group_by("service")
        .agg(pl.col("requests").sum(), pl.col("errors").sum())
        .sort("requests", descending=True)
        .head(5)
    )
    query = (
        "SELECT service, sum(requests) AS requests, sum(errors) AS errors, "
        "count(DISTINCT partition_key) AS days FROM sli_daily "
        "GROUP BY service ORDER BY requests DESC LIMIT 5"
    )

    result = runner.invoke(app, ["warehouse", "sql", query, "--format", "csv"])

    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["service", "requests", "errors", "days"]
    assert [(s, int(r), int(e)) for s, r, e, _ in rows[1:]] == expected.rows()
    assert {d for *_, d in rows[1:]} == {"3"}


def test_sql_prints_a_table_and_reads_unpartitioned_tables(warehouse: Path) -> None:
    result = runner.invoke(
        app, ["warehouse", "sql", "SELECT team, note, partition_key FROM team_notes"]
    )

    assert result.exit_code == 0, result.output
    assert "money" in result.stdout and "it's fine" in result.stdout
    assert "data" in result.stdout and "1 row" in result.stdout


def test_a_bad_query_fails_with_duckdbs_message_and_no_traceback(warehouse: Path) -> None:
    result = runner.invoke(app, ["warehouse", "sql", "SELECT nope FROM sli_daily"])

    assert result.exit_code == 1
    assert "query failed" in result.stderr
    assert 'Referenced column "nope" not found' in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)

    missing = runner.invoke(app, ["warehouse", "sql", "SELECT * FROM sli_weekly"])
    assert missing.exit_code == 1
    assert "sli_weekly does not exist" in missing.stderr


def test_the_shell_runs_statements_until_quit(warehouse: Path) -> None:
    session = (
        ".tables\n"
        "SELECT count(*) AS service_days\n"
        "FROM sli_daily;\n"
        "SELECT broken FROM;\n"
        "SELECT 41 + 1 AS answer;\n"
        ".quit\n"
        "SELECT 'never' AS reached;\n"
    )

    result = runner.invoke(app, ["warehouse", "shell", "--builtin"], input=session)

    assert result.exit_code == 0, result.output
    assert "sli_daily" in result.stdout and "team_notes" in result.stdout
    assert "45" in result.stdout  # 15 services × 3 days
    assert "error" in result.stderr  # the bad statement, and the loop went on
    assert "42" in result.stdout and "never" not in result.stdout
