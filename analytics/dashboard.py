"""Organisation-wide SLO figures (TRD FR-12), computed from plain facts so the hourly asset
and the tests share one definition of each number."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Error-budget use over the lookback, as the share of the budget the service spent.
BUDGET_BANDS = (("healthy (< 50%)", 0.5), ("watch (50–80%)", 0.8), ("at risk (80–100%)", 1.0))
EXHAUSTED = "exhausted (≥ 100%)"


@dataclass(frozen=True)
class ServiceFacts:
    service_id: str
    team: str | None
    criticality: str
    has_recommendation: bool
    slo_target: float | None  # active availability target, percent
    slo_source: str | None
    observed_availability: float | None  # over the latest recommendation's lookback, 0..1


def budget_used(target_percent: float, observed: float) -> float:
    """Share of the error budget spent: 0 = none, 1 = all of it (can exceed 1)."""
    budget = 1 - target_percent / 100
    return (1 - observed) / budget if budget > 0 else float("inf")


def budget_band(used: float) -> str:
    """The band of `BUDGET_BANDS` a share of spent budget falls in (`EXHAUSTED` from 1)."""
    return next((name for name, limit in BUDGET_BANDS if used < limit), EXHAUSTED)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def coverage(facts: Iterable[ServiceFacts]) -> dict[str, Any]:
    groups: dict[str, dict[str, Counter[str]]] = {"team": defaultdict(Counter),
                                                   "criticality": defaultdict(Counter)}  # fmt: skip
    total: Counter[str] = Counter()
    for f in facts:
        for key, value in (("team", f.team or "(no team)"), ("criticality", f.criticality)):
            counts = groups[key][value]
            counts["services"] += 1
            counts["with_active_slo"] += f.slo_target is not None
            counts["with_recommendation"] += f.has_recommendation
        total["services"] += 1
        total["with_active_slo"] += f.slo_target is not None
        total["with_recommendation"] += f.has_recommendation

    def row(name: str, c: Mapping[str, int]) -> dict[str, Any]:
        return {"name": name, "services": c["services"], "with_active_slo": c["with_active_slo"],
                "with_recommendation": c["with_recommendation"],
                "coverage": _share(c["with_active_slo"], c["services"])}  # fmt: skip

    return {
        "total": row("all", total),
        **{
            f"by_{key}": sorted((row(k, v) for k, v in g.items()), key=lambda r: r["name"])
            for key, g in groups.items()
        },
    }


def error_budget_health(facts: Iterable[ServiceFacts]) -> dict[str, Any]:
    bands: Counter[str] = Counter()
    by_team: dict[str, Counter[str]] = defaultdict(Counter)
    used_values = []
    no_budget = 0
    for f in facts:
        if f.slo_target is None or f.observed_availability is None:
            continue
        if f.slo_target >= 100:
            no_budget += 1  # a 100% objective has no budget to spend: nothing to measure
            continue
        used = budget_used(f.slo_target, f.observed_availability)
        used_values.append(used)
        band = budget_band(used)
        bands[band] += 1
        by_team[f.team or "(no team)"][band] += 1
    names = [name for name, _ in BUDGET_BANDS] + [EXHAUSTED]
    ordered = sorted(used_values)
    return {
        "services_with_slo_and_data": len(used_values),
        "services_with_100_percent_objective": no_budget,
        "distribution": [{"band": n, "services": bands[n]} for n in names],
        "median_budget_used": round(ordered[len(ordered) // 2], 4) if ordered else None,
        "by_team": [{"team": t, **{n: c[n] for n in names}} for t, c in sorted(by_team.items())],
    }


def recommendation_quality(
    facts: Iterable[ServiceFacts], decisions: Mapping[str, int]
) -> dict[str, Any]:
    """`decisions`: audit actions counted over the window (accept, modify, reject, ...)."""
    decided = sum(decisions.get(a, 0) for a in ("accept", "modify", "reject", "auto_approve"))
    from_recommendations = ("recommendation_accepted", "recommendation_modified", "auto_approved")
    judged = [
        (f.observed_availability * 100, f.slo_target)
        for f in facts
        if f.slo_target is not None
        and f.observed_availability is not None
        and f.slo_source in from_recommendations
    ]
    breached = sum(1 for delivered, target in judged if delivered < target)
    return {
        "decisions": {
            a: decisions.get(a, 0)
            for a in ("accept", "modify", "reject", "auto_approve", "drift_triggered")
        },
        "acceptance_rate": _share(
            decisions.get("accept", 0) + decisions.get("auto_approve", 0), decided
        ),
        "modification_rate": _share(decisions.get("modify", 0), decided),
        "rejection_rate": _share(decisions.get("reject", 0), decided),
        "slos_from_recommendations": len(judged),
        "breached_slos": breached,
        "breach_rate": _share(breached, len(judged)),
    }
