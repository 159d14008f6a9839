"""Published SLO recommendations for one service (TRD FR-2)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from config.settings import LOOKBACK_MAX_DAYS, LOOKBACK_MIN_DAYS
from serving.deps import EngineDep, SettingsDep
from serving.recommendation_reads import SliTypeFilter, read_recommendations
from serving.schemas.recommendations import SloRecommendationsOut
from serving.security import PrincipalDep
from serving.service_id import ServiceIdPath

router = APIRouter(tags=["recommendations"])


@router.get("/services/{service_id}/slo-recommendations", response_model=SloRecommendationsOut)
def get_slo_recommendations(
    service_id: ServiceIdPath,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    request: Request,
    sli_type: SliTypeFilter = "all",
    lookback_days: Annotated[
        int | None,
        Query(
            ge=LOOKBACK_MIN_DAYS,
            le=LOOKBACK_MAX_DAYS,
            description="Days of telemetry. Recomputing with another window than the published "
            "one needs `force_regenerate=true` (default then: SLO_LOOKBACK_DAYS, the daily "
            "run's); a plain read with a different value is refused (422).",
        ),
    ] = None,
    force_regenerate: bool = False,
) -> dict[str, Any]:
    """The active recommendation (both SLI types unless `sli_type` narrows it).

    `force_regenerate=true` recomputes it now from telemetry (this service and its hard
    dependencies only) and publishes it; if telemetry is down, the last published one is
    served with `stale: true` instead of an error. A plain read with a `lookback_days` other
    than the published recommendation's is a 422: the answer would not be over that window."""
    return read_recommendations(
        engine, settings, principal, service_id,
        sli_source=request.app.state.sli_source,
        graph_source=request.app.state.service_graph_source,
        sli_type=sli_type, lookback_days=lookback_days, force_regenerate=force_regenerate,
    )  # fmt: skip
