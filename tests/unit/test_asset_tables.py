"""The Dagster UI's tables: every column described, exactly, and rows as plain values."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from pipelines.asset_tables import column_schema, table


def test_a_column_without_a_description_or_a_description_without_a_column_is_refused() -> None:
    schema = {"service": pl.String, "requests": pl.Int64}
    with pytest.raises(ValueError, match=r"missing \['requests'\]"):
        column_schema(schema, {"service": "The service."})
    with pytest.raises(ValueError, match=r"unknown \['errors'\]"):
        column_schema(schema, {"service": "s", "requests": "r", "errors": "e"})


def test_columns_keep_their_order_types_and_meaning() -> None:
    schema = {"service": pl.String, "requests": pl.Int64, "share": pl.Float64,
              "ok": pl.Boolean, "hour": pl.Datetime("us", "UTC")}  # fmt: skip
    described = {name: f"what {name} means" for name in schema}
    columns = column_schema(schema, described)["dagster/column_schema"].columns
    assert [(c.name, c.type, c.description) for c in columns] == [
        ("service", "string", "what service means"),
        ("requests", "int", "what requests means"),
        ("share", "float", "what share means"),
        ("ok", "bool", "what ok means"),
        ("hour", "timestamp", "what hour means"),
    ]


def test_a_frame_becomes_records_of_plain_values() -> None:
    hour = datetime(2026, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame({"service": ["a", "b"], "requests": [3, None], "hour": [hour, hour]})
    value = table(frame, {"service": "s", "requests": "r", "hour": "h"})
    assert [r.data for r in value.records] == [
        {"service": "a", "requests": 3, "hour": str(hour)},
        {"service": "b", "requests": None, "hour": str(hour)},
    ]
    assert [c.name for c in value.schema.columns] == ["service", "requests", "hour"]
