"""`sli_daily` (DuckDB over the day's sli_hourly file) and `sli_hourly_retention`, materialized
in-process on a warehouse under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
import pytest

from analytics.latency_histogram import LATENCY_BUCKETS, QUANTILES, histogram_quantile
from analytics.sli_schema import SLI_DAILY_SCHEMA, SLI_HOURLY_SCHEMA
from config.settings import get_settings
from pipelines.defs.telemetry.assets import sli_daily, sli_hourly_retention
from pipelines.resources import PolarsParquetIOManager
from synthetic_fleet.telemetry import generate_telemetry, hourly_frame
from synthetic_fleet.topology import generate_topology

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
YESTERDAY = (TODAY - timedelta(days=1)).date()
WIDTH = len(LATENCY_BUCKETS) + 1


def materialize(warehouse: Path, assets: list[Any], day: date) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [sli_daily, sli_hourly_retention],
        selection=[a.key for a in assets],
        resources={"warehouse_io": PolarsParquetIOManager(base_path=str(warehouse))},
        partition_key=day.isoformat(),
    )


def day_with_gaps() -> pl.DataFrame:
    """A generated day of sli_hourly with what real days have: a silent service, lost hours,
    one hour whose histogram is malformed (its counts still count, its buckets cannot)."""
    topology = generate_topology(30, seed=7)
    frame = hourly_frame(generate_telemetry(topology, days=1, seed=7, end=TODAY))
    services = sorted(set(frame["service"]))
    silent, gappy, malformed = services[0], services[1], services[2]
    lost = (pl.col("service") == silent) | (
        (pl.col("service") == gappy) & (pl.col("hour").dt.hour() < 5)
    )
    broken = (pl.col("service") == malformed) & (pl.col("hour").dt.hour() == 3)
    return frame.with_columns(
        pl.when(lost).then(pl.lit(None)).otherwise(pl.col(c)).alias(c)
        for c in ("requests", "errors", "availability", "latency_buckets", "cpu_throttling")
    ).with_columns(
        pl.when(lost).then(pl.lit(False)).otherwise(pl.col("has_data")).alias("has_data"),
        pl.when(broken)
        .then(pl.lit([1, 2, 3], dtype=pl.List(pl.Int64)))
        .otherwise(pl.col("latency_buckets"))
        .alias("latency_buckets"),
    )


def polars_rollup(hourly: pl.DataFrame) -> pl.DataFrame:
    """The same rollup computed independently, with polars."""
    with_data = hourly.filter(pl.col("has_data"))
    counts = hourly.group_by("service").agg(
        pl.len().alias("hours"),
        pl.col("has_data").sum().cast(pl.Int64).alias("hours_with_data"),
    )
    sums = with_data.group_by("service").agg(
        pl.col("requests").sum(), pl.col("errors").sum(), pl.col("cpu_throttling").mean()
    )
    buckets = (
        with_data.filter(pl.col("latency_buckets").list.len() == WIDTH)
        .select("service", "latency_buckets", pl.int_ranges(WIDTH).alias("i"))
        .explode("latency_buckets", "i")
        .group_by("service", "i")
        .agg(pl.col("latency_buckets").sum())
        .sort("i")
        .group_by("service")
        .agg(pl.col("latency_buckets"))
    )
    return (
        counts.join(sums, on="service", how="left")
        .join(buckets, on="service", how="left")
        .with_columns((pl.col("hours_with_data") / 24).alias("data_completeness"))
        .sort("service")
    )


def test_the_rollup_equals_a_polars_computation_of_the_same_hours(tmp_path: Path) -> None:
    hourly = day_with_gaps()
    warehouse = tmp_path / "warehouse"
    (warehouse / "sli_hourly").mkdir(parents=True)
    hourly.write_parquet(warehouse / "sli_hourly" / f"{YESTERDAY}.parquet")

    result = materialize(warehouse, [sli_daily], YESTERDAY)

    assert result.success
    daily = pl.read_parquet(warehouse / "sli_daily" / f"{YESTERDAY}.parquet")
    assert daily.schema == SLI_DAILY_SCHEMA
    expected = polars_rollup(hourly)
    assert daily["service"].to_list() == expected["service"].to_list()
    assert (daily["day"] == YESTERDAY).all()
    for column in ("requests", "errors", "hours", "hours_with_data", "latency_buckets"):
        assert daily[column].to_list() == expected[column].to_list(), column
    for column in ("data_completeness", "cpu_throttling"):
        np.testing.assert_allclose(
            daily[column].to_numpy().astype(float), expected[column].to_numpy().astype(float)
        )
    # The percentiles come from the merged buckets (the silent service has none).
    merged = expected.filter(pl.col("latency_buckets").is_not_null())
    counts = np.asarray(merged["latency_buckets"].to_list(), dtype=float)
    p99 = daily.filter(pl.col("latency_buckets").is_not_null())["latency_p99"].to_numpy()
    np.testing.assert_allclose(p99, histogram_quantile(QUANTILES["p99"], LATENCY_BUCKETS, counts))
    assert daily.filter(pl.col("hours_with_data") == 0)["latency_p99"].null_count() == 1
    np.testing.assert_allclose(
        daily["availability"].drop_nulls().to_numpy(),
        (1 - expected["errors"] / expected["requests"]).drop_nulls().to_numpy(),
    )

    metadata = result.asset_materializations_for_node("sli_daily")[0].metadata
    assert metadata["rows"].value == metadata["services"].value == expected.height
    assert metadata["requests"].value == expected["requests"].sum()
    assert metadata["services_without_data"].value == 1
    assert metadata["services_with_gaps"].value == 1  # 19 of 24 hours
    assert metadata["min_completeness"].value == 0.0
    assert metadata["mean_completeness"].value == pytest.approx(
        expected["data_completeness"].mean()
    )


def test_a_partition_written_before_newer_columns_still_rolls_up(tmp_path: Path) -> None:
    full = day_with_gaps()
    warehouse = tmp_path / "warehouse"
    (warehouse / "sli_hourly").mkdir(parents=True)
    old = full.drop("errors_clamped", "cpu_throttling")
    old.write_parquet(warehouse / "sli_hourly" / f"{YESTERDAY}.parquet")

    assert materialize(warehouse, [sli_daily], YESTERDAY).success

    daily = pl.read_parquet(warehouse / "sli_daily" / f"{YESTERDAY}.parquet")
    assert daily["requests"].to_list() == polars_rollup(full)["requests"].to_list()
    assert daily["cpu_throttling"].null_count() == daily.height
    assert (daily["errors_clamped_hours"] == 0).all()


def small_day(day: date, services: list[str]) -> pl.DataFrame:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rows = [
        {
            "service": s,
            "hour": start + timedelta(hours=h),
            "requests": 100,
            "errors": 1,
            "latency_buckets": [10 * (i + 1) for i in range(WIDTH)],
            "has_data": True,
            "data_completeness": 1.0,
        }
        for s in services
        for h in range(24)
    ]
    frame = pl.DataFrame(rows)
    return (
        frame.with_columns(
            pl.lit(None).alias(name)
            for name in SLI_HOURLY_SCHEMA.names()
            if name not in frame.columns
        )
        .select(SLI_HOURLY_SCHEMA.names())
        .cast(SLI_HOURLY_SCHEMA)
    )


@pytest.fixture
def retention_30_days(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("SLO_HOURLY_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    yield 30
    get_settings.cache_clear()


def test_retention_removes_only_hours_whose_day_is_rolled_up(
    tmp_path: Path, retention_30_days: int
) -> None:
    warehouse = tmp_path / "warehouse"
    hourly_dir = warehouse / "sli_hourly"
    hourly_dir.mkdir(parents=True)
    days = [YESTERDAY - timedelta(days=n) for n in range(36)]
    for day in days:
        small_day(day, ["a", "b"]).write_parquet(hourly_dir / f"{day}.parquet")
    horizon = YESTERDAY - timedelta(days=retention_30_days)  # older days are due
    due = [d for d in days if d <= horizon]
    rolled = set(due[::2]) | {YESTERDAY}  # every other due day has its rollup
    for day in sorted(rolled):
        assert materialize(warehouse, [sli_daily], day).success
    # A rollup written before service c appeared does not cover the day any more.
    stale = due[1]
    assert materialize(warehouse, [sli_daily], stale).success
    small_day(stale, ["a", "b", "c"]).write_parquet(hourly_dir / f"{stale}.parquet")
    (hourly_dir / "notes.parquet").write_bytes(b"not ours")  # not a day partition

    result = materialize(warehouse, [sli_hourly_retention], YESTERDAY)

    assert result.success
    left = {date.fromisoformat(p.stem) for p in hourly_dir.glob("????-??-??.parquet")}
    assert left == set(days) - rolled | {YESTERDAY}
    assert all(d in left for d in days if d > horizon)  # the retention window stays hourly
    assert stale in left and (hourly_dir / "notes.parquet").exists()
    for day in rolled:  # every day is still there, hourly or daily
        assert (warehouse / "sli_daily" / f"{day}.parquet").exists()
    metadata = result.asset_materializations_for_node("sli_hourly_retention")[0].metadata
    removed = sorted(rolled - {YESTERDAY})
    assert metadata["removed"].value == len(removed) > 0
    assert metadata["removed_days"].value == [d.isoformat() for d in removed]
    assert metadata["kept_without_rollup"].value == [
        d.isoformat() for d in sorted(set(due) - set(removed))
    ]
    assert metadata["horizon"].value == horizon.isoformat()
    assert metadata["bytes_removed"].value > 0


def test_an_hourly_day_re_fetched_after_its_rollup_is_kept(tmp_path: Path) -> None:
    """Same services, more hours: the rollup no longer says what the hourly file holds."""
    from pipelines.defs.telemetry.hourly_retention import rollup_covers

    warehouse = tmp_path / "warehouse"
    hourly_dir = warehouse / "sli_hourly"
    hourly_dir.mkdir(parents=True)
    full = small_day(YESTERDAY, ["a", "b"])
    hourly = hourly_dir / f"{YESTERDAY}.parquet"
    full.filter(pl.col("hour").dt.hour() < 6).write_parquet(hourly)  # a partial first fetch
    assert materialize(warehouse, [sli_daily], YESTERDAY).success
    daily = warehouse / "sli_daily" / f"{YESTERDAY}.parquet"
    assert rollup_covers(hourly, daily)
    full.write_parquet(hourly)  # re-fetched, complete now
    assert not rollup_covers(hourly, daily)
    assert materialize(warehouse, [sli_daily], YESTERDAY).success  # rolled up again
    assert rollup_covers(hourly, daily)


def _with_hours_lost(frame: pl.DataFrame, service: str, hours: int) -> pl.DataFrame:
    """The day as a source that lost `service`'s first `hours` hours returns it: gap rows."""
    lost = (pl.col("service") == service) & (pl.col("hour").dt.hour() < hours)
    return frame.with_columns(
        *[pl.when(lost).then(None).otherwise(pl.col(c)).alias(c)
          for c in ("requests", "errors", "latency_buckets")],
        pl.when(lost).then(False).otherwise(pl.col("has_data")).alias("has_data"),
    )  # fmt: skip


