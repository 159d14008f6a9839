"""Auto-approval rules (TRD FR-11): CRUD for sre_admin (any principal may read), and a run
on demand besides the pipeline's after every publication."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from serving.deps import EngineDep
from serving.schemas.auto_approval import (
    AutoApprovalConditions,
    RuleChange,
    RuleIn,
    RuleOut,
    RunOut,
)
from serving.security import PrincipalDep
from store.auto_approval_rules import (
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    run_auto_approval,
    update_rule,
)

router = APIRouter(tags=["auto-approval"])

RuleId = Annotated[str, Path(max_length=64)]


def _conditions(model: AutoApprovalConditions) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)


@router.get("/auto-approval-rules", response_model=list[RuleOut])
def get_rules(engine: EngineDep) -> list[RuleOut]:
    return [RuleOut.model_validate(rule, from_attributes=True) for rule in list_rules(engine)]


@router.post("/auto-approval-rules", response_model=RuleOut, status_code=status.HTTP_201_CREATED,
             responses={409: {"description": "A rule with this name exists"}})  # fmt: skip
def post_rule(body: RuleIn, engine: EngineDep, principal: PrincipalDep) -> RuleOut:
    """Create a rule (disabled unless `enabled: true`)."""
    rule = create_rule(engine, name=body.name, conditions=_conditions(body.conditions),
                       enabled=body.enabled, created_by=principal.actor)  # fmt: skip
    return RuleOut.model_validate(rule, from_attributes=True)


@router.get("/auto-approval-rules/{rule_id}", response_model=RuleOut)
def get_one_rule(rule_id: RuleId, engine: EngineDep) -> RuleOut:
    return RuleOut.model_validate(get_rule(engine, rule_id), from_attributes=True)


@router.patch("/auto-approval-rules/{rule_id}", response_model=RuleOut)
def patch_rule(rule_id: RuleId, body: RuleChange, engine: EngineDep) -> RuleOut:
    """Rename, re-condition, enable or disable a rule."""
    changes: dict[str, Any] = {}
    if body.name is not None:
        changes["name"] = body.name
    if body.conditions is not None:
        changes["conditions"] = _conditions(body.conditions)
    if body.enabled is not None:
        changes["enabled"] = body.enabled
    rule = update_rule(engine, rule_id, changes) if changes else get_rule(engine, rule_id)
    return RuleOut.model_validate(rule, from_attributes=True)


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
