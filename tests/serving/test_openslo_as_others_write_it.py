"""OpenSLO as others write it (issue 17 item 6): documents in the shapes of the OpenSLO
project's own examples — RatioTimeslices, a thresholdMetric latency SLO, an SLI by
indicatorRef, a Service naming the service, two objectives in one SLO, 28-day and 2-week
windows — are imported, kept on the active SLO, honoured by the exported rules (factors scaled
to the window, promtool-checked) and written back by the export; what the engine cannot
honour is refused with the field named and nothing written."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.openslo_import import import_openslo, post_openslo
from support.published_fleet import ingest_chain, publish
from support.required import skip_or_fail

from cli.prometheus_local import PrometheusNotInstalledError, find_binary
from store.tables import slo_audit_log

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openslo"
SLOS = "/api/v1/services/{}/slos"
ALERTS = "/api/v1/services/{}/slos/alerts"
EXPORT = "/api/v1/services/{}/slos/openslo"
WHO = {"actor": "jane@example.com"}
BUDGET = ("targets", "budgeting_method", "openslo_budgeting_method", "time_window_days",
          "timeslice_target", "timeslice_window_seconds")  # fmt: skip


def _fixture(name: str) -> str:
    return (FIXTURES / f"{name}.yaml").read_text()


@pytest.fixture
def fleet(engine: Engine) -> None:
    ingest_chain(engine)


def _budget(client: TestClient, service: str) -> dict[str, Any]:
    active = client.get(SLOS.format(service))
    assert active.status_code == 200, active.text
    return {key: active.json()[key] for key in BUDGET}


def _factors(client: TestClient, service: str, slo: str, **params: Any) -> list[float]:
    answer = client.get(ALERTS.format(service), params={"format": "json", **params})
    assert answer.status_code == 200, answer.text
    objective = next(o for o in answer.json()["objectives"] if o["slo"] == slo)
    return [alert["burn_rate_factor"] for alert in objective["alerts"]]


def _promtool_check(tmp_path: Path, rules: str) -> str:
    try:
        promtool = find_binary("promtool")
    except PrometheusNotInstalledError as exc:
        skip_or_fail(str(exc))
    path = tmp_path / "rules.yml"
    path.write_text(rules)
    result = subprocess.run([str(promtool), "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _audit_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(slo_audit_log)).scalar_one())


def test_the_ratio_timeslices_example_is_kept_and_counted_in_slices(
    client: TestClient, fleet: None, tmp_path: Path
) -> None:
    imported = import_openslo(client, _fixture("ratio-timeslices"), WHO)
    assert imported["imported"][0]["openslo_budgeting_method"] == "RatioTimeslices"
    assert _budget(client, "checkout") == {
        "targets": {"availability": 99.0, "latency_p99_ms": None, "latency_p95_ms": None},
        "budgeting_method": "timeslices",
        "openslo_budgeting_method": "RatioTimeslices",
        "time_window_days": 14,
        "timeslice_target": None,
        "timeslice_window_seconds": 60,
    }
    # 2w: "2% of the budget in 1h" is 0.02 × 14 × 24 / 1 = 6.72 (14.4 over 30 days).
    assert _factors(client, "checkout", "availability") == pytest.approx(
        [6.72, 2.8, 1.4, 0.4667], abs=1e-4
    )
    summary = client.get(ALERTS.format("checkout"), params={"format": "json"}).json()
    assert (summary["period_days"], summary["budgeting_method"]) == (14, "RatioTimeslices")
    rules = client.get(ALERTS.format("checkout")).text
    assert "over a 14-day SLO period, budget counted in 1m time slices" in rules
    groups = yaml.safe_load(rules)["groups"]
    assert (groups[0]["name"], groups[0]["interval"]) == ("slo-engine:checkout:timeslices", "1m")
    windows = {r["record"]: r["expr"] for r in groups[1]["rules"]}
    assert windows["slo:sli_error:ratio_rate1h"].startswith(
        'avg_over_time(slo:timeslice_error:ratio{service="checkout", slo="availability"}[1h])'
    )
    assert "slo:timeslice_bad" not in rules  # no slice target: the mean of the slices' ratios
    _promtool_check(tmp_path, rules)


def test_a_threshold_latency_slo_over_28_days(
    client: TestClient, fleet: None, tmp_path: Path
) -> None:
    imported = import_openslo(client, _fixture("threshold-latency"), WHO)
    assert imported["warnings"] == []  # the query names its unit: milliseconds
    assert _budget(client, "ledger-db") == {
        "targets": {"availability": None, "latency_p99_ms": 500, "latency_p95_ms": None},
        "budgeting_method": "occurrences",
        "openslo_budgeting_method": "Occurrences",
        "time_window_days": 28,
        "timeslice_target": None,
        "timeslice_window_seconds": None,
    }
    # The stored window is the default period; a request may still ask for another.
    assert _factors(client, "ledger-db", "latency_p99") == pytest.approx(
        [13.44, 5.6, 2.8, 0.9333], abs=1e-4
    )
    assert _factors(client, "ledger-db", "latency_p99", period_days=30) == [14.4, 6.0, 3.0, 1.0]
    rules = client.get(ALERTS.format("ledger-db")).text
    assert 'le=~"0\\\\.50*"' in rules and "slo:error_budget_remaining:ratio" in rules
    assert "slo:sli_error:ratio_rate28d" in rules
    _promtool_check(tmp_path, rules)
    bad = client.get(ALERTS.format("ledger-db"), params={"period_days": 400})
    assert bad.status_code == 422 and "period_days" in bad.text


PAYMENTS = {
    "targets": {"availability": 99.5, "latency_p99_ms": 300, "latency_p95_ms": None},
    "budgeting_method": "timeslices",
    "openslo_budgeting_method": "Timeslices",
    "time_window_days": 28,
    "timeslice_target": 0.95,
    "timeslice_window_seconds": 60,
}

PLAIN_AVAILABILITY = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: payments-plain}
spec:
  service: payments
  budgetingMethod: Occurrences
  timeWindow: [{duration: 30d, isRolling: true}]
  objectives: [{target: 0.99}]
  indicator:
    metadata: {name: payments-plain}
    spec:
      ratioMetric:
        bad: {metricSource: {type: Prometheus, spec: {query: 'sum(x{status=~"5.."})'}}}
        total: {metricSource: {type: Prometheus, spec: {query: sum(x)}}}
"""


