"""One Backstage entity's SLO picture for its entity page: which service it is, its
recommendation's tiers, its active SLO and its budget health — each read the way its own
endpoint (or the error-budget dashboard) reads it, none computed another way."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from analytics.dashboard import budget_band, budget_used
from config.settings import Settings
from serving.recommendation_reads import read_recommendations
from serving.schemas.backstage import (
    BackstageEntityOut,
    BudgetHealthOut,
    RecommendationSummaryOut,
    TierTargetsOut,
)
from serving.schemas.slos import ActiveSloOut
from serving.security import Principal
from store.dashboard_facts import service_facts
from store.errors import NoActiveSloError
from store.service_lookup import find_service_of_entity
from store.slo_decisions import active_slo
from telemetry.backstage_catalog import entity_ref
from telemetry.service_graph_sources import ServiceGraphSource
from telemetry.sli_sources import SliSource

TIERS = ("conservative", "balanced", "aggressive")


def read_backstage_entity(
    engine: Engine,
    settings: Settings,
    principal: Principal,
    *,
    kind: str,
    namespace: str,
    name: str,
    sli_source: SliSource,
    graph_source: ServiceGraphSource | None,
) -> BackstageEntityOut:
    ref = str(entity_ref(kind, namespace, name))
    with engine.connect() as conn:
        found = find_service_of_entity(conn, ref, name)
    service_id = found.service.service_id
    recommendations = read_recommendations(
        engine, settings, principal, service_id, sli_source=sli_source, graph_source=graph_source
    )
    try:
        slo: ActiveSloOut | None = ActiveSloOut.model_validate(
            active_slo(engine, service_id), from_attributes=True
        )
    except NoActiveSloError:
        slo = None
    return BackstageEntityOut(
        entity_ref=ref,
        service_id=service_id,
        resolved_by=found.resolved_by,
        team=found.service.owning_team,
        recommendation=_summary(recommendations),
        active_slo=slo,
        budget=_budget(engine, service_id),
        links={
            "recommendations": f"/api/v1/services/{service_id}/slo-recommendations",
            "active_slo": f"/api/v1/services/{service_id}/slos",
            "history": f"/api/v1/services/{service_id}/slo-history",
            "dependencies": f"/api/v1/services/{service_id}/dependencies",
        },
    )


def _summary(answer: dict[str, Any]) -> RecommendationSummaryOut:
    tiers = []
    for rec in answer["recommendations"]:
        availability = rec["sli_type"] == "availability"
        targets = {
            tier: (values.get("target") if availability else values.get("target_ms"))
            for tier, values in rec["tiers"].items()
        }
        tiers.append(
            TierTargetsOut(
                sli_type=rec["sli_type"],
                recommendation_id=rec.get("recommendation_id"),
                unit="percent" if availability else "ms",
                **{tier: targets.get(tier) for tier in TIERS},
                summary=(rec.get("explanation") or {}).get("summary"),
            )
        )
    return RecommendationSummaryOut(
        status=answer["status"],
        generated_at=answer["generated_at"],
        expires_at=answer.get("expires_at"),
        stale=answer["stale"],
        tiers=tiers,
        warnings=answer["warnings"],
    )


def _budget(engine: Engine, service_id: str) -> BudgetHealthOut | None:
    """The error-budget dashboard's numbers for this one service (its facts, its formula)."""
    facts = next(iter(service_facts(engine, service_id)), None)
    if facts is None or facts.slo_target is None:
        return None
    used = None
    if facts.observed_availability is not None and facts.slo_target < 100:
        used = budget_used(facts.slo_target, facts.observed_availability)
    return BudgetHealthOut(
        availability_target=facts.slo_target,
        observed_availability=facts.observed_availability,
        budget_used=round(used, 4) if used is not None else None,
        band=budget_band(used) if used is not None else None,
    )
