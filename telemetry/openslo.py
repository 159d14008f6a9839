"""OpenSLO v1 documents: export an active SLO, import SLO documents written elsewhere (FR-10).

Export writes one `Service`, and per objective (availability, latency p99, latency p95) an
`SLI`, an `SLO` and four `AlertPolicy` objects with the same burn-rate conditions as the
generated Prometheus rules. Availability is a counter `ratioMetric` over the metrics the engine
reads; latency a `thresholdMetric` (the histogram's quantile) with a threshold objective
(`op: lte`, `value` in seconds, the histogram's unit, `target` naming the percentile). The
SLO's rolling `timeWindow` and `budgetingMethod` (with `timeSliceTarget` / `timeSliceWindow`)
are the active SLO's. Annotations carry what the spec has no field for (the exact service id,
the latency target in ms), so export → import is lossless.

Import reads OpenSLO as others write it: `SLO` documents with an inline `indicator` or an
`indicatorRef` to an `SLI` of the same upload (per SLO, or per objective), `Service` documents
naming the service, several objectives per SLO, any rolling window of whole days, and all three
budgeting methods. A latency objective is a `thresholdMetric` (`op: lt|lte`, `value` in the
unit of the query's metric) or a `ratioMetric` over an `le` bucket; its `target` names the
percentile (0.95 → p95, 0.99 → p99, 0.999 → p99.9, kept as the p99 target the way decisions
keep a p99.9 tier). What the engine cannot honour is refused with the field and the
alternative (`documents[2].spec.timeWindow[0].calendar`); what it reads by assumption is said
in the import's warnings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from analytics.burn_rate import (
    OCCURRENCES,
    TIMESLICE_WINDOW_SECONDS,
    Budgeting,
    burn_rate_alerts,
    snap_to_bucket,
)
from analytics.latency_histogram import LATENCY_BUCKETS
from store.errors import InvalidError
from store.slo_decisions import PERCENTILE_COLUMN
from telemetry.alert_rules import LATENCY_OBJECTIVES
from telemetry.promql import MetricNames, quote_label_value

API_VERSION = "openslo/v1"
ANNOTATION_SERVICE = "slo-engine.io/service-id"
ANNOTATION_OBJECTIVE = "slo-engine.io/objective"
ANNOTATION_LATENCY_MS = "slo-engine.io/latency-target-ms"
KINDS = {"Service", "SLI", "SLO", "AlertPolicy", "AlertCondition", "DataSource",
         "AlertNotificationTarget"}  # fmt: skip
TARGET_COLUMN = {
    "availability": "availability_target",
    "latency_p99": "latency_p99_target_ms",
    "latency_p95": "latency_p95_target_ms",
}
OBJECTIVE_OF_COLUMN = {column: objective for objective, column in TARGET_COLUMN.items()}
#: OpenSLO's budgeting methods as the store keeps them (RatioTimeslices: no slice target).
BUDGETING_METHODS = ("Occurrences", "Timeslices", "RatioTimeslices")
#: A latency objective's target names its percentile.
LATENCY_PERCENTILES = {0.95: "p95", 0.99: "p99", 0.999: "p99.9"}
#: What a threshold objective's `op` may be: latency is good when below the threshold.
THRESHOLD_OPS = ("lt", "lte")
#: The duration shorthand's units, in seconds (M, Q, Y as the OpenSLO SDK reads them).
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 30 * 86400,
                 "Q": 90 * 86400, "Y": 365 * 86400}  # fmt: skip
_DURATION = re.compile(r"([1-9][0-9]*)([mhdwMQY])")
#: The bound of an `le` matcher, also in the escaped-regex form the exports use (0\\.250*).
_LE = re.compile(r'le\s*=~?\s*"([0-9.\\eE+\-]+)')
#: A metric's unit, from its name (Prometheus base units say seconds; some say milliseconds).
_SECONDS_METRIC = re.compile(r"_seconds(?:_bucket|_sum|_count|_total)?\b")
_MS_METRIC = re.compile(r"_(?:milliseconds|ms)(?:_bucket|_sum|_count|_total)?\b")


class OpenSloError(InvalidError):
    """A document that cannot be imported; `field` names where, the way a person writes it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, detail=f"The OpenSLO documents are invalid: {field}: "
                         f"{message}. Nothing was written.")  # fmt: skip


