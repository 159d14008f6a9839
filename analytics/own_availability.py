"""A service's own availability: its errors in the hours its hard dependencies were healthy.

The composite bound multiplies a service's availability by its dependencies'. A service's
measured error count already contains the failures its dependencies caused it (an outage of the
database shows up as errors of every caller), so multiplying the measured figure by the
database's availability counts that outage twice and caps the caller's target below what it
really achieves. The TRD's `R_self` is the service's *own* reliability; we measure it over the
hours in which none of its direct hard dependencies were degraded. Transitive failures reach a
service through a direct dependency, which is then itself degraded, so direct ones suffice.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

#: An hour is degraded when its errors exceed the service's normal hourly ratio by more than
#: this many Poisson standard deviations (plus a floor, so one stray error is not an incident).
DEGRADED_SIGMAS = 4.0
DEGRADED_FLOOR = 3.0


def degraded_hours(frame: pl.DataFrame) -> pl.DataFrame:
    """(service, hour) of every hour whose error count is far above the service's median hour."""
    hours = frame.filter(pl.col("has_data") & (pl.col("requests") > 0))
    ratio = pl.col("errors").cast(pl.Float64) / pl.col("requests").cast(pl.Float64)
    expected = pl.col("requests").cast(pl.Float64) * ratio.median().over("service")
    return hours.filter(
        pl.col("errors") > expected + DEGRADED_SIGMAS * expected.sqrt() + DEGRADED_FLOOR
    ).select("service", "hour")


def own_availability(
    frame: pl.DataFrame, hard_edges: Iterable[tuple[str, str]]
) -> dict[str, tuple[float, float]]:
    """Per service: (own availability, observed availability), fractions.

    `frame` holds hourly `service, hour, requests, errors, has_data`; `hard_edges` are
    (caller, dependency) pairs of hard sync edges. A service whose every hour had a degraded
    dependency keeps its observed figure (nothing better is known).
    """
    hours = frame.filter(pl.col("has_data") & (pl.col("requests") > 0)).select(
        "service",
        "hour",
        pl.col("requests").cast(pl.Float64),
        pl.col("errors").cast(pl.Float64),
    )
    if hours.is_empty():
        return {}
    edges = pl.DataFrame(
        list(set(hard_edges)), schema={"service": pl.String, "dependency": pl.String}, orient="row"
    )
    blamed = (
        edges.join(
            degraded_hours(frame).rename({"service": "dependency"}), on="dependency", how="inner"
        )
        .select("service", "hour")
        .unique()
    )
    healthy = hours.join(blamed, on=["service", "hour"], how="anti")
    observed = hours.group_by("service").agg(
        (1 - pl.col("errors").sum() / pl.col("requests").sum()).alias("observed")
    )
    own = healthy.group_by("service").agg(
        (1 - pl.col("errors").sum() / pl.col("requests").sum()).alias("own")
    )
    joined = observed.join(own, on="service", how="left").with_columns(
        pl.col("own").fill_null(pl.col("observed"))
    )
    return {s: (o, obs) for s, obs, o in joined.select("service", "observed", "own").iter_rows()}
