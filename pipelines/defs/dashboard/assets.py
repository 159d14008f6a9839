"""The organisational dashboard (TRD FR-12), recomputed hourly from the operational store."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from analytics.dashboard import coverage, error_budget_health, recommendation_quality
from pipelines.resources import OperationalStoreResource
from store.dashboard_facts import decision_counts, service_facts, write_dashboards

QUALITY_WINDOW = timedelta(days=90)


@dg.asset(
    group_name="dashboard",
    kinds={"postgres"},
    description=(
        "Coverage by team and criticality, error-budget health and recommendation quality, "
        "written as snapshots the /api/v1/dashboard endpoints serve (never computed per "
        "request)."
    ),
)
def slo_dashboard(store: OperationalStoreResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
    now = datetime.now(UTC)
    with store.connect() as engine:
        facts = service_facts(engine)
        payloads = {
            "coverage": coverage(facts),
            "error-budget-health": error_budget_health(facts),
            "recommendation-quality": {
                "window_days": QUALITY_WINDOW.days,
                **recommendation_quality(facts, decision_counts(engine, now - QUALITY_WINDOW)),
            },
        }
        write_dashboards(engine, payloads, now)
    total = payloads["coverage"]["total"]
    return dg.MaterializeResult(
        metadata={
            "services": total["services"],
            "coverage": total["coverage"] if total["coverage"] is not None else 0.0,
            "breach_rate": payloads["recommendation-quality"]["breach_rate"] or 0.0,
        }
    )
