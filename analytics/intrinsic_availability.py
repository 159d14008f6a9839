"""Intrinsic ("own") availability: what a service would have delivered, hour by hour, had its
hard sync dependencies not failed it.

The composite bound multiplies a service's availability by its dependencies'. The *observed*
availability of a caller already holds the failures its hard dependencies caused, so using it
there counts every dependency twice, at every level of a chain (measured on a fleet the project
never saw: the "bound" fell below what 27 of 28 services with hard dependencies delivered). The
bound needs each service's own share of the failures:

- **From failed calls** where the OTel service-graph connector reports them
  (`traces_service_graph_request_failed_total{client,server}`): the failures a plain hard
  dependency caused are the caller's failed calls to it. One request can meet failed calls to
  several dependencies, so the shares of requests that met one combine as probabilities
  (`own = observed / Π(1 − failed_d / requests)`), not as a sum that would count a request
  twice; more failed calls than errors means the caller retried or fell back (capped).
- **By deconvolution** where it does not: `own(S,h) = observed(S,h) / Π observed(d,h)` over the
  direct hard dependencies, a redundancy group counting as `1 − Π(1 − observed(m))`.

Either way the window's estimate is capped at 1: a service that beats the product of its
dependencies (retries, caches, fallbacks) shows as capped in those hours, and the
recommendation says so. Hours without data divide nothing out; a dependency without data in an
hour is divided out at what the bound assumes for it (an external's published SLA), else not at
all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from analytics.composite_availability import Edge
from analytics.sli_daily import calls_at_sli_grain

#: Callers estimated at once (their edges × hours is the working set: 600,000 rows at 5 edges).
CALLERS_PER_CHUNK = 5_000

#: One row per service and hour: what the estimate saw and what it concluded.
INTRINSIC_HOURLY_SCHEMA = pl.Schema(
    {
        "service": pl.String(),
        "hour": pl.Datetime("us", "UTC"),
        "requests": pl.Int64(),
        "errors": pl.Int64(),
        "dependency_errors": pl.Float64(),  # failures its hard dependencies caused
        "own_errors": pl.Float64(),  # unbiased per hour: may be negative (see below)
        "own_availability": pl.Float64(),  # the hour's own estimate, clipped to [0, 1]
        "method": pl.String(),  # none | failed_calls | deconvolution | mixed
        "capped": pl.Boolean(),  # the service beat the product of its dependencies
    }
)

#: Per service over a window: the totals the composite bound and the recommendation read.
INTRINSIC_TOTALS_SCHEMA = pl.Schema(
    {
        "service": pl.String(),
        "requests": pl.Float64(),
        "errors": pl.Float64(),
        "own_errors": pl.Float64(),
        "dependency_errors": pl.Float64(),
        "capped_requests": pl.Float64(),
        "method": pl.String(),
    }
)


def _hard_units(edges: Sequence[Edge]) -> pl.DataFrame:
    """Hard sync edges as (source, target, unit): a unit is a plain dependency or a group.

    Edges inside a cycle are divided out like any other: a caller in a cycle calls the next
    member and fails with it. (Leaving them in would charge every member with the failures of
    the whole cycle *and* of everything the cycle reaches, which the supernode's bound then
    multiplies in again; measured on the generator's fleet, that put the cycle's bound below
    what its members delivered.) Where failures truly ran both ways round a cycle every time,
    this over-corrects; the supernode's weakest member bounds the cycle either way."""
    rows = [
        (e.source, e.target, f"group:{e.redundancy_group}" if e.redundancy_group else e.target)
        for e in edges
        if e.is_hard_sync and e.source != e.target
    ]
    return pl.DataFrame(
        rows, schema={"source": pl.String, "target": pl.String, "unit": pl.String}, orient="row"
    ).unique()


