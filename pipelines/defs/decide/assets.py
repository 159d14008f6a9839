"""Decisions the pipeline may take itself: auto-approval (TRD FR-11, AC-011)."""

from __future__ import annotations

import dagster as dg

from pipelines.partitions import DAILY
from pipelines.resources import OperationalStoreResource
from store.auto_approval_rules import run_auto_approval


@dg.asset(
    partitions_def=DAILY,
    group_name="decide",
    kinds={"postgres"},
    deps=["published_recommendations"],
    description=(
        "Accepts the freshly published recommendations that an enabled auto-approval rule "
        "matches (audit action auto_approve); rules are disabled by default, and a critical "
        "service is only approved by a rule that names it."
    ),
)
def auto_approvals(store: OperationalStoreResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
    with store.connect() as engine:
        run = run_auto_approval(engine)
    by_rule: dict[str, int] = {}
    for rule in run.approved.values():
        by_rule[rule] = by_rule.get(rule, 0) + 1
    return dg.MaterializeResult(
        metadata={
            "enabled_rules": run.rules,
            "candidates": run.candidates,
            "approved": len(run.approved),
            "conflicts": run.conflicts,
            "upstream_invalidated": run.invalidated,
            "approved_by_rule": dg.MetadataValue.json(by_rule),
        }
    )
