"""`intrinsic_availability` in shards of days that Dagster schedules.

A service-hour's own availability needs only that hour's SLIs and calls, so the lookback is cut
into runs of INTRINSIC_DAYS_PER_SHARD days: each shard is a step (a process under the
multiprocess executor, a pod under the Kubernetes one) that reads only its days, and the parts
are streamed into the partition's file (the warehouse IO manager sinks the scans), so 30 days
of a 50,000-service fleet — 36 million service-hours — are never in one process's memory.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg
import polars as pl

from analytics.composite_inputs import assumed_externals
from analytics.intrinsic_availability import (
    INTRINSIC_HOURLY_SCHEMA,
    intrinsic_hourly,
    intrinsic_totals,
)
from analytics.sli_daily import rolled_up_columns
from pipelines import asset_tables
from pipelines.defs.recommendations import columns
from pipelines.defs.recommendations.assets import (
    CALLS_LOOKBACK,
    LOOKBACK,
    LOOKBACK_DAYS,
    LOOKBACK_OP_INPUT,
    capped_md,
    lookback_window,
    snapshot_edges,
)
from pipelines.defs.telemetry.hourly_retention import HOURLY_FILES_POOL
from pipelines.partitions import DAILY
from pipelines.resources import OperationalStoreResource
from pipelines.step_pods import LIGHT_POD, SHARD_POD
from store.graph_snapshot import load_service_metadata
from telemetry.sli_sources import day_bounds

#: Days of the lookback per shard: 30 days make 6 steps, enough to keep two processes busy and
#: few enough that a step's start-up stays a small share of its work.
INTRINSIC_DAYS_PER_SHARD = 5
#: A shard holds its days' results until it writes them: past this many service-days (20,000
#: services × 5 days) a shard takes fewer days, so a 50,000-service fleet runs 2 days a step.
INTRINSIC_SERVICE_DAYS_PER_SHARD = 100_000


def days_per_shard(services: int) -> int:
    """Days of the lookback one `intrinsic_days` step takes for a fleet of this size."""
    return max(
        1, min(INTRINSIC_DAYS_PER_SHARD, INTRINSIC_SERVICE_DAYS_PER_SHARD // max(services, 1))
    )


@dataclass(frozen=True)
class DayShard:
    """The days [first, first + days) of the lookback and the assumed externals' availability."""

    first: datetime
    days: int
    assumed: dict[str, float]


@dg.op(tags=LIGHT_POD, out=dg.DynamicOut(), description="The lookback cut in runs of days.")
def plan_intrinsic_days(
    context: dg.OpExecutionContext, store: OperationalStoreResource
) -> Iterator[dg.DynamicOutput[DayShard]]:
    _, day_end = day_bounds(context.partition_time_window.start.date())
    start, _ = lookback_window(day_end)
    with store.connect() as engine:
        nodes = load_service_metadata(engine)
    assumed = dict(assumed_externals(nodes))
    per_shard = days_per_shard(len(nodes))
    for first in range(0, LOOKBACK_DAYS, per_shard):
        days = min(per_shard, LOOKBACK_DAYS - first)
        shard = DayShard(start + timedelta(days=first), days, assumed)
        yield dg.DynamicOutput(shard, mapping_key=f"days_{first:03d}")


@dg.op(
    pool=HOURLY_FILES_POOL,
    tags=SHARD_POD,
    ins={"sli_hourly": LOOKBACK_OP_INPUT},
    out=dg.Out(io_manager_key="warehouse_io"),
    description="Own availability per service-hour for one run of days, a day at a time.",
)
def intrinsic_days(
    shard: DayShard,
    graph_snapshot: pl.DataFrame,
    sli_hourly: pl.LazyFrame,
    service_graph_hourly: pl.LazyFrame,
) -> pl.DataFrame:
    edges = snapshot_edges(graph_snapshot)
    parts = []
    for day in range(shard.days):  # a day at a time: edges × hours stays small
        lo, hi = shard.first + timedelta(days=day), shard.first + timedelta(days=day + 1)
        sli = sli_hourly.filter(pl.col("hour") >= lo, pl.col("hour") < hi).select(
            "service", "hour", "requests", "errors", "has_data", *rolled_up_columns(sli_hourly)
        )
        calls = service_graph_hourly.filter(pl.col("hour") >= lo, pl.col("hour") < hi)
        parts.append(intrinsic_hourly(sli.collect(), edges, calls.collect(), shard.assumed))
    # Not rechunked: the parts are written as they are, not copied into one block first.
    return (
        pl.concat(parts, rechunk=False) if parts else pl.DataFrame(schema=INTRINSIC_HOURLY_SCHEMA)
    )


@dg.op(
    tags=LIGHT_POD,
    out=dg.Out(io_manager_key="warehouse_io"),
    description="The runs of days as one partition, streamed; the figures by streaming queries.",
)
def combine_intrinsic_days(parts: list[pl.LazyFrame]) -> dg.Output[pl.LazyFrame]:
    frame = pl.concat(parts) if parts else pl.LazyFrame(schema=INTRINSIC_HOURLY_SCHEMA)
    totals = intrinsic_totals(frame)
    methods = dict(frame.group_by("method").agg(pl.len()).collect(engine="streaming").iter_rows())
    days = frame.select(pl.col("hour").dt.date().n_unique()).collect(engine="streaming").item()
    capped = totals.filter(pl.col("capped_requests") > 0).with_columns(
        (pl.col("capped_requests") / pl.col("requests")).alias("share")
    )
    return dg.Output(
        frame,
        metadata={
            "services": totals.height,
            "days": int(days),
            **{f"hours_{method}": int(count) for method, count in sorted(methods.items())},
            "services_capped": capped.height,
            "capped": dg.MetadataValue.md(capped_md(capped.sort("share", descending=True))),
        },
    )


@dg.graph_asset(
    partitions_def=DAILY,
    ins={
        "sli_hourly": LOOKBACK,
        "service_graph_hourly": CALLS_LOOKBACK,
        "graph_snapshot": dg.AssetIn(),
    },
    group_name="recommendations",
    description=(
        "Each service's own availability per hour of the lookback: its failures without those "
        "its hard sync dependencies caused (failed calls where the service graph reports them, "
        "else its observed availability divided by its direct hard dependencies'), with the "
        "day's graph snapshot, the edges the bound multiplies. The bound multiplies these, "
        "never the observed availabilities. Computed in shards of days."
    ),
    metadata=asset_tables.column_schema(INTRINSIC_HOURLY_SCHEMA, columns.INTRINSIC_AVAILABILITY),
)
def intrinsic_availability(
    graph_snapshot: pl.DataFrame, sli_hourly: pl.LazyFrame, service_graph_hourly: pl.LazyFrame
) -> object:
    parts = plan_intrinsic_days().map(
        lambda shard: intrinsic_days(shard, graph_snapshot, sli_hourly, service_graph_hourly)
    )
    return combine_intrinsic_days(parts.collect())
