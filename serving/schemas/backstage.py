"""What Backstage's entity page asks the engine about one entity, in one answer.

Pydantic models of the HTTP interface; they are the OpenAPI schema too."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from serving.schemas.slos import ActiveSloOut


class TierTargetsOut(BaseModel):
    """One SLI type's three tiers, targets only (the evidence: `links.recommendations`)."""

    sli_type: Literal["availability", "latency"]
    recommendation_id: str | None = None
    unit: Literal["percent", "ms"]
    conservative: float | None
    balanced: float | None
    aggressive: float | None
    summary: str | None = Field(default=None, description="The explanation's one-line summary.")


class RecommendationSummaryOut(BaseModel):
    status: Literal["active", "cold_start"] = Field(
        description="`cold_start`: nothing published yet, the archetype baseline's tiers."
    )
    generated_at: datetime
    expires_at: datetime | None = None
    stale: bool
    tiers: list[TierTargetsOut]
    warnings: list[str]


class BudgetHealthOut(BaseModel):
    """The active availability SLO against what the service delivered, as the error-budget
    dashboard counts it: over the published recommendation's lookback."""

    availability_target: float = Field(description="Percent.")
    observed_availability: float | None = Field(
        description="0..1, over the latest published recommendation's lookback (None: none)."
    )
    budget_used: float | None = Field(
        description="Share of the error budget spent: 0 none, 1 all of it, above 1 overspent."
    )
    band: str | None = Field(description="The dashboard's band, e.g. 'healthy (< 50%)'.")


class BackstageEntityOut(BaseModel):
    entity_ref: str = Field(description="`kind:namespace/name`, as Backstage writes it.")
    service_id: str
    resolved_by: Literal["entity_ref", "name"] = Field(
        description="`entity_ref`: recorded by a catalog import (the slo-engine.io/service-id "
        "annotation, else the entity's name); `name`: the service named like the entity."
    )
    team: str | None
    recommendation: RecommendationSummaryOut
    active_slo: ActiveSloOut | None = Field(description="None: no SLO accepted yet.")
    budget: BudgetHealthOut | None = Field(description="None without an availability SLO.")
    links: dict[str, str] = Field(description="The engine's endpoints with the full answers.")
