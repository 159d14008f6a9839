"""`slo_recommendations` as shards that Dagster schedules, not a loop of ours.

The per-service work (tiers, intervals, what-ifs, documents, SHAP values) is independent, so
the asset is a graph of ops over dynamic outputs:

    plan ──► recommend_shard × N ──► fit_fleet_models ──► attribute_shard × N ──► combine

- `plan_recommendation_shards` computes what is fleet-wide and cheap once — the fleet prior of
  bad days (a streaming aggregation of the lookback), the run's clock, the graph hash — and
  cuts the sorted service list into shards of `SLO_RECOMMENDATION_SHARD_SIZE`;
- each `recommend_shard` reads only its services' lookback rows and bounds and recommends them
  with the shared prior (each service's seed is its own, so a shard's answer does not depend
  on which shard it is in);
- `fit_fleet_models` fits the two SHAP fleet models once, on a sample of the explained rows
  gathered from every shard (`analytics.explanations.FIT_MAX_ROWS`);
- each `attribute_shard` explains its services with that one model;
- `combine_recommendation_shards` is the asset's value, one frame, sorted by service.

The executor decides where the shards run: in one process for `dg.materialize` and the demo
(the in-process executor, with the same ops), in processes on one machine under the
multiprocess executor, in pods under the Kubernetes executor. Publication stays one
transaction downstream. Dynamic outputs and not a static shard partition dimension: a shard
is not a thing anyone asks for by name, the shard count follows the fleet's size, and the
daily partitions downstream stay one-dimensional.
"""

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import Field

from analytics.explanations import (
    FleetModel,
    ModelRows,
    attribute_documents,
    fit_fleet_models,
    merge_model_rows,
    model_fits,
    model_rows,
)
from analytics.service_recommendation import recommend_service, recommendation_seed
from analytics.sli_daily import rolled_up_columns
from analytics.slo_tiers import fleet_prior
from config.settings import get_settings
from pipelines import asset_tables
from pipelines.defs.recommendations import columns
from pipelines.defs.recommendations.assets import (
    LOOKBACK,
    LOOKBACK_DAYS,
    LOOKBACK_OP_INPUT,
    composite_from_row,
    lookback_window,
)
from pipelines.defs.telemetry.hourly_retention import HOURLY_FILES_POOL
from pipelines.partitions import DAILY
from pipelines.resources import OperationalStoreResource
from pipelines.step_pods import LIGHT_POD, SHARD_POD
from store.fleet_prior import save_fleet_prior
from telemetry.sli_sources import day_bounds

#: Services whose lookback is held in memory at once inside a shard (bounds its peak RSS).
RECOMMENDATION_CHUNK = 500

RECOMMENDATION_SCHEMA = {
    "service": pl.String,
    "availability_conservative": pl.Float64,
    "availability_balanced": pl.Float64,
    "availability_aggressive": pl.Float64,
    "latency_conservative_ms": pl.Float64,
    "latency_balanced_ms": pl.Float64,
    "latency_aggressive_ms": pl.Float64,
    "composite_bound": pl.Float64,
    "cold_start": pl.Boolean,
    "capped_by_bound": pl.Boolean,
    "confidence": pl.String,
    "document": pl.String,
}


@dataclass(frozen=True)
class Shard:
    """One shard's services and what every shard shares (pickled to the shard's process)."""

    index: int
    services: tuple[str, ...]
    generated_at: datetime
    graph_hash: str
    fleet_excess: npt.NDArray[np.float64] | None


class ShardConfig(dg.Config):
    """Run configuration of the plan (tests and benchmarks set a small size)."""

    #: None: SLO_RECOMMENDATION_SHARD_SIZE, read when the run starts.
    services_per_shard: int | None = Field(default=None, ge=1)


def shard_services(services: list[str], size: int) -> list[list[str]]:
    """Contiguous runs of the sorted fleet, as even as the shard count allows. Always at least
    one (an empty fleet is one empty shard): Dagster skips every op downstream of a dynamic
    output that yields nothing, and the day's partition must still be written."""
    if not services:
        return [[]]
    count = math.ceil(len(services) / size)
    per = math.ceil(len(services) / count)
    return [services[i : i + per] for i in range(0, len(services), per)]


