"""Published SLO recommendations for one service (FR-2).

Pydantic models of the HTTP interface; they are the OpenAPI schema too."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
)


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
