"""Operational-store schema, shared by the application and the Alembic migrations.

Enumerations are stored as VARCHAR with a CHECK constraint rather than native PostgreSQL
enums so that one set of migrations runs unchanged on PostgreSQL and SQLite, and adding a
value later is a constraint swap instead of an `ALTER TYPE`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: JSONB on PostgreSQL (indexable, compared by value), JSON text on SQLite.
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

SERVICE_CRITICALITIES = ("critical", "high", "medium", "low")
COMMUNICATION_MODES = ("sync", "async")
EDGE_CRITICALITIES = ("hard", "soft", "degraded")
DISCOVERY_SOURCES = (
    "manual", "otel_service_graph", "kubernetes", "service_mesh", "backstage"
)  # fmt: skip
ALERT_STATUSES = ("open", "acknowledged", "resolved")
INGESTION_STATUSES = ("processing", "completed", "failed")
SLI_TYPES = ("availability", "latency")
RECOMMENDATION_STATUSES = ("active", "superseded", "expired")
API_KEY_ROLES = ("sre_admin", "service_owner", "viewer")
RECOMMENDATION_DECISIONS = ("accepted", "modified", "rejected", "auto_approved")
SLO_SOURCES = ("recommendation_accepted", "recommendation_modified", "manual", "auto_approved")
AUDIT_ACTIONS = ("accept", "modify", "reject", "auto_approve", "expire", "drift_triggered")
SLO_TIERS = ("conservative", "balanced", "aggressive")
BUDGETING_METHODS = ("occurrences", "timeslices")


def _enum(name: str, values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _created_at() -> sa.Column[datetime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def _updated_at() -> sa.Column[datetime]:
    return sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


services = sa.Table(
    "services",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("service_id", sa.String(255), nullable=False, unique=True),
    sa.Column("metadata", JSONDoc, nullable=False, server_default=sa.text("'{}'")),
    sa.Column(
        "criticality",
        _enum("service_criticality", SERVICE_CRITICALITIES),
        nullable=False,
        server_default="medium",
    ),
    sa.Column("team", sa.String(255)),
    sa.Column("discovered", sa.Boolean(), nullable=False, server_default=sa.false()),
    _created_at(),
    _updated_at(),
    sa.Index("ix_services_team", "team"),
    sa.Index("ix_services_criticality", "criticality"),
    sa.Index(
        "ix_services_discovered",
        "discovered",
        postgresql_where=sa.text("discovered"),
        sqlite_where=sa.text("discovered"),
    ),
)

service_dependencies = sa.Table(
    "service_dependencies",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column(
        "source_service_id",
        sa.Uuid(),
        sa.ForeignKey("services.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "target_service_id",
        sa.Uuid(),
        sa.ForeignKey("services.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "communication_mode", _enum("communication_mode", COMMUNICATION_MODES), nullable=False
    ),
    sa.Column(
        "criticality",
        _enum("edge_criticality", EDGE_CRITICALITIES),
        nullable=False,
        server_default="hard",
    ),
    sa.Column("protocol", sa.String(50)),
    sa.Column("timeout_ms", sa.Integer()),
    sa.Column("retry_config", JSONDoc),
    sa.Column("redundancy_group", sa.String(255)),
    sa.Column("discovery_source", _enum("discovery_source", DISCOVERY_SOURCES), nullable=False),
    sa.Column("confidence_score", sa.Float(), nullable=False, server_default=sa.text("1.0")),
    sa.Column(
        "last_observed_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.now(),
    ),
    sa.Column("is_stale", sa.Boolean(), nullable=False, server_default=sa.false()),
    _created_at(),
    _updated_at(),
    sa.UniqueConstraint(
        "source_service_id",
        "target_service_id",
        "discovery_source",
        name="uq_service_dependencies_edge",
    ),
    sa.CheckConstraint(
        "confidence_score >= 0.0 AND confidence_score <= 1.0", name="confidence_range"
    ),
    sa.CheckConstraint("source_service_id <> target_service_id", name="no_self_loop"),
    # TRD §7.4: partial indexes serve the traversal, which only walks live edges.
    sa.Index(
        "idx_deps_source",
        "source_service_id",
        "target_service_id",
        postgresql_where=sa.text("NOT is_stale"),
        sqlite_where=sa.text("NOT is_stale"),
    ),
    sa.Index(
        "idx_deps_target",
        "target_service_id",
        "source_service_id",
        postgresql_where=sa.text("NOT is_stale"),
        sqlite_where=sa.text("NOT is_stale"),
    ),
    # Deliberately no index on last_observed_at: refreshing it on every ingestion must stay a
    # HOT update (see migration 0001); the staleness sweep scans the table once per ingestion.
)

circular_dependency_alerts = sa.Table(
    "circular_dependency_alerts",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("cycle_path", JSONDoc, nullable=False),
    sa.Column("members", JSONDoc, nullable=False),
    # Sorted members joined: one alert per strongly connected component, whatever the order
    # in which its cycle was walked, so a re-ingest never duplicates it.
    sa.Column("scc_key", sa.Text(), nullable=False, unique=True),
    sa.Column("size", sa.Integer(), nullable=False),
    sa.Column(
        "detected_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "status", _enum("alert_status", ALERT_STATUSES), nullable=False, server_default="open"
    ),
    sa.Column("acknowledged_by", sa.String(255)),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_by", sa.String(255)),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolution_notes", sa.Text()),
    sa.Index("ix_circular_dependency_alerts_status", "status"),
    sa.Index("ix_circular_dependency_alerts_detected_at", "detected_at"),
)

graph_snapshots = sa.Table(
    "graph_snapshots",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    sa.Column("node_count", sa.Integer(), nullable=False),
    sa.Column("edge_count", sa.Integer(), nullable=False),
    sa.Column("cycle_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("graph_hash", sa.String(64), nullable=False),
    sa.Column("storage_uri", sa.Text()),
    sa.Column("producer", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(255)),
    sa.Index("ix_graph_snapshots_as_of", "as_of"),
)

graph_ingestions = sa.Table(
    "graph_ingestions",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("source", _enum("ingestion_source", DISCOVERY_SOURCES), nullable=False),
    sa.Column(
        "status",
        _enum("ingestion_status", INGESTION_STATUSES),
        nullable=False,
        server_default="processing",
    ),
    sa.Column("nodes_received", sa.Integer(), nullable=False),
    sa.Column("edges_received", sa.Integer(), nullable=False),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("result", JSONDoc),
    sa.Column("error", sa.Text()),
    sa.Index("ix_graph_ingestions_submitted_at", "submitted_at"),
    # The graph version (latest completed ingestion) is read on every cached subgraph query.
    sa.Index("ix_graph_ingestions_status_completed_at", "status", "completed_at"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    # The prefix is shown in listings and finds the row; only the bcrypt hash of the whole
    # key is stored, so a leaked table does not leak keys.
    sa.Column("key_prefix", sa.String(16), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(255), nullable=False),
    sa.Column("role", _enum("api_key_role", API_KEY_ROLES), nullable=False),
    sa.Column("team", sa.String(255)),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

slo_recommendations = sa.Table(
    "slo_recommendations",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column(
        "service_id", sa.Uuid(), sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("sli_type", _enum("sli_type", SLI_TYPES), nullable=False),
    sa.Column("tiers", JSONDoc, nullable=False),
    sa.Column("explanation", JSONDoc, nullable=False),
    sa.Column("data_quality", JSONDoc, nullable=False),
    sa.Column("provenance", JSONDoc, nullable=False),
    sa.Column("lookback_window_start", sa.DateTime(timezone=True)),
    sa.Column("lookback_window_end", sa.DateTime(timezone=True)),
    sa.Column(
        "dependency_graph_snapshot_id",
        sa.Uuid(),
        sa.ForeignKey("graph_snapshots.id", name="fk_slo_recommendations_snapshot"),
        nullable=True,
    ),
    sa.Column("composite_bound", sa.Float()),
    # The availability delivered over the lookback (fraction).
    sa.Column("observed_availability", sa.Float()),
    # The service's own share (its hard dependencies' failures divided out): the R_self of the
    # bound, and what impact analysis recomputes composites from.
    sa.Column("intrinsic_availability", sa.Float()),
    sa.Column("cold_start", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column(
        "generated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column(
        "status",
        _enum("recommendation_status", RECOMMENDATION_STATUSES),
        nullable=False,
        server_default="active",
    ),
    # What a person (or an auto-approval rule) decided about this recommendation, once.
    sa.Column("decision", _enum("recommendation_decision", RECOMMENDATION_DECISIONS)),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("decided_by", sa.String(255)),
    # TRD §7.4: the API reads the active recommendation of one service.
    sa.Index(
        "idx_recs_service_active",
        "service_id",
        "status",
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    ),
    # `publication_key`, on every impact analysis: max(generated_at) and count of the active
    # availability rows from the index alone, not a scan of every superseded document (52–142 ms
    # at 50,000 services before, 2.8 ms after: benchmarks/api_scale.py).
    sa.Index(
        "idx_recs_active_publication",
        "sli_type",
        "generated_at",
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    ),
)

#: The fleet prior (bad-day excess quantiles) each partition's recommendations drew from, so
#: that `force_regenerate` draws the same one.
fleet_priors = sa.Table(
    "fleet_priors",
    metadata,
    sa.Column("partition", sa.String(10), primary_key=True),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("points", JSONDoc, nullable=False),
)

active_slos = sa.Table(
    "active_slos",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    # One row per service: its SLO now. Earlier states live in the audit log's snapshots.
    sa.Column("service_id", sa.Uuid(), sa.ForeignKey("services.id"), nullable=False, unique=True),
    sa.Column("availability_target", sa.Numeric(7, 4, asdecimal=False)),
    sa.Column("latency_p95_target_ms", sa.Integer()),
    sa.Column("latency_p99_target_ms", sa.Integer()),
    sa.Column("selected_tier", _enum("slo_tier", SLO_TIERS)),
    sa.Column("source", _enum("slo_source", SLO_SOURCES), nullable=False),
    sa.Column(
        "recommendation_id",
        sa.Uuid(),
        sa.ForeignKey("slo_recommendations.id", name="fk_active_slos_recommendation"),
    ),
    sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("activated_by", sa.String(255), nullable=False),
    # How the error budget is counted (OpenSLO budgetingMethod) and over how many days.
    sa.Column(
        "budgeting_method",
        _enum("budgeting_method", BUDGETING_METHODS),
        nullable=False,
        server_default="occurrences",
    ),
    sa.Column("time_window_days", sa.Integer(), nullable=False, server_default="30"),
    # Timeslices only: a slice is good when its ratio meets this target, over slices this long.
    sa.Column("timeslice_target", sa.Float()),
    sa.Column("timeslice_window_seconds", sa.Integer()),
    sa.CheckConstraint("time_window_days BETWEEN 1 AND 366", name="time_window_days"),
    _created_at(),
    _updated_at(),
)

slo_audit_log = sa.Table(
    "slo_audit_log",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    # No ON DELETE CASCADE: history outlives everything, and triggers refuse UPDATE/DELETE.
    sa.Column("service_id", sa.Uuid(), sa.ForeignKey("services.id"), nullable=False),
    sa.Column("action", _enum("audit_action", AUDIT_ACTIONS), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    # Who the request authenticated as (API key or token subject), beside the named actor.
    sa.Column("principal", sa.String(255)),
    sa.Column(
        "recommendation_id",
        sa.Uuid(),
        sa.ForeignKey("slo_recommendations.id", name="fk_slo_audit_log_recommendation"),
    ),
    sa.Column("previous_slo", JSONDoc),
    sa.Column("new_slo", JSONDoc),
    sa.Column("selected_tier", sa.String(20)),
    sa.Column("rationale", sa.Text()),
    sa.Column("modification_delta", JSONDoc),
    sa.Column(
        "timestamp", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Index("idx_audit_service_time", "service_id", "timestamp"),
    sa.Index("idx_audit_actor_time", "actor", "timestamp"),
)

auto_approval_rules = sa.Table(
    "auto_approval_rules",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    # criticality, tier, confidence_min, max_breach_probability, teams, services (FR-11)
    sa.Column("conditions", JSONDoc, nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("created_by", sa.String(255), nullable=False),
    _created_at(),
    _updated_at(),
)

dashboard_snapshots = sa.Table(
    "dashboard_snapshots",
    metadata,
    # What the dashboard endpoints serve (TRD FR-12): computed hourly by a Dagster asset,
    # never per request; the latest row per name is the answer.
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("payload", JSONDoc, nullable=False),
    sa.Index("ix_dashboard_snapshots_name_time", "name", "computed_at"),
)
