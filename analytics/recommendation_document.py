"""The recommendation as the API returns it (TRD FR-2 shape), built from tiers and the bound."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from analytics.composite_availability import CompositeResult
from analytics.slo_tiers import TierSet


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def recommendation_document(
    service: str,
    tiers: TierSet,
    composite: CompositeResult | None,
    *,
    generated_at: datetime,
    lookback_start: datetime,
    lookback_end: datetime,
) -> dict[str, Any]:
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
    if observed is None:
        summary = f"{service} has too little history; targets come from its archetype."
    else:
        summary = (
            f"{service} achieved {observed * 100:.3f}% availability over the lookback. "
            f"The Balanced target of {balanced}% "
            + (
                "is capped by what its dependencies can deliver."
                if tiers.capped_by_composite
                else f"provides a {observed * 100 - balanced:.3f} pp margin."
            )
        )
    impact: dict[str, Any] | None = None
    if composite is not None:
        bottleneck = composite.bottleneck
        budget = max(1 - balanced / 100, 1e-12)
        impact = {
            "composite_availability_bound": round(composite.composite_bound * 100, 4),
            "bottleneck_service": bottleneck.name if bottleneck else None,
            "bottleneck_contribution": (
                f"Consumes {min(1.0, (1 - bottleneck.availability) / budget):.0%} of the error "
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
            "note": (
                "R = R_self × Π R_dep over the distinct services reachable through hard sync "
                "edges; R_self is the service's own observed availability."
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
                    "dependency_impact": impact,
                },
                "notes": list(tiers.notes),
            },
            {
                "sli_type": "latency",
                "metric": "p99_response_time_ms",
                "tiers": latency,
                "explanation": {
                    "summary": (
                        f"{service}'s latency targets come from its merged latency histogram "
                        f"over the lookback; balanced = p99 + a "
                        f"{tiers.latency_noise_margin:.1%} noise margin "
                        f"({latency['balanced']['target_ms']:.0f} ms)"
                        + (
                            f", the margin widened by {tiers.cpu_throttling_ratio:.1%} of CPU "
                            "periods throttled."
                            if tiers.cpu_throttling_ratio and tiers.latency_noise_margin > 0.05
                            else "."
                        )
                    ),
                    "note": (
                        "Latency SLOs come from measurement, not composition "
                        "(percentiles are not additive)."
                    ),
                },
            },
        ],
    }
