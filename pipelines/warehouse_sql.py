"""SQL over the Parquet warehouse: DuckDB with one view per warehouse table.

Every folder under the warehouse root that holds `*.parquet` files is a table (the IO manager
writes `<root>/<asset>/<partition>.parquet`; an asset key with a prefix is nested folders, its
view named with `__` between the parts). Each view reads its folder's files at query time
(`union_by_name`, so older partitions without a newer column read it as null) and adds
`partition_key`, the file's partition (`2026-11-23`, or `data` for unpartitioned assets).
Beware tables whose every partition holds a whole lookback (`intrinsic_availability`): filter
them on `partition_key`.

The database is in memory, never a `.duckdb` file (DuckDB allows one writer; runs would
contend for it): nothing is copied, and every query sees the files as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")
#: The warehouse folder of the runs' shard parts (`pipelines.resources`): not a table, no view.
RUN_PARTS = "_runs"


def warehouse_tables(root: Path) -> dict[str, Path]:
    """View name → folder, for every folder under `root` holding Parquet files."""
    folders = sorted({p.parent for p in root.glob("**/*.parquet")}) if root.is_dir() else []
    tables: dict[str, Path] = {}
    for folder in folders:
        parts = folder.relative_to(root).parts
        if not parts or parts[0] == RUN_PARTS:
            continue  # files at the root belong to no asset; a run's parts are no table
        tables[_NOT_IDENTIFIER.sub("_", "__".join(parts))] = folder
    return tables


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_statements(root: Path) -> list[str]:
    """`CREATE VIEW` statements of the warehouse's tables (also what `duckdb -cmd` is given)."""
    statements = []
    for name, folder in warehouse_tables(root).items():
        pattern = _literal(str(folder.resolve() / "*.parquet"))
        statements.append(
            f'CREATE OR REPLACE VIEW "{name}" AS SELECT * EXCLUDE (filename), '
            r"regexp_extract(filename, '([^/\\]+)\.parquet$', 1) AS partition_key "
            f"FROM read_parquet({pattern}, union_by_name = true, filename = true)"
        )
    return statements


def open_warehouse(root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per warehouse table."""
    con = duckdb.connect(":memory:")
    try:
        for statement in view_statements(root):
            con.execute(statement)
    except duckdb.Error:
        con.close()
        raise
    return con


def run_query(
    con: duckdb.DuckDBPyConnection, sql: str
) -> tuple[list[str], list[tuple[object, ...]]]:
    """Column names and rows of one query (a statement without a result gives none)."""
    relation = con.sql(sql)
    if relation is None:
        return [], []
    return list(relation.columns), relation.fetchall()
