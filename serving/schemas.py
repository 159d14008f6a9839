"""Pydantic models of the HTTP interface (TRD §3 FR-1); they are the OpenAPI schema too."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

# The one service id rule lives in serving.service_id; re-exported here for the models' users.
from serving.service_id import SERVICE_ID_PATTERN as SERVICE_ID_PATTERN
from serving.service_id import ServiceId as ServiceId
from serving.storable_text import StorableBody
from store.graph_model import EdgeRecord, GraphSubmission, NodeRecord

DiscoverySource = Literal["manual", "otel_service_graph", "kubernetes", "service_mesh"]
ServiceCriticality = Literal["critical", "high", "medium", "low"]
ServiceType = Literal[
    "api_gateway", "bff", "backend", "consumer", "queue", "datastore", "cache", "external"
]

MAX_NODES = 100_000
MAX_EDGES = 500_000


class NodeMetadata(StorableBody):
    """Known fields are validated; anything else a catalog sends is kept as-is."""

    model_config = ConfigDict(extra="allow")

    team: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    criticality: ServiceCriticality | None = None
    tier: int | None = Field(default=None, ge=0, le=10)
    namespace: Annotated[str, StringConstraints(max_length=255)] | None = None
    runtime: Annotated[str, StringConstraints(max_length=255)] | None = None
    service_type: ServiceType | None = None
    published_sla: float | None = Field(
        default=None, gt=0, le=100, description="Percent, for external services."
    )


class NodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_id: ServiceId
    metadata: NodeMetadata = Field(default_factory=NodeMetadata)


class RetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_retries: int = Field(ge=0, le=100)
    backoff_strategy: Literal["exponential", "linear", "constant", "none"] = "exponential"


class EdgeAttributes(StorableBody):
    model_config = ConfigDict(extra="ignore")

    communication_mode: Literal["sync", "async"] = "sync"
    criticality: Literal["hard", "soft", "degraded"] = "hard"
    protocol: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None
    timeout_ms: int | None = Field(default=None, gt=0, le=3_600_000)
    retry_config: RetryConfig | None = None
    redundancy_group: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = (
        Field(
            default=None,
            description="Edges from one source sharing a group are alternatives (1 − Π(1 − R)).",
        )
    )


class EdgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: ServiceId
    target: ServiceId
    attributes: EdgeAttributes = Field(default_factory=EdgeAttributes)

    @field_validator("target")
    @classmethod
    def _not_a_self_loop(cls, target: str, info: ValidationInfo) -> str:
        if info.data.get("source") == target:
            raise ValueError(f"self-loop: '{target}' cannot depend on itself; remove this edge")
        return target


class DependencyGraphIn(BaseModel):
    """The bulk upsert body of `POST /api/v1/services/dependencies`."""

    model_config = ConfigDict(extra="forbid")

    source: DiscoverySource
    timestamp: AwareDatetime | None = Field(
        default=None, description="When the source observed this graph (default: now)."
    )
    nodes: list[NodeIn] = Field(default_factory=list, max_length=MAX_NODES)
    edges: list[EdgeIn] = Field(default_factory=list, max_length=MAX_EDGES)

    def duplicate_errors(self) -> list[dict[str, Any]]:
        """Repeated services or edges in one body are ambiguous: reject them, by position."""
        errors: list[dict[str, Any]] = []
        seen_nodes: dict[str, int] = {}
        for i, node in enumerate(self.nodes):
            if node.service_id in seen_nodes:
                errors.append(
                    {
                        "field": f"nodes[{i}].service_id",
                        "location": "body",
                        "message": (
                            f"duplicate service '{node.service_id}' "
                            f"(first at nodes[{seen_nodes[node.service_id]}])"
                        ),
                        "type": "duplicate",
                    }
                )
            seen_nodes.setdefault(node.service_id, i)
        seen_edges: dict[tuple[str, str], int] = {}
        for i, edge in enumerate(self.edges):
            key = (edge.source, edge.target)
            if key in seen_edges:
                errors.append(
                    {
                        "field": f"edges[{i}]",
                        "location": "body",
                        "message": (
                            f"duplicate edge {edge.source} -> {edge.target} "
                            f"(first at edges[{seen_edges[key]}])"
                        ),
                        "type": "duplicate",
                    }
                )
            seen_edges.setdefault(key, i)
        return errors

    def to_submission(self) -> GraphSubmission:
        return GraphSubmission(
            source=self.source,
            observed_at=self.timestamp,
            nodes=[
                NodeRecord(n.service_id, n.metadata.model_dump(exclude_none=True))
                for n in self.nodes
            ],
            edges=[
                EdgeRecord(e.source, e.target, e.attributes.model_dump(exclude_none=True))
                for e in self.edges
            ],
        )


class IngestionCountsOut(BaseModel):
    services_created: int
    services_updated: int
    placeholders_created: int
    edges_created: int
    edges_updated: int
    edges_refreshed: int
    edges_marked_stale: int
    edges_revived: int


class IngestionOut(BaseModel):
    ingestion_id: str
    source: DiscoverySource
    status: Literal["processing", "completed", "failed"]
    nodes_received: int
    edges_received: int
    estimated_completion_seconds: int
    submitted_at: datetime
    completed_at: datetime | None
    duration_ms: float | None
    counts: IngestionCountsOut
    warnings: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]
    circular_dependencies: list[dict[str, Any]]
    divergences: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Declared (manual/kubernetes) vs observed (OTel/mesh) call disagreements.",
    )
    error: str | None = None


class SubgraphNode(BaseModel):
    service_id: str
    depth: int
    relation: Literal["self", "upstream", "downstream", "both"]
    team: str | None
    criticality: str
    discovered: bool
    service_type: str | None
    metadata: dict[str, Any]


class SubgraphEdge(BaseModel):
    source: str
    target: str
    communication_mode: str
    criticality: str
    protocol: str | None
    timeout_ms: int | None
    retry_config: dict[str, Any] | None
    redundancy_group: str | None
    discovery_sources: list[str]
    effective_source: str
    confidence: float = Field(ge=0, le=1)
    is_stale: bool
    conflicting_attributes: list[str]


class SubgraphOut(BaseModel):
    service_id: str
    direction: Literal["upstream", "downstream", "both"]
    depth: int
    truncated: bool
    node_count: int
    edge_count: int
    nodes: list[SubgraphNode]
    edges: list[SubgraphEdge]
    warnings: list[str]
    graph_version: str = Field(description="Completion time of the ingestion this answer reflects.")
    cached: bool = Field(description="Served from this process's cache for that graph version.")


class ServiceOut(BaseModel):
    service_id: str
    team: str | None
    criticality: str
    discovered: bool
    registration_status: Literal["registered", "unregistered"]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ServicePageOut(BaseModel):
    items: list[ServiceOut]
    next_cursor: str | None
    limit: int


class CircularDependencyOut(BaseModel):
    id: str
    cycle_path: list[str]
    members: list[str]
    size: int
    status: Literal["open", "acknowledged", "resolved"]
    detected_at: datetime
    last_seen_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_notes: str | None


class CircularDependencyListOut(BaseModel):
    items: list[CircularDependencyOut]


class CircularDependencyUpdate(StorableBody):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "acknowledged", "resolved"]
    actor: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="Who triaged the alert (recorded)."
    )
    resolution_notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class ReadyOut(BaseModel):
    status: Literal["ready"]
    database: str
    schema_revision: str | None
    redis: Literal["up", "down", "not_configured"] = Field(
        description="Rate-limit store; while down, limits hold in-process (not a readiness gate)."
    )
    telemetry: Literal["up", "down"] = Field(
        description="Prometheus/Mimir (or the Parquet folder); while down, answers are served "
        "with `stale: true` (not a readiness gate)."
    )
    telemetry_source: Literal["prometheus", "parquet"]
    telemetry_circuit: Literal["closed", "open", "half_open"] | None = None


class LookbackWindowOut(BaseModel):
    start: datetime
    end: datetime


class RecommendationOut(BaseModel):
    recommendation_id: str | None = None
    sli_type: Literal["availability", "latency"]
    metric: str | None
    tiers: dict[str, dict[str, Any]] = Field(
        description="conservative / balanced / aggressive with their evidence (TRD FR-2)."
    )
    explanation: dict[str, Any]


class SloRecommendationsOut(BaseModel):
    """TRD FR-2 response, plus `status`, `stale`, `expires_at`, `provenance` and `warnings`."""

    service_id: str
    generated_at: datetime
    expires_at: datetime | None = None
    stale: bool
    status: Literal["active", "cold_start"]
    lookback_window: LookbackWindowOut | None = None
    data_quality: dict[str, Any]
    recommendations: list[RecommendationOut]
    provenance: dict[str, Any] | None = None
    warnings: list[str]


class SloModificationsIn(StorableBody):
    model_config = ConfigDict(extra="forbid")

    availability_target: float | None = Field(
        default=None, gt=0, lt=100, description="Percent, e.g. 99.95 (must stay below 100)."
    )
    latency_p99_target_ms: int | None = Field(default=None, gt=0, le=3_600_000)
    latency_p95_target_ms: int | None = Field(default=None, gt=0, le=3_600_000)


class SloDecisionIn(StorableBody):
    """TRD FR-5: accept, modify or reject one recommendation."""

    model_config = ConfigDict(extra="forbid")

    recommendation_id: uuid.UUID
    action: Literal["accept", "modify", "reject"]
    selected_tier: Literal["conservative", "balanced", "aggressive"] | None = Field(
        default=None, description="Required to accept or modify."
    )
    modifications: SloModificationsIn | None = None
    rationale: str | None = Field(
        default=None, max_length=4000, description="Required to modify or reject."
    )
    actor: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Who decided: required with an API key; with a bearer token the token's "
        "person (the default; naming anyone else is refused with 403).",
    )


class SloTargetsOut(BaseModel):
    availability: float | None
    latency_p99_ms: int | None
    latency_p95_ms: int | None = None


class SloDecisionOut(BaseModel):
    """TRD FR-5 response, plus the audit entry and the recommendation's new status."""

    slo_id: str | None = None
    service_id: str
    status: Literal["active", "rejected"]
    targets: SloTargetsOut | None
    source: str | None = None
    selected_tier: str | None = None
    recommendation_id: str
    recommendation_status: str
    modification_delta: dict[str, str] | None = None
    activated_at: datetime | None = None
    activated_by: str | None = None
    action: str
    rationale: str | None = None
    audit_id: str
    upstream_recommendations_invalidated: int
    warnings: list[str] = Field(
        default_factory=list,
        description="TRD FR-3: the availability target is above the recommendation's composite "
        "availability bound (applied anyway; the audit entry records the warning too).",
    )