def intrinsic_hourly(
    sli: pl.DataFrame,
    edges: Sequence[Edge],
    edge_calls: pl.DataFrame | None = None,
    assumed: Mapping[str, float] | None = None,
    *,
    callers_per_chunk: int = CALLERS_PER_CHUNK,
) -> pl.DataFrame:
    """Each service-hour's own errors and availability (INTRINSIC_HOURLY_SCHEMA).

    `sli` holds `sli_hourly` rows (service, hour, requests, errors, has_data); `edge_calls`
    the service graph's hourly calls and failed calls (client, server, hour, calls, failed), or
    None when no tracing pipeline reports them. A plain hard edge with calls in an hour is
    measured (an edge of a traced caller without calls that hour caused no failures); every
    other hard dependency (and every redundancy group) is divided out.
    `assumed` gives the availability the bound assumes for a dependency without data (an
    external at its published SLA): its assumed failures are divided out too, or the bound
    would count them twice.

    Hourly own errors are the unbiased estimate `requests − successes / Π(1 − f_d)`, not
    clipped: an hour with fewer failures than the dependencies explain (sampling noise, or
    retries) may come out negative, and the window's total is capped once
    (`composite_inputs`), so noise does not bias a service's own availability down. An hour
    is flagged `capped` only when its errors fall more than three standard deviations below
    what its dependencies alone explain: it beat the product.

    Rows of `sli` that stand for a whole day (`rolled_up_hours`, days whose hourly partition
    retention removed: `analytics/sli_daily.py`) are estimated as one period: that day's
    calls are summed to the row's hour first.

    The callers are estimated `callers_per_chunk` at a time: a caller's estimate needs only its
    own edges and calls and its dependencies' hours, and the edge-hours of a whole day are what
    fills memory (one day of a 50,000-service fleet with 5 edges each, at once: 2.1 GB over
    its inputs; a chunk is a tenth of that).
    """
    observed = (
        sli.filter(pl.col("has_data") & (pl.col("requests") > 0))
        .select(
            "service",
            "hour",
            pl.col("requests").cast(pl.Int64),
            pl.col("errors").fill_null(0).cast(pl.Int64),
        )
        .with_columns(
            pl.min_horizontal("errors", "requests").alias("errors"),
        )
    )
    units = _hard_units(edges)
    availability = observed.select(
        pl.col("service").alias("target"),
        "hour",
        (1.0 - pl.col("errors") / pl.col("requests")).alias("dep_availability"),
    )
    fallback = pl.DataFrame(
        list((assumed or {}).items()),
        schema={"target": pl.String, "assumed": pl.Float64},
        orient="row",
    )
    callers = observed["service"].unique(maintain_order=True).to_list()
    parts = []
    for first in range(0, max(len(callers), 1), callers_per_chunk):
        chunk = pl.Series(callers[first : first + callers_per_chunk], dtype=pl.String)
        chunk_calls = None
        if edge_calls is not None:
            chunk_calls = calls_at_sli_grain(
                edge_calls.filter(pl.col("client").is_in(chunk.implode())), sli
            )
        parts.append(
            _intrinsic_of_callers(
                observed.filter(pl.col("service").is_in(chunk.implode())),
                units,
                availability,
                chunk_calls,
                fallback,
            )
        )
    return pl.concat(parts, rechunk=False)


