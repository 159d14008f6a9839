"""Grafana dashboards over HTTP (issue 17), on SQLite and PostgreSQL: a service's dashboard
reads only the recordings its alert-rule export holds (same period), answers what the export
answers for an unknown service or one without an active SLO, and the fleet overview shows the
services with an active SLO, most critical first, at most `limit`."""

from __future__ import annotations

import re

import yaml
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from store.acting_rights import ON_ANY_SERVICE
from store.errors import ServiceNotFoundError
from store.slo_decisions import ManualSlo, set_manual_slos
from telemetry.grafana_dashboards import fleet_dashboard_uid, service_dashboard_uid

INGEST = "/api/v1/services/dependencies"
DASHBOARD = "/api/v1/services/{}/slos/grafana-dashboard"
ALERTS = "/api/v1/services/{}/slos/alerts"
FLEET = "/api/v1/slos/grafana-dashboard"
RECORDED = re.compile(r"slo:[\w:]+")


def _seed(client: TestClient, engine: Engine) -> None:
    nodes = [
        {"service_id": "web", "metadata": {"team": "edge", "criticality": "low"}},
        {"service_id": "payments", "metadata": {"team": "money", "criticality": "critical"}},
        {"service_id": "ledger", "metadata": {"team": "money", "criticality": "high"}},
        {"service_id": "batch", "metadata": {"team": "data"}},  # no SLO
    ]
    assert client.post(INGEST, json={"source": "manual", "nodes": nodes}).status_code == 202
    slos = [
        ManualSlo("web", {"availability_target": 99.5}, "test"),
        ManualSlo(
            "payments",
            {"availability_target": 99.95, "latency_p99_target_ms": 300},
            "test",
            time_window_days=28,
        ),
        ManualSlo("ledger", {"availability_target": 99.9}, "test"),
    ]
    set_manual_slos(engine, slos, actor="test@example.com", rights=ON_ANY_SERVICE)


def _rows(dashboard: dict[str, object]) -> list[str]:
    panels = dashboard["panels"]
    assert isinstance(panels, list)
    return [p["title"] for p in panels if p["type"] == "row"]


def test_a_service_dashboard_reads_the_recordings_of_its_rule_export(
    client: TestClient, engine: Engine
) -> None:
    _seed(client, engine)
    response = client.get(DASHBOARD.format("payments"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    dashboard = response.json()
    assert dashboard["uid"] == service_dashboard_uid("payments")
    assert dashboard["templating"]["list"][0]["query"] == "prometheus"
    assert _rows(dashboard) == [
        "Availability 99.95%",
        "Latency p99 ≤ 300 ms (measured at le=0.5 s): 99% of requests",
    ]
    # The imported SLO's own 28-day window: the export's period, and its factors.
    assert "28-day period" in dashboard["description"]
    burn = next(p for p in dashboard["panels"] if p["title"].startswith("Burn rate 1h"))
    assert burn["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 13.44

    rule_file = client.get(ALERTS.format("payments"), params={"format": "prometheus"})
    assert rule_file.status_code == 200, rule_file.text
    groups = yaml.safe_load(rule_file.text)["groups"]
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    queried = {name for panel in dashboard["panels"] for target in panel.get("targets", [])
               for name in RECORDED.findall(target["expr"])}  # fmt: skip
    assert queried and queried <= recorded, queried - recorded

    # period_days reaches the dashboard as it reaches the rule file.
    thirty = client.get(DASHBOARD.format("payments"), params={"period_days": 30}).json()
    burn = next(p for p in thirty["panels"] if p["title"].startswith("Burn rate 1h"))
    assert burn["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 14.4


def test_unknown_services_and_services_without_an_slo_answer_as_the_export_does(
    client: TestClient, engine: Engine
) -> None:
    _seed(client, engine)
    unknown = client.get(DASHBOARD.format("nobody-registered-this"))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["type"].endswith("/service-not-found")
    assert unknown.json()["detail"] == ServiceNotFoundError("nobody-registered-this").detail

    without = client.get(DASHBOARD.format("batch"))
    export = client.get(ALERTS.format("batch"))
    assert without.status_code == export.status_code == 404
    assert without.headers["content-type"].startswith("application/problem+json")
    assert without.json()["type"] == export.json()["type"]
    assert without.json()["type"].endswith("/slo-not-found")
    assert without.json()["detail"] == export.json()["detail"]


def test_the_fleet_overview_shows_services_with_an_slo_most_critical_first(
    client: TestClient, engine: Engine
) -> None:
    empty = client.get(FLEET)
    assert empty.status_code == 200, empty.text
    assert _rows(empty.json()) == []
    _seed(client, engine)

    fleet = client.get(FLEET)
    assert fleet.status_code == 200, fleet.text
    assert fleet.headers["content-type"].startswith("application/json")
    assert _rows(fleet.json()) == ["payments", "ledger", "web"]
    assert fleet.json()["uid"] == fleet_dashboard_uid()

    first = client.get(FLEET, params={"limit": 1}).json()
    assert _rows(first) == ["payments"]
    assert "1 of 3 services" in first["description"]

    money = client.get(FLEET, params={"team": "money"}).json()
    assert _rows(money) == ["payments", "ledger"]
    assert money["uid"] == fleet_dashboard_uid("money")

    for bad in ({"limit": 0}, {"limit": 101}):
        refused = client.get(FLEET, params=bad)
        assert refused.status_code == 422 and "limit" in refused.text
    # A NUL byte no database column can hold (PostgreSQL refused it with a 500): 422, named.
    refused = client.get(FLEET, params={"team": "\x00"})
    assert refused.status_code == 422 and "team" in refused.text


def test_both_dashboards_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/services/{service_id}/slos/grafana-dashboard",
                 "/api/v1/slos/grafana-dashboard"):  # fmt: skip
        answer = paths[path]["get"]["responses"]
        assert "application/json" in answer["200"]["content"], path
        assert "404" in answer, path
