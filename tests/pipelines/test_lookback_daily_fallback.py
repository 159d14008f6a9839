"""A lookback whose oldest days retention left only as `sli_daily` rows recommends what the
all-hourly lookback does: same totals, completeness and days, every service recommended (on
both dialects' stores)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy.engine import Engine
from support.parquet_fleet import parquet_fleet

from pipelines.defs.recommendations.assets import (
    composite_availability_bounds,
    graph_snapshot,
    scc_condensation,
)
from pipelines.defs.recommendations.checks import recommendations_publishable
from pipelines.defs.recommendations.intrinsic_shards import intrinsic_availability
from pipelines.defs.recommendations.shards import slo_recommendations
from pipelines.defs.telemetry.assets import service_graph_hourly, sli_daily, sli_hourly

END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = 8
ONLY_DAILY = 3  # the oldest days, whose hourly files are removed
TELEMETRY = [sli_hourly, service_graph_hourly, sli_daily]
CHAIN = [graph_snapshot, scc_condensation, intrinsic_availability,
         composite_availability_bounds, slo_recommendations]  # fmt: skip


def _documents(warehouse: Path, day: str) -> dict[str, dict[str, Any]]:
    recs = pl.read_parquet(warehouse / "slo_recommendations" / f"{day}.parquet")
    return {s: json.loads(d) for s, d in recs.select("service", "document").iter_rows()}


def _chain_outputs(warehouse: Path, day: str) -> dict[str, Any]:
    intrinsic = pl.read_parquet(warehouse / "intrinsic_availability" / f"{day}.parquet")
    bounds = pl.read_parquet(warehouse / "composite_availability_bounds" / f"{day}.parquet")
    return {
        "intrinsic": intrinsic,
        "totals": intrinsic.group_by("service")
        .agg(pl.col("requests").sum(), pl.col("errors").sum())
        .sort("service"),
        "bounds": bounds.select("service", "requests", "delivered").sort("service"),
        "documents": _documents(warehouse, day),
    }


def test_days_only_in_sli_daily_give_the_all_hourly_totals(
    engine: Engine, materialize_day: Any, tmp_path: Path
) -> None:
    fleet = parquet_fleet(
        engine, tmp_path / "fleet", services=30, seed=21, cycles=1, days=DAYS, end=END
    )
    source, days = fleet.source, fleet.days
    fleet.materialize_each_day(materialize_day, TELEMETRY)
    last = days[-1]
    run = [*TELEMETRY, *CHAIN, recommendations_publishable]

    assert materialize_day(run, source, last, selection=[a.key for a in CHAIN]).success
    hourly = _chain_outputs(materialize_day.warehouse, last)
    for day in days[:ONLY_DAILY]:  # retention's work: hours gone, the day's rollup kept
        (materialize_day.warehouse / "sli_hourly" / f"{day}.parquet").unlink()
    result = materialize_day(run, source, last, selection=[a.key for a in CHAIN])
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    mixed = _chain_outputs(materialize_day.warehouse, last)

    # The removed days were read from sli_daily: one row per service-day, at its first hour.
    old = mixed["intrinsic"].filter(pl.col("hour").dt.date().cast(pl.String).is_in(days[:3]))
    assert old.height and (old["hour"].dt.hour() == 0).all()
    assert old.group_by("service", pl.col("hour").dt.date()).len()["len"].max() == 1
    # Totals over the lookback are the all-hourly run's.
    assert mixed["totals"].equals(hourly["totals"])
    assert mixed["bounds"]["requests"].to_list() == hourly["bounds"]["requests"].to_list()
    assert mixed["bounds"]["delivered"].to_list() == pytest.approx(
        hourly["bounds"]["delivered"].to_list(), rel=1e-12, nan_ok=True
    )
    assert mixed["documents"].keys() == hourly["documents"].keys()
    for service, document in hourly["documents"].items():
        other = mixed["documents"][service]
        quality, other_quality = document["data_quality"], other["data_quality"]
        assert other_quality["days_with_data"] == quality["days_with_data"], service
        assert other_quality["data_completeness"] == quality["data_completeness"], service
        assert other_quality["confidence"] == quality["confidence"], service
        assert other["cold_start"] == document["cold_start"], service
        (availability, latency), (other_avail, other_latency) = (
            document["recommendations"],
            other["recommendations"],
        )
        observed = availability["explanation"]["observed_availability"]
        assert other_avail["explanation"]["observed_availability"] == pytest.approx(
            observed, abs=1e-12
        ), service
        if not document["cold_start"]:  # the merged histogram is the same one
            for tier, values in latency["tiers"].items():
                assert other_latency["tiers"][tier]["target_ms"] == pytest.approx(
                    values["target_ms"], abs=1.0
                ), (service, tier)