def dns_name(*parts: str) -> str:
    """An RFC 1123 label, as OpenSLO requires for `metadata.name`."""
    text = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return text[:63].strip("-") or "slo"


class SloTargets(Protocol):
    """What an export reads of an active SLO (`store.slo_decisions.ActiveSlo` has it)."""

    @property
    def slo_id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def availability_target(self) -> float | None: ...
    @property
    def latency_p99_target_ms(self) -> int | None: ...
    @property
    def latency_p95_target_ms(self) -> int | None: ...
    @property
    def budgeting(self) -> Budgeting: ...


def export_documents(
    service_id: str,
    slo: SloTargets,
    names: MetricNames,
    *,
    bucket_bounds: Sequence[float],
    period_days: int = 30,
) -> list[dict[str, Any]]:
    """The OpenSLO documents for an active SLO (the `active_slo` row's fields)."""
    service = dns_name(service_id)
    svc = f"{names.service_label}={quote_label_value(service_id)}"
    budgeting = slo.budgeting
    documents: list[dict[str, Any]] = [{
        "apiVersion": API_VERSION, "kind": "Service",
        "metadata": {"name": service, "displayName": service_id,
                     "annotations": {ANNOTATION_SERVICE: service_id}},
        "spec": {"description": f"Exported by the SLO Recommendation Engine (active SLO "
                                f"{slo.slo_id}, {slo.source})."},
    }]  # fmt: skip
    # (objective, target %, SLI spec, the SLO's objective, extra annotations, display label)
    objectives: list[tuple[str, float, dict[str, Any], dict[str, Any], dict[str, str], str]] = []
    if slo.availability_target is not None:
        requests = names.requests
        ratio = {
            "counter": True,
            "bad": _prometheus(f"sum({requests}{{{svc}, {names.error_selector}}})"),
            "total": _prometheus(f"sum({requests}{{{svc}}})"),
        }
        target = float(slo.availability_target)
        objectives.append(("availability", target, {"ratioMetric": ratio},
                           {"target": round(target / 100, 8)}, {}, "availability"))  # fmt: skip
    rate_window = budgeting.slice_window or "5m"
    for percentile, level in LATENCY_OBJECTIVES.items():
        target_ms = getattr(slo, f"latency_{percentile}_target_ms")
        if target_ms is None or snap_to_bucket(target_ms, bucket_bounds) is None:
            continue  # above the largest bucket: nothing measures it (the rules have none)
        quantile = round(level / 100, 6)
        query = (f"histogram_quantile({quantile:g}, sum by (le) "
                 f"(rate({names.duration_bucket}{{{svc}}}[{rate_window}])))")  # fmt: skip
        # The value is in the metric's unit: the engine's latency histogram is in seconds.
        threshold = {"op": "lte", "value": target_ms / 1000, "target": quantile}
        objectives.append((f"latency_{percentile}", level,
                           {"thresholdMetric": _prometheus(query)}, threshold,
                           {ANNOTATION_LATENCY_MS: str(target_ms)},
                           f"latency {percentile} ≤ {target_ms} ms"))  # fmt: skip
    slices = _slice_fields(budgeting)
    for objective, target, indicator, threshold, extra, label in objectives:
        name = dns_name(service_id, objective)
        annotations = {ANNOTATION_SERVICE: service_id, ANNOTATION_OBJECTIVE: objective, **extra}
        policies = []
        for alert in burn_rate_alerts(target, period_days=period_days):
            policy = dns_name(service_id, objective, alert.severity, alert.long_window)
            policies.append(policy)
            documents.append(_alert_policy(policy, objective, alert.severity, alert.factor,
                                           alert.long_window, alert.short_window))  # fmt: skip
        documents.append({"apiVersion": API_VERSION, "kind": "SLI",
                          "metadata": {"name": name, "annotations": annotations},
                          "spec": indicator})  # fmt: skip
        documents.append({
            "apiVersion": API_VERSION, "kind": "SLO",
            "metadata": {"name": name, "displayName": f"{service_id} {label}",
                         "annotations": annotations},
            "spec": {
                "service": service,
                "indicatorRef": name,
                "timeWindow": [{"duration": f"{period_days}d", "isRolling": True}],
                "budgetingMethod": budgeting.openslo_method,
                "objectives": [{"displayName": label, **threshold, **slices}],
                "alertPolicies": [{"alertPolicyRef": p} for p in policies],
            },
        })  # fmt: skip
    return documents


