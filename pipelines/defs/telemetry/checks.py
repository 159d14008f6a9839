"""Checks on `sli_hourly`: impossible counts block downstream use; gaps are reported."""

import dagster as dg
import polars as pl

from pipelines.defs.telemetry.assets import mean_of, sli_hourly

#: Below this mean completeness a day's SLIs are flagged (warn, not block: sparse is still data).
COMPLETENESS_WARN_BELOW = 0.95


#: How many impossible service-hours the check's metadata lists.
LISTED_IMPOSSIBLE_HOURS = 20


@dg.asset_check(
    asset=sli_hourly,
    blocking=True,
    description=(
        "No negative counts; errors ≤ requests, as the source reported them (before the "
        "clamp that `sli_hourly` applies so downstream sees possible counts)."
    ),
)
def sli_hourly_counts_are_possible(sli_hourly: pl.DataFrame) -> dg.AssetCheckResult:
    negative = sli_hourly.filter((pl.col("requests") < 0) | (pl.col("errors") < 0)).height
    # `errors_clamped`: the source said errors > requests (a wrong error selector, usually);
    # the stored counts were clamped, so comparing them could never fail.
    # Partitions written before the flag existed lack the column: their counts still decide.
    clamped = (
        pl.col("errors_clamped").fill_null(False)
        if "errors_clamped" in sli_hourly.columns
        else pl.lit(False)
    )
    impossible = sli_hourly.filter(clamped | (pl.col("errors") > pl.col("requests"))).sort(
        "service", "hour"
    )
    per_service = impossible.group_by("service").agg(pl.len().alias("hours")).sort("service")
    return dg.AssetCheckResult(
        passed=negative == 0 and impossible.is_empty(),
        metadata={
            "rows_with_negative_counts": negative,
            "rows_with_errors_over_requests": impossible.height,
            "services_with_errors_over_requests": dg.MetadataValue.json(
                dict(per_service.iter_rows())
            ),
            "errors_over_requests": dg.MetadataValue.md(
                _impossible_md(impossible.head(LISTED_IMPOSSIBLE_HOURS), impossible.height)
            ),
        },
    )


def _impossible_md(rows: pl.DataFrame, total: int) -> str:
    if rows.is_empty():
        return "no hour has more errors than requests"
    lines = ["| service | hour (UTC) |", "|---|---|"]
    lines += [
        f"| {s} | {h:%Y-%m-%d %H:00} |" for s, h in rows.select("service", "hour").iter_rows()
    ]
    if total > rows.height:
        lines.append(f"| … {total - rows.height} more | |")
    return "\n".join(lines)


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
