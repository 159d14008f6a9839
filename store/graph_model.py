"""Plain records that cross the boundary between the API/CLI and the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class NodeRecord:
    service_id: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EdgeRecord:
    source: str
    target: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    #: How sure the source is that the edge exists (e.g. from call volume); None: the
    #: source's default confidence.
    confidence: float | None = None


@dataclass(frozen=True)
class GraphSubmission:
    """One partial view of the graph, as one discovery source saw it at one time."""

    source: str
    nodes: Sequence[NodeRecord]
    edges: Sequence[EdgeRecord]
    observed_at: datetime | None = None
