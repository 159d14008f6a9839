"""The Parquet telemetry source serves the embedded demo with the pipeline's own schema."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from analytics.sli_schema import SLI_HOURLY_SCHEMA
from synthetic_fleet.telemetry import generate_telemetry, hourly_frame
from synthetic_fleet.topology import generate_topology
from telemetry.sli_sources import ParquetSliSource

END = datetime(2026, 11, 23, tzinfo=UTC)


def test_files_written_before_cpu_throttling_existed_read_it_as_not_measured(
    tmp_path: Path,
) -> None:
    telemetry = generate_telemetry(generate_topology(12, seed=3), days=2, seed=3, end=END)
    frame = hourly_frame(telemetry)
    day = END.date().replace(day=21)
    frame.filter(pl.col("hour").dt.date() == day).drop("cpu_throttling").write_parquet(
        tmp_path / f"{day.isoformat()}.parquet"
    )
    later = day.replace(day=22)
    frame.filter(pl.col("hour").dt.date() == later).write_parquet(
        tmp_path / f"{later.isoformat()}.parquet"
    )
    source = ParquetSliSource(tmp_path)
    old = source.fetch_day(day, ["svc-does-not-exist", telemetry.services[0]])
    assert old.schema == SLI_HOURLY_SCHEMA
    assert old.height == 24 and old["cpu_throttling"].null_count() == 24
    window = source.fetch_window(datetime(2026, 11, 21, tzinfo=UTC), 2)
    assert window.height == 2 * 24 * len(telemetry.services)
    assert window.filter(pl.col("hour").dt.date() == later)["cpu_throttling"].null_count() == 0
