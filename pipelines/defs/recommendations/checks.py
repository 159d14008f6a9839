"""Checks that stop a bad recommendation from being published."""

import dagster as dg
import polars as pl

from pipelines.defs.recommendations.shards import slo_recommendations


@dg.asset_check(
    asset=slo_recommendations,
    blocking=True,
    description="conservative ≤ balanced ≤ aggressive (availability), the reverse for latency.",
)
def tiers_are_ordered(slo_recommendations: pl.DataFrame) -> dg.AssetCheckResult:
    bad = slo_recommendations.filter(
        (pl.col("availability_conservative") > pl.col("availability_balanced"))
        | (pl.col("availability_balanced") > pl.col("availability_aggressive"))
        | (pl.col("latency_conservative_ms") < pl.col("latency_balanced_ms"))
        | (pl.col("latency_balanced_ms") < pl.col("latency_aggressive_ms"))
    )
    return dg.AssetCheckResult(
        passed=bad.is_empty(),
        metadata={"misordered_services": bad.height, "first": ", ".join(bad["service"].head(5))},
    )


@dg.asset_check(asset=slo_recommendations, blocking=True, description="Every target in [0, 100].")
def targets_in_range(slo_recommendations: pl.DataFrame) -> dg.AssetCheckResult:
    columns = ["availability_conservative", "availability_balanced", "availability_aggressive"]
    bad = slo_recommendations.filter(
        pl.any_horizontal(
            [(pl.col(c) < 0) | (pl.col(c) > 100) | pl.col(c).is_null() for c in columns]
        )
    )
    return dg.AssetCheckResult(passed=bad.is_empty(), metadata={"out_of_range": bad.height})


@dg.asset_check(
    asset=slo_recommendations,
    blocking=True,
    additional_ins={"composite_availability_bounds": dg.AssetIn("composite_availability_bounds")},
    description="Every service of the snapshot has a recommendation.",
)
def every_service_recommended(
    slo_recommendations: pl.DataFrame, composite_availability_bounds: pl.DataFrame
) -> dg.AssetCheckResult:
    missing = set(composite_availability_bounds["service"]) - set(slo_recommendations["service"])
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={"missing": len(missing), "first": ", ".join(sorted(missing)[:5])},
    )
