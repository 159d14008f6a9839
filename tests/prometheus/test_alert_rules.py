"""Generated burn-rate rules against the real `promtool` (AC-010): every file passes
`promtool check rules`, and `promtool test rules` shows the alerts fire for an injected burst
and stay silent for normal or low traffic."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.published_fleet import ingest_chain, publish

from analytics.latency_histogram import LATENCY_BUCKETS
from cli.prometheus_local import find_binary
from telemetry.alert_rules import slo_rules
from telemetry.promql import MetricNames

pytestmark = pytest.mark.usefixtures("prometheus_binaries")

ALL_ALERTS = [("page", "1h", "5m"), ("page", "6h", "30m"), ("ticket", "1d", "2h"),
              ("ticket", "3d", "6h")]  # fmt: skip


def _rules(service: str, **kwargs: Any) -> str:
    options: dict[str, Any] = {
        "availability_target": None,
        "latency_targets_ms": {},
        "bucket_bounds": LATENCY_BUCKETS,
        **kwargs,
    }
    names = options.pop("names", MetricNames())
    return slo_rules(service, names, **options).to_yaml()


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(find_binary("promtool")), *args], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def _selector(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _unit_test(
    tmp_path: Path,
    rules: str,
    series: dict[str, str],
    eval_time: str,
    firing: list[tuple[str, str, str]],
    labels: dict[str, str],
) -> None:
    (tmp_path / "rules.yml").write_text(rules)
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series.items()],
            # Labels only: ALERTS carries what routing needs (annotations are prose).
            "promql_expr_test": [{
                "expr": "count by (service, slo, severity, long_window, short_window) "
                        '(ALERTS{alertname="SLOBurnRate", alertstate="firing"})',
                "eval_time": eval_time,
                "exp_samples": [
                    {"labels": _selector({**labels, "severity": severity, "long_window": long,
                                          "short_window": short}), "value": 1}
                    for severity, long, short in firing
                ],
            }],
        }],
    }  # fmt: skip
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = _promtool("test", "rules", str(tmp_path / "test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("period_days", [28, 30])
@pytest.mark.parametrize("profile", ["prometheus", "otel_spanmetrics"])
def test_every_generated_file_passes_promtool_check(
    tmp_path: Path, profile: str, period_days: int
) -> None:
    rules = _rules(
        "checkout-service.v2",
        names=MetricNames.profile(profile),
        availability_target=99.95,
        latency_targets_ms={"p99": 237, "p95": 100},
        period_days=period_days,
    )
    path = tmp_path / "rules.yml"
    path.write_text(rules)
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    # availability + two latency objectives: 14 recordings and 4 alerts each
    assert "SUCCESS: 54 rules found" in result.stdout


OK = 'http_requests_total{service="checkout",status="200"}'
FAILED = 'http_requests_total{service="checkout",status="500"}'
AVAILABILITY = {"service": "checkout", "slo": "availability"}


def test_an_error_burst_pages(tmp_path: Path) -> None:
    # 10 req/s succeed for four hours; from minute 121, 2 req/s fail as well (17% errors).
    series = {OK: "0+600x240", FAILED: "0x120 120+120x119"}
    rules = _rules("checkout", availability_target=99.9)
    # Before the burst: nothing. Thirty minutes in: both pages and both tickets.
    _unit_test(tmp_path, rules, series, "120m", [], AVAILABILITY)
    _unit_test(tmp_path, rules, series, "150m", ALL_ALERTS, AVAILABILITY)


def test_normal_traffic_stays_silent(tmp_path: Path) -> None:
    # 0.05% errors: half the 99.9% budget, for four hours.
    series = {OK: "0+600x240", FAILED: "0+0.3x240"}
    _unit_test(tmp_path, _rules("checkout", availability_target=99.9), series, "230m", [],
               AVAILABILITY)  # fmt: skip


def test_a_low_traffic_service_does_not_page_on_a_few_errors(tmp_path: Path) -> None:
    # 0.1 req/s, then ten errors in one minute: 25% of the last five minutes.
    series = {OK: "0+6x240", FAILED: "0x200 10+0x39"}
    guarded = _rules("checkout", availability_target=99.9, min_errors=10)
    _unit_test(tmp_path, guarded, series, "205m", [], AVAILABILITY)
    # The guard is what keeps it quiet: with a one-error guard the same burst pages.
    unguarded = _rules("checkout", availability_target=99.9, min_errors=1)
    _unit_test(tmp_path, unguarded, series, "205m", ALL_ALERTS, AVAILABILITY)


def test_a_latency_regression_pages_on_the_snapped_bucket(tmp_path: Path) -> None:
    # p99 ≤ 1 s. Buckets written the way Python clients do ("1.0"); from minute 121 another
    # 10 req/s arrive that all take longer than a second (half of the traffic).
    bucket = 'http_request_duration_seconds_bucket{{service="search",le="{}"}}'
    series = {bucket.format("1.0"): "0+600x240", bucket.format("+Inf"): "0+600x120 73200+1200x119"}
    rules = _rules("search", latency_targets_ms={"p99": 1000})
    labels = {"service": "search", "slo": "latency_p99"}
    _unit_test(tmp_path, rules, series, "120m", [], labels)
    _unit_test(tmp_path, rules, series, "150m", ALL_ALERTS, labels)


def test_the_api_serves_rules_for_the_active_slo(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    ingest_chain(engine)
    rec = publish(engine, generated_at=datetime.now(UTC))["payments"]["availability"]
    url = "/api/v1/services/payments/slos/alerts"
    missing = client.get(url)
    assert missing.status_code == 404 and missing.json()["type"].endswith("/slo-not-found")
    decided = client.post("/api/v1/services/payments/slos", json={
        "recommendation_id": rec, "action": "modify", "selected_tier": "balanced",
        "modifications": {"availability_target": 99.9, "latency_p99_target_ms": 237},
        "rationale": "round numbers", "actor": "jane.doe@company.com",
    })  # fmt: skip
    assert decided.status_code == 200, decided.text

    response = client.get(url, params={"format": "prometheus"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/yaml")
    assert "237 ms is not a histogram bucket bound" in response.text
    path = tmp_path / "payments.yml"
    path.write_text(response.text)
    check = _promtool("check", "rules", str(path))
    assert check.returncode == 0, check.stdout + check.stderr

    answer = client.get(url, params={"format": "json", "period_days": 28})
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    objectives = {o["slo"]: o for o in summary["objectives"]}
    assert objectives["availability"]["target"] == 99.9
    assert objectives["availability"]["error_budget"] == pytest.approx(0.001)
    page = objectives["availability"]["alerts"][0]
    assert (page["severity"], page["burn_rate_factor"]) == ("page", 13.44)
    assert objectives["latency_p99"]["le_seconds"] == 0.25
    assert objectives["latency_p99"]["snapped_to_bucket"] is True
    assert summary["groups"][1]["rules"][0]["alert"] == "SLOBurnRate"

    bad = client.get(url, params={"format": "grafana"})
    assert bad.status_code == 422 and "format" in bad.text
