"""Checks on `sli_hourly`: impossible counts block downstream use; gaps are reported."""

import dagster as dg
import polars as pl

from pipelines.defs.telemetry.assets import mean_of, sli_hourly

#: Below this mean completeness a day's SLIs are flagged (warn, not block: sparse is still data).
COMPLETENESS_WARN_BELOW = 0.95


@dg.asset_check(
    asset=sli_hourly, blocking=True, description="No negative counts; errors ≤ requests."
)
def sli_hourly_counts_are_possible(sli_hourly: pl.DataFrame) -> dg.AssetCheckResult:
    negative = sli_hourly.filter((pl.col("requests") < 0) | (pl.col("errors") < 0)).height
    excess = sli_hourly.filter(pl.col("errors") > pl.col("requests")).height
    return dg.AssetCheckResult(
        passed=negative == 0 and excess == 0,
        metadata={"rows_with_negative_counts": negative, "rows_with_errors_over_requests": excess},
    )


@dg.asset_check(asset=sli_hourly, description="Share of service-hours that have samples.")
def sli_hourly_completeness(sli_hourly: pl.DataFrame) -> dg.AssetCheckResult:
    per_service = sli_hourly.group_by("service").agg(pl.col("has_data").mean().alias("c"))
    mean = mean_of(per_service["c"])
    return dg.AssetCheckResult(
        passed=mean >= COMPLETENESS_WARN_BELOW,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "mean_completeness": mean,
            "services_below_full": per_service.filter(pl.col("c") < 1.0).height,
            "services": per_service.height,
        },
    )
