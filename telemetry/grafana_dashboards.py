"""Grafana dashboards of accepted SLOs, drawn from the recording rules the engine exports.

A dashboard is built from a `RuleSet` — the very rule file `GET …/slos/alerts` serves for the
SLO — and reads nothing but its recordings: the counted error ratio per window
(`error_ratio_record`) and the error budget remaining over the SLO period
(`BUDGET_REMAINING_RECORD`), with the labels the rules give each objective. The thresholds
are the rule set's own numbers: the objective's target, and each multiwindow condition's
burn-rate factor (`objectives[].alerts[].burn_rate_factor`), so a change to how the factors
scale with the SLO period reaches the dashboards without a line here. Load the rule file into
Prometheus first: without the recordings every panel is empty.

Per objective (availability, latency p99 / p95) a row: the SLI over the SLO period (stat),
the error budget remaining (gauge), the SLI against the target over time, the budget
remaining over the whole period, and one burn-rate panel per alert condition — its long and
short window, the factor both must exceed drawn as a dashed threshold. The fleet overview
has a row per service with the SLI, the budget and the burn rate of the condition with the
highest factor (the fastest page).

Every panel queries `${datasource}`, a Prometheus data-source variable, so the JSON imports
into any Grafana; uids are derived from the service id (or the team), so importing again
replaces the dashboard instead of adding a copy. Built with grafana-foundation-sdk.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import gauge, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models

from telemetry.alert_rules import BUDGET_REMAINING_RECORD, RuleSet, error_ratio_record
from telemetry.promql import quote_label_value

#: The data-source template variable every panel queries.
DATASOURCE_VARIABLE = "datasource"
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VARIABLE + "}")
#: Every dashboard the engine generates carries this tag (and links to the others by it).
TAG = "slo-engine"
#: The windows the "SLI vs target" panel draws besides the whole period (recorded windows).
SLI_WINDOWS = ("1h", "1d")
BURN_RATE_UNIT = "suffix:×"
WIDTH = 24  # Grafana's grid


@dataclass(frozen=True)
class Objective:
    """One objective of a rule set, as its panels need it."""

    slo: str
    title: str
    target_percent: float
    error_budget: float
    #: The label matchers of the objective's recordings: `{service="…", slo="…"}`.
    selector: str
    period_window: str
    alerts: list[dict[str, Any]]

    def error_ratio(self, window: str) -> str:
        return error_ratio_record(window) + self.selector

    def sli(self, window: str) -> str:
        return f"1 - {self.error_ratio(window)}"

    def burn_rate(self, window: str) -> str:
        return f"{self.error_ratio(window)} / {self.error_budget:.10g}"

    @property
    def budget_remaining(self) -> str:
        return BUDGET_REMAINING_RECORD + self.selector


def objectives_of(rules: RuleSet) -> list[Objective]:
    """The rule set's objectives, each with the labels its own recordings carry."""
    return [
        Objective(
            slo=objective["slo"],
            title=_objective_title(objective),
            target_percent=float(objective["target"]),
            error_budget=float(objective["error_budget"]),
            selector=_selector(_recording_labels(rules, objective["slo"])),
            period_window=rules.period_window,
            alerts=list(objective["alerts"]),
        )
        for objective in rules.objectives
    ]


def service_dashboard_uid(service_id: str) -> str:
    """Stable across exports and engines, within Grafana's 40 characters whatever the id."""
    return "slo-engine-" + hashlib.sha256(service_id.encode()).hexdigest()[:24]


def fleet_dashboard_uid(team: str | None = None) -> str:
    suffix = "" if team is None else "-" + hashlib.sha256(team.encode()).hexdigest()[:16]
    return "slo-engine-fleet" + suffix


def service_dashboard(rules: RuleSet) -> models.Dashboard:
    """The dashboard of one service's active SLO, over the recordings of `rules`."""
    panels = _PanelIds()
    tags = [TAG, "slo", "service"]
    if len(rules.service_id) <= 42:  # Grafana keeps tags to 50 characters
        tags.append(f"service:{rules.service_id}")
    builder = _dashboard(
        f"SLO: {rules.service_id}",
        service_dashboard_uid(rules.service_id),
        tags,
        _service_description(rules),
    )
    for objective in objectives_of(rules):
        builder.with_row(dashboard_builders.Row(objective.title).id(panels.next()))
        for panel in _objective_panels(objective, panels):
            builder.with_panel(panel)
    return _built(builder)


