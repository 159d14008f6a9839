"""Backstage as a discovery source; an active SLO's budgeting method and time window

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Backstage's catalog declares dependencies, so `backstage` joins the discovery sources (a
constraint swap: enumerations are VARCHAR + CHECK, see `store.tables`). OpenSLO documents may
budget by time slices and over windows other than 30 days; the active SLO keeps both, so the
exported rules honour what was imported instead of silently assuming 30-day occurrences.
Downgrading turns `backstage` rows into `manual` ones first: the old constraint rejects them.
"""

from __future__ import annotations

import logging
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


def _remap_backstage_to_manual() -> None:
    """Rows that name `backstage` become `manual` before the old CHECK returns (it would
    reject them, and the downgrade would fail half-way on PostgreSQL or not at all on SQLite).

    `manual` because both are declared sources of full confidence, and manual is the one the
    merge already trusts more: the effective graph stays what it was. An edge both sources
    declared keeps its manual row (one row per source and edge: the backstage one would
    collide with it) and loses the backstage one, whose attributes the merge was not using.
    """
    bind = op.get_bind()
    merged = bind.execute(
        sa.text(
            "DELETE FROM service_dependencies WHERE discovery_source = 'backstage' AND EXISTS ("
            "SELECT 1 FROM service_dependencies AS declared "
            "WHERE declared.discovery_source = 'manual' "
            "AND declared.source_service_id = service_dependencies.source_service_id "
            "AND declared.target_service_id = service_dependencies.target_service_id)"
        )
    ).rowcount
    remapped = bind.execute(
        sa.text(
            "UPDATE service_dependencies SET discovery_source = 'manual' "
            "WHERE discovery_source = 'backstage'"
        )
    ).rowcount
    ingestions = bind.execute(
        sa.text("UPDATE graph_ingestions SET source = 'manual' WHERE source = 'backstage'")
    ).rowcount
    if merged or remapped or ingestions:
        logging.getLogger("alembic.runtime.migration").info(
            "0008 downgrade: %d backstage edge(s) now manual, %d dropped for the manual row of "
            "the same edge, %d ingestion(s) now manual",
            remapped, merged, ingestions,
        )  # fmt: skip


def downgrade() -> None:
    _remap_backstage_to_manual()
    with op.batch_alter_table("active_slos") as batch_op:
        batch_op.drop_constraint(op.f("ck_active_slos_time_window_days"), type_="check")
        batch_op.drop_constraint(op.f("ck_active_slos_budgeting_method"), type_="check")
        batch_op.drop_column("timeslice_window_seconds")
        batch_op.drop_column("timeslice_target")
        batch_op.drop_column("time_window_days")
        batch_op.drop_column("budgeting_method")
    _swap_sources(OLD_SOURCES)
