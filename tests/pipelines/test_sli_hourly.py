"""`sli_hourly` materialized in-process from a generated fleet's Parquet telemetry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

from analytics.sli_schema import SLI_HOURLY_SCHEMA
from pipelines.defs.telemetry.assets import sli_hourly
from pipelines.defs.telemetry.checks import sli_hourly_completeness, sli_hourly_counts_are_possible
from pipelines.resources import TelemetryResource
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn
from synthetic_fleet.telemetry import generate_telemetry, hourly_frame
from synthetic_fleet.topology import generate_topology

END = datetime(2026, 11, 20, tzinfo=UTC)


def test_two_partitions_match_the_generated_fleet_and_report_gaps(
    engine: Engine, materialize_day: Any, tmp_path: Path
) -> None:
    topology = generate_topology(40, seed=3)
    telemetry = generate_telemetry(topology, days=2, seed=3, end=END)
    expected = hourly_frame(telemetry)
    folder = tmp_path / "fleet"
    folder.mkdir()
    silent = telemetry.services[5]  # registered, but its telemetry for day 2 is lost
    for (day,), part in expected.group_by(expected["hour"].dt.date()):
        if str(day) == "2026-11-19":
            part = part.filter(pl.col("service") != silent)
        part.write_parquet(folder / f"{day}.parquet")
    payload = DependencyGraphIn.model_validate(topology.to_payload())
    ingest_graph(engine, payload.to_submission(), stale_after=timedelta(days=7))

    telemetry_resource = TelemetryResource(source="parquet", parquet_path=str(folder))
    externals = {
        n["service_id"] for n in topology.nodes if n["metadata"]["service_type"] == "external"
    }
    for day in ("2026-11-18", "2026-11-19"):
        result = materialize_day(
            [sli_hourly, sli_hourly_counts_are_possible, sli_hourly_completeness],
            telemetry_resource,
            day,
        )
        assert result.success
        written = pl.read_parquet(materialize_day.warehouse / "sli_hourly" / f"{day}.parquet")
        assert written.schema == SLI_HOURLY_SCHEMA
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        assert checks["sli_hourly_counts_are_possible"].passed
        metadata = result.asset_materializations_for_node("sli_hourly")[0].metadata
        if day == "2026-11-18":
            assert checks["sli_hourly_completeness"].passed
            assert metadata["services_with_gaps"].value == 0
            original = expected.filter(pl.col("hour").dt.date().cast(pl.String) == day)
            assert written.sort("service", "hour").equals(original.sort("service", "hour"))
        else:
            gaps = written.filter(pl.col("service") == silent)
            assert gaps.height == 24 and not gaps["has_data"].any()
            assert gaps["requests"].null_count() == 24
            assert gaps["data_completeness"].max() == 0.0
            assert metadata["services_with_gaps"].value == 1
            assert metadata["hours_without_data"].value == 24
    assert not externals & set(written.filter(~pl.col("has_data"))["service"])


def test_impossible_counts_fail_the_blocking_check() -> None:
    bad = pl.DataFrame(
        {
            "service": ["a"],
            "hour": [datetime(2026, 11, 20, tzinfo=UTC)],
            "requests": [5],
            "errors": [9],
            "has_data": [True],
        }
    )
    result = sli_hourly_counts_are_possible(bad)  # type: ignore[call-arg]
    assert not result.passed
    assert result.metadata["rows_with_errors_over_requests"].value == 1