def fleet_dashboard(
    rule_sets: Sequence[RuleSet], *, total: int, team: str | None = None
) -> models.Dashboard:
    """A row per service (`rule_sets`, in order): SLI over the period, budget remaining and
    the burn rate of the fastest condition of each objective. `total` counts the services
    with an active SLO, shown or not, for the description."""
    panels = _PanelIds()
    scope = f"team {team}" if team is not None else "the fleet"
    shown = len(rule_sets)
    described = (
        f"SLOs of {scope}: {shown} of {total} services with an active SLO, the most critical "
        "first. Each row reads the recording rules of GET /api/v1/services/{id}/slos/alerts; "
        "load them into Prometheus first. The service dashboards (tag "
        f"'{TAG}') add the SLI over time and every alert window."
    )
    builder = _dashboard(
        f"SLOs: {scope}", fleet_dashboard_uid(team), [TAG, "slo", "fleet"], described
    )
    for rules in rule_sets:
        builder.with_row(dashboard_builders.Row(rules.service_id).id(panels.next()))
        for objective in objectives_of(rules):
            builder.with_panel(_sli_stat(objective, panels, 4))
            builder.with_panel(_budget_gauge(objective, panels, 4))
            if objective.alerts:
                fastest = max(objective.alerts, key=lambda alert: alert["burn_rate_factor"])
                builder.with_panel(_burn_rate(objective, fastest, panels, WIDTH - 8, height=6))
    return _built(builder)


def dashboard_json(dashboard: models.Dashboard) -> dict[str, Any]:
    """The dashboard model as Grafana's JSON (what the UI imports and `/api/dashboards/db`
    takes as `dashboard`)."""
    return cast(dict[str, Any], json.loads(json.dumps(dashboard, cls=JSONEncoder)))


def _built(builder: dashboard_builders.Dashboard) -> models.Dashboard:
    dashboard = builder.build()
    if dashboard.panels is None:  # no objective, no service: still a `panels` list
        dashboard.panels = []
    return dashboard


class _PanelIds:
    """Panel ids, unique within a dashboard (Grafana requires it)."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last += 1
        return self._last


def _dashboard(
    title: str, uid: str, tags: list[str], description: str
) -> dashboard_builders.Dashboard:
    return (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .tags(tags)
        .description(description)
        .time("now-2d", "now")
        .refresh("1m")
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .with_variable(
            dashboard_builders.DatasourceVariable(DATASOURCE_VARIABLE)
            .label("Prometheus")
            .type("prometheus")
        )
        .link(
            dashboard_builders.DashboardLink("SLO dashboards")
            .type(models.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )


def _service_description(rules: RuleSet) -> str:
    notes = " ".join(rules.notes)
    return (
        f"SLO of {rules.service_id} over a {rules.period_days}-day period, budget counted "
        f"{rules.budgeting.openslo_method}. Every panel reads the recording rules of "
        f"GET /api/v1/services/{rules.service_id}/slos/alerts?period_days={rules.period_days}: "
        "load them into Prometheus first." + (f" {notes}" if notes else "")
    )


def _objective_title(objective: dict[str, Any]) -> str:
    if "latency_target_ms" not in objective:
        return f"{objective['slo'].capitalize()} {objective['target']:g}%"
    percentile = objective["slo"].removeprefix("latency_")
    measured = (
        f" (measured at le={objective['le_seconds']:g} s)"
        if objective.get("snapped_to_bucket")
        else ""
    )
    return (
        f"Latency {percentile} ≤ {objective['latency_target_ms']} ms{measured}: "
        f"{objective['target']:g}% of requests"
    )


def _recording_labels(rules: RuleSet, slo: str) -> dict[str, str]:
    """The labels the rule set records an objective's budget with (service label, `slo`)."""
    for group in rules.groups:
        for rule in group["rules"]:
            labels = rule.get("labels", {})
            if rule.get("record") == BUDGET_REMAINING_RECORD and labels.get("slo") == slo:
                return cast(dict[str, str], labels)
    raise ValueError(f"the rule set records no {BUDGET_REMAINING_RECORD} for {slo!r}")


def _selector(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={quote_label_value(v)}" for k, v in labels.items()) + "}"


def _objective_panels(objective: Objective, ids: _PanelIds) -> list[Builder[models.Panel]]:
    return [
        _sli_stat(objective, ids, 4),
        _budget_gauge(objective, ids, 4),
        _sli_series(objective, ids, WIDTH - 8),
        _budget_series(objective, ids, WIDTH),
        *(_burn_rate(objective, alert, ids, WIDTH // max(1, len(objective.alerts)))
          for alert in objective.alerts),
    ]  # fmt: skip


def _query(expr: str, legend: str, ref_id: str, *, instant: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id)
    query.datasource(DATASOURCE)
    return query.instant() if instant else query.range()


def _steps(*steps: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(value=value, color=color) for value, color in steps])
    )