def fleet_pool(lookback: pl.LazyFrame) -> npt.NDArray[np.float64] | None:
    """The fleet's bad days (daily error ratio above each service's normal), for the prior.

    Aggregated to service-days by a streaming query: the hourly lookback of a 50,000-service
    fleet (36 million rows) is never in memory at once."""
    daily = (
        lookback.filter(pl.col("has_data"))
        .group_by("service", pl.col("hour").dt.date().alias("day"))
        .agg(pl.col("requests").sum().cast(pl.Float64), pl.col("errors").sum().cast(pl.Float64))
        .filter(pl.col("requests") > 0)
        .collect(engine="streaming")
    )
    if daily.is_empty():
        return None
    req = daily.pivot(on="day", index="service", values="requests", sort_columns=True)
    err = daily.pivot(on="day", index="service", values="errors", sort_columns=True)
    req, err = req.sort("service").drop("service"), err.sort("service").drop("service")
    return fleet_prior(
        req.to_numpy().astype(np.float64), err.select(req.columns).to_numpy().astype(np.float64)
    )


def _lookback(context: dg.OpExecutionContext, sli_hourly: pl.LazyFrame) -> pl.LazyFrame:
    _, day_end = day_bounds(context.partition_time_window.start.date())
    start, end = lookback_window(day_end)
    return sli_hourly.filter(pl.col("hour") >= start, pl.col("hour") < end)


@dg.op(
    pool=HOURLY_FILES_POOL,
    tags=LIGHT_POD,
    ins={"sli_hourly": LOOKBACK_OP_INPUT},
    out={"fleet_prior_points": dg.Out(int), "shards": dg.DynamicOut()},
    description="The fleet prior, the run's clock and graph hash, and the fleet cut in shards.",
)
def plan_recommendation_shards(
    context: dg.OpExecutionContext,
    config: ShardConfig,
    sli_hourly: pl.LazyFrame,
    composite_availability_bounds: pl.DataFrame,
    store: OperationalStoreResource,
) -> Iterator[dg.Output[Any] | dg.DynamicOutput[Shard]]:
    lookback = _lookback(context, sli_hourly)
    pool = fleet_pool(lookback)
    hashes = composite_availability_bounds["graph_hash"].unique().to_list()
    graph_hash = hashes[0] if hashes else ""
    # Published beside the recommendations: force_regenerate draws the same prior (none is
    # stored as none, so a re-run partition never keeps an older prior).
    with store.connect() as engine:
        save_fleet_prior(engine, context.partition_key, pool if pool is not None else np.empty(0))
    observed = lookback.select("service").unique().collect(engine="streaming")["service"]
    services = sorted(set(composite_availability_bounds["service"]) | set(observed))
    generated_at = datetime.now(UTC)
    size = config.services_per_shard or get_settings().recommendation_shard_size
    shards = shard_services(services, size)
    context.log.info(
        "%d services in %d shards; fleet prior of %d points",
        len(services), len(shards), len(pool) if pool is not None else 0,
    )  # fmt: skip
    yield dg.Output(len(pool) if pool is not None else 0, "fleet_prior_points")
    for index, members in enumerate(shards):
        shard = Shard(index, tuple(members), generated_at, graph_hash, pool)
        yield dg.DynamicOutput(shard, mapping_key=f"shard_{index:04d}", output_name="shards")


def _window(lookback: pl.LazyFrame, services: list[str]) -> pl.DataFrame:
    """The lookback rows of some services, sorted so each service is one contiguous slice."""
    rolled = rolled_up_columns(lookback)  # day rollups: their buckets sum 24 hours
    return (
        lookback.filter(pl.col("service").is_in(services))
        .select(
            "service",
            "hour",
            "requests",
            "errors",
            # Hourly bucket counts fit 32 bits; halving them halves the footprint.
            pl.col("latency_buckets").cast(pl.List(pl.Int64 if rolled else pl.Int32)),
            "cpu_throttling",
            "has_data",
            *rolled,
        )
        .sort("service", "hour")
        .collect()
    )