def test_a_rerun_over_hours_the_source_lost_keeps_the_rollup(tmp_path: Path) -> None:
    """Prometheus' retention dropped the day: sli_hourly re-fetched it as gaps. The rollup
    of the complete day stays, and the materialization says why."""
    warehouse = tmp_path / "warehouse"
    hourly_dir = warehouse / "sli_hourly"
    hourly_dir.mkdir(parents=True)
    hourly = hourly_dir / f"{YESTERDAY}.parquet"
    full = small_day(YESTERDAY, ["a", "b", "c"])
    full.write_parquet(hourly)
    assert materialize(warehouse, [sli_daily], YESTERDAY).success
    daily = warehouse / "sli_daily" / f"{YESTERDAY}.parquet"
    good = pl.read_parquet(daily)

    _with_hours_lost(full, "b", 20).write_parquet(hourly)
    result = materialize(warehouse, [sli_daily], YESTERDAY)

    assert result.success
    assert pl.read_parquet(daily).equals(good)
    metadata = result.asset_materializations_for_node("sli_daily")[0].metadata
    assert metadata["kept_existing_rollup"].value is True
    because = str(metadata["kept_because"].value)
    assert "fewer hours with data for 1 service(s) (b)" in because and str(daily) in because
    assert "| b | 24 | 4 |" in str(metadata["hours_lost"].value)
    assert metadata["requests"].value == good["requests"].sum()  # the kept rows' figures

    # More hours than the rollup holds is a newer day: rolled up again.
    _with_hours_lost(full, "b", 20).write_parquet(hourly)
    daily.unlink()  # a person accepting the emptier day
    assert materialize(warehouse, [sli_daily], YESTERDAY).success
    assert pl.read_parquet(daily).filter(pl.col("service") == "b")["hours_with_data"].item() == 4
    full.write_parquet(hourly)
    result = materialize(warehouse, [sli_daily], YESTERDAY)
    assert pl.read_parquet(daily).equals(good)
    metadata = result.asset_materializations_for_node("sli_daily")[0].metadata
    assert metadata["kept_existing_rollup"].value is False


