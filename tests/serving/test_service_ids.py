"""Ids accepted are ids usable (issue 15): one rule for a service id, checked once at the door,
and every id that rule lets in can be exported (Prometheus alert rules, OpenSLO) and
regenerated without a 500 — whatever digits it holds. Ids the rule refuses are a 422 naming
the field, at ingestion and in every path."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from config.settings import Settings
from store.acting_rights import ON_ANY_SERVICE
from store.service_id_rule import SERVICE_ID_PATTERN
from store.slo_decisions import ManualSlo, set_manual_slos
from telemetry.promql import MetricNames, label_matcher, quote_label_value, requests_query

INGEST = "/api/v1/services/dependencies"
ALERTS = "/api/v1/services/{}/slos/alerts"
OPENSLO = "/api/v1/services/{}/slos/openslo"
RECOMMENDATIONS = "/api/v1/services/{}/slo-recommendations"
TARGETS = {"availability_target": 99.9, "latency_p99_target_ms": 300}

#: Ids by the rule itself, plus the shapes that used to trip a PII guess: long digit runs
#: (build stamps, card-number-like), dotted versions, SSN-like digit groups.
SERVICE_IDS = st.one_of(
    st.from_regex(SERVICE_ID_PATTERN, fullmatch=True),
    st.builds(
        "".join,
        st.tuples(
            st.sampled_from(["build-", "job.", "x:", "9", "svc_"]),
            st.from_regex(r"[0-9]{13,19}", fullmatch=True),
            st.sampled_from(["", "-v2", ".1", ":canary", "-123-45-6789"]),
        ),
    ),
).filter(lambda s: len(s) <= 255)


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> Settings:  # overrides conftest's
    """Parquet telemetry from an empty folder: regeneration has no data, answers anyway."""
    return Settings(
        database_url=store_url,
        api_key_bcrypt_rounds=4,
        rate_limit_enabled=False,
        telemetry="parquet",
        telemetry_parquet_path=tmp_path / "sli_hourly",
    )


def _ingest(client: TestClient, *service_ids: str) -> None:
    body = {"source": "manual", "nodes": [{"service_id": s} for s in service_ids]}
    response = client.post(INGEST, json=body)
    assert response.status_code == 202, response.text


def _activate(engine: Engine, service_id: str) -> None:
    set_manual_slos(
        engine,
        [ManualSlo(service_id, TARGETS, "test")],
        actor="test@example.com",
        rights=ON_ANY_SERVICE,
    )


def _path(service_id: str) -> str:
    return quote(service_id, safe="")


def _assert_usable(client: TestClient, service_id: str) -> None:
    alerts = client.get(ALERTS.format(_path(service_id)), params={"format": "prometheus"})
    assert alerts.status_code == 200, alerts.text
    rules = yaml.safe_load(alerts.text)
    assert rules["groups"], alerts.text

    openslo = client.get(OPENSLO.format(_path(service_id)))
    assert openslo.status_code == 200, openslo.text
    documents = list(yaml.safe_load_all(openslo.text))
    assert any(d["kind"] == "SLO" for d in documents)

    regenerated = client.get(
        RECOMMENDATIONS.format(_path(service_id)), params={"force_regenerate": "true"}
    )
    # 200 (published or cold start) or the documented 503 problem; never another 5xx.
    assert regenerated.status_code in (200, 503), regenerated.text
    if regenerated.status_code == 200:
        assert regenerated.json()["service_id"] == service_id
    else:
        assert regenerated.headers["content-type"].startswith("application/problem+json")


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(service_id=SERVICE_IDS)
def test_every_id_ingestion_accepts_is_exported_and_regenerated(
    client: TestClient, engine: Engine, service_id: str
) -> None:
    _ingest(client, service_id)
    _activate(engine, service_id)
    _assert_usable(client, service_id)


@hypothesis_settings(max_examples=50, deadline=None)
@given(service_id=SERVICE_IDS)
def test_every_accepted_id_makes_a_matcher_for_exactly_itself(service_id: str) -> None:
    """The PromQL builders take every id the door lets in; the regex matcher matches that id
    and no id differing at an escaped character (`.` is not "any character")."""
    assert quote_label_value(service_id) == f'"{service_id}"'
    matcher = label_matcher("service", [service_id])
    assert matcher in requests_query(MetricNames(), only=[service_id])
    regex = matcher.removeprefix('service=~"').removesuffix('"').replace("\\\\", "\\")
    assert re.fullmatch(regex, service_id)
    if "." in service_id:
        assert not re.fullmatch(regex, service_id.replace(".", "x"))


def test_a_build_stamp_id_exports_its_alert_rules(client: TestClient, engine: Engine) -> None:
    """The regression: a 14-digit run was taken for a card number and export answered 500."""
    service_id = "build-20261125123045"
    _ingest(client, service_id)
    _activate(engine, service_id)
    alerts = client.get(ALERTS.format(service_id), params={"format": "prometheus"})
    assert alerts.status_code == 200, alerts.text
    assert f'service="{service_id}"' in alerts.text
    _assert_usable(client, service_id)


@pytest.mark.parametrize("bad", ["pay ments", 'pay"ments', "ns/payments", "-payments", ""])
@pytest.mark.parametrize(
    ("where", "field"),
    [("node", "nodes[0].service_id"), ("source", "edges[0].source"),
     ("target", "edges[0].target")],
)  # fmt: skip
def test_a_bad_id_is_refused_at_ingestion_naming_the_field(
    client: TestClient, bad: str, where: str, field: str
) -> None:
    body: dict[str, object] = {"source": "manual", "nodes": [], "edges": []}
    if where == "node":
        body["nodes"] = [{"service_id": bad}]
    else:
        edge = {"source": "web", "target": "api"} | {where: bad}
        body["edges"] = [edge]
    response = client.post(INGEST, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == [field]
    assert field in problem["detail"]
    assert client.get("/api/v1/services").json()["items"] == []  # nothing was written


@pytest.mark.parametrize(
    "path",
    [ALERTS, OPENSLO, RECOMMENDATIONS, "/api/v1/services/{}/slos",
     "/api/v1/services/{}/slo-history", "/api/v1/services/{}/dependencies"],
)  # fmt: skip
@pytest.mark.parametrize("bad", ["pay ments", 'pay"ments', "-payments"])
def test_a_bad_id_in_a_path_is_a_422_naming_service_id(
    client: TestClient, path: str, bad: str
) -> None:
    response = client.get(path.format(_path(bad)))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["service_id"]
