"""POST /api/v1/slos/impact-analysis (TRD FR-4): whom a proposed availability change hurts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving.deps import EngineDep
from serving.impact import analyse
from serving.schemas.impact import ImpactAnalysisIn, ImpactAnalysisOut

router = APIRouter(tags=["impact"])


@router.post("/slos/impact-analysis", response_model=ImpactAnalysisOut)
def impact_analysis(body: ImpactAnalysisIn, engine: EngineDep) -> dict[str, Any]:
    """Every upstream service (reverse traversal over hard sync edges), its composite
    availability now and with the proposed target, and whether its active SLO is at risk
    (`null` without one), largest change first. A computation: nothing is written."""
    return analyse(engine, body.service_id, body.proposed_change.model_dump(exclude_none=True))