def _slices(window: pl.DataFrame) -> dict[str, tuple[int, int]]:
    """(offset, length) of each service in a sorted window: zero-copy slices, not copies."""
    slices: dict[str, tuple[int, int]] = {}
    position = 0
    for name, count in window.group_by("service", maintain_order=True).agg(pl.len()).iter_rows():
        slices[name] = (position, count)
        position += count
    return slices


@dg.op(
    pool=HOURLY_FILES_POOL,
    tags=SHARD_POD,
    ins={"sli_hourly": LOOKBACK_OP_INPUT},
    out={"recommendations": dg.Out(io_manager_key="warehouse_io"), "model_rows": dg.Out()},
    description="Tiers, intervals, what-ifs and documents for one shard's services.",
)
def recommend_shard(
    context: dg.OpExecutionContext,
    shard: Shard,
    sli_hourly: pl.LazyFrame,
    composite_availability_bounds: pl.DataFrame,
) -> tuple[pl.DataFrame, tuple[int, ModelRows]]:
    _, day_end = day_bounds(context.partition_time_window.start.date())
    start, _ = lookback_window(day_end)
    hour_list = [start + timedelta(hours=h) for h in range(LOOKBACK_DAYS * 24)]
    lookback = _lookback(context, sli_hourly)
    mine = composite_availability_bounds.filter(pl.col("service").is_in(shard.services))
    bounds = {row["service"]: row for row in mine.iter_rows(named=True)}
    provenance = {
        "dagster_run_id": context.run.run_id,
        "partition": context.partition_key,
        "graph_hash": shard.graph_hash,
    }
    rows = []
    documents = []
    members = list(shard.services)
    for first in range(0, len(members), RECOMMENDATION_CHUNK):
        chunk = members[first : first + RECOMMENDATION_CHUNK]
        window = _window(lookback, chunk)
        slices = _slices(window)
        for service in chunk:
            bound_row = bounds.get(service)
            offset, length = slices.get(service, (0, 0))
            tiers, document = recommend_service(
                service,
                window.slice(offset, length),
                hour_list,
                composite_from_row(bound_row) if bound_row else None,
                generated_at=shard.generated_at,
                service_type=bound_row["service_type"] if bound_row else None,
                fleet_excess=shard.fleet_excess,
                seed=recommendation_seed(context.partition_key, service, shard.graph_hash),
                absorbs=bool(bound_row and bound_row["absorbs"]),
                published_sla=bound_row["published_sla"] if bound_row else None,
            )
            document["provenance"] = provenance
            a, lat = tiers.availability, tiers.latency
            documents.append(document)
            rows.append(
                (
                    service,
                    a["conservative"].target,
                    a["balanced"].target,
                    a["aggressive"].target,
                    lat["conservative"].target_ms,
                    lat["balanced"].target_ms,
                    lat["aggressive"].target_ms,
                    bound_row["composite_bound"] if bound_row else None,
                    tiers.cold_start,
                    tiers.capped_by_composite,
                    tiers.data_quality.confidence,
                    json.dumps(document),
                )
            )
    frame = pl.DataFrame(rows, schema=RECOMMENDATION_SCHEMA, orient="row")
    return frame, (shard.index, model_rows(documents))


@dg.op(
    tags=LIGHT_POD,
    description="The two SHAP fleet models, fitted once on rows gathered from every shard.",
)
def fit_recommendation_models(
    context: dg.OpExecutionContext, model_rows: list[tuple[int, ModelRows]]
) -> dict[str, FleetModel | None]:
    merged = merge_model_rows([rows for _, rows in sorted(model_rows, key=lambda r: r[0])])
    models = fit_fleet_models(merged)
    context.log.info("fleet explanation: %s", model_fits(models))
    return models


