"""Grafana dashboards of active SLOs, over the recording rules of the alert-rule export.

`GET /services/{id}/slos/grafana-dashboard` is the service's dashboard; `GET
/slos/grafana-dashboard` the fleet's overview (beside `/slos/impact-analysis` and
`/slos/openslo`: the fleet-wide form of a per-service `…/slos/…` path). Both answer Grafana's
dashboard JSON, built from the very `RuleSet` `GET …/slos/alerts` serves (same period, same
404s), so every panel reads a recording that file holds.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from config.settings import Settings
from serving.deps import EngineDep, SettingsDep
from serving.routes.slo_alerts import SloPeriod, active_slo_rules
from serving.service_id import ServiceIdPath
from store.active_slo_services import services_with_active_slo
from store.slo_decisions import active_slo
from store.storable_text import StorableStr
from telemetry.alert_rules import RuleSet
from telemetry.grafana_dashboards import dashboard_json, fleet_dashboard, service_dashboard

router = APIRouter(tags=["slos"])

#: Services a fleet overview shows at most (a Grafana dashboard of thousands of rows is not).
MAX_FLEET_SERVICES = 100

DASHBOARD_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A Grafana dashboard model (JSON, schemaVersion 36) with a `datasource` "
        "variable of type prometheus: import it in the Grafana UI, or POST "
        '`{"dashboard": <this>, "overwrite": true}` to Grafana\'s `/api/dashboards/db`.',
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}


@router.get(
    "/services/{service_id}/slos/grafana-dashboard",
    response_class=JSONResponse,
    responses={**DASHBOARD_RESPONSE, 404: {"description": "Unknown service, or no active SLO"}},
)
def get_service_grafana_dashboard(
    service_id: ServiceIdPath,
    engine: EngineDep,
    settings: SettingsDep,
    period_days: SloPeriod = None,
) -> JSONResponse:
    """The active SLO's Grafana dashboard: per objective the SLI over the period against the
    target, the error budget remaining (now and over the period) and the burn rate of every
    alert condition's two windows with its factor drawn as a threshold — all from the
    recording rules of `GET /services/{service_id}/slos/alerts` with the same `period_days`
    (load those into Prometheus). The uid is derived from the service id: importing again
    replaces the dashboard."""
    rules = active_slo_rules(active_slo(engine, service_id), settings, period_days)
    return JSONResponse(dashboard_json(service_dashboard(rules)))


@router.get(
    "/slos/grafana-dashboard",
    response_class=JSONResponse,
    responses=DASHBOARD_RESPONSE,
)
def get_fleet_grafana_dashboard(
    engine: EngineDep,
    settings: SettingsDep,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_FLEET_SERVICES, description="Services shown at most, most critical "
              "first (critical, high, medium, low; then by id)."),
    ] = 20,
    team: Annotated[StorableStr | None, Query(min_length=1, max_length=255,
                                      description="Only this team's services.")] = None,
    period_days: SloPeriod = None,
) -> JSONResponse:  # fmt: skip
    """One row per service with an active SLO (at most `limit`, the most critical first):
    each objective's SLI over the period, error budget remaining and the burn rate of its
    fastest alert condition, from the same recording rules as the service dashboards. No
    service with an active SLO: a dashboard without rows."""
    rule_sets, total = _fleet_rules(engine, settings, limit=limit, team=team,
                                    period_days=period_days)  # fmt: skip
    return JSONResponse(dashboard_json(fleet_dashboard(rule_sets, total=total, team=team)))


def _fleet_rules(
    engine: Engine, settings: Settings, *, limit: int, team: str | None, period_days: int | None
) -> tuple[list[RuleSet], int]:
    listed = services_with_active_slo(engine, limit=limit, team=team)
    rule_sets = [active_slo_rules(active_slo(engine, service_id), settings, period_days)
                 for service_id in listed.service_ids]  # fmt: skip
    return rule_sets, listed.total
