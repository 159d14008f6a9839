"""The service catalog's pages.

Pydantic models of the HTTP interface; they are the OpenAPI schema too."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
)


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