@dg.op(
    tags=SHARD_POD,
    out=dg.Out(io_manager_key="warehouse_io"),
    description="SHAP attributions for one shard's services, from the shared fleet models.",
)
def attribute_shard(
    recommendations: pl.DataFrame, fleet_models: dict[str, FleetModel | None]
) -> pl.DataFrame:
    documents = [json.loads(d) for d in recommendations["document"]]
    attribute_documents(documents, fleet_models)
    return recommendations.with_columns(
        pl.Series("document", [json.dumps(d) for d in documents], dtype=pl.String)
    )


@dg.op(
    tags=LIGHT_POD,
    out=dg.Out(io_manager_key="warehouse_io"),
    description="The shards as one frame, sorted by service: the asset's value.",
)
def combine_recommendation_shards(
    parts: list[pl.LazyFrame],
    fleet_models: dict[str, FleetModel | None],
    fleet_prior_points: int,
) -> dg.Output[pl.LazyFrame]:
    # The parts are scans of the shards' files, in shard order (contiguous runs of the sorted
    # fleet): the warehouse streams them into the partition; only the figures are read here.
    combined = pl.concat(parts) if parts else pl.LazyFrame(schema=RECOMMENDATION_SCHEMA)
    frame = combined.drop("document").collect()
    fit = model_fits(fleet_models)
    return dg.Output(
        combined,
        metadata={
            "fleet_prior_points": fleet_prior_points,
            "services": frame.height,
            "shards": len(parts),
            "cold_start": int(frame["cold_start"].sum()),
            "capped_by_bound": int(frame["capped_by_bound"].sum()),
            "median_balanced_availability": float(frame["availability_balanced"].median() or 0.0),  # type: ignore[arg-type]
            "tier_distribution": asset_tables.table(
                tier_distribution(frame), columns.TIER_DISTRIBUTION
            ),
            **{f"explanation_{k}": v for k, v in fit.items()},
        },
    )


def tier_distribution(recommendations: pl.DataFrame) -> pl.DataFrame:
    """Per tier, how the fleet's targets spread: what a reviewer checks before approving."""
    rows = []
    for tier in ("conservative", "balanced", "aggressive"):
        availability = recommendations[f"availability_{tier}"].drop_nulls()
        latency = recommendations[f"latency_{tier}_ms"].drop_nulls()
        rows.append({
            "tier": tier,
            "services": availability.len(),
            "availability_p10": availability.quantile(0.1),
            "availability_median": availability.median(),
            "availability_p90": availability.quantile(0.9),
            "latency_median_ms": latency.median(),
            "latency_p90_ms": latency.quantile(0.9),
        })  # fmt: skip
    spreads = {name: pl.Float64 for name in list(columns.TIER_DISTRIBUTION)[2:]}
    schema = {"tier": pl.String, "services": pl.Int64, **spreads}
    return pl.DataFrame(rows, schema=schema)


@dg.graph_asset(
    partitions_def=DAILY,
    ins={"sli_hourly": LOOKBACK, "composite_availability_bounds": dg.AssetIn()},
    group_name="recommendations",
    description=(
        "Three tiers of availability and latency SLOs per service from the lookback's hourly "
        "SLIs, the balanced availability capped by the composite bound, in the TRD's shape; "
        "computed in shards of SLO_RECOMMENDATION_SHARD_SIZE services that the executor spreads "
        "over processes or pods."
    ),
    metadata=asset_tables.column_schema(RECOMMENDATION_SCHEMA, columns.RECOMMENDATIONS),
)
def slo_recommendations(
    sli_hourly: pl.LazyFrame, composite_availability_bounds: pl.DataFrame
) -> Any:
    prior_points, shards = plan_recommendation_shards(sli_hourly, composite_availability_bounds)
    recommended, rows = shards.map(
        lambda shard: recommend_shard(shard, sli_hourly, composite_availability_bounds)
    )
    models = fit_recommendation_models(rows.collect())
    attributed = recommended.map(lambda part: attribute_shard(part, models))
    return combine_recommendation_shards(attributed.collect(), models, prior_points)
