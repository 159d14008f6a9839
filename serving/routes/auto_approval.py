"""Auto-approval rules (TRD FR-11): CRUD for sre_admin (any principal may read), and a run
on demand besides the pipeline's after every publication."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.deps import EngineDep
from serving.security import PrincipalDep
from serving.storable_text import StorableBody
from store.auto_approval_rules import (
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    run_auto_approval,
    update_rule,
)

router = APIRouter(tags=["auto-approval"])

Criticality = Literal["critical", "high", "medium", "low"]
RuleId = Annotated[str, Path(max_length=64)]


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


def _conditions(model: AutoApprovalConditions) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)


@router.get("/auto-approval-rules", response_model=list[RuleOut])
def get_rules(engine: EngineDep) -> list[dict[str, Any]]:
    return list_rules(engine)


@router.post("/auto-approval-rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED,
             responses={409: {"description": "A rule with this name exists"}})  # fmt: skip
def post_rule(body: RuleIn, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    """Create a rule (disabled unless `enabled: true`)."""
    return create_rule(engine, name=body.name, conditions=_conditions(body.conditions),
                       enabled=body.enabled, created_by=principal.actor)  # fmt: skip


@router.get("/auto-approval-rules/{rule_id}", response_model=RuleOut)
def get_one_rule(rule_id: RuleId, engine: EngineDep) -> dict[str, Any]:
    return get_rule(engine, rule_id)


@router.patch("/auto-approval-rules/{rule_id}", response_model=RuleOut)
def patch_rule(rule_id: RuleId, body: RuleChange, engine: EngineDep) -> dict[str, Any]:
    """Rename, re-condition, enable or disable a rule."""
    changes: dict[str, Any] = {}
    if body.name is not None:
        changes["name"] = body.name
    if body.conditions is not None:
        changes["conditions"] = _conditions(body.conditions)
    if body.enabled is not None:
        changes["enabled"] = body.enabled
    return update_rule(engine, rule_id, changes) if changes else get_rule(engine, rule_id)


@router.delete("/auto-approval-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)  # fmt: skip
def remove_rule(rule_id: RuleId, engine: EngineDep) -> Response:
    delete_rule(engine, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auto-approval-rules/run", response_model=RunOut)
def run_rules(engine: EngineDep) -> dict[str, Any]:
    """Apply the enabled rules to the live, undecided recommendations now (the pipeline does
    this after every publication)."""
    run = run_auto_approval(engine)
    return {
        "enabled_rules": run.rules,
        "candidates": run.candidates,
        "approved": run.approved,
        "conflicts": run.conflicts,
        "upstream_recommendations_invalidated": run.invalidated,
    }
