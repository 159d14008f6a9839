"""Organisation-wide SLO dashboards (TRD FR-12), served from the hourly snapshots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving.deps import EngineDep
from serving.problems import NotFoundProblem
from store.dashboard_facts import latest_dashboard

router = APIRouter(tags=["dashboard"])


class DashboardNotReadyProblem(NotFoundProblem):
    slug, title = "dashboard-not-computed", "Dashboard Not Computed Yet"


def _serve(engine: Any, name: str) -> dict[str, Any]:
    found = latest_dashboard(engine, name)
    if found is None:
        raise DashboardNotReadyProblem(
            f"The '{name}' dashboard has not been computed yet: the Dagster asset "
            "slo_dashboard materializes it every hour (or run it now in the Dagster UI)."
        )
    computed_at, payload = found
    return {"dashboard": name, "computed_at": computed_at.isoformat(), **payload}


@router.get("/dashboard/coverage")
def get_coverage(engine: EngineDep) -> dict[str, Any]:
    """Services, active SLOs and live recommendations by team and by criticality."""
    return _serve(engine, "coverage")


@router.get("/dashboard/error-budget-health")
def get_error_budget_health(engine: EngineDep) -> dict[str, Any]:
    """How much of its error budget each service with an SLO spent over its lookback."""
    return _serve(engine, "error-budget-health")


@router.get("/dashboard/recommendation-quality")
def get_recommendation_quality(engine: EngineDep) -> dict[str, Any]:
    """Accept / modify / reject rates over 90 days and how often SLOs taken from
    recommendations are breached."""
    return _serve(engine, "recommendation-quality")
