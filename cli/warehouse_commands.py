"""`slo-engine warehouse`: SQL over the Parquet warehouse, through DuckDB.

Each warehouse table (`sli_hourly`, `sli_daily`, every other asset folder) is a view of its
Parquet files (`pipelines/warehouse_sql.py`), in an in-memory database: read the files as they
are, never a `.duckdb` file."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.console import console
from config.settings import get_settings

warehouse_app = typer.Typer(
    help="SQL over the Parquet warehouse (DuckDB, one view per table).", no_args_is_help=True
)

errors = Console(stderr=True)


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def print_result(
    columns: Sequence[str], rows: Sequence[tuple[object, ...]], output: Literal["table", "csv"]
) -> None:
    if output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
        return
    if not columns:
        console.print("ok")
        return
    table = Table(caption=f"{len(rows)} row{'s' if len(rows) != 1 else ''}")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


@warehouse_app.command("sql")
def warehouse_sql(
    query: Annotated[str, typer.Argument(help='e.g. "SELECT * FROM sli_daily LIMIT 10"')],
    output: Annotated[
        Literal["table", "csv"], typer.Option("--format", help="table (rich) or csv")
    ] = "table",
) -> None:
    """Run one query against the warehouse's views and print its rows."""
    import duckdb

    from pipelines.warehouse_sql import open_warehouse, run_query

    try:
        with open_warehouse(get_settings().warehouse_path) as con:
            columns, rows = run_query(con, query)
    except duckdb.Error as exc:
        errors.print(f"[red]query failed[/red]: {escape(str(exc))}", highlight=False)
        raise typer.Exit(code=1) from None
    print_result(columns, rows, output)


@warehouse_app.command("shell")
def warehouse_shell(
    builtin: Annotated[
        bool, typer.Option("--builtin", help="The built-in loop even if `duckdb` is installed.")
    ] = False,
) -> None:
    """An interactive SQL shell over the warehouse's views: DuckDB's own CLI when the `duckdb`
    binary is on PATH, else a simple loop (statements end with `;`, `.tables`, `.quit`)."""
    from pipelines.warehouse_sql import view_statements, warehouse_tables

    root = get_settings().warehouse_path
    binary = None if builtin else shutil.which("duckdb")
    if binary:
        setup = ";\n".join(view_statements(root))
        command = [binary, "-cmd", setup] if setup else [binary]
        raise typer.Exit(code=subprocess.run(command, check=False).returncode)
    names = sorted(warehouse_tables(root))
    console.print(
        f"{len(names)} view(s) over {root}: {', '.join(names) or 'none yet'}. "
        "End a statement with ';'; .tables lists the views, .quit (or Ctrl-D) leaves."
    )
    _loop(root)


def _loop(root: Path) -> None:
    import duckdb

    from pipelines.warehouse_sql import open_warehouse, run_query, warehouse_tables

    with open_warehouse(root) as con:
        pending: list[str] = []
        while True:
            try:
                line = input("warehouse> " if not pending else "      ...> ")
            except EOFError:
                break
            command = line.strip()
            if not pending and command in (".quit", ".exit"):
                break
            if not pending and command == ".tables":
                console.print("\n".join(sorted(warehouse_tables(root))) or "no tables")
                continue
            if not command:
                continue
            pending.append(line)
            if not command.endswith(";"):
                continue
            statement, pending = "\n".join(pending), []
            try:
                columns, rows = run_query(con, statement)
            except duckdb.Error as exc:
                errors.print(f"[red]error[/red]: {escape(str(exc))}", highlight=False)
                continue
            print_result(columns, rows, "table")
