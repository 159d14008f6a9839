"""Generated burn-rate rules against the real `promtool` (AC-010): every file passes
`promtool check rules`, and `promtool test rules` plays the scenarios Sloth and Pyrra were
compared on: a sharp outage pages fast, a slow burn opens a ticket, healthy traffic stays
silent, a 1 req/min service failing every request pages, one stray error at low traffic does
not, an incident pages once and resolves, a missing metric raises the absent alert, and the
error budget remaining is recorded."""

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

from analytics.burn_rate import Budgeting
from analytics.latency_histogram import LATENCY_BUCKETS
from cli.prometheus_local import find_binary
from telemetry.alert_rules import slo_rules
from telemetry.promql import MetricNames

pytestmark = pytest.mark.usefixtures("prometheus_binaries")

BURN = "SLOBurnRate"
ABSENT = "SLOMetricAbsent"
PAGE_AND_TICKET = [(BURN, "page"), (BURN, "ticket")]


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
    firing: list[tuple[str, str]],
    labels: dict[str, str],
    *,
    also: list[tuple[str, float]] | None = None,
    interval: str = "1m",
) -> None:
    """Every firing alert at `eval_time` is one of `firing` (alertname, severity), once each;
    `also` adds (expression, value) checks that each return one sample with `labels`."""
    (tmp_path / "rules.yml").write_text(rules)
    checks = [{
        # Labels only: ALERTS carries what routing needs (annotations are prose).
        "expr": 'count by (alertname, service, slo, severity) (ALERTS{alertstate="firing"})',
        "eval_time": eval_time,
        "exp_samples": [
            {"labels": _selector({**labels, "alertname": name, "severity": severity}),
             "value": 1}
            for name, severity in firing
        ],
    }]  # fmt: skip
    for expr, value in also or []:
        checks.append({"expr": expr, "eval_time": eval_time,
                       "exp_samples": [{"labels": _selector(labels), "value": value}]})  # fmt: skip
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        # Recordings before the alerts that read them (promtool's default order is random).
        "group_eval_order": [g["name"] for g in yaml.safe_load(rules)["groups"]],
        "tests": [{
            "interval": interval,
            "input_series": [{"series": s, "values": v} for s, v in series.items()],
            "promql_expr_test": checks,
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
    # availability + two latency objectives, each: 14 window recordings, a page and a ticket
    # alert, an absent alert, and 2 budget recordings over the period
    assert "SUCCESS: 57 rules found" in result.stdout


OK = 'http_requests_total{service="checkout",status="200"}'
FAILED = 'http_requests_total{service="checkout",status="500"}'
AVAILABILITY = {"service": "checkout", "slo": "availability"}


def test_a_sharp_outage_pages_within_minutes(tmp_path: Path) -> None:
    # 10 req/s succeed for four hours; from minute 121, 2 req/s fail as well (17% errors).
    series = {OK: "0+600x240", FAILED: "0x120 120+120x119"}
    rules = _rules("checkout", availability_target=99.9)
    # Before the burst: nothing. Five minutes in: one page and one ticket.
    _unit_test(tmp_path, rules, series, "120m", [], AVAILABILITY)
    _unit_test(tmp_path, rules, series, "125m", PAGE_AND_TICKET, AVAILABILITY)
    _unit_test(tmp_path, rules, series, "150m", PAGE_AND_TICKET, AVAILABILITY)


def test_a_slow_burn_opens_a_ticket_not_a_page(tmp_path: Path) -> None:
    # 0.5% errors (5× the 99.9% budget) for four hours: below both page factors.
    series = {OK: "0+600x240", FAILED: "0+3x240"}
    rules = _rules("checkout", availability_target=99.9)
    _unit_test(tmp_path, rules, series, "230m", [(BURN, "ticket")], AVAILABILITY,
               also=[("round(slo:error_budget_remaining:ratio, 0.001)", -3.975)])  # fmt: skip


def test_normal_traffic_stays_silent(tmp_path: Path) -> None:
    # 0.05% errors: half the 99.9% budget, for four hours; half the budget remains.
    series = {OK: "0+600x240", FAILED: "0+0.3x240"}
    remaining = ("round(slo:error_budget_remaining:ratio, 0.001)", 0.5)
    _unit_test(tmp_path, _rules("checkout", availability_target=99.9), series, "230m", [],
               AVAILABILITY, also=[remaining])  # fmt: skip


# 1 request a minute, all successful for three hours, then every request fails for two hours
# (278% of the month's budget), then successful again.
LOW_TRAFFIC_OUTAGE = {OK: "0+1x180 180x120 180+1x60", FAILED: "0x180 1+1x119 120x60"}


@pytest.mark.parametrize("min_errors", [3, 5, 10])
def test_a_low_traffic_outage_pages(tmp_path: Path, min_errors: int) -> None:
    rules = _rules("checkout", availability_target=99.9, min_errors=min_errors)
    before = f"{180 + min_errors - 1}m"
    _unit_test(tmp_path, rules, LOW_TRAFFIC_OUTAGE, before, [], AVAILABILITY)
    # The guard's last error has failed: page (and ticket).
    at = f"{180 + min_errors}m"
    _unit_test(tmp_path, rules, LOW_TRAFFIC_OUTAGE, at, PAGE_AND_TICKET, AVAILABILITY)
    _unit_test(tmp_path, rules, LOW_TRAFFIC_OUTAGE, "290m", PAGE_AND_TICKET, AVAILABILITY)


def test_one_stray_error_at_low_traffic_does_not_page(tmp_path: Path) -> None:
    # 1 req/min; the request of minute 201 fails, the rest succeed.
    series = {OK: "0+1x200 200+1x39", FAILED: "0x200 1+0x39"}
    guarded = _rules("checkout", availability_target=99.9)
    for minute in ("201m", "205m", "230m"):
        _unit_test(tmp_path, guarded, series, minute, [], AVAILABILITY)
    # The guard is what keeps it quiet: with a one-error guard the same error pages.
    unguarded = _rules("checkout", availability_target=99.9, min_errors=1)
    _unit_test(tmp_path, unguarded, series, "205m", PAGE_AND_TICKET, AVAILABILITY)


def test_an_incident_pages_once_and_the_page_resolves(tmp_path: Path) -> None:
    # The sharp outage of above, stopping after an hour (minute 180).
    series = {OK: "0+600x300", FAILED: "0x120 120+120x59 7200x120"}
    rules = _rules("checkout", availability_target=99.9)
    # One page series for the whole incident (count 1), while both page conditions hold.
    _unit_test(tmp_path, rules, series, "175m", PAGE_AND_TICKET, AVAILABILITY)
    # Half an hour after the errors stop both short windows are clean: the page resolves;
    # the ticket (2h / 6h short windows) stays open a while longer.
    _unit_test(tmp_path, rules, series, "215m", [(BURN, "ticket")], AVAILABILITY)


def test_an_absent_request_metric_raises_a_ticket(tmp_path: Path) -> None:
    # The service stops exporting its counters at minute 60.
    series = {OK: "0+600x60", FAILED: "0+0.3x60"}
    rules = _rules("checkout", availability_target=99.9)
    _unit_test(tmp_path, rules, series, "60m", [], AVAILABILITY)
    # Gone for five minutes (the lookback) plus the alert's ten.
    _unit_test(tmp_path, rules, series, "90m", [(ABSENT, "ticket")], AVAILABILITY)


def test_a_latency_regression_pages_on_the_snapped_bucket(tmp_path: Path) -> None:
    # p99 ≤ 1 s. Buckets written the way Python clients do ("1.0"); from minute 121 another
    # 10 req/s arrive that all take longer than a second (half of the traffic).
    bucket = 'http_request_duration_seconds_bucket{{service="search",le="{}"}}'
    series = {bucket.format("1.0"): "0+600x240", bucket.format("+Inf"): "0+600x120 73200+1200x119"}
    rules = _rules("search", latency_targets_ms={"p99": 1000})
    labels = {"service": "search", "slo": "latency_p99"}
    _unit_test(tmp_path, rules, series, "120m", [], labels)
    _unit_test(tmp_path, rules, series, "150m", PAGE_AND_TICKET, labels)


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
    assert page["min_errors_in_long_window"] >= 1
    assert objectives["latency_p99"]["le_seconds"] == 0.25
    assert objectives["latency_p99"]["snapped_to_bucket"] is True
    assert summary["groups"][1]["rules"][0]["alert"] == "SLOBurnRate"

    bad = client.get(url, params={"format": "grafana"})
    assert bad.status_code == 422 and "format" in bad.text


# Time-slice budgeting (OpenSLO Timeslices / RatioTimeslices), scraped every 30 s so that a
# one-minute slice holds two samples of the counters whatever the range semantics.
TIMESLICES = Budgeting("timeslices", timeslice_target=0.95, timeslice_window_seconds=60)
RATIO_TIMESLICES = Budgeting("timeslices", timeslice_target=None, timeslice_window_seconds=60)


def test_every_time_slice_file_passes_promtool_check(tmp_path: Path) -> None:
    for budgeting in (TIMESLICES, RATIO_TIMESLICES):
        rules = _rules("checkout", availability_target=99.0, latency_targets_ms={"p99": 500},
                       budgeting=budgeting, period_days=28)  # fmt: skip
        document = yaml.safe_load(rules)
        slices = document["groups"][0]
        assert (slices["name"], slices["interval"]) == ("slo-engine:checkout:timeslices", "1m")
        path = tmp_path / "rules.yml"
        path.write_text(rules)
        result = _promtool("check", "rules", str(path))
        assert result.returncode == 0, result.stdout + result.stderr


def test_good_slices_spend_no_timeslice_budget(tmp_path: Path) -> None:
    # 10 req/s, 2% of them failing, for four hours: twice the 99% budget counted by requests
    # (a ticket), but every one-minute slice is 98% good, above its 95% slice target.
    series = {OK: "0+300x480", FAILED: "0+6x480"}
    occurrences = _rules("checkout", availability_target=99.0)
    _unit_test(tmp_path, occurrences, series, "230m", [(BURN, "ticket")], AVAILABILITY,
               interval="30s")  # fmt: skip
    sliced = _rules("checkout", availability_target=99.0, budgeting=TIMESLICES)
    remaining = ("round(slo:error_budget_remaining:ratio, 0.001)", 1)
    _unit_test(tmp_path, sliced, series, "230m", [], AVAILABILITY, also=[remaining],
               interval="30s")  # fmt: skip


def test_bad_slices_page(tmp_path: Path) -> None:
    # 10 req/s; from minute 120 a tenth of the requests fail: every slice is bad (90% < 95%).
    series = {OK: "0+300x480", FAILED: "0x240 30+30x239"}
    sliced = _rules("checkout", availability_target=99.0, budgeting=TIMESLICES)
    _unit_test(tmp_path, sliced, series, "119m", [], AVAILABILITY, interval="30s")
    # 1h of slices: 20% bad after 12 minutes > 14.4 × 1%; the 5-minute window is all bad.
    _unit_test(tmp_path, sliced, series, "135m", PAGE_AND_TICKET, AVAILABILITY,
               also=[("round(slo:sli_error:ratio_rate5m, 0.001)", 1)], interval="30s")  # fmt: skip


def test_a_burst_of_failing_traffic_pages_by_requests_not_by_mean_slice(tmp_path: Path) -> None:
    # 1 req/s for four hours; for five minutes from minute 120, 100 req/s more, all failing.
    # By requests that is 89% of the hour failing: a page. Averaged per one-minute slice, five
    # bad minutes are 8% of the hour, under 14.4 × 1%: RatioTimeslices does not page (the
    # OpenSLO example's point: a flood of requests weighs as much as the minutes it lasts). It
    # opens a ticket: the 3-day window holds only the two hours of history there are.
    series = {OK: "0+30x480", FAILED: "0x240 3000+3000x9 30000x230"}
    occurrences = _rules("checkout", availability_target=99.0)
    _unit_test(tmp_path, occurrences, series, "126m", PAGE_AND_TICKET, AVAILABILITY,
               interval="30s")  # fmt: skip
    sliced = _rules("checkout", availability_target=99.0, budgeting=RATIO_TIMESLICES)
    _unit_test(tmp_path, sliced, series, "126m", [(BURN, "ticket")], AVAILABILITY,
               interval="30s")  # fmt: skip