def test_two_objectives_in_timeslices_round_trip(
    client: TestClient, fleet: None, tmp_path: Path
) -> None:
    import_openslo(client, _fixture("availability-and-latency"), WHO)
    assert _budget(client, "payments") == PAYMENTS
    rules = client.get(ALERTS.format("payments")).text
    assert rules.count("> bool 0.05") == 2  # a slice is bad under 95% good, per objective
    _promtool_check(tmp_path, rules)

    exported = client.get(EXPORT.format("payments"))
    assert exported.status_code == 200, exported.text
    documents = list(yaml.safe_load_all(exported.text))
    slos = {d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "SLO"}
    latency = slos["payments-latency-p99"]
    assert latency["budgetingMethod"] == "Timeslices"
    assert latency["timeWindow"] == [{"duration": "28d", "isRolling": True}]
    assert latency["objectives"] == [{
        "displayName": "latency p99 ≤ 300 ms", "op": "lte", "value": 0.3, "target": 0.99,
        "timeSliceTarget": 0.95, "timeSliceWindow": "1m",
    }]  # fmt: skip
    sli = next(d for d in documents if d["kind"] == "SLI" and d["metadata"]["name"]
               == latency["indicatorRef"])  # fmt: skip
    assert "histogram_quantile(0.99" in sli["spec"]["thresholdMetric"]["metricSource"]["spec"][
        "query"]  # fmt: skip
    page = next(d for d in documents if d["kind"] == "AlertPolicy")["spec"]["conditions"][0]
    assert page["spec"]["condition"]["threshold"] == 13.44  # the 28-day factor

    # Something else replaces the availability objective: the latency one is kept, and told
    # that it is now counted another way.
    replaced = import_openslo(client, PLAIN_AVAILABILITY, WHO)
    assert _budget(client, "payments")["openslo_budgeting_method"] == "Occurrences"
    [kept] = replaced["warnings"]
    assert kept["document"] is None and "latency_p99_target_ms kept" in kept["warning"]
    assert "Occurrences over 30 days" in kept["warning"]

    # The export, imported again, brings everything back.
    import_openslo(client, exported.text, WHO)
    assert _budget(client, "payments") == PAYMENTS


TWO_WINDOWS = """
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: ledger-availability}
spec:
  service: ledger
  budgetingMethod: RatioTimeslices
  timeWindow: [{duration: 28d, isRolling: true}]
  objectives: [{target: 0.999, timeSliceWindow: 1m}]
  indicatorRef: ledger-p99-latency
"""


