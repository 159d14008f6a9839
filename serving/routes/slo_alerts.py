"""Burn-rate alert rules for a service's active SLO (TRD FR-10), ready for Prometheus."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from analytics.latency_histogram import LATENCY_BUCKETS
from serving.deps import EngineDep, SettingsDep
from serving.service_id import ServiceIdPath
from store.slo_decisions import active_slo
from telemetry.alert_rules import slo_rules
from telemetry.sources_from_settings import metric_names_from_settings

router = APIRouter(tags=["slos"])

RULES_MEDIA_TYPE = "application/yaml"


class SloPeriod(IntEnum):
    """Query strings are text: an IntEnum parses "28", where Literal[28] would not."""

    four_weeks = 28
    thirty_days = 30


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
    period_days: Annotated[
        SloPeriod | None,
        Query(description="SLO period the burn-rate factors are scaled to (default: settings)."),
    ] = None,
) -> Response:
    """Recording rules for the error ratio over 5m … 3d and the SRE Workbook's multi-window,
    multi-burn-rate alerts for every objective of the active SLO (availability, latency p99 /
    p95 from histogram buckets), with a minimum-traffic guard. `promtool check rules` accepts
    the file as it is."""
    slo = active_slo(engine, service_id)
    rules = slo_rules(
        service_id,
        metric_names_from_settings(settings),
        availability_target=slo.availability_target,
        latency_targets_ms={
            "p99": slo.latency_p99_target_ms,
            "p95": slo.latency_p95_target_ms,
        },
        bucket_bounds=LATENCY_BUCKETS,
        period_days=int(period_days or settings.alert_period_days),
        min_errors=settings.alert_min_errors,
    )
    if format == "json":
        return JSONResponse(
            {
                "service_id": service_id,
                "slo_id": slo.slo_id,
                "period_days": rules.period_days,
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
