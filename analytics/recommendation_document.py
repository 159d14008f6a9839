"""The recommendation as the API returns it (TRD FR-2 shape), built from tiers and the bound."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from analytics.composite_availability import CompositeResult
from analytics.slo_tiers import TierSet


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _days(start: datetime, end: datetime) -> str:
    days = (end - start) / timedelta(days=1)
    return f"{round(days)}" if abs(days - round(days)) < 1e-6 else f"{days:.1f}"


def _archetype(service_type: str | None) -> str:
    if service_type:
        return f"the {service_type} archetype baseline"
    return "the archetype baseline for its service type"


def _availability_summary(
    service: str,
    tiers: TierSet,
    lookback_days: str,
    service_type: str | None,
    availability_source: str | None,
) -> str:
    """Where the availability numbers came from: measured counts, a published SLA, or the
    archetype of the service's type."""
    balanced = tiers.availability["balanced"].target
    observed = tiers.observed_availability
    had = tiers.data_quality.days_with_data
    if tiers.cold_start or observed is None:
        origin = (
            "its targets are derived from its published SLA"
            if availability_source == "published_sla"
            else f"its targets are {_archetype(service_type)}"
        )
        return (
            f"{service} has too little history to measure ({had} day(s) of data in the "
            f"{lookback_days}-day lookback): {origin} (balanced {balanced}%)"
            + (
                ", capped by what its dependencies can deliver."
                if tiers.capped_by_composite
                else "."
            )
        )
    return (
        f"{service} achieved {observed * 100:.3f}% availability, measured from {had} days of "
        f"request/error counts in the {lookback_days}-day lookback. "
        f"The Balanced target of {balanced}% "
        + (
            "is capped by what its dependencies can deliver."
            if tiers.capped_by_composite
            else f"provides a {observed * 100 - balanced:.3f} pp margin."
        )
    )


def _latency_summary(
    service: str, tiers: TierSet, lookback_days: str, service_type: str | None
) -> str:
    """Where the latency numbers came from: the merged histogram, or the archetype."""
    balanced_ms = tiers.latency["balanced"].target_ms
    if tiers.cold_start:
        return (
            f"{service} has too little history to measure its latency: its latency targets are "
            f"{_archetype(service_type)} (balanced p99 {balanced_ms:.0f} ms)."
        )
    return (
        f"{service}'s latency targets come from its latency histogram merged over the "
        f"{lookback_days}-day lookback; balanced = p99 + a "
        f"{tiers.latency_noise_margin:.1%} noise margin ({balanced_ms:.0f} ms)"
        + (
            f", the margin widened by {tiers.cpu_throttling_ratio:.1%} of CPU periods throttled."
            if tiers.cpu_throttling_ratio and tiers.latency_noise_margin > 0.05
            else "."
        )
    )


def recommendation_document(
    service: str,
    tiers: TierSet,
    composite: CompositeResult | None,
    *,
    generated_at: datetime,
    lookback_start: datetime,
    lookback_end: datetime,
    service_type: str | None = None,
    availability_source: str | None = None,
) -> dict[str, Any]:
    """`service_type` names the archetype of a cold-start service; `availability_source`
    ("published_sla" for an external with a published SLA) says where its targets came from."""
    availability = {
        name: {
            "target": tier.target,
            "error_budget_monthly_minutes": tier.error_budget_monthly_minutes,
            "estimated_breach_probability": _number(tier.estimated_breach_probability),
            "confidence_interval": [_number(v) for v in tier.confidence_interval],
            "historical_breach_share": _number(tier.historical_breach_share),
        }
        for name, tier in tiers.availability.items()
    }
    latency = {
        name: {
            "target_ms": tier.target_ms,
            "percentile": tier.percentile,
            "estimated_breach_probability": _number(tier.estimated_breach_probability),
        }
        for name, tier in tiers.latency.items()
    }
    observed = tiers.observed_availability
    balanced = tiers.availability["balanced"].target
    lookback_days = _days(lookback_start, lookback_end)
    summary = _availability_summary(
        service, tiers, lookback_days, service_type, availability_source
    )
    impact: dict[str, Any] | None = None
    if composite is not None:
        bottleneck = composite.bottleneck
        budget = max(1 - balanced / 100, 1e-12)
        impact = {
            "composite_availability_bound": round(composite.composite_bound * 100, 4),
            "bottleneck_service": bottleneck.name if bottleneck else None,
            "bottleneck_contribution": (
                "Its unavailability alone would take "
                f"{min(1.0, (1 - bottleneck.availability) / budget):.0%} of the error "
                f"budget at the {balanced}% target"
                if bottleneck
                else None
            ),
            "distinct_hard_dependencies": composite.distinct_dependencies,
            "weakest_dependencies": [
                {"service": f.name, "availability": round(f.availability * 100, 4), "kind": f.kind}
                for f in composite.weakest_factors
            ],
            "external_dependencies": [
                {
                    "service": r.service,
                    "availability": round(r.availability * 100, 4),
                    "source": r.source,
                    "error_budget_consumption": round(r.budget_consumption, 4),
                    "high_dependency_risk": r.high_dependency_risk,
                }
                for r in composite.external_risks
            ],
            "degraded_mode_risks": [
                {"service": e.target, "criticality": e.criticality, "mode": e.communication_mode}
                for e in composite.degraded_mode_risks
            ],
            "supernode": list(composite.supernode) if composite.supernode else None,
            "depth": composite.depth,
            "confidence": composite.confidence,
            "own_availability": round(composite.self_availability * 100, 4),
            "promised_bound": (
                round(composite.promised_bound * 100, 4)
                if composite.promised_bound is not None
                else None
            ),
            "dependencies_entitled_to_budget": [
                {
                    "service": p.service,
                    "accepted_target": round(p.target * 100, 4),
                    "delivered": round(p.delivered * 100, 4),
                }
                for p in composite.promises
            ],
            "note": (
                "R = R_own × Π R_own over the distinct units reachable through hard sync edges. "
                "R_own is a service's intrinsic availability: what it delivered with the "
                "failures its hard dependencies caused taken out (failed calls to them where "
                "the service graph reports them, else its hourly availability divided by "
                "theirs), so no dependency is counted twice."
            ),
        }
    quality = tiers.data_quality
    return {
        "service_id": service,
        "generated_at": generated_at.isoformat(),
        "lookback_window": {"start": lookback_start.isoformat(), "end": lookback_end.isoformat()},
        "data_quality": {
            "data_completeness": round(quality.data_completeness, 4),
            "days_with_data": quality.days_with_data,
            "telemetry_gaps": [list(g) for g in quality.telemetry_gaps[:50]],
            "confidence": quality.confidence,
            "confidence_note": quality.confidence_note,
        },
        "cold_start": tiers.cold_start,
        "recommendations": [
            {
                "sli_type": "availability",
                "metric": "error_rate",
                "tiers": availability,
                "explanation": {
                    "summary": summary,
                    "observed_availability": observed,
                    "intrinsic_availability": (
                        composite.self_availability if composite is not None else None
                    ),
                    "dependency_impact": impact,
                },
                "notes": list(tiers.notes),
            },
            {
                "sli_type": "latency",
                "metric": "p99_response_time_ms",
                "tiers": latency,
                "explanation": {
                    "summary": _latency_summary(service, tiers, lookback_days, service_type),
                    "note": (
                        "Latency SLOs come from measurement, not composition "
                        "(percentiles are not additive)."
                    ),
                },
            },
        ],
    }