def _target_steps(objective: Objective) -> dashboard_builders.ThresholdsConfig:
    return _steps((None, "red"), (objective.target_percent / 100, "green"))


def _last_value() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def _legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .show_legend(True)
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
    )


def _dashed_thresholds() -> common_builders.GraphThresholdsStyleConfig:
    return common_builders.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED)


def _sli_stat(objective: Objective, ids: _PanelIds, width: int) -> stat.Panel:
    period = objective.period_window
    return (
        stat.Panel()
        .id(ids.next())
        .title(f"SLI over {period}")
        .description(f"{objective.title}: the SLI over the SLO period; green at the target.")
        .datasource(DATASOURCE)
        .with_target(_query(objective.sli(period), f"SLI {period}", "A", instant=True))
        .unit("percentunit")
        .decimals(3)
        .thresholds(_target_steps(objective))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(_last_value())
        .span(width)
        .height(6)
    )


def _budget_gauge(objective: Objective, ids: _PanelIds, width: int) -> gauge.Panel:
    return (
        gauge.Panel()
        .id(ids.next())
        .title("Error budget remaining")
        .description(
            f"Share of the {objective.period_window} error budget ({objective.error_budget:.10g} "
            "error ratio) not yet spent; negative once overspent."
        )
        .datasource(DATASOURCE)
        .with_target(_query(objective.budget_remaining, "remaining", "A", instant=True))
        .unit("percentunit")
        .decimals(1)
        .min(0)
        .max(1)
        .thresholds(_steps((None, "red"), (0.25, "orange"), (0.5, "green")))
        .reduce_options(_last_value())
        .span(width)
        .height(6)
    )


def _sli_series(objective: Objective, ids: _PanelIds, width: int) -> timeseries.Panel:
    windows = (*SLI_WINDOWS, objective.period_window)
    panel = (
        timeseries.Panel()
        .id(ids.next())
        .title("SLI vs target")
        .description(
            f"{objective.title}: the SLI over {', '.join(windows)}; the dashed line is the "
            f"{objective.target_percent:g}% target."
        )
        .datasource(DATASOURCE)
        .unit("percentunit")
        .decimals(3)
        .thresholds(_target_steps(objective))
        .thresholds_style(_dashed_thresholds())
        .legend(_legend())
        .span(width)
        .height(6)
    )
    for ref, window in zip("ABC", windows, strict=True):
        panel.with_target(_query(objective.sli(window), f"SLI {window}", ref))
    return panel


def _budget_series(objective: Objective, ids: _PanelIds, width: int) -> timeseries.Panel:
    period = objective.period_window
    return (
        timeseries.Panel()
        .id(ids.next())
        .title(f"Error budget remaining over the SLO period ({period})")
        .description("Budget left of the rolling period; below the dashed zero it is overspent.")
        .datasource(DATASOURCE)
        .with_target(_query(objective.budget_remaining, "remaining", "A"))
        .time_from(period)
        .unit("percentunit")
        .thresholds(_steps((None, "red"), (0, "green")))
        .thresholds_style(_dashed_thresholds())
        .legend(_legend())
        .span(width)
        .height(7)
    )


def _burn_rate(
    objective: Objective, alert: dict[str, Any], ids: _PanelIds, width: int, *, height: int = 7
) -> timeseries.Panel:
    long, short, factor = alert["long_window"], alert["short_window"], alert["burn_rate_factor"]
    severity = alert["severity"]
    return (
        timeseries.Panel()
        .id(ids.next())
        .title(f"Burn rate {long} / {short}: {severity} above {factor:g}×")
        .description(
            f"{objective.title}: error ratio over {long} and {short} divided by the budget. "
            f"Both above the dashed {factor:g}× ({alert['budget_share']:.0%} of the period's "
            f"budget gone in {long}), with at least {alert['min_errors_in_long_window']} errors "
            f"in {long}, raise the {severity} alert."
        )
        .datasource(DATASOURCE)
        .with_target(_query(objective.burn_rate(long), long, "A"))
        .with_target(_query(objective.burn_rate(short), short, "B"))
        .unit(BURN_RATE_UNIT)
        .min(0)
        .thresholds(_steps((None, "green"), (float(factor), "red")))
        .thresholds_style(_dashed_thresholds())
        .legend(_legend())
        .span(width)
        .height(height)
    )
