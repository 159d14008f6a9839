"""The dependency graph: the submission (FR-1 payload), the ingestion's answer and subgraphs.

Pydantic models of the HTTP interface; they are the OpenAPI schema too."""

from __future__ import annotations

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

from serving.service_id import ServiceId
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
