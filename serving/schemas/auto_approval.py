"""Auto-approval rules (FR-11): a rule's conditions, its create/change bodies, the answers.

Pydantic models of the HTTP interface; they are the OpenAPI schema too."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from store.storable_text import StorableBody

Criticality = Literal["critical", "high", "medium", "low"]


class AutoApprovalConditions(BaseModel):
    """What a recommendation must satisfy. A critical service is only ever approved by a rule
    that lists it in `services`."""

    model_config = ConfigDict(extra="forbid")

    tier: Literal["conservative", "balanced", "aggressive"]
    criticality: list[Criticality] = Field(default_factory=list)
    services: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = None
    teams: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = None
    confidence_min: Literal["low", "medium", "high"] | None = None
    max_breach_probability: Annotated[float, Field(ge=0, le=1)] | None = None
    include_cold_start: bool = False

    @model_validator(mode="after")
    def _says_whom(self) -> AutoApprovalConditions:
        if not self.criticality and not self.services:
            raise ValueError(
                "give criticality levels or services: a rule must say whom it approves"
            )
        return self


class RuleIn(StorableBody):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=255)]
    conditions: AutoApprovalConditions
    enabled: bool = False


class RuleChange(StorableBody):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    conditions: AutoApprovalConditions | None = None
    enabled: bool | None = None


class RuleOut(BaseModel):
    id: str
    name: str
    conditions: dict[str, Any]
    enabled: bool
    created_by: str
    created_at: str
    updated_at: str


class RunOut(BaseModel):
    enabled_rules: int
    candidates: int
    approved: dict[str, str]
    conflicts: int
    upstream_recommendations_invalidated: int
