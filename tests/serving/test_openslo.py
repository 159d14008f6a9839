"""OpenSLO v1 export and import: the round trip keeps the targets, foreign documents are read,
bad documents are refused field by field with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.keys import make_key
from support.openslo_import import import_openslo, post_openslo
from support.published_fleet import ingest_chain, publish

from config.settings import Settings
from store.tables import slo_audit_log

SLOS = "/api/v1/services/{}/slos"
EXPORT = "/api/v1/services/{}/slos/openslo"


@pytest.fixture
def published(engine: Engine) -> dict[str, dict[str, str]]:
    ingest_chain(engine)
    return publish(engine, generated_at=datetime.now(UTC))


def _decide(client: TestClient, service: str, rec: str, **modifications: float) -> None:
    body = {"recommendation_id": rec, "selected_tier": "balanced", "actor": "jane@example.com"}
    if modifications:
        body |= {"action": "modify", "modifications": modifications, "rationale": "by hand"}
    else:
        body |= {"action": "accept"}
    response = client.post(SLOS.format(service), json=body)
    assert response.status_code == 200, response.text


def _audit_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(slo_audit_log)).scalar_one())


def test_export_then_import_gives_the_same_targets(
    client: TestClient, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    targets = {"availability_target": 99.9, "latency_p99_target_ms": 237,
               "latency_p95_target_ms": 100}  # fmt: skip
    _decide(client, "payments", published["payments"]["availability"], **targets)
    exported = client.get(EXPORT.format("payments"))
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("application/yaml")
    documents = list(yaml.safe_load_all(exported.text))
    kinds = [d["kind"] for d in documents]
    assert kinds.count("Service") == 1 and kinds.count("SLI") == 3 and kinds.count("SLO") == 3
    assert kinds.count("AlertPolicy") == 12
    slo = next(d for d in documents if d["kind"] == "SLO" and d["metadata"]["name"].endswith(
        "availability"))  # fmt: skip
    assert slo["apiVersion"] == "openslo/v1"
    assert slo["spec"]["budgetingMethod"] == "Occurrences"
    assert slo["spec"]["timeWindow"] == [{"duration": "30d", "isRolling": True}]
    assert slo["spec"]["objectives"][0]["target"] == pytest.approx(0.999)
    sli = next(d for d in documents if d["metadata"]["name"] == slo["spec"]["indicatorRef"])
    assert "http_requests_total" in sli["spec"]["ratioMetric"]["total"]["metricSource"]["spec"][
        "query"]  # fmt: skip
    page = next(d for d in documents if d["kind"] == "AlertPolicy")["spec"]["conditions"][0]
    assert page["spec"]["condition"] == {"kind": "burnrate", "op": "gte", "threshold": 14.4,
                                         "lookbackWindow": "1h", "alertAfter": "0m"}  # fmt: skip
    before = client.get(SLOS.format("payments")).json()["targets"]

    # The SLO changes; importing the export brings the exported targets back.
    publish(engine, generated_at=datetime.now(UTC), seed=5)
    rec = client.get("/api/v1/services/payments/slo-recommendations").json()
    _decide(client, "payments", rec["recommendations"][0]["recommendation_id"],
            availability_target=99.0)  # fmt: skip
    assert client.get(SLOS.format("payments")).json()["targets"] != before
    who = {"actor": "jane@example.com", "rationale": "restore"}
    imported = import_openslo(client, exported.text, who)
    assert imported["imported"][0]["targets"] == before
    active = client.get(SLOS.format("payments")).json()
    assert active["targets"] == before and active["source"] == "manual"
    entry = client.get("/api/v1/services/payments/slo-history").json()["entries"][0]
    assert entry["action"] == "modify" and entry["actor"] == "jane@example.com"
    assert "Imported from OpenSLO" in entry["rationale"] and "restore" in entry["rationale"]
    assert entry["previous_slo"]["availability_target"] == 99.0


FOREIGN = """
apiVersion: openslo/v1
kind: Service
metadata: {name: ledger, displayName: ledger-db}
spec: {description: written by hand}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: ledger-availability}
spec:
  service: ledger
  budgetingMethod: Occurrences
  timeWindow: [{duration: 28d, isRolling: true}]
  objectives: [{targetPercent: 99.5}]
  indicator:
    metadata: {name: ledger-errors}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'sum(http_requests_total{service="ledger-db",status=~"5.."})'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'sum(http_requests_total{service="ledger-db"})'}}}
