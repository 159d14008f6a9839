"""The dependency graph's answers: an ingestion's outcome and dependency subgraphs.

Pydantic models of the HTTP interface; they are the OpenAPI schema too. The submission
itself is `store.graph_payload.DependencyGraphIn`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from store.graph_payload import DiscoverySource


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
