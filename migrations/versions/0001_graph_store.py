"""graph store

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "sre_admin",
                "service_owner",
                "viewer",
                name="api_key_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("team", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_prefix", name=op.f("uq_api_keys_key_prefix")),
    )
    op.create_table(
        "circular_dependency_alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "cycle_path",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "members",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("scc_key", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column(
            "detected_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "last_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "acknowledged",
                "resolved",
                name="alert_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="open",
            nullable=False,
        ),
        sa.Column("acknowledged_by", sa.String(length=255), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=255), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circular_dependency_alerts")),
        sa.UniqueConstraint("scc_key", name=op.f("uq_circular_dependency_alerts_scc_key")),
    )
    with op.batch_alter_table("circular_dependency_alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_circular_dependency_alerts_detected_at", ["detected_at"], unique=False
        )
        batch_op.create_index("ix_circular_dependency_alerts_status", ["status"], unique=False)

    op.create_table(
        "graph_ingestions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "manual",
                "otel_service_graph",
                "kubernetes",
                "service_mesh",
                name="ingestion_source",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "processing",
                "completed",
                "failed",
                name="ingestion_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="processing",
            nullable=False,
        ),
        sa.Column("nodes_received", sa.Integer(), nullable=False),
        sa.Column("edges_received", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_ingestions")),
    )
    with op.batch_alter_table("graph_ingestions", schema=None) as batch_op:
        batch_op.create_index("ix_graph_ingestions_submitted_at", ["submitted_at"], unique=False)
        batch_op.create_index(
            "ix_graph_ingestions_status_completed_at", ["status", "completed_at"], unique=False
        )

    op.create_table(
        "graph_snapshots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "taken_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("edge_count", sa.Integer(), nullable=False),
        sa.Column("cycle_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("graph_hash", sa.String(length=64), nullable=False),
        sa.Column("storage_uri", sa.Text(), nullable=True),
        sa.Column("producer", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graph_snapshots")),
    )
    with op.batch_alter_table("graph_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_graph_snapshots_as_of", ["as_of"], unique=False)

    op.create_table(
        "services",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.String(length=255), nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column(
            "criticality",
            sa.Enum(
                "critical",
                "high",
                "medium",
                "low",
                name="service_criticality",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="medium",
            nullable=False,
        ),
        sa.Column("team", sa.String(length=255), nullable=True),
        sa.Column("discovered", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("service_id", name=op.f("uq_services_service_id")),
    )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.create_index("ix_services_criticality", ["criticality"], unique=False)
        batch_op.create_index(
            "ix_services_discovered",
            ["discovered"],
            unique=False,
            postgresql_where=sa.text("discovered"),
            sqlite_where=sa.text("discovered"),
        )
        batch_op.create_index("ix_services_team", ["team"], unique=False)

    op.create_table(
        "service_dependencies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_service_id", sa.Uuid(), nullable=False),
        sa.Column("target_service_id", sa.Uuid(), nullable=False),
        sa.Column(
            "communication_mode",
            sa.Enum(
                "sync",
                "async",
                name="communication_mode",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "criticality",
            sa.Enum(
                "hard",
                "soft",
                "degraded",
                name="edge_criticality",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="hard",
            nullable=False,
        ),
        sa.Column("protocol", sa.String(length=50), nullable=True),
        sa.Column("timeout_ms", sa.Integer(), nullable=True),
        sa.Column(
            "retry_config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("redundancy_group", sa.String(length=255), nullable=True),
        sa.Column(
            "discovery_source",
            sa.Enum(
                "manual",
                "otel_service_graph",
                "kubernetes",
                "service_mesh",
                name="discovery_source",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("confidence_score", sa.Float(), server_default=sa.text("1.0"), nullable=False),
        sa.Column(
            "last_observed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("is_stale", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "confidence_score >= 0.0 AND confidence_score <= 1.0",
            name=op.f("ck_service_dependencies_confidence_range"),
        ),
        sa.CheckConstraint(
            "source_service_id <> target_service_id",
            name=op.f("ck_service_dependencies_no_self_loop"),
        ),
        sa.ForeignKeyConstraint(
            ["source_service_id"],
            ["services.id"],
            name=op.f("fk_service_dependencies_source_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_service_id"],
            ["services.id"],
            name=op.f("fk_service_dependencies_target_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_dependencies")),
        sa.UniqueConstraint(
            "source_service_id",
            "target_service_id",
            "discovery_source",
            name="uq_service_dependencies_edge",
        ),
    )
    with op.batch_alter_table("service_dependencies", schema=None) as batch_op:
        batch_op.create_index(
            "idx_deps_source",
            ["source_service_id", "target_service_id"],
            unique=False,
            postgresql_where=sa.text("NOT is_stale"),
            sqlite_where=sa.text("NOT is_stale"),
        )
        batch_op.create_index(
            "idx_deps_target",
            ["target_service_id", "source_service_id"],
            unique=False,
            postgresql_where=sa.text("NOT is_stale"),
            sqlite_where=sa.text("NOT is_stale"),
        )
    if op.get_bind().dialect.name == "postgresql":
        # Every ingestion refreshes last_observed_at on the edges it sees. With free space on
        # each page and no index on that column, those updates are HOT (heap-only): no index
        # churn, a re-ingest of 50,000 edges stays within seconds.
        op.execute("ALTER TABLE service_dependencies SET (fillfactor = 70)")


def downgrade() -> None:
    with op.batch_alter_table("service_dependencies", schema=None) as batch_op:
        batch_op.drop_index(
            "idx_deps_target",
            postgresql_where=sa.text("NOT is_stale"),
            sqlite_where=sa.text("NOT is_stale"),
        )
        batch_op.drop_index(
            "idx_deps_source",
            postgresql_where=sa.text("NOT is_stale"),
            sqlite_where=sa.text("NOT is_stale"),
        )

    op.drop_table("service_dependencies")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_index("ix_services_team")
        batch_op.drop_index(
            "ix_services_discovered",
            postgresql_where=sa.text("discovered"),
            sqlite_where=sa.text("discovered"),
        )
        batch_op.drop_index("ix_services_criticality")

    op.drop_table("services")
    with op.batch_alter_table("graph_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_graph_snapshots_as_of")

    op.drop_table("graph_snapshots")
    with op.batch_alter_table("graph_ingestions", schema=None) as batch_op:
        batch_op.drop_index("ix_graph_ingestions_status_completed_at")
        batch_op.drop_index("ix_graph_ingestions_submitted_at")

    op.drop_table("graph_ingestions")
    with op.batch_alter_table("circular_dependency_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_circular_dependency_alerts_status")
        batch_op.drop_index("ix_circular_dependency_alerts_detected_at")

    op.drop_table("circular_dependency_alerts")
    op.drop_table("api_keys")
