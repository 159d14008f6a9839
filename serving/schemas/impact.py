"""Impact analysis (FR-4): a proposed availability change and whom it hurts.

Pydantic models of the HTTP interface; they are the OpenAPI schema too."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from store.service_id_rule import ServiceId
from store.storable_text import StorableBody


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
