"""Dagster code location of the engine (`workspace.yaml` loads `defs`).

Each `defs/<area>/` owns its assets, checks, jobs, schedules and sensors; this module only
merges them and binds the resources (built from the `SLO_*` settings).
"""

from __future__ import annotations

import dagster as dg

from config.settings import get_settings
from pipelines.defs.dashboard.assets import slo_dashboard
from pipelines.defs.dashboard.automation import dashboard_job, dashboard_schedule
from pipelines.defs.decide.assets import auto_approvals
from pipelines.defs.drift.assets import drift_signals
from pipelines.defs.drift.automation import drift_reevaluation
from pipelines.defs.graph.assets import observed_service_graph
from pipelines.defs.recommendations.assets import (
    composite_availability_bounds,
    graph_snapshot,
    published_recommendations,
    scc_condensation,
)
from pipelines.defs.recommendations.automation import graph_changed, recommendations_job
from pipelines.defs.recommendations.checks import recommendations_publishable
from pipelines.defs.recommendations.intrinsic_shards import intrinsic_availability
from pipelines.defs.recommendations.shards import slo_recommendations
from pipelines.defs.telemetry.assets import (
    service_graph_hourly,
    sli_daily,
    sli_hourly,
    sli_hourly_retention,
)
from pipelines.defs.telemetry.automation import daily_job, daily_schedule
from pipelines.defs.telemetry.checks import sli_hourly_completeness, sli_hourly_counts_are_possible
from pipelines.notifications import WebhookResource
from pipelines.resources import OperationalStoreResource, PolarsParquetIOManager, TelemetryResource
from pipelines.step_processes import local_executor


def build_resources() -> dict[str, object]:
    settings = get_settings()
    return {
        "telemetry": TelemetryResource.from_settings(settings),
        "store": OperationalStoreResource.from_settings(settings),
        "warehouse_io": PolarsParquetIOManager(base_path=str(settings.warehouse_path)),
        "webhook": WebhookResource.from_settings(settings),
    }


TELEMETRY_ASSETS = [
    sli_hourly,
    sli_daily,  # the day rolled up (DuckDB); then retention removes old hours
    sli_hourly_retention,
    service_graph_hourly,
    observed_service_graph,
]
DAILY_ASSETS = [
    *TELEMETRY_ASSETS,
    graph_snapshot,
    scc_condensation,
    intrinsic_availability,
    composite_availability_bounds,
    slo_recommendations,
    published_recommendations,
    auto_approvals,
    drift_signals,
]
DAILY_CHECKS = [
    sli_hourly_counts_are_possible,
    sli_hourly_completeness,
    recommendations_publishable,
]


def build_executor() -> dg.ExecutorDefinition:
    """The executor of every job: SLO_DAGSTER_EXECUTOR=k8s runs each step — each shard of the
    recommendations, each run of days of intrinsic availability — as a Kubernetes Job of its own
    (sized by the ops' `dagster-k8s/config` tags, `pipelines/step_pods.py`); otherwise the
    steps are processes on the run's machine."""
    if get_settings().dagster_executor == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return local_executor


defs = dg.Definitions(
    assets=[*DAILY_ASSETS, slo_dashboard],
    asset_checks=DAILY_CHECKS,
    jobs=[daily_job, recommendations_job, dashboard_job],
    schedules=[daily_schedule, dashboard_schedule],
    sensors=[graph_changed, drift_reevaluation],
    resources=build_resources(),
    executor=build_executor(),
)


def recommendation_chain_job() -> dg.JobDefinition:
    """The recommendation chain's job, for `dg.reconstructable`: the multiprocess executor's
    children (and the benchmarks that drive it from Python) rebuild it from this function, with
    the resources their own `SLO_*` environment configures."""
    return defs.resolve_job_def(recommendations_job.name)
