"""Day rollups standing in for removed hours: what the tiers and the intrinsic estimate make of
them (pure, no Dagster), and the retention setting's rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from analytics.composite_availability import Edge
from analytics.intrinsic_availability import intrinsic_hourly
from analytics.service_recommendation import recommend_service
from analytics.sli_daily import calls_at_sli_grain, lookback_rows_from_daily
from analytics.sli_schema import EDGE_HOURLY_SCHEMA, ROLLED_UP_HOURS, SLI_HOURLY_SCHEMA
from config.settings import HOURLY_RETENTION_MIN_DAYS, Settings
from pipelines.defs.drift.assets import BASELINE_DAYS
from pipelines.defs.telemetry.sli_daily_rollup import with_quantiles
from synthetic_fleet.telemetry import generate_telemetry, hourly_frame
from synthetic_fleet.topology import generate_topology

END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = 12
ROLLED = 5  # the oldest days, as day rollups


def polars_daily(hourly: pl.DataFrame) -> pl.DataFrame:
    """sli_daily rows of `hourly` computed with polars (the rollup's own test is elsewhere)."""
    width = hourly["latency_buckets"].drop_nulls().list.len().max()
    with_data = hourly.filter(pl.col("has_data"))
    frame = (
        hourly.group_by("service", pl.col("hour").dt.date().alias("day"))
        .agg(
            pl.len().alias("hours"),
            pl.col("has_data").sum().cast(pl.Int64).alias("hours_with_data"),
            pl.col("errors_clamped")
            .fill_null(False)
            .sum()
            .cast(pl.Int64)
            .alias("errors_clamped_hours"),
        )
        .join(
            with_data.group_by("service", pl.col("hour").dt.date().alias("day")).agg(
                pl.col("requests").sum(),
                pl.col("errors").sum(),
                pl.col("cpu_throttling").mean(),
                pl.concat_list(
                    pl.col("latency_buckets").list.get(i).sum() for i in range(width)
                ).alias("latency_buckets"),
            ),
            on=["service", "day"],
            how="left",
        )
        .with_columns(
            (1 - pl.col("errors") / pl.col("requests")).alias("availability"),
            (pl.col("hours_with_data") / 24).alias("data_completeness"),
        )
    )
    return with_quantiles(frame)


@pytest.fixture(scope="module")
def lookback() -> tuple[pl.DataFrame, pl.DataFrame, list[datetime]]:
    """(all hourly, the same with its oldest days as day rollups, the lookback's hours)."""
    topology = generate_topology(12, seed=5)
    hourly = hourly_frame(generate_telemetry(topology, days=DAYS, seed=5, end=END))
    start = END - timedelta(days=DAYS)
    cut = start + timedelta(days=ROLLED)
    # Lost hours on the rolled days, so completeness is not trivially 1.
    lost = pl.col("hour").dt.hour().is_between(2, 4) & (pl.col("hour") < cut)
    hourly = hourly.with_columns(pl.when(lost).then(False).otherwise("has_data").alias("has_data"))
    hourly = hourly.with_columns(
        pl.when(pl.col("has_data")).then(pl.col(c)).otherwise(None).alias(c)
        for c in ("requests", "errors", "latency_buckets")
    )
    daily = polars_daily(hourly.filter(pl.col("hour") < cut))
    mixed = pl.concat(
        [lookback_rows_from_daily(daily), hourly.filter(pl.col("hour") >= cut)],
        how="diagonal_relaxed",
    ).sort("service", "hour")
    hours = [start + timedelta(hours=h) for h in range(DAYS * 24)]
    return hourly, mixed, hours


def test_a_day_rollup_is_one_row_of_the_hourly_schema_saying_what_it_stands_for(
    lookback: tuple[pl.DataFrame, pl.DataFrame, list[datetime]],
) -> None:
    hourly, mixed, _ = lookback
    rolled = mixed.filter(pl.col(ROLLED_UP_HOURS).is_not_null())
    assert mixed.select(SLI_HOURLY_SCHEMA.names()).schema == SLI_HOURLY_SCHEMA
    assert rolled.height == hourly["service"].n_unique() * ROLLED
    assert (rolled["hour"].dt.hour() == 0).all()
    assert rolled[ROLLED_UP_HOURS].max() == 21 and rolled[ROLLED_UP_HOURS].min() == 21
    assert mixed["requests"].sum() == hourly["requests"].sum()
    assert mixed.filter(pl.col(ROLLED_UP_HOURS).is_null()).height == (DAYS - ROLLED) * 24 * 12


def test_the_tiers_of_a_partly_rolled_up_lookback_match_the_hourly_ones(
    lookback: tuple[pl.DataFrame, pl.DataFrame, list[datetime]],
) -> None:
    hourly, mixed, hours = lookback
    compared = 0
    for service in sorted(set(hourly["service"])):
        args = {"generated_at": END, "seed": 3}
        tiers, document = recommend_service(
            service, hourly.filter(pl.col("service") == service), hours, None, **args
        )
        other, other_document = recommend_service(
            service, mixed.filter(pl.col("service") == service), hours, None, **args
        )
        assert other.data_quality.data_completeness == tiers.data_quality.data_completeness
        assert other.data_quality.days_with_data == tiers.data_quality.days_with_data
        assert other.cold_start == tiers.cold_start
        if tiers.cold_start:
            continue
        compared += 1
        # Days decide the availability tiers (simulated months of whole days): unchanged.
        for tier, value in tiers.availability.items():
            assert other.availability[tier].target == value.target, (service, tier)
            assert other.availability[tier].confidence_interval == pytest.approx(
                value.confidence_interval
            )
        # The merged histogram is the same: so are the latency targets.
        for tier, value in tiers.latency.items():
            assert other.latency[tier].target_ms == value.target_ms, (service, tier)
        assert other.observed_availability == pytest.approx(tiers.observed_availability, abs=1e-12)
        assert other_document["model_inputs"]["availability"]["error_burstiness"] == pytest.approx(
            document["model_inputs"]["availability"]["error_burstiness"]
        )
    assert compared >= 10


def test_failed_calls_of_a_rolled_up_day_are_divided_out_over_the_day() -> None:
    day = END - timedelta(days=1)
    hours = [day + timedelta(hours=h) for h in range(24)]
    sli = pl.DataFrame(
        {
            "service": ["a"] * 24 + ["b"] * 24,
            "hour": hours * 2,
            "requests": [1000] * 48,
            "errors": [20] * 24 + [10] * 24,
            "has_data": [True] * 48,
        }
    )
    calls = pl.DataFrame(
        {"client": ["a"] * 24, "server": ["b"] * 24, "hour": hours, "calls": [1000] * 24,
         "failed": [10] * 24},
        schema=EDGE_HOURLY_SCHEMA,
    )  # fmt: skip
    rolled = (
        sli.group_by("service")
        .agg(pl.col("requests").sum(), pl.col("errors").sum())
        .with_columns(
            pl.lit(day).alias("hour"),
            pl.lit(True).alias("has_data"),
            pl.lit(24, pl.Int64).alias(ROLLED_UP_HOURS),
        )
    )
    edges = [Edge("a", "b")]

    per_hour = intrinsic_hourly(sli, edges, calls)
    per_day = intrinsic_hourly(rolled, edges, calls)

    def own(frame: pl.DataFrame) -> float:
        return float(frame.filter(pl.col("service") == "a")["own_errors"].sum())

    assert per_day.filter(pl.col("service") == "a").height == 1
    assert per_day.filter(pl.col("service") == "a")["method"].item() == "failed_calls"
    assert own(per_day) == pytest.approx(own(per_hour), rel=1e-9)  # 24 × 10.1
    summed = calls_at_sli_grain(calls, rolled)
    assert summed.rows() == [("a", "b", day, 24000, 240)]
    assert calls_at_sli_grain(calls, sli).equals(calls)  # hourly rows: calls untouched
    np.testing.assert_allclose(own(per_hour), 24 * (1000 - 980 / 0.99))


def test_hourly_retention_is_at_least_the_lookback_and_the_drift_baseline() -> None:
    assert Settings().hourly_retention_days == 90
    assert HOURLY_RETENTION_MIN_DAYS >= BASELINE_DAYS + 1
    assert Settings(lookback_days=60, hourly_retention_days=60).hourly_retention_days == 60
    with pytest.raises(ValueError, match="SLO_HOURLY_RETENTION_DAYS"):
        Settings(lookback_days=60, hourly_retention_days=59)
    with pytest.raises(ValueError, match="hourly_retention_days"):
        Settings(lookback_days=7, hourly_retention_days=HOURLY_RETENTION_MIN_DAYS - 1)
