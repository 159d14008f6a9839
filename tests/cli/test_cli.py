"""The `slo-engine` commands end to end on a real store: migrate, generate, ingest, demo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app
from config.settings import get_settings
from serving.main import create_app
from store.engine import make_engine
from store.tables import circular_dependency_alerts, service_dependencies, services

runner = CliRunner()


@pytest.fixture
def cli_env(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SLO_DATABASE_URL", store_url)
    get_settings.cache_clear()
    yield store_url
    get_settings.cache_clear()


def count(url: str, table: sa.Table) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def test_generate_then_ingest_twice_is_idempotent(cli_env: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "fleet",
            "generate",
            "--services",
            "60",
            "--seed",
            "5",
            "--cycles",
            "2",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    graph = json.loads((tmp_path / "graph.json").read_text())
    assert len(graph["nodes"]) == 60

    first = runner.invoke(app, ["graph", "ingest", str(tmp_path / "graph.json")])
    assert first.exit_code == 0, first.output
    edges = count(cli_env, service_dependencies)
    assert edges == len(graph["edges"])
    assert count(cli_env, services) == 60
    assert count(cli_env, circular_dependency_alerts) == 2

    second = runner.invoke(app, ["graph", "ingest", str(tmp_path / "graph.json")])
    assert second.exit_code == 0, second.output
    assert count(cli_env, service_dependencies) == edges
    assert count(cli_env, circular_dependency_alerts) == 2


def test_ingest_rejects_an_invalid_file_naming_the_field(cli_env: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"source": "manual", "edges": [{"source": "a", "target": "a"}]}))
    result = runner.invoke(app, ["graph", "ingest", str(bad)])
    assert result.exit_code == 2
    assert "edges[0].target" in result.output
    assert count(cli_env, services) == 0


def test_demo_runs_on_the_embedded_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLO_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setenv("SLO_TELEMETRY", "parquet")
    monkeypatch.setenv("SLO_TELEMETRY_PARQUET_PATH", str(tmp_path / "fleet" / "sli_hourly"))
    monkeypatch.setenv("SLO_WAREHOUSE_PATH", str(tmp_path / "warehouse"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["demo", "--services", "60", "--days", "8", "--no-serve"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "demo complete" in result.output
    assert count(f"sqlite:///{tmp_path / 'demo.db'}", services) == 60
    produced = sorted(p.name for p in (tmp_path / "warehouse" / "sli_hourly").glob("*.parquet"))
    assert len(produced) == 8
    assert len(list((tmp_path / "warehouse" / "observed_service_graph").glob("*.parquet"))) == 8
    assert len(list((tmp_path / "warehouse" / "slo_recommendations").glob("*.parquet"))) == 1
    assert "most common bottlenecks" in result.output
    # The dashboard is materialized too: every dashboard endpoint answers after the demo.
    assert "slo_dashboard: success" in result.output
    monkeypatch.setenv("SLO_AUTH", "disabled")  # the demo's own way of serving
    get_settings.cache_clear()
    try:
        with TestClient(create_app(get_settings())) as client:
            for name in ("coverage", "error-budget-health", "recommendation-quality"):
                answer = client.get(f"/api/v1/dashboard/{name}")
                assert answer.status_code == 200, (name, answer.text)
            assert answer.json()  # a real snapshot, not an empty body
            coverage = client.get("/api/v1/dashboard/coverage").json()
    finally:
        get_settings.cache_clear()
    assert coverage["total"]["services"] == 60


def test_generate_with_telemetry_writes_partitions_truth_and_openmetrics(tmp_path: Path) -> None:
    import polars as pl

    from analytics.sli_schema import SLI_HOURLY_SCHEMA

    result = runner.invoke(
        app,
        [
            "fleet",
            "generate",
            "--services",
            "20",
            "--days",
            "2",
            "--openmetrics",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    parts = sorted((tmp_path / "sli_hourly").glob("*.parquet"))
    assert len(parts) == 2
    frame = pl.read_parquet(parts[0])
    assert frame.schema == SLI_HOURLY_SCHEMA and frame.height == 20 * 24
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert set(truth["services"]) == set(frame["service"])
    text = (tmp_path / "fleet.om").read_text()
    assert text.endswith("# EOF\n") and "http_request_duration_seconds_bucket" in text


def test_backtest_reports_each_tier() -> None:
    result = runner.invoke(
        app, ["backtest", "--services", "40", "--train-days", "7", "--test-days", "7"]
    )
    assert result.exit_code == 0, result.output
    for tier in ("conservative", "balanced", "aggressive"):
        assert tier in result.output
    assert "Backtest" in result.output
