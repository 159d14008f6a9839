"""Grafana dashboards of an SLO (issue 17): the JSON is a dashboard the SDK's own model reads
back unchanged, with the panels an SLO needs, and every query reads only recording rules the
engine's rule file for that SLO defines — a made-up name is caught."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import prometheus as prometheus_models

from analytics.burn_rate import Budgeting, burn_rate_alerts
from analytics.latency_histogram import LATENCY_BUCKETS
from telemetry.alert_rules import RuleSet, slo_rules
from telemetry.grafana_dashboards import (
    dashboard_json,
    fleet_dashboard,
    fleet_dashboard_uid,
    service_dashboard,
    service_dashboard_uid,
)
from telemetry.promql import MetricNames


def _rules(service: str = "checkout", **kwargs: Any) -> RuleSet:
    options: dict[str, Any] = {
        "availability_target": 99.9,
        "latency_targets_ms": {"p99": 237},
        "bucket_bounds": LATENCY_BUCKETS,
        **kwargs,
    }
    return slo_rules(service, options.pop("names", MetricNames()), **options)


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _rows(dashboard: dict[str, Any]) -> list[str]:
    return [p["title"] for p in dashboard["panels"] if p["type"] == "row"]


def _steps(panel: dict[str, Any]) -> list[float | None]:
    return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


# -- (a) the SDK's model reads the JSON back, and the panels are the expected ones -----------


def test_the_json_round_trips_through_the_sdk_model() -> None:
    register_default_plugins()  # so targets decode as Prometheus queries, not unknown bags
    original = dashboard_json(service_dashboard(_rules()))
    model = models.Dashboard.from_json(copy.deepcopy(original))
    assert json.loads(json.dumps(model, cls=JSONEncoder)) == original
    panels = [p for p in model.panels or [] if isinstance(p, models.Panel)]
    assert panels and all(
        isinstance(target, prometheus_models.Dataquery) and target.expr
        for panel in panels
        for target in panel.targets or []
    )
    assert {p.type_val for p in panels} == {"stat", "gauge", "timeseries"}


def test_a_row_per_objective_with_sli_budget_and_each_alert_window() -> None:
    dashboard = dashboard_json(service_dashboard(_rules()))
    assert _rows(dashboard) == [
        "Availability 99.9%",
        "Latency p99 ≤ 237 ms (measured at le=0.25 s): 99% of requests",
    ]
    panels = _panels(dashboard)
    assert [p["type"] for p in panels].count("stat") == 2
    assert [p["type"] for p in panels].count("gauge") == 2
    assert [p["title"] for p in panels[:8]] == [  # the availability row
        "SLI over 30d",
        "Error budget remaining",
        "SLI vs target",
        "Error budget remaining over the SLO period (30d)",
        "Burn rate 1h / 5m: page above 14.4×",
        "Burn rate 6h / 30m: page above 6×",
        "Burn rate 1d / 2h: ticket above 3×",
        "Burn rate 3d / 6h: ticket above 1×",
    ]
    sli_stat, gauge, sli_series, budget_series = panels[:4]
    assert _steps(sli_stat) == [None, pytest.approx(0.999)]
    assert _steps(sli_series) == [None, pytest.approx(0.999)]
    assert budget_series["timeFrom"] == "30d"
    assert gauge["targets"][0]["instant"] is True
    assert [len(p["targets"]) for p in panels[:4]] == [1, 1, 3, 1]
    # The latency row's SLI is measured against 99% of requests within the bucket.
    assert _steps(panels[8]) == [None, pytest.approx(0.99)]


@pytest.mark.parametrize("period_days", [28, 30])
def test_burn_rate_thresholds_are_each_conditions_factor(period_days: int) -> None:
    dashboard = dashboard_json(service_dashboard(_rules(period_days=period_days)))
    burn = [p for p in _panels(dashboard) if p["title"].startswith("Burn rate")]
    policy = burn_rate_alerts(99.9, period_days=period_days) + burn_rate_alerts(
        99.0, period_days=period_days
    )
    assert len(burn) == len(policy) == 8
    for panel, alert in zip(burn, policy, strict=True):
        assert _steps(panel) == [None, pytest.approx(alert.factor)]
        assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"
        windows = [t["legendFormat"] for t in panel["targets"]]
        assert windows == [alert.long_window, alert.short_window]
    # 28 days: 13.44 / 5.6 / 2.8 / 0.933 — the factors scale with the period.
    assert _steps(burn[0])[1] == pytest.approx(14.4 * period_days / 30)


def test_datasource_variable_uid_and_tags() -> None:
    dashboard = dashboard_json(service_dashboard(_rules()))
    (variable,) = dashboard["templating"]["list"]
    assert (variable["type"], variable["name"], variable["query"]) == (
        "datasource", "datasource", "prometheus",
    )  # fmt: skip
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and 0 not in ids
    assert dashboard["uid"] == service_dashboard_uid("checkout")
    assert dashboard["uid"] == dashboard_json(service_dashboard(_rules()))["uid"]  # stable
    assert dashboard["uid"] != service_dashboard_uid("checkout2")
    assert len(service_dashboard_uid("x" * 255)) <= 40
    assert {"slo-engine", "service:checkout"} <= set(dashboard["tags"])
    assert dashboard["links"][0]["tags"] == ["slo-engine"]


def test_the_fleet_overview_has_a_row_per_service() -> None:
    rule_sets = [_rules("web"), _rules("payments", latency_targets_ms={})]
    dashboard = dashboard_json(fleet_dashboard(rule_sets, total=5))
    assert _rows(dashboard) == ["web", "payments"]
    assert dashboard["uid"] == fleet_dashboard_uid() != fleet_dashboard_uid("money")
    assert "2 of 5 services" in dashboard["description"]
    # web: availability and latency, payments: availability; three panels each.
    assert len(_panels(dashboard)) == 9
    first_burn = _panels(dashboard)[2]
    assert first_burn["title"] == "Burn rate 1h / 5m: page above 14.4×"
    assert "payments" in _panels(dashboard)[-1]["targets"][0]["expr"]


# -- (b) every query reads a recording of the rule file for the same SLO ---------------------

_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_KEYWORDS = {"bool", "offset", "and", "or", "unless", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, label matchers,
    ranges, strings and numbers left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = match.groups()
        if call is None and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def recorded_names(rule_file: str) -> set[str]:
    groups = yaml.safe_load(rule_file)["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def names_not_recorded(dashboard: dict[str, Any], rule_file: str) -> set[str]:
    used = {name for panel in _panels(dashboard) for target in panel["targets"]
            for name in metric_names(target["expr"])}  # fmt: skip
    assert used, "the dashboard queries nothing"
    return used - recorded_names(rule_file)


def test_the_name_parser_finds_what_a_query_selects() -> None:
    assert metric_names('1 - slo:sli_error:ratio_rate1h{service="a", slo="b"} / 1e-3') == {
        "slo:sli_error:ratio_rate1h"
    }
    assert metric_names(
        'sum by (service) (rate(http_requests_total{le=~"0\\\\.25"}[5m])) > bool 0.5'
    ) == {"http_requests_total"}


RULE_SETS = {
    "prometheus, 30 days": {},
    "spanmetrics, 28 days": {"names": MetricNames.profile("otel_spanmetrics"), "period_days": 28},
    "p95 and timeslices": {
        "latency_targets_ms": {"p99": 500, "p95": 100},
        "budgeting": Budgeting("timeslices", timeslice_target=0.95, timeslice_window_seconds=60),
    },
    "latency only": {"availability_target": None},
}


@pytest.mark.parametrize("options", RULE_SETS.values(), ids=RULE_SETS.keys())
def test_every_panel_reads_only_recordings_of_the_exported_rule_file(
    options: dict[str, Any],
) -> None:
    rules = _rules(**options)
    rule_file = rules.to_yaml()
    for dashboard in (service_dashboard(rules), fleet_dashboard([rules], total=1)):
        assert names_not_recorded(dashboard_json(dashboard), rule_file) == set()


def test_a_made_up_name_is_caught() -> None:
    rules = _rules()
    dashboard = dashboard_json(service_dashboard(rules))
    assert names_not_recorded(dashboard, rules.to_yaml()) == set()
    broken = copy.deepcopy(dashboard)
    target = _panels(broken)[3]["targets"][0]
    target["expr"] = target["expr"].replace("slo:error_budget_remaining:ratio",
                                            "slo:error_budget_left:ratio")  # fmt: skip
    assert names_not_recorded(broken, rules.to_yaml()) == {"slo:error_budget_left:ratio"}
    # and a window the rules do not record
    broken = copy.deepcopy(dashboard)
    target = _panels(broken)[4]["targets"][0]
    target["expr"] = target["expr"].replace("ratio_rate1h", "ratio_rate4h")
    assert names_not_recorded(broken, rules.to_yaml()) == {"slo:sli_error:ratio_rate4h"}
