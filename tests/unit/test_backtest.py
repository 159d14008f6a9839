"""Replaying targets against a later window."""

from __future__ import annotations

import pytest

from analytics.backtest import replay


def test_breaches_and_budget_utilization_per_tier() -> None:
    targets = {"balanced": {"a": 99.9, "b": 99.0, "c": 99.5}, "aggressive": {"a": 99.99}}
    achieved = {"a": 0.9995, "b": 0.985, "c": 0.9975}
    outcomes = {o.tier: o for o in replay(targets, achieved)}
    balanced = outcomes["balanced"]
    assert balanced.services == 3
    assert balanced.breached_share == pytest.approx(1 / 3)  # b missed its 99.0
    # Budgets used: a 0.05/0.1, b 1.5/1.0, c 0.25/0.5 → median 0.5.
    assert balanced.median_budget_utilization == pytest.approx(0.5)
    assert outcomes["aggressive"].breached_share == 1.0
