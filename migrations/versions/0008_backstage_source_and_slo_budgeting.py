"""Backstage as a discovery source; an active SLO's budgeting method and time window

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Backstage's catalog declares dependencies, so `backstage` joins the discovery sources (a
constraint swap: enumerations are VARCHAR + CHECK, see `store.tables`). OpenSLO documents may
budget by time slices and over windows other than 30 days; the active SLO keeps both, so the
exported rules honour what was imported instead of silently assuming 30-day occurrences.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_SOURCES = ("manual", "otel_service_graph", "kubernetes", "service_mesh")
NEW_SOURCES = (*OLD_SOURCES, "backstage")
#: (table, column, enum name) of every column holding a discovery source.
SOURCE_COLUMNS = (
    ("service_dependencies", "discovery_source", "discovery_source"),
    ("graph_ingestions", "source", "ingestion_source"),
)
BUDGETING_METHODS = ("occurrences", "timeslices")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _swap_sources(values: tuple[str, ...]) -> None:
    for table, column, name in SOURCE_COLUMNS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
            batch_op.create_check_constraint(op.f(f"ck_{table}_{name}"), _in(column, values))


def upgrade() -> None:
    _swap_sources(NEW_SOURCES)
    with op.batch_alter_table("active_slos") as batch_op:
        batch_op.add_column(
            sa.Column(
                "budgeting_method",
                sa.String(length=32),
                nullable=False,
                server_default="occurrences",
            )
        )
        batch_op.add_column(
            sa.Column("time_window_days", sa.Integer(), nullable=False, server_default="30")
        )
        # Timeslices: a slice is good when its own ratio meets this target ...
        batch_op.add_column(sa.Column("timeslice_target", sa.Float(), nullable=True))
        # ... over slices of this many seconds.
        batch_op.add_column(sa.Column("timeslice_window_seconds", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_active_slos_budgeting_method"), _in("budgeting_method", BUDGETING_METHODS)
        )
        batch_op.create_check_constraint(
            op.f("ck_active_slos_time_window_days"), "time_window_days BETWEEN 1 AND 366"
        )


def downgrade() -> None:
    with op.batch_alter_table("active_slos") as batch_op:
        batch_op.drop_constraint(op.f("ck_active_slos_time_window_days"), type_="check")
        batch_op.drop_constraint(op.f("ck_active_slos_budgeting_method"), type_="check")
        batch_op.drop_column("timeslice_window_seconds")
        batch_op.drop_column("timeslice_target")
        batch_op.drop_column("time_window_days")
        batch_op.drop_column("budgeting_method")
    _swap_sources(OLD_SOURCES)