@pytest.mark.parametrize(
    ("fixture", "change", "field"),
    [
        ("threshold-latency", ("isRolling: true", "isRolling: false\n      calendar: "
         "{startTime: 2022-01-01 12:00:00, timeZone: America/New_York}"),
         "documents[3].spec.timeWindow[0].calendar"),
        ("threshold-latency", ("duration: 28d", "duration: 12h"),
         "documents[3].spec.timeWindow[0].duration"),
        ("ratio-timeslices", ("duration: 2w", "duration: 2Y"),
         "documents[0].spec.timeWindow[0].duration"),
        ("threshold-latency", ("op: lt", "op: gt"), "documents[3].spec.objectives[0].op"),
        ("threshold-latency", ("target: 0.99", "target: 0.9"),
         "documents[3].spec.objectives[0].target"),
        # The same 500 on a metric in seconds would be 500 s: refused, with the unit explained.
        ("threshold-latency", ("duration_milliseconds_bucket", "duration_seconds_bucket"),
         "documents[3].spec.objectives[0].value"),
        ("ratio-timeslices", ("timeSliceWindow: 1m", "timeSliceWindow: 10m"),
         "documents[0].spec.objectives[0].timeSliceWindow"),
        ("ratio-timeslices", ("target: 0.99", "target: 0.99\n    - target: 0.995\n"
         "      timeSliceWindow: 1m"), "documents[0].spec.objectives[1]"),
        ("availability-and-latency", ("target: 0.995\n      timeSliceTarget: 0.95\n",
         "target: 0.995\n"), "documents[2].spec.objectives[0].timeSliceTarget"),
        ("availability-and-latency", ("timeSliceTarget: 0.95\n      timeSliceWindow: 1m\n"
         "      indicatorRef", "timeSliceTarget: 0.9\n      timeSliceWindow: 1m\n"
         "      indicatorRef"), "documents[2].spec.objectives[1].timeSliceTarget"),
        ("availability-and-latency", ("target: 0.995", "target: 0.995\n      compositeWeight: 1"),
         "documents[2].spec.objectives[0].compositeWeight"),
        ("availability-and-latency", ("indicatorRef: payments-latency", "indicatorRef: nope"),
         "documents[2].spec.objectives[1].indicatorRef"),
        # Two SLOs of one service that count their budgets differently.
        ("threshold-latency", ("target: 0.99\n", "target: 0.99\n" + TWO_WINDOWS),
         "documents[4].spec.budgetingMethod"),
    ],
)  # fmt: skip
def test_what_cannot_be_honoured_is_refused_by_field(
    client: TestClient,
    engine: Engine,
    fleet: None,
    fixture: str,
    change: tuple[str, str],
    field: str,
) -> None:
    text = _fixture(fixture)
    assert change[0] in text
    response = post_openslo(client, text.replace(*change), params=WHO)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == field, problem
    assert _audit_rows(engine) == 0
    for service in ("checkout", "ledger-db", "payments"):
        assert client.get(SLOS.format(service)).status_code == 404


def test_an_unknown_service_is_refused(client: TestClient, engine: Engine, fleet: None) -> None:
    text = _fixture("ratio-timeslices").replace("service: checkout", "service: checkout-v2")
    response = post_openslo(client, text, params=WHO)
    assert response.status_code == 404 and "checkout-v2" in response.json()["detail"]
    assert _audit_rows(engine) == 0


def test_what_is_read_by_assumption_is_said(client: TestClient, fleet: None) -> None:
    text = (
        _fixture("threshold-latency")
        .replace("http_server_duration_milliseconds_bucket", "ledger_latency")  # no unit
        .replace("target: 0.99", "target: 0.999")  # p99.9
        .replace("duration: 28d", "duration: 1M")  # a month
    )
    warnings = import_openslo(client, text, WHO)["warnings"]
    assert {w["document"] for w in warnings} == {"ledger-latency"}
    said = " | ".join(w["warning"] for w in warnings)
    assert "'1M' read as 30 rolling days" in said
    assert "500 read as milliseconds" in said
    assert "p99.9 objective is kept as the p99 target" in said
    budget = _budget(client, "ledger-db")
    assert budget["targets"]["latency_p99_ms"] == 500 and budget["time_window_days"] == 30
    entry = client.get("/api/v1/services/ledger-db/slo-history").json()["entries"][0]
    assert len(entry["warnings"]) == 3  # the audit entry keeps what the person was shown


def test_a_decision_brings_back_the_recommendations_budget(
    client: TestClient, engine: Engine, fleet: None
) -> None:
    recommendation = publish(engine, generated_at=datetime.now(UTC))["checkout"]["availability"]
    import_openslo(client, _fixture("ratio-timeslices"), WHO)
    decided = client.post(SLOS.format("checkout"), json={
        "recommendation_id": recommendation, "action": "accept", "selected_tier": "balanced",
        "actor": "jane@example.com",
    })  # fmt: skip
    assert decided.status_code == 200, decided.text
    budget = _budget(client, "checkout")
    assert (budget["openslo_budgeting_method"], budget["time_window_days"]) == ("Occurrences", 30)
    assert budget["timeslice_window_seconds"] is None
    entry = client.get("/api/v1/services/checkout/slo-history").json()["entries"][0]
    assert entry["previous_slo"]["budgeting_method"] == "timeslices"
    assert entry["previous_slo"]["time_window_days"] == 14
    assert entry["new_slo"]["budgeting_method"] == "occurrences"


def test_the_readmes_example_imports_as_it_says(client: TestClient, fleet: None) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("- **OpenSLO** (") :]
    block = section[section.index("```yaml\n") + 8 : section.index("  ```\n")]
    import_openslo(client, "\n".join(line.removeprefix("  ") for line in block.splitlines()), WHO)
    assert _budget(client, "ledger-db") == {
        "targets": {"availability": None, "latency_p99_ms": 500, "latency_p95_ms": None},
        "budgeting_method": "timeslices",
        "openslo_budgeting_method": "Timeslices",
        "time_window_days": 28,
        "timeslice_target": 0.95,
        "timeslice_window_seconds": 60,
    }
    assert _factors(client, "ledger-db", "latency_p99") == pytest.approx(
        [13.44, 5.6, 2.8, 0.9333], abs=1e-4
    )
