"""Burn-rate alert rules for a service's active SLO (TRD FR-10), ready for Prometheus."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from analytics.latency_histogram import LATENCY_BUCKETS
from config.settings import Settings
from serving.deps import EngineDep, SettingsDep
from serving.service_id import ServiceIdPath
from store.slo_decisions import ActiveSlo, active_slo
from telemetry.alert_rules import RuleSet, slo_rules
from telemetry.sources_from_settings import metric_names_from_settings

router = APIRouter(tags=["slos"])

RULES_MEDIA_TYPE = "application/yaml"


#: The SLO period the burn-rate factors are scaled to, when a request names one.
SloPeriod = Annotated[
    int | None,
    Query(
        ge=1,
        le=366,
        description="SLO period in days the burn-rate factors and the budget are scaled to "
        "(default: the active SLO's time window; an SLO from a recommendation: "
        "SLO_ALERT_PERIOD_DAYS).",
    ),
]


def slo_period_days(slo: ActiveSlo, requested: int | None, settings: Settings) -> int:
    """The period of an SLO's alerts: the request's, else the SLO's own time window — an
    imported SLO keeps the window its documents gave; an SLO from a recommendation (whose
    decision sets no window) takes the deployment's SLO_ALERT_PERIOD_DAYS."""
    if requested is not None:
        return requested
    return slo.time_window_days if slo.source == "manual" else int(settings.alert_period_days)


def active_slo_rules(slo: ActiveSlo, settings: Settings, period_days: int | None = None) -> RuleSet:
    """The rule file this export serves for an active SLO — and what a dashboard of that SLO
    draws (`serving.routes.grafana_dashboards`), so both always read the same recordings."""
    return slo_rules(
        slo.service_id,
        metric_names_from_settings(settings),
        availability_target=slo.availability_target,
        latency_targets_ms={
            "p99": slo.latency_p99_target_ms,
            "p95": slo.latency_p95_target_ms,
        },
        bucket_bounds=LATENCY_BUCKETS,
        period_days=slo_period_days(slo, period_days, settings),
        min_errors=settings.alert_min_errors,
        budgeting=slo.budgeting,
    )


@router.get(
    "/services/{service_id}/slos/alerts",
    response_class=Response,
    responses={
        200: {
            "description": "A Prometheus rule file (`format=prometheus`) or its JSON summary",
            "content": {RULES_MEDIA_TYPE: {"schema": {"type": "string"}},
                        "application/json": {"schema": {"type": "object"}}},
        },
        404: {"description": "Unknown service, or no active SLO"},
    },
)  # fmt: skip
def get_slo_alerts(
    service_id: ServiceIdPath,
    engine: EngineDep,
    settings: SettingsDep,
    format: Literal["prometheus", "json"] = "prometheus",
    period_days: SloPeriod = None,
) -> Response:
    """Recording rules for the error ratio over 5m … 3d and the SRE Workbook's multi-window,
    multi-burn-rate alerts for every objective of the active SLO (availability, latency p99 /
    p95 from histogram buckets), with a minimum-traffic guard, over the SLO's time window and
    counted the way its budget is (occurrences, or time slices: `budgeting_method`).
    `promtool check rules` accepts the file as it is."""
    slo = active_slo(engine, service_id)
    rules = active_slo_rules(slo, settings, period_days)
    if format == "json":
        return JSONResponse(
            {
                "service_id": service_id,
                "slo_id": slo.slo_id,
                "period_days": rules.period_days,
                "budgeting_method": slo.openslo_budgeting_method,
                "timeslice_target": slo.timeslice_target,
                "timeslice_window_seconds": slo.timeslice_window_seconds,
                "objectives": rules.objectives,
                "notes": rules.notes,
                "groups": rules.groups,
            }
        )
    filename = f"{service_id}-slo-rules.yml"
    return Response(
        rules.to_yaml(),
        media_type=RULES_MEDIA_TYPE,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )
