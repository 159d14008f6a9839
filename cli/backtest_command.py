"""`slo-engine backtest`: recommend on generated fleets' first days, replay the next."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

if TYPE_CHECKING:
    pass


from cli.console import console


def backtest(
    train_days: Annotated[int, typer.Option(min=7)] = 30,
    test_days: Annotated[int, typer.Option(min=7)] = 30,
    services: int = 300,
    seed: int = 42,
    fleets: Annotated[
        int, typer.Option(min=1, help="Independent fleets (seeds) pooled: one month is noisy.")
    ] = 5,
) -> None:
    """Recommend on generated fleets' first window, replay the next one, report per tier."""
    from analytics.backtest import replay
    from cli.backtest_fleet import backtest_fleet

    targets: dict[str, dict[str, float]] = {"conservative": {}, "balanced": {}, "aggressive": {}}
    test_availability: dict[str, float] = {}
    for k in range(fleets):
        fleet_targets, achieved = backtest_fleet(services, seed + k, train_days, test_days, console)
        for tier, by_service in fleet_targets.items():
            targets[tier].update({f"{seed + k}/{s}": v for s, v in by_service.items()})
        test_availability.update({f"{seed + k}/{s}": v for s, v in achieved.items()})
    table = Table(
        title=f"Backtest: recommend on {train_days} days, replay the next {test_days} "
        f"({len(test_availability)} services in {fleets} fleets)"
    )
    for column in ("tier", "breached", "median budget used", "p90 budget used", "goal"):
        table.add_column(column, justify="left" if column in ("tier", "goal") else "right")
    goals = {
        "conservative": "breached ≤ 1%",
        "balanced": "breached ≤ 5%, median 50–80%",
        "aggressive": "—",
    }
    for outcome in replay(targets, test_availability):
        table.add_row(
            outcome.tier,
            f"{outcome.breached_share:.1%}",
            f"{outcome.median_budget_utilization:.0%}",
            f"{outcome.p90_budget_utilization:.0%}",
            goals[outcome.tier],
        )
    console.print(table)
