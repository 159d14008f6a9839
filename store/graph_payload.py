"""The dependency graph as a submission (the FR-1 payload): what the API, the CLI
(`graph ingest`), the benchmarks and the tests all validate before ingestion.

It lives with the graph domain, not the HTTP layer, because every way in shares it; the
API's request schema is this model."""

from __future__ import annotations

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

from store.graph_model import EdgeRecord, GraphSubmission, NodeRecord
from store.service_id_rule import ServiceId
from store.storable_text import StorableBody

DiscoverySource = Literal["manual", "otel_service_graph", "kubernetes", "service_mesh", "backstage"]


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
