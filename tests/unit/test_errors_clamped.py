"""More errors than requests: `assemble_day` clamps them but keeps the fact, and the blocking
check on `sli_hourly` fails on it (it compared clamped counts before, so it could never fail)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from analytics.sli_schema import SLI_HOURLY_SCHEMA
from pipelines.defs.telemetry.checks import sli_hourly_counts_are_possible
from telemetry.sli_sources import assemble_day

START = datetime(2026, 11, 20, tzinfo=UTC)
FIRST = int(START.timestamp()) + 3600  # the point for the hour starting at START


def matrix(service: str, values: list[str]) -> dict[str, object]:
    return {
        "metric": {"service": service},
        "values": [[FIRST + 3600 * i, v] for i, v in enumerate(values)],
    }


def day(errors_a: list[str]) -> pl.DataFrame:
    requests = [matrix("a", ["100", "100", "100"]), matrix("b", ["50", "50"])]
    errors = [matrix("a", errors_a), matrix("b", ["1", "2"])]
    return assemble_day(START, "service", requests, errors, [], hours=3)


def check(frame: pl.DataFrame) -> dg.AssetCheckResult:
    result = sli_hourly_counts_are_possible(frame)
    assert isinstance(result, dg.AssetCheckResult)
    return result


def test_errors_over_requests_are_clamped_flagged_and_fail_the_check() -> None:
    frame = day(["3", "250", "100"]).sort("service", "hour")
    assert frame.schema == SLI_HOURLY_SCHEMA
    a = frame.filter(pl.col("service") == "a")
    assert a["errors"].to_list() == [3, 100, 100]  # downstream still sees possible counts
    assert a["errors_clamped"].to_list() == [False, True, False]  # equal is possible
    b = frame.filter(pl.col("service") == "b")
    assert b["errors_clamped"].to_list() == [False, False, None]  # no data: not known

    result = check(frame)
    assert not result.passed
    metadata = result.metadata
    assert metadata["rows_with_errors_over_requests"].value == 1
    assert metadata["services_with_errors_over_requests"].value == {"a": 1}
    assert "| a | 2026-11-20 01:00 |" in str(metadata["errors_over_requests"].value)


def test_possible_counts_pass_the_check() -> None:
    frame = day(["3", "99", "100"])
    assert not frame["errors_clamped"].fill_null(False).any()
    result = check(frame)
    assert result.passed
    assert result.metadata["rows_with_errors_over_requests"].value == 0


def test_rows_without_the_flag_are_checked_on_their_counts() -> None:
    # Parquet written before `errors_clamped` existed reads it as null: counts still decide.
    frame = day(["3", "99", "100"]).with_columns(
        errors_clamped=pl.lit(None, pl.Boolean),
        errors=pl.when(pl.col("service") == "b").then(pl.col("errors") * 100).otherwise("errors"),
    )
    result = check(frame)
    assert not result.passed
    assert result.metadata["services_with_errors_over_requests"].value == {"b": 2}