def _intrinsic_of_callers(
    observed: pl.DataFrame,
    units: pl.DataFrame,
    availability: pl.DataFrame,
    edge_calls: pl.DataFrame | None,
    fallback: pl.DataFrame,
) -> pl.DataFrame:
    """`intrinsic_hourly` for the callers whose rows `observed` holds (their calls in
    `edge_calls`); their dependencies' availability comes from the whole fleet's hours."""
    per_edge = observed.select(
        pl.col("service").alias("source"), "hour", pl.col("requests").alias("caller_requests")
    ).join(units, on="source", how="inner")
    if edge_calls is not None and edge_calls.height:
        calls = edge_calls.filter(pl.col("calls") > 0).select(
            pl.col("client").alias("source"),
            pl.col("server").alias("target"),
            "hour",
            pl.col("calls").cast(pl.Float64),
            pl.col("failed").fill_null(0).cast(pl.Float64),
        )
        reporting = calls.select("source", "hour").unique().with_columns(reports=pl.lit(True))
        per_edge = (
            per_edge.join(calls, on=["source", "target", "hour"], how="left")
            .join(reporting, on=["source", "hour"], how="left")
            # The caller's calls are traced this hour but none went to this dependency: it
            # failed none of its requests (a declared edge nobody exercises).
            .with_columns(
                pl.when(pl.col("calls").is_null() & pl.col("reports").fill_null(False))
                .then(pl.lit(0.0))
                .otherwise(pl.col(name))
                .alias(name)
                for name in ("calls", "failed")
            )
            .drop("reports")
        )
    else:
        per_edge = per_edge.with_columns(
            pl.lit(None, pl.Float64).alias("calls"), pl.lit(None, pl.Float64).alias("failed")
        )
    per_edge = (
        per_edge.join(availability, on=["target", "hour"], how="left")
        .join(fallback, on="target", how="left")
        .with_columns(
            # A group's member is never "measured": failover hides which failures reached the
            # caller.
            measured=pl.col("calls").is_not_null() & ~pl.col("unit").str.starts_with("group:"),
            # A member's failure share: from its calls where reported, else its own SLIs, else
            # what the bound assumes for it.
            fail=pl.when(pl.col("calls") > 0)
            .then(pl.min_horizontal(pl.col("failed") / pl.col("calls"), pl.lit(1.0)))
            .when(pl.col("calls") == 0)
            .then(pl.lit(0.0))
            .otherwise(
                1.0 - pl.coalesce(pl.col("dep_availability"), pl.col("assumed"), pl.lit(1.0))
            ),
        )
    )
    measured = (
        per_edge.filter("measured")
        .group_by("source", "hour")
        .agg(
            pl.col("failed").sum().alias("measured_failed"),
            # The share of the caller's requests that met a failed call to each dependency;
            # one request can meet several, so the shares combine as probabilities, not sums.
            (1.0 - pl.min_horizontal(pl.col("failed") / pl.col("caller_requests"), pl.lit(1.0)))
            .log()
            .sum()
            .exp()
            .alias("measured_divisor"),
        )
    )
    divided = (
        per_edge.filter(~pl.col("measured"))
        .group_by("source", "hour", "unit")
        .agg(pl.col("fail").product().alias("unit_fail"))  # a plain unit has one member
        .group_by("source", "hour")
        .agg((1.0 - pl.col("unit_fail")).log().sum().exp().alias("divisor"))
    )
    kinds = per_edge.group_by("source", "hour").agg(
        pl.col("measured").any().alias("any_measured"),
        (~pl.col("measured")).any().alias("any_divided"),
    )
    key = {"left_on": ["service", "hour"], "right_on": ["source", "hour"], "how": "left"}
    frame = (
        observed.join(measured, **key)  # type: ignore[arg-type]
        .join(divided, **key)  # type: ignore[arg-type]
        .join(kinds, **key)  # type: ignore[arg-type]
        .with_columns(
            pl.col("measured_failed").fill_null(0.0),
            pl.col("measured_divisor").fill_null(1.0),
            pl.col("divisor").fill_null(1.0),
            pl.col("any_measured").fill_null(False),
            pl.col("any_divided").fill_null(False),
        )
        .with_columns(survive=pl.col("divisor") * pl.col("measured_divisor"))
        .with_columns(
            # Failures the dependencies alone explain in this hour.
            explained=pl.col("requests") * (1.0 - pl.col("survive")),
            own_errors=pl.when(pl.col("survive") > 1e-9)
            .then(pl.col("requests") - (pl.col("requests") - pl.col("errors")) / pl.col("survive"))
            .otherwise(0.0)  # every request met a failed dependency: all explained
            .clip(-pl.col("requests").cast(pl.Float64), pl.col("requests").cast(pl.Float64)),
        )
        .with_columns(
            own_availability=(1.0 - pl.col("own_errors") / pl.col("requests")).clip(0.0, 1.0),
            capped=pl.col("errors") < pl.col("explained") - 3.0 * pl.col("explained").sqrt(),
            method=pl.when(pl.col("any_measured") & pl.col("any_divided"))
            .then(pl.lit("mixed"))
            .when(pl.col("any_measured"))
            .then(pl.lit("failed_calls"))
            .when(pl.col("any_divided"))
            .then(pl.lit("deconvolution"))
            .otherwise(pl.lit("none")),
        )
        .with_columns(dependency_errors=pl.col("errors") - pl.col("own_errors"))
    )
    return frame.select(INTRINSIC_HOURLY_SCHEMA.names()).cast(INTRINSIC_HOURLY_SCHEMA)


def intrinsic_totals(hourly: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Per service over the window (INTRINSIC_TOTALS_SCHEMA): requests, delivered and own
    errors, the requests of hours in which the estimate was capped, and the method used most
    (ties: the first by name).

    Two streaming aggregations, not one with `mode()`: polars has no streaming `mode`, and
    one would pull the whole window into memory (2.3 GB for 20,000 services × 30 days, 0.3 GB
    this way)."""
    lazy = hourly.lazy()
    totals = lazy.group_by("service").agg(
        pl.col("requests").sum().cast(pl.Float64),
        pl.col("errors").sum().cast(pl.Float64),
        pl.col("own_errors").sum(),
        pl.col("dependency_errors").sum(),
        pl.col("requests").filter(pl.col("capped")).sum().cast(pl.Float64).alias("capped_requests"),
    )
    methods = (
        lazy.group_by("service", "method")
        .agg(pl.len().alias("hours"))
        .collect(engine="streaming")
        .sort(["service", "hours", "method"], descending=[False, True, False])
        .group_by("service", maintain_order=True)
        .first()
        .select("service", "method")
    )
    return (
        totals.collect(engine="streaming")
        .join(methods, on="service", how="left")
        .select(INTRINSIC_TOTALS_SCHEMA.names())
        .cast(INTRINSIC_TOTALS_SCHEMA)
    )