class ActiveSloOut(BaseModel):
    slo_id: str
    service_id: str
    status: Literal["active"]
    targets: SloTargetsOut
    availability_target: float | None
    latency_p95_target_ms: int | None
    latency_p99_target_ms: int | None
    selected_tier: str | None
    source: str
    recommendation_id: str | None
    activated_at: datetime
    activated_by: str
    updated_at: datetime


class AuditEntryOut(BaseModel):
    audit_id: str
    action: str
    actor: str
    principal: str | None
    recommendation_id: str | None
    selected_tier: str | None
    rationale: str | None
    previous_slo: dict[str, Any] | None
    new_slo: dict[str, Any] | None
    modification_delta: dict[str, Any] | None
    warnings: list[str] = Field(
        default_factory=list,
        description="Warnings the decision was made with (also kept in `new_slo.warnings`).",
    )
    timestamp: datetime


class SloHistoryOut(BaseModel):
    service_id: str
    entries: list[AuditEntryOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as `before` for the next (older) page."
    )


class ProposedChangeIn(StorableBody):
    model_config = ConfigDict(extra="forbid")

    sli_type: Literal["availability"] = Field(
        default="availability",
        description="Availability composes over dependencies; latency percentiles do not.",
    )
    current_target: float | None = Field(default=None, gt=0, le=100)
    proposed_target: float = Field(gt=0, le=100, description="Percent, e.g. 99.5.")


