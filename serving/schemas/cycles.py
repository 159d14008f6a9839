"""Circular-dependency alerts and their triage.

Pydantic models of the HTTP interface; they are the OpenAPI schema too."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from store.storable_text import StorableBody


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