def _slice_fields(budgeting: Budgeting) -> dict[str, Any]:
    if budgeting.slice_window is None:
        return {}
    if budgeting.timeslice_target is None:
        return {"timeSliceWindow": budgeting.slice_window}
    return {"timeSliceTarget": budgeting.timeslice_target,
            "timeSliceWindow": budgeting.slice_window}  # fmt: skip


def _prometheus(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def _alert_policy(
    name: str, objective: str, severity: str, factor: float, long_window: str, short_window: str
) -> dict[str, Any]:
    condition = {
        "kind": "AlertCondition",
        "metadata": {"name": name, "annotations": {"slo-engine.io/short-window": short_window}},
        "spec": {
            "description": f"{objective} budget burning ≥ {factor:g}× over {long_window} "
            f"(and over {short_window}, which resets the alert quickly)",
            "severity": severity,
            "condition": {
                "kind": "burnrate",
                "op": "gte",
                "threshold": factor,
                "lookbackWindow": long_window,
                "alertAfter": "0m",
            },
        },
    }
    return {
        "apiVersion": API_VERSION, "kind": "AlertPolicy", "metadata": {"name": name},
        "spec": {"description": f"Multi-window burn-rate {severity} for {objective}",
                 "alertWhenBreaching": True, "alertWhenResolved": False,
                 "alertWhenNoData": False, "conditions": [condition],
                 "notificationTargets": [{"targetRef": f"slo-{severity}"}]},
    }  # fmt: skip


def to_yaml(documents: Sequence[Mapping[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, width=100, allow_unicode=True)


def parse_documents(text: str) -> list[dict[str, Any]]:
    """YAML (one or more documents) into mappings; syntax errors name the line."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise OpenSloError("body", f"not valid YAML: {exc}".replace("\n", " ")) from None
    if not documents:
        raise OpenSloError("body", "no OpenSLO documents found")
    for i, document in enumerate(documents):
        where = f"documents[{i}]"
        if not isinstance(document, dict):
            raise OpenSloError(where, "must be a mapping with apiVersion, kind, metadata, spec")
        if document.get("apiVersion") != API_VERSION:
            found = document.get("apiVersion")
            raise OpenSloError(f"{where}.apiVersion", f"must be '{API_VERSION}', not {found!r}")
        if document.get("kind") not in KINDS:
            raise OpenSloError(f"{where}.kind", f"unknown kind {document.get('kind')!r}")
        name = (document.get("metadata") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise OpenSloError(f"{where}.metadata.name", "required")
        if not isinstance(document.get("spec"), dict):
            raise OpenSloError(f"{where}.spec", "required, a mapping")
    return documents


@dataclass
class ImportedSlo:
    service_id: str
    targets: dict[str, float | int] = field(default_factory=dict)
    documents: list[str] = field(default_factory=list)  # SLO names, for the audit rationale
    #: Which SLO document set each target column (a warning about a target names its document).
    document_of: dict[str, str] = field(default_factory=dict)
    budgeting: Budgeting = OCCURRENCES
    time_window_days: int = 30
    #: What the import read by assumption or left out: (SLO document name, warning).
    warnings: list[tuple[str, str]] = field(default_factory=list)
    #: The budget settings (OpenSLO field → (where first given, value)): one per active SLO.
    given: dict[str, tuple[str, Any]] = field(default_factory=dict)

    def agree(self, key: str, value: Any, where: str) -> None:
        """Every SLO document of a service must count its budget the same way: the active SLO
        holds one budgeting method, window and slice for all its objectives."""
        first = self.given.setdefault(key, (where, value))
        if first[1] != value:
            raise OpenSloError(
                where,
                f"{value!r} differs from {first[1]!r} at {first[0]}: an active SLO counts its "
                "budget one way for all its objectives; give every objective of "
                f"'{self.service_id}' the same {key}",
            )


def imported_slos(documents: Sequence[Mapping[str, Any]]) -> dict[str, ImportedSlo]:
    """The targets, budgeting method and window the SLO documents set, per service id."""
    slis = {d["metadata"]["name"]: (i, d) for i, d in enumerate(documents) if d["kind"] == "SLI"}
    service_ids = {
        d["metadata"]["name"]: (d["metadata"].get("annotations") or {}).get(ANNOTATION_SERVICE)
        or d["metadata"].get("displayName")
        or d["metadata"]["name"]
        for d in documents
        if d["kind"] == "Service"
    }
    found: dict[str, ImportedSlo] = {}
    for i, document in enumerate(documents):
        if document["kind"] == "SLO":
            _read_slo(f"documents[{i}]", document, slis, service_ids, found)
    if not found:
        raise OpenSloError("body", "no SLO documents (kind: SLO) to import")
    for slo in found.values():
        method = slo.given["budgetingMethod"][1]
        slice_seconds = slo.given.get("timeSliceWindow", ("", None))[1]
        if method == "Timeslices":
            slo.budgeting = Budgeting("timeslices", slo.given["timeSliceTarget"][1], slice_seconds)
        elif method == "RatioTimeslices":
            slo.budgeting = Budgeting("timeslices", None, slice_seconds)
        slo.time_window_days = slo.given.get("timeWindow", ("", 30))[1]
    return found


def _read_slo(
    where: str,
    document: Mapping[str, Any],
    slis: Mapping[str, tuple[int, Mapping[str, Any]]],
    service_ids: Mapping[str, str],
    found: dict[str, ImportedSlo],
) -> None:
    spec, metadata = document["spec"], document["metadata"]
    name = metadata["name"]
    annotations = metadata.get("annotations") or {}
    service = spec.get("service")
    if not isinstance(service, str) or not service:
        raise OpenSloError(f"{where}.spec.service", "required: the service the SLO is for")
    service_id = annotations.get(ANNOTATION_SERVICE) or service_ids.get(service, service)
    slo = found.setdefault(service_id, ImportedSlo(service_id))
    method = spec.get("budgetingMethod")
    if method not in BUDGETING_METHODS:
        raise OpenSloError(
            f"{where}.spec.budgetingMethod",
            f"must be Occurrences, Timeslices or RatioTimeslices, not {method!r}",
        )
    slo.agree("budgetingMethod", method, f"{where}.spec.budgetingMethod")
    if spec.get("timeWindow") is not None:
        days, note = _time_window(spec["timeWindow"], f"{where}.spec.timeWindow")
        slo.agree("timeWindow", days, f"{where}.spec.timeWindow[0].duration")
        if note:
            slo.warnings.append((name, note))
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        raise OpenSloError(f"{where}.spec.objectives", "at least one objective is required")
    # The engine's annotations describe an SLO of one objective (what the export writes).
    own = annotations if len(objectives) == 1 else {}
    for j, objective in enumerate(objectives):
        here = f"{where}.spec.objectives[{j}]"
        if not isinstance(objective, dict):
            raise OpenSloError(here, "must be a mapping with target or targetPercent")
        if "compositeWeight" in objective:
            raise OpenSloError(f"{here}.compositeWeight", "composite SLOs are not supported: "
                               "the engine keeps a budget per objective; remove compositeWeight "
                               "(each objective then stands alone)")  # fmt: skip
        target, key = _target(objective, here)
        slo.warnings.extend((name, w) for w in _time_slices(slo, method, objective, here))
        indicator, at = _indicator(objective, here, spec, where, slis)
        column, value, notes = _objective(indicator, at, objective, target, f"{here}.{key}", own)
        if column in slo.targets:
            raise OpenSloError(here, f"a second {OBJECTIVE_OF_COLUMN[column].replace('_', ' ')} "
                               f"objective for '{service_id}' (the first is in "
                               f"{slo.document_of[column]}): the active SLO keeps one target "
                               "each for availability, latency p99 and latency p95; import the "
                               "one its alerts should watch")  # fmt: skip
        slo.targets[column] = value
        slo.document_of[column] = name
        slo.warnings.extend((name, note) for note in notes)
    slo.documents.append(name)


def _duration(value: Any, where: str) -> tuple[int, str]:
    """A duration shorthand ("1m", "28d", "4w") in seconds, and its unit."""
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise OpenSloError(where, f"must be a duration shorthand such as 1m, 28d or 4w, "
                           f"not {value!r}")  # fmt: skip
    return int(match[1]) * _UNIT_SECONDS[match[2]], match[2]


def _time_window(value: Any, where: str) -> tuple[int, str | None]:
    """The rolling window in whole days; a note when a month, quarter or year was read."""
    if not isinstance(value, list) or len(value) != 1:
        raise OpenSloError(where, "exactly one time window (a list of one)")
    window, here = value[0], f"{where}[0]"
    if not isinstance(window, dict):
        raise OpenSloError(here, "must be a mapping with duration and isRolling")
    if window.get("calendar") is not None:
        raise OpenSloError(f"{here}.calendar", "calendar-aligned windows are not supported: the "
                           "engine's error budget and alerts are rolling; use isRolling: true "
                           "with the same duration")  # fmt: skip
    if window.get("isRolling", True) is not True:
        raise OpenSloError(f"{here}.isRolling", "must be true: the engine's error budget and "
                           "alerts are rolling windows")  # fmt: skip
    duration = window.get("duration")
    seconds, unit = _duration(duration, f"{here}.duration")
    days, rest = divmod(seconds, 86400)
    if rest or not 1 <= days <= 366:
        raise OpenSloError(f"{here}.duration", f"{duration!r} is not supported: the window is "
                           "whole days from 1d to 366d (e.g. 28d, 4w, 30d)")  # fmt: skip
    if unit in "MQY":
        return days, f"{here}.duration {duration!r} read as {days} rolling days"
    return days, None


def _time_slices(slo: ImportedSlo, method: str, objective: Mapping[str, Any],
                 here: str) -> list[str]:  # fmt: skip
    """Check an objective's slice fields against the method; warnings for ignored ones."""
    given = [key for key in ("timeSliceTarget", "timeSliceWindow") if key in objective]
    if method == "Occurrences":
        return [f"{here}: {' and '.join(given)} ignored: budgetingMethod is Occurrences"] if (
            given) else []  # fmt: skip
    if "timeSliceWindow" not in objective:
        raise OpenSloError(f"{here}.timeSliceWindow", f"required with {method}: the length of "
                           "a slice, 1m to 5m")  # fmt: skip
    slice_seconds = _slice_seconds(objective["timeSliceWindow"], f"{here}.timeSliceWindow")
    slo.agree("timeSliceWindow", slice_seconds, f"{here}.timeSliceWindow")
    if method == "RatioTimeslices":
        return [f"{here}.timeSliceTarget ignored: RatioTimeslices averages the slices' ratios "
                "(Timeslices counts slices against a slice target)"] if (
            "timeSliceTarget" in objective) else []  # fmt: skip
    value = objective.get("timeSliceTarget")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise OpenSloError(f"{here}.timeSliceTarget", "required with Timeslices: the good ratio "
                           "that makes a slice good, in (0, 1]; or use RatioTimeslices, which "
                           "averages the slices' ratios")  # fmt: skip
    slo.agree("timeSliceTarget", float(value), f"{here}.timeSliceTarget")
    return []


def _slice_seconds(value: Any, where: str) -> int:
    """A slice: a duration shorthand, or a number of minutes (the spec's default unit)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OpenSloError(where, f"must be a duration such as 1m (or minutes), not {value!r}")
    if isinstance(value, str):
        seconds = _duration(value, where)[0]
    elif float(value).is_integer() and value > 0:
        seconds = int(value) * 60
    else:
        raise OpenSloError(where, f"must be whole minutes, not {value!r}")
    low, high = TIMESLICE_WINDOW_SECONDS
    if not low <= seconds <= high:
        raise OpenSloError(where, f"{value!r} is not supported: slices of {low // 60}m to "
                           f"{high // 60}m (the page alert's 5-minute window must hold a whole "
                           "slice); use 1m to 5m, or budgetingMethod: Occurrences")  # fmt: skip
    return seconds


def _target(objective: Mapping[str, Any], where: str) -> tuple[float, str]:
    """The objective's target as a ratio, and the key it was given under."""
    if "target" in objective and "targetPercent" in objective:
        raise OpenSloError(f"{where}.targetPercent", "cannot be used with target: give one")
    if "target" in objective:
        value, low, high, key = objective["target"], 0.0, 1.0, "target"
    elif "targetPercent" in objective:
        value, low, high, key = objective["targetPercent"], 0.0, 100.0, "targetPercent"
    else:
        raise OpenSloError(where, "target or targetPercent is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value < high:
        raise OpenSloError(f"{where}.{key}", f"must be a number in ({low:g}, {high:g})")
    return float(value) / (100.0 if key == "targetPercent" else 1.0), key


def _indicator(
    objective: Mapping[str, Any],
    here: str,
    spec: Mapping[str, Any],
    where: str,
    slis: Mapping[str, tuple[int, Mapping[str, Any]]],
) -> tuple[dict[str, Any], str]:
    """The objective's own indicator, else the SLO's: its spec and where it is written."""
    for owner, at in ((objective, here), (spec, f"{where}.spec")):
        inline = owner.get("indicator")
        if inline is not None:
            if not isinstance(inline, dict):
                raise OpenSloError(f"{at}.indicator", "must be a mapping with metadata and spec")
            if isinstance(inline.get("spec"), dict):
                return dict(inline["spec"]), f"{at}.indicator.spec"
            return dict(inline), f"{at}.indicator"
        ref = owner.get("indicatorRef")
        if ref is not None:
            if not isinstance(ref, str) or ref not in slis:
                raise OpenSloError(f"{at}.indicatorRef", f"no SLI named {ref!r} in the documents")
            index, sli = slis[ref]
            return dict(sli["spec"]), f"documents[{index}].spec"
    raise OpenSloError(f"{where}.spec", "indicator or indicatorRef is required")


def _objective(
    indicator: Mapping[str, Any],
    at: str,
    objective: Mapping[str, Any],
    target: float,
    target_at: str,
    annotations: Mapping[str, Any],
) -> tuple[str, float | int, list[str]]:
    """(target column, value, warnings) of one objective."""
    document = target_at.split(".", 1)[0]  # the SLO's own annotations
    named = annotations.get(ANNOTATION_OBJECTIVE)
    if named is not None and named not in TARGET_COLUMN:
        raise OpenSloError(f"{document}.metadata.annotations.{ANNOTATION_OBJECTIVE}",
                           f"unknown objective {named!r}")  # fmt: skip
    here = target_at.rsplit(".", 1)[0]
    if isinstance(indicator.get("thresholdMetric"), dict):
        return _threshold_objective(indicator["thresholdMetric"], f"{at}.thresholdMetric",
                                    objective, target, target_at, here, annotations)  # fmt: skip
    queries = _queries(indicator)
    if not queries:
        raise OpenSloError(at, "the indicator needs a ratioMetric (good|bad and total, or raw) "
                           "or a thresholdMetric")  # fmt: skip
    latency = any(_LE.search(q) for q in queries.values())
    if named is not None:
        latency = named != "availability"
    if not latency:
        return TARGET_COLUMN["availability"], round(target * 100, 4), []
    column, notes = (TARGET_COLUMN[named], []) if named else _percentile(target, target_at)
    return column, _le_ms(annotations, queries, at, document), notes


def _percentile(target: float, where: str) -> tuple[str, list[str]]:
    """The latency column a target names; p99.9 is kept as the p99 target (with a warning)."""
    for level, percentile in LATENCY_PERCENTILES.items():
        if abs(target - level) < 1e-9:
            if percentile != "p99.9":
                return PERCENTILE_COLUMN[percentile], []
            return PERCENTILE_COLUMN[percentile], [
                f"{where}: a p99.9 objective is kept as the p99 target (the engine keeps p99 "
                "and p95): its alerts spend a 1% budget of slow requests, not 0.1%"
            ]
    raise OpenSloError(where, "a latency objective's target names its percentile: 0.95 (p95), "
                       "0.99 (p99) or 0.999 (p99.9, kept as p99), not "
                       f"{target:g}; use one of those")  # fmt: skip


def _threshold_objective(
    metric: Mapping[str, Any],
    at: str,
    objective: Mapping[str, Any],
    target: float,
    target_at: str,
    here: str,
    annotations: Mapping[str, Any],
) -> tuple[str, int, list[str]]:
    """A threshold objective is request latency: "p99 ≤ value" for `target: 0.99`."""
    op = objective.get("op")
    if op not in THRESHOLD_OPS:
        raise OpenSloError(f"{here}.op", "a thresholdMetric objective is read as request "
                           "latency: op must be lt or lte (requests faster than value), not "
                           f"{op!r}")  # fmt: skip
    named = annotations.get(ANNOTATION_OBJECTIVE)
    if named == "availability":
        raise OpenSloError(f"{here}.op", "a thresholdMetric objective is latency, but the SLO "
                           f"is annotated {ANNOTATION_OBJECTIVE}: availability")  # fmt: skip
    column, notes = (TARGET_COLUMN[named], []) if named else _percentile(target, target_at)
    value = objective.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise OpenSloError(f"{here}.value", "required: the latency threshold, a positive number "
                           "in the unit of the indicator's metric")  # fmt: skip
    if annotations.get(ANNOTATION_LATENCY_MS) is not None:
        return column, _annotated_ms(annotations, here.split(".", 1)[0]), notes
    unit = _unit(" ".join(_strings(metric)), f"{at}.metricSource.spec")
    if unit is None:
        notes.append(f"{here}.value: the indicator's metric names no unit (…_seconds, "
                     f"…_milliseconds): {value:g} read as milliseconds")  # fmt: skip
    exact = float(value) * (1000 if unit == "s" else 1)
    largest = max(b for b in LATENCY_BUCKETS if math.isfinite(b))
    if not 1 <= exact <= largest * 1000:
        raise OpenSloError(f"{here}.value", f"{value:g} {unit or 'ms'} is outside what the "
                           f"engine's latency histogram measures (1 ms to {largest:g} s): the "
                           "value is in the unit of the indicator's metric — seconds for a "
                           "…_seconds metric (0.5 = 500 ms), milliseconds when it names none; "
                           f"or set the annotation {ANNOTATION_LATENCY_MS}")  # fmt: skip
    return column, math.ceil(round(exact, 6)), notes  # whole ms, never tighter


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _unit(text: str, where: str) -> str | None:
    """The unit ("s" or "ms") from the metric names in a query, None when it names neither."""
    seconds, millis = bool(_SECONDS_METRIC.search(text)), bool(_MS_METRIC.search(text))
    if seconds and millis:
        raise OpenSloError(where, "names metrics in seconds and in milliseconds: the value's "
                           "unit is ambiguous; use one")  # fmt: skip
    return "s" if seconds else "ms" if millis else None


def _queries(indicator: Mapping[str, Any]) -> dict[str, str]:
    ratio = indicator.get("ratioMetric") or {}
    if not isinstance(ratio, dict):
        return {}
    return {
        part: str(((ratio.get(part) or {}).get("metricSource") or {}).get("spec", {}).get("query"))
        for part in ("good", "bad", "total", "raw")
        if isinstance(ratio.get(part), dict)
    }


def _annotated_ms(annotations: Mapping[str, Any], document: str) -> int:
    try:
        return int(annotations[ANNOTATION_LATENCY_MS])
    except ValueError:
        where = f"{document}.metadata.annotations.{ANNOTATION_LATENCY_MS}"
        raise OpenSloError(where, "must be whole milliseconds") from None


def _le_ms(
    annotations: Mapping[str, Any], queries: Mapping[str, str], at: str, document: str
) -> int:
    """A ratio latency SLI's threshold: its `le` bound, in the histogram's unit."""
    if annotations.get(ANNOTATION_LATENCY_MS) is not None:
        return _annotated_ms(annotations, document)
    scale = 1 if _unit(" ".join(queries.values()), f"{at}.ratioMetric") == "ms" else 1000
    for query in queries.values():
        match = _LE.search(query)
        if match and match.group(1) not in ("+Inf",):
            return round(float(match.group(1).replace("\\", "")) * scale)
    raise OpenSloError(at, "no histogram le bound in the indicator's queries")
