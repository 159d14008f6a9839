"""POST /api/v1/slos/impact-analysis (TRD FR-4): whom a proposed availability change hurts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving.deps import EngineDep
from serving.impact import analyse
from serving.problems import ServiceNotFoundProblem
from serving.schemas import ImpactAnalysisIn, ImpactAnalysisOut

router = APIRouter(tags=["impact"])


@router.post("/slos/impact-analysis", response_model=ImpactAnalysisOut)
def impact_analysis(body: ImpactAnalysisIn, engine: EngineDep) -> dict[str, Any]:
    """Every upstream service (reverse traversal over hard sync edges), its composite
    availability now and with the proposed target, and whether its active SLO is at risk
    (`null` without one), largest change first. A computation: nothing is written."""
    proposed = body.proposed_change.model_dump(exclude_none=True)
    result = analyse(engine, body.service_id, proposed)
    if result is None:
        raise ServiceNotFoundProblem(f"Service with ID '{body.service_id}' is not registered.")
    return result
