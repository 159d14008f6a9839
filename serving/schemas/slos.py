"""The decide workflow (FR-5): decisions, the active SLO, its audit history.

Pydantic models of the HTTP interface; they are the OpenAPI schema too."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from store.storable_text import StorableBody


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
    budgeting_method: Literal["occurrences", "timeslices"] = Field(
        description="How the error budget is counted: requests, or time slices."
    )
    openslo_budgeting_method: Literal["Occurrences", "Timeslices", "RatioTimeslices"] = Field(
        description="The same in OpenSLO's words: time slices with a slice target are "
        "Timeslices (the share of good slices), without one RatioTimeslices (the mean of the "
        "slices' good ratios)."
    )
    time_window_days: int = Field(
        description="The rolling window the budget is counted over (an imported SLO's "
        "timeWindow; 30 for an SLO from a recommendation, whose alerts follow "
        "SLO_ALERT_PERIOD_DAYS)."
    )
    timeslice_target: float | None = Field(
        default=None, description="Timeslices: the good ratio that makes a slice good."
    )
    timeslice_window_seconds: int | None = Field(
        default=None, description="Time slices: the length of a slice."
    )


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