class ImpactAnalysisIn(BaseModel):
    """TRD FR-4 request."""

    model_config = ConfigDict(extra="forbid")

    service_id: ServiceId
    proposed_change: ProposedChangeIn


class ImpactedServiceOut(BaseModel):
    service_id: str
    relationship: str
    hops: int
    current_composite_availability: float
    projected_composite_availability: float
    delta: float
    current_slo_target: float | None
    slo_at_risk: bool | None
    risk_detail: str | None = None


class CallerAboveBoundOut(BaseModel):
    """An impacted caller whose active availability target the change makes unachievable."""

    service_id: str
    active_target: float = Field(description="Percent.")
    projected_composite_bound: float = Field(description="Percent, after the change.")
    warning: str


class ImpactSummaryOut(BaseModel):
    total_impacted: int
    slos_at_risk: int
    targets_above_bound: int = Field(
        default=0, description="Callers whose active target exceeds their projected bound."
    )
    recommendation: str


class ImpactAnalysisOut(BaseModel):
    analysis_id: str
    service_id: str
    proposed_change: dict[str, Any]
    assumed_current_availability: float
    impacted_services: list[ImpactedServiceOut]
    callers_exceeding_bound: list[CallerAboveBoundOut] = Field(
        default_factory=list,
        description="TRD FR-3: impacted callers whose active availability target exceeds their "
        "projected composite bound, with the unachievable-target warning.",
    )
    summary: ImpactSummaryOut
    cycle: list[str] | None = None
    notes: list[str] = []
