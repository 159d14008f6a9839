"""What Dagster's UI shows of an asset as tables: its columns, each with what it means, and a
materialization's headline rows.

A data-platform engineer opening an asset in Dagster wants to read the table, not a handful of
flat numbers: the asset's page lists its output columns with their meaning
(`dagster/column_schema`), and each materialization carries small tables (the top bottlenecks,
the tier distribution, coverage per team, drift confirmations) built here from polars frames.
One builder, so every asset describes itself the same way and a column added to a frame without
a description fails at import, not silently in the UI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import polars as pl

#: Dagster's column types, from polars' (anything else is shown as a string).
_KINDS: tuple[tuple[type[pl.DataType], str], ...] = (
    (pl.Boolean, "bool"),
    (pl.Int64, "int"),
    (pl.Int32, "int"),
    (pl.UInt32, "int"),
    (pl.Float64, "float"),
    (pl.Datetime, "timestamp"),
    (pl.List, "list"),
)


def _kind(dtype: Any) -> str:
    for polars_type, kind in _KINDS:
        if dtype == polars_type or isinstance(dtype, polars_type):
            return kind
    return "string"


def table_schema(schema: Mapping[str, Any], described: Mapping[str, str]) -> dg.TableSchema:
    """The columns of `schema` in order, each with its description (all of them, exactly)."""
    missing = [name for name in schema if name not in described]
    unknown = [name for name in described if name not in schema]
    if missing or unknown:
        raise ValueError(f"column descriptions out of step: missing {missing}, unknown {unknown}")
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, _kind(dtype), description=described[name])
            for name, dtype in schema.items()
        ]
    )


def column_schema(schema: Mapping[str, Any], described: Mapping[str, str]) -> dict[str, Any]:
    """Asset-definition metadata: the output's columns and their meaning on the asset's page."""
    return {"dagster/column_schema": table_schema(schema, described)}


def _plain(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def table(frame: pl.DataFrame, described: Mapping[str, str]) -> dg.TableMetadataValue:
    """A materialization's small table: `frame`'s rows, its columns described."""
    schema = table_schema(frame.schema, described)
    records = [
        dg.TableRecord({name: _plain(value) for name, value in row.items()})
        for row in frame.iter_rows(named=True)
    ]
    return dg.MetadataValue.table(records, schema=schema)
