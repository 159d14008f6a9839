"""OpenSLO v1 documents: export an active SLO, import SLO documents written elsewhere (FR-10).

Export writes one `Service`, and per objective (availability, latency p99, latency p95) an
`SLI` with a counter `ratioMetric` over the metrics the engine reads, an `SLO` (rolling window,
`Occurrences`) and four `AlertPolicy` objects with the same burn-rate conditions as the
generated Prometheus rules. Annotations carry what the spec has no field for (the exact
service id, the latency target before bucket snapping), so export → import is lossless.
Import also reads documents from other tools: a latency SLO is recognised by its histogram
`le` matcher, its percentile by its target (0.99 → p99, 0.95 → p95).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from analytics.burn_rate import burn_rate_alerts, snap_to_bucket
from store.errors import InvalidError
from telemetry.alert_rules import LATENCY_OBJECTIVES, le_regex
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
#: The bound of an `le` matcher, also in the escaped-regex form the exports use (0\\.250*).
_LE = re.compile(r'le\s*=~?\s*"([0-9.\\eE+\-]+)')


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
    documents: list[dict[str, Any]] = [{
        "apiVersion": API_VERSION, "kind": "Service",
        "metadata": {"name": service, "displayName": service_id,
                     "annotations": {ANNOTATION_SERVICE: service_id}},
        "spec": {"description": f"Exported by the SLO Recommendation Engine (active SLO "
                                f"{slo.slo_id}, {slo.source})."},
    }]  # fmt: skip
    objectives: list[tuple[str, float, dict[str, Any], dict[str, str]]] = []
    if slo.availability_target is not None:
        requests = names.requests
        ratio = {
            "counter": True,
            "bad": _prometheus(f"sum({requests}{{{svc}, {names.error_selector}}})"),
            "total": _prometheus(f"sum({requests}{{{svc}}})"),
        }
        objectives.append(("availability", float(slo.availability_target), ratio, {}))
    for percentile, level in LATENCY_OBJECTIVES.items():
        target_ms = getattr(slo, f"latency_{percentile}_target_ms")
        snapped = snap_to_bucket(target_ms, bucket_bounds) if target_ms is not None else None
        if snapped is None:
            continue
        bucket = names.duration_bucket
        ratio = {
            "counter": True,
            "good": _prometheus(f'sum({bucket}{{{svc}, le=~"{le_regex(snapped.le)}"}})'),
            "total": _prometheus(f'sum({bucket}{{{svc}, le="+Inf"}})'),
        }
        objectives.append((f"latency_{percentile}", level, ratio,
                           {ANNOTATION_LATENCY_MS: str(target_ms)}))  # fmt: skip
    for objective, target, ratio, extra in objectives:
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
                          "spec": {"ratioMetric": ratio}})  # fmt: skip
        label = objective.replace("_", " ")
        if extra:
            label += f" ≤ {extra[ANNOTATION_LATENCY_MS]} ms"
        documents.append({
            "apiVersion": API_VERSION, "kind": "SLO",
            "metadata": {"name": name, "displayName": f"{service_id} {label}",
                         "annotations": annotations},
            "spec": {
                "service": service,
                "indicatorRef": name,
                "timeWindow": [{"duration": f"{period_days}d", "isRolling": True}],
                "budgetingMethod": "Occurrences",
                "objectives": [{"displayName": label, "target": round(target / 100, 8)}],
                "alertPolicies": [{"alertPolicyRef": p} for p in policies],
            },
        })  # fmt: skip
    return documents


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


def imported_slos(documents: Sequence[Mapping[str, Any]]) -> dict[str, ImportedSlo]:
    """The targets the SLO documents set, per service id."""
    slis = {d["metadata"]["name"]: d for d in documents if d["kind"] == "SLI"}
    service_ids = {
        d["metadata"]["name"]: (d["metadata"].get("annotations") or {}).get(ANNOTATION_SERVICE)
        or d["metadata"].get("displayName")
        or d["metadata"]["name"]
        for d in documents
        if d["kind"] == "Service"
    }
    found: dict[str, ImportedSlo] = {}
    for i, document in enumerate(documents):
        if document["kind"] != "SLO":
            continue
        where = f"documents[{i}]"
        spec, metadata = document["spec"], document["metadata"]
        annotations = metadata.get("annotations") or {}
        service = spec.get("service")
        if not isinstance(service, str) or not service:
            raise OpenSloError(f"{where}.spec.service", "required: the service the SLO is for")
        service_id = annotations.get(ANNOTATION_SERVICE) or service_ids.get(service, service)
        method = spec.get("budgetingMethod")
        if method != "Occurrences":
            raise OpenSloError(f"{where}.spec.budgetingMethod",
                               f"only 'Occurrences' is supported, not {method!r}")  # fmt: skip
        objectives = spec.get("objectives")
        if not isinstance(objectives, list) or len(objectives) != 1:
            raise OpenSloError(f"{where}.spec.objectives", "exactly one objective per SLO")
        target = _target(objectives[0], f"{where}.spec.objectives[0]")
        indicator = _indicator(spec, slis, where)
        objective = annotations.get(ANNOTATION_OBJECTIVE) or _objective_of(indicator, target, where)
        if objective not in TARGET_COLUMN:
            raise OpenSloError(f"{where}.metadata.annotations.{ANNOTATION_OBJECTIVE}",
                               f"unknown objective {objective!r}")  # fmt: skip
        slo = found.setdefault(service_id, ImportedSlo(service_id))
        if TARGET_COLUMN[objective] in slo.targets:
            raise OpenSloError(where, f"a second {objective} SLO for '{service_id}'")
        if objective == "availability":
            slo.targets[TARGET_COLUMN[objective]] = round(target * 100, 4)
        else:
            slo.targets[TARGET_COLUMN[objective]] = _latency_ms(annotations, indicator, where)
        slo.documents.append(metadata["name"])
        slo.document_of[TARGET_COLUMN[objective]] = metadata["name"]
    if not found:
        raise OpenSloError("body", "no SLO documents (kind: SLO) to import")
    return found


def _target(objective: Any, where: str) -> float:
    if not isinstance(objective, dict):
        raise OpenSloError(where, "must be a mapping with target or targetPercent")
    if "target" in objective:
        value, low, high, key = objective["target"], 0.0, 1.0, "target"
    elif "targetPercent" in objective:
        value, low, high, key = objective["targetPercent"], 0.0, 100.0, "targetPercent"
    else:
        raise OpenSloError(where, "target or targetPercent is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value < high:
        raise OpenSloError(f"{where}.{key}", f"must be a number in ({low:g}, {high:g})")
    return float(value) / (100.0 if key == "targetPercent" else 1.0)


def _indicator(spec: Mapping[str, Any], slis: Mapping[str, Any], where: str) -> dict[str, Any]:
    if isinstance(spec.get("indicator"), dict):
        return dict(spec["indicator"].get("spec") or {})
    ref = spec.get("indicatorRef")
    if ref is None:
        raise OpenSloError(f"{where}.spec", "indicator or indicatorRef is required")
    if ref not in slis:
        raise OpenSloError(f"{where}.spec.indicatorRef", f"no SLI named {ref!r} in the documents")
    return dict(slis[ref]["spec"])


def _queries(indicator: Mapping[str, Any]) -> dict[str, str]:
    ratio = indicator.get("ratioMetric") or {}
    return {
        part: str(((ratio.get(part) or {}).get("metricSource") or {}).get("spec", {}).get("query"))
        for part in ("good", "bad", "total")
        if ratio.get(part)
    }


def _objective_of(indicator: Mapping[str, Any], target: float, where: str) -> str:
    queries = _queries(indicator)
    if not queries:
        raise OpenSloError(f"{where}.spec", "the indicator needs a ratioMetric (good|bad, total)")
    if not any(_LE.search(q) for q in queries.values()):
        return "availability"
    for percentile, objective in LATENCY_OBJECTIVES.items():
        if abs(target * 100 - objective) < 1e-9:
            return f"latency_{percentile}"
    raise OpenSloError(f"{where}.spec.objectives[0].target",
                       "a latency objective must be 0.99 (p99) or 0.95 (p95)")  # fmt: skip


def _latency_ms(annotations: Mapping[str, Any], indicator: Mapping[str, Any], where: str) -> int:
    if annotations.get(ANNOTATION_LATENCY_MS) is not None:
        try:
            return int(annotations[ANNOTATION_LATENCY_MS])
        except ValueError:
            raise OpenSloError(f"{where}.metadata.annotations.{ANNOTATION_LATENCY_MS}",
                               "must be whole milliseconds") from None  # fmt: skip
    for query in _queries(indicator).values():
        match = _LE.search(query)
        if match and match.group(1) not in ("+Inf",):
            return round(float(match.group(1).replace("\\", "")) * 1000)
    raise OpenSloError(f"{where}.spec", "no histogram le bound in the indicator's queries")
