"""The organisational dashboard (TRD FR-12), recomputed hourly from the operational store."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from analytics.dashboard import coverage, error_budget_health, recommendation_quality
from pipelines import asset_tables
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
    by_team = pl.DataFrame(payloads["coverage"]["by_team"], schema=COVERAGE_SCHEMA)
    return dg.MaterializeResult(
        metadata={
            "services": total["services"],
            "coverage": total["coverage"] if total["coverage"] is not None else 0.0,
            "breach_rate": payloads["recommendation-quality"]["breach_rate"] or 0.0,
            "coverage_by_team": asset_tables.table(
                by_team.sort("services", "name", descending=[True, False]), COVERAGE_COLUMNS
            ),
        }
    )


COVERAGE_SCHEMA = {"name": pl.String, "services": pl.Int64, "with_active_slo": pl.Int64,
                   "with_recommendation": pl.Int64, "coverage": pl.Float64}  # fmt: skip
COVERAGE_COLUMNS = {
    "name": "The owning team ('(no team)': services nobody declared an owner for).",
    "services": "Its services.",
    "with_active_slo": "Of those, with an active (accepted, modified or imported) SLO.",
    "with_recommendation": "Of those, with a published recommendation awaiting or past review.",
    "coverage": "with_active_slo / services.",
}
