"""What a Grafana dashboard draws is what Prometheus records (issue 17): `promtool test rules`
plays traffic through the exported rule file and evaluates every query of the dashboard's
availability panels — the SLI, the budget remaining and each burn-rate window — against the
value the recording rules give them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from analytics.latency_histogram import LATENCY_BUCKETS
from cli.prometheus_local import find_binary
from telemetry.alert_rules import BUDGET_REMAINING_RECORD, slo_rules
from telemetry.grafana_dashboards import dashboard_json, service_dashboard
from telemetry.promql import MetricNames

pytestmark = pytest.mark.usefixtures("prometheus_binaries")

OK = 'http_requests_total{service="checkout",status="200"}'
FAILED = 'http_requests_total{service="checkout",status="500"}'
LABELS = '{service="checkout", slo="availability"}'
#: 10 req/s succeed and 0.05 req/s fail for four hours: 3 of every 603 requests fail.
SERIES = {OK: "0+600x240", FAILED: "0+3x240"}
ERROR_RATIO = 3 / 603
BUDGET = 0.001  # a 99.9% objective


def _expected(expr: str) -> float:
    """The value a panel's query must show under SERIES: every window holds the same steady
    error ratio, so the budget remaining, the SLI and each window's burn rate follow from it."""
    if BUDGET_REMAINING_RECORD in expr:
        return 1 - ERROR_RATIO / BUDGET
    if expr.startswith("1 - "):
        return 1 - ERROR_RATIO
    assert expr.endswith(f" / {BUDGET:g}"), expr
    return ERROR_RATIO / BUDGET


def test_promtool_evaluates_the_dashboards_queries_on_the_exported_rules(tmp_path: Path) -> None:
    rules = slo_rules("checkout", MetricNames(), availability_target=99.9,
                      latency_targets_ms={}, bucket_bounds=LATENCY_BUCKETS)  # fmt: skip
    rule_file = rules.to_yaml()
    dashboard = dashboard_json(service_dashboard(rules))
    queries = sorted({target["expr"] for panel in dashboard["panels"] if panel["type"] != "row"
                      for target in panel["targets"]})  # fmt: skip
    assert len(queries) == 11  # SLI over 1h, 1d, 30d; budget; burn rate over 7 windows
    checks: list[dict[str, Any]] = [
        {
            "expr": f"round({query}, 0.001)",
            "eval_time": "230m",
            "exp_samples": [{"labels": LABELS, "value": round(_expected(query), 3)}],
        }
        for query in queries
    ]
    (tmp_path / "rules.yml").write_text(rule_file)
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "group_eval_order": [g["name"] for g in yaml.safe_load(rule_file)["groups"]],
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in SERIES.items()],
            "promql_expr_test": checks,
        }],
    }  # fmt: skip
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run(
        [str(find_binary("promtool")), "test", "rules", str(tmp_path / "test.yml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # The budget gauge shows -3.975: five times the budget's error ratio, overspent.
    assert round(_expected(f"{BUDGET_REMAINING_RECORD}{LABELS}"), 3) == -3.975