---
apiVersion: openslo/v1
kind: SLI
metadata: {name: ledger-fast}
spec:
  ratioMetric:
    counter: true
    good: {metricSource: {type: Prometheus, spec: {query: 'sum(http_request_duration_seconds_bucket{service="ledger-db",le="0.3"})'}}}
    total: {metricSource: {type: Prometheus, spec: {query: 'sum(http_request_duration_seconds_bucket{service="ledger-db",le="+Inf"})'}}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: ledger-latency}
spec:
  service: ledger
  indicatorRef: ledger-fast
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
"""  # noqa: E501


def test_documents_from_other_tools_become_manual_slos(
    client: TestClient, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    import_openslo(client, FOREIGN, {"actor": "ops"})
    active = client.get(SLOS.format("ledger-db")).json()
    assert active["targets"] == {"availability": 99.5, "latency_p99_ms": 300,
                                 "latency_p95_ms": None}  # fmt: skip
    assert active["source"] == "manual" and active["selected_tier"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("apiVersion: openslo/v1\nkind: Service", "apiVersion: openslo/v1alpha\nkind: Service"),
         "documents[0].apiVersion"),
        (("budgetingMethod: Occurrences\n  time", "budgetingMethod: Weekly\n  time"),
         "documents[1].spec.budgetingMethod"),
        # Timeslices is read, but needs its slices.
        (("budgetingMethod: Occurrences\n  time", "budgetingMethod: Timeslices\n  time"),
         "documents[1].spec.objectives[0].timeSliceWindow"),
        (("targetPercent: 99.5", "targetPercent: 100"),
         "documents[1].spec.objectives[0].targetPercent"),
        (("target: 0.99", "target: 0.9"), "documents[3].spec.objectives[0].target"),
        (("indicatorRef: ledger-fast", "indicatorRef: nowhere"), "documents[3].spec.indicatorRef"),
        (("kind: Service", "kind: Dashboard"), "documents[0].kind"),
        (("objectives: [{target: 0.99}]", "objectives: [oops: [}"), "body"),
    ],
)  # fmt: skip
def test_bad_documents_name_the_field_and_write_nothing(
    client: TestClient,
    engine: Engine,
    published: dict[str, dict[str, str]],
    change: tuple[str, str],
    field: str,
) -> None:
    assert change[0] in FOREIGN
    response = post_openslo(client, FOREIGN.replace(*change), params={"actor": "ops"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert _audit_rows(engine) == 0
    assert client.get(SLOS.format("ledger-db")).status_code == 404


def test_unknown_services_and_missing_actors_are_refused(
    client: TestClient, engine: Engine, published: dict[str, dict[str, str]]
) -> None:
    unknown = FOREIGN.replace("displayName: ledger-db", "displayName: ledger-v2")
    response = post_openslo(client, unknown, params={"actor": "ops"})
    assert response.status_code == 404 and "ledger-v2" in response.json()["detail"]
    anonymous = post_openslo(client, FOREIGN)
    assert anonymous.status_code == 422 and anonymous.json()["errors"][0]["field"] == "actor"
    assert _audit_rows(engine) == 0


def test_only_the_owning_team_may_import(
    client: TestClient, settings: Settings, published: dict[str, dict[str, str]]
) -> None:
    other_team = {"X-API-Key": make_key(settings, "service_owner", "shop")}
    response = post_openslo(client, FOREIGN, headers=other_team, params={"actor": "x"})
    assert response.status_code == 403
    owner = {"X-API-Key": make_key(settings, "service_owner", "money")}
    response = post_openslo(client, FOREIGN, headers=owner, params={"actor": "x"})
    assert response.status_code == 200, response.text
