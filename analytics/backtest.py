"""Would the recommended SLOs have held? Recommend on one window, replay the next.

A recommendation engine is only as good as its targets' track record: a balanced target that
half the fleet breaches the following month is useless, and one that leaves 95% of the budget
unspent is timid. This replays the month after the training window against each tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TierOutcome:
    tier: str
    services: int
    breached_share: float
    median_budget_utilization: float
    p90_budget_utilization: float


def replay(
    targets: Mapping[str, Mapping[str, float]],
    test_availability: Mapping[str, float],
) -> list[TierOutcome]:
    """`targets[tier][service]` in percent against the test window's availability (fraction)."""
    outcomes = []
    for tier, by_service in targets.items():
        services = [s for s in by_service if s in test_availability]
        if not services:
            continue
        target = np.array([by_service[s] / 100 for s in services])
        achieved = np.array([test_availability[s] for s in services])
        budget = np.maximum(1 - target, 1e-9)
        utilization = (1 - achieved) / budget
        outcomes.append(
            TierOutcome(
                tier=tier,
                services=len(services),
                breached_share=float((achieved < target).mean()),
                median_budget_utilization=float(np.median(utilization)),
                p90_budget_utilization=float(np.quantile(utilization, 0.9)),
            )
        )
    return outcomes