def test_a_rerun_after_retention_removed_the_hours_keeps_the_rollup(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    hourly_dir = warehouse / "sli_hourly"
    hourly_dir.mkdir(parents=True)
    hourly = hourly_dir / f"{YESTERDAY}.parquet"
    small_day(YESTERDAY, ["a", "b"]).write_parquet(hourly)
    assert materialize(warehouse, [sli_daily], YESTERDAY).success
    daily = warehouse / "sli_daily" / f"{YESTERDAY}.parquet"
    good = pl.read_parquet(daily)
    hourly.unlink()  # retention's work

    result = materialize(warehouse, [sli_daily], YESTERDAY)

    assert result.success
    assert pl.read_parquet(daily).equals(good)
    metadata = result.asset_materializations_for_node("sli_daily")[0].metadata
    assert metadata["kept_existing_rollup"].value is True
    assert "no sli_hourly file" in str(metadata["kept_because"].value)

    # With neither, there is nothing to keep: the step fails and says what to run.
    daily.unlink()
    failed = dg.materialize(
        [sli_daily],
        resources={"warehouse_io": PolarsParquetIOManager(base_path=str(warehouse))},
        partition_key=YESTERDAY.isoformat(),
        raise_on_error=False,
    )
    assert not failed.success
    (failure,) = [e for e in failed.all_events if e.is_step_failure]
    assert "materialize sli_hourly for this day first" in str(failure.step_failure_data.error)
    assert not daily.exists()
