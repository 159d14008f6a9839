"""Range-query matrices into `sli_hourly` rows, without a server: the edge cases."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.sli_schema import SLI_HOURLY_SCHEMA
from telemetry.sli_sources import assemble_day

START = datetime(2026, 11, 20, tzinfo=UTC)


def test_a_window_with_no_series_is_an_empty_frame_not_an_error() -> None:
    # Prometheus answers a window outside its retention with empty matrices; found when the
    # API regenerated over a week the backfill did not cover and answered 500.
    frame = assemble_day(START, "service", [], [], [], hours=24, throttling=[])
    assert frame.height == 0
    assert set(SLI_HOURLY_SCHEMA.names()) <= set(frame.columns)


def test_an_hour_without_request_samples_is_a_gap_not_a_zero() -> None:
    first = int(START.timestamp()) + 3600
    requests = [{"metric": {"service": "a"}, "values": [[first, "100"]]}]
    errors = [{"metric": {"service": "a"}, "values": [[first, "3"]]}]
    frame = assemble_day(START, "service", requests, errors, [], hours=2)
    assert frame["has_data"].to_list() == [True, False]
    assert frame["requests"].to_list() == [100, None]
    assert frame["errors"].to_list() == [3, None]
    assert frame["availability"].to_list()[0] == 0.97
