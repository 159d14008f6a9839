"""Checks that stop a bad recommendation from being published.

One step checks all three: each is a scan of a few columns, and as three steps the chain paid
a step process's start-up three times and read the recommendations (their documents are most
of the file: 50,000 of them at 50,000 services) three times over.
"""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from pipelines.defs.recommendations.shards import slo_recommendations

AVAILABILITY = ["availability_conservative", "availability_balanced", "availability_aggressive"]
LATENCY = ["latency_conservative_ms", "latency_balanced_ms", "latency_aggressive_ms"]


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "tiers_are_ordered",
            asset=slo_recommendations,
            blocking=True,
            description="conservative ≤ balanced ≤ aggressive (availability), the reverse for "
            "latency.",
        ),
        dg.AssetCheckSpec(
            "targets_in_range",
            asset=slo_recommendations,
            blocking=True,
            description="Every target in [0, 100].",
        ),
        dg.AssetCheckSpec(
            "every_service_recommended",
            asset=slo_recommendations,
            blocking=True,
            additional_deps=["composite_availability_bounds"],
            description="Every service of the snapshot has a recommendation.",
        ),
    ],
    ins={
        "slo_recommendations": dg.AssetIn("slo_recommendations"),
        "composite_availability_bounds": dg.AssetIn("composite_availability_bounds"),
    },
    description="The day's recommendations are fit to publish.",
)
def recommendations_publishable(
    slo_recommendations: pl.LazyFrame, composite_availability_bounds: pl.LazyFrame
) -> Iterator[dg.AssetCheckResult]:
    recs = slo_recommendations.select("service", *AVAILABILITY, *LATENCY).collect()
    (ac, ab, aa), (lc, lb, la) = ([pl.col(c) for c in cols] for cols in (AVAILABILITY, LATENCY))
    misordered = recs.filter((ac > ab) | (ab > aa) | (lc < lb) | (lb < la))
    yield dg.AssetCheckResult(
        check_name="tiers_are_ordered",
        passed=misordered.is_empty(),
        metadata={
            "misordered_services": misordered.height,
            "first": ", ".join(misordered["service"].head(5)),
        },
    )
    out_of_range = recs.filter(
        pl.any_horizontal([(c < 0) | (c > 100) | c.is_null() for c in (ac, ab, aa)])
    )
    yield dg.AssetCheckResult(
        check_name="targets_in_range",
        passed=out_of_range.is_empty(),
        metadata={"out_of_range": out_of_range.height},
    )
    bounded = composite_availability_bounds.select("service").collect()["service"]
    missing = set(bounded) - set(recs["service"])
    yield dg.AssetCheckResult(
        check_name="every_service_recommended",
        passed=not missing,
        metadata={"missing": len(missing), "first": ", ".join(sorted(missing)[:5])},
    )
