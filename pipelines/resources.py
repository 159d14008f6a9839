"""Dagster resources: the telemetry source, the operational store and the Parquet warehouse.

Resources are built from the same `SLO_*` settings as the API and CLI, so one environment
configures everything; secrets (bearer token, password) never appear in run configuration.
"""

from __future__ import annotations

import shutil
import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import sqlalchemy as sa
from pydantic import PrivateAttr
from sqlalchemy.engine import Engine

from analytics.sli_daily import lookback_rows_from_daily
from config.settings import Settings, get_settings
from pipelines.warehouse_sql import RUN_PARTS
from store.engine import make_engine
from store.tables import services
from telemetry.prometheus_http import PrometheusClient
from telemetry.promql import MetricNames
from telemetry.service_graph_sources import ServiceGraphSource
from telemetry.sli_sources import PrometheusSliSource, SliSource
from telemetry.sources_from_settings import (
    backoff_for,
    metric_names_from_settings,
    prometheus_client_from_settings,
    service_graph_source_from_settings,
    sli_source_from_settings,
)


def _default(name: str) -> Any:
    """A setting's default: the resource's fields default to what the settings would say."""
    return Settings.model_fields[name].default


#: Each run-configurable field of `TelemetryResource` and the setting it overrides.
_SETTING_OF_FIELD = {
    "source": "telemetry",
    "parquet_path": "telemetry_parquet_path",
    "prometheus_url": "prometheus_url",
    "timeout_s": "prometheus_timeout_s",
    "metric_profile": "metric_profile",
    "requests_metric": "metric_requests",
    "duration_bucket_metric": "metric_duration_bucket",
    "service_label": "metric_service_label",
    "error_selector": "metric_error_selector",
    "cpu_periods_metric": "metric_cpu_periods",
    "cpu_throttled_metric": "metric_cpu_throttled_periods",
}


class TelemetryResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """PromQL over HTTP (fleet-wide queries) or Parquet files, behind one interface.

    The sources are built by `telemetry.sources_from_settings`, exactly as the API builds them:
    the process's `SLO_*` settings (credentials, circuit breaker) with this resource's fields laid
    over them. One client, and so one circuit breaker, serves every query of a resource. The
    fields' defaults are the settings' own, so that a resource built without them agrees too.
    """

    source: str = _default("telemetry")
    parquet_path: str = str(_default("telemetry_parquet_path"))
    prometheus_url: str = _default("prometheus_url")
    timeout_s: float = _default("prometheus_timeout_s")
    metric_profile: str = _default("metric_profile")
    requests_metric: str | None = None
    duration_bucket_metric: str | None = None
    service_label: str | None = None
    error_selector: str | None = None
    cpu_periods_metric: str | None = None
    cpu_throttled_metric: str | None = None
    window: str = PrometheusSliSource.window
    backoff_s: list[float] = list(backoff_for(_default("prometheus_retries")))

    _sli: SliSource | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> TelemetryResource:
        settings = settings or get_settings()
        fields = {field: getattr(settings, name) for field, name in _SETTING_OF_FIELD.items()}
        fields["parquet_path"] = str(fields["parquet_path"])  # run config holds strings
        return cls(**fields, backoff_s=list(backoff_for(settings.prometheus_retries)))

    def telemetry_settings(self) -> Settings:
        """The process settings with this resource's fields laid over them. Credentials and the
        circuit breaker's thresholds come from the environment, never from run config."""
        if self.source not in ("prometheus", "parquet"):
            raise ValueError(f"unknown telemetry source {self.source!r} (prometheus | parquet)")
        update = {name: getattr(self, field) for field, name in _SETTING_OF_FIELD.items()}
        update["telemetry_parquet_path"] = Path(self.parquet_path)
        update["prometheus_retries"] = len(self.backoff_s)
        return get_settings().model_copy(update=update)

    def metric_names(self) -> MetricNames:
        return metric_names_from_settings(self.telemetry_settings())

    def client(self) -> PrometheusClient:
        source = self.sli_source() if self.source == "prometheus" else None
        if isinstance(source, PrometheusSliSource):
            return source.client
        return prometheus_client_from_settings(self.telemetry_settings(), backoff_s=self.backoff_s)

    def sli_source(self) -> SliSource:
        if self._sli is None:
            self._sli = sli_source_from_settings(
                self.telemetry_settings(), backoff_s=self.backoff_s, window=self.window
            )
        return self._sli

    def service_graph_source(self) -> ServiceGraphSource:
        # Through the SLI source's client (one breaker); Parquet: <fleet>/service_graph.
        return service_graph_source_from_settings(self.telemetry_settings(), self.sli_source())


class OperationalStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    database_url: str
    stale_edge_hours: float = 168.0

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> OperationalStoreResource:
        settings = settings or get_settings()
        return cls(database_url=settings.database_url, stale_edge_hours=settings.stale_edge_hours)

    def engine(self) -> Engine:
        return make_engine(self.database_url)

    @contextmanager
    def connect(self) -> Iterator[Engine]:
        """An engine for the length of a block, disposed after it (a run's step is short)."""
        engine = self.engine()
        try:
            yield engine
        finally:
            engine.dispose()

    def instrumented_service_ids(self) -> list[str]:
        """Registered services we expect telemetry from (external APIs report none of their own)."""
        with self.connect() as engine, engine.connect() as conn:
            rows = conn.execute(sa.select(services.c.service_id, services.c.metadata))
            return sorted(
                r.service_id for r in rows if (r.metadata or {}).get("service_type") != "external"
            )


class PolarsParquetIOManager(dg.ConfigurableIOManager):
    """One Parquet file per asset partition: `<base>/<asset>/<partition>.parquet`.

    Files are written to a temporary name and renamed, so a run killed mid-write never leaves
    a torn partition for readers (DuckDB/polars read these files read-only). A LazyFrame is
    streamed to its file (`sink_parquet`), never collected: the combined shards of a 50,000-
    service fleet are written without holding them in memory.

    The frames that pass between a sharded asset's ops (outputs with no asset key) live under
    `<base>/_runs/<run id>/<step>.<output>.parquet` and load lazily: the op that combines the
    shards reads them as scans, and a re-execution from failure finds them where the failed
    run left them. They are kept RUN_PARTS_KEPT (for re-executions), then removed the next
    time any asset partition is written.
    """

    base_path: str

    def _path(self, key: dg.AssetKey, partition: str | None) -> Path:
        folder = Path(self.base_path).joinpath(*key.path)
        return folder / f"{partition or 'data'}.parquet"

    def _part_path(self, run_id: str, step_key: str, output: str) -> Path:
        return Path(self.base_path) / RUN_PARTS / run_id / f"{step_key}.{output}.parquet"

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | pl.LazyFrame) -> None:
        if not context.has_asset_key:
            path = self._part_path(context.run_id, context.step_key, context.name)
        else:
            partition = context.partition_key if context.has_partition_key else None
            path = self._path(context.asset_key, partition)
            self._prune_run_parts()
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".parquet.tmp")
        if isinstance(obj, pl.LazyFrame):
            obj.sink_parquet(temporary)
        else:
            obj.write_parquet(temporary)
        temporary.replace(path)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def partition_path(self, asset: str | dg.AssetKey, partition: str | None) -> Path:
        """Where a partition of an asset lives (whether or not it was written)."""
        return self._path(dg.AssetKey.from_coercible(asset), partition)

    def _prune_run_parts(self) -> None:
        runs = Path(self.base_path) / RUN_PARTS
        if not runs.is_dir():
            return
        cutoff = time.time() - RUN_PARTS_KEPT.total_seconds()
        for folder in runs.iterdir():
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    def load_input(self, context: dg.InputContext) -> pl.DataFrame | pl.LazyFrame:
        """A DataFrame, or a LazyFrame when the input is annotated so: then only the columns
        and rows the asset asks for are ever read (a 30-day lookback of a 5,000-service fleet
        is millions of rows).

        An input whose definition metadata names a daily rollup (`DAILY_FALLBACK`: the
        lookbacks of `sli_hourly`) reads a partition whose file retention removed from that
        rollup's file instead, converted by `analytics.sli_daily.lookback_rows_from_daily`."""
        if not context.has_asset_key:  # a shard part of this run (or of the failed run)
            upstream = context.upstream_output
            assert upstream is not None
            # Mapped step keys hold brackets (`recommend_shard[shard_0000]`): not a glob.
            path = self._part_path(upstream.run_id, upstream.step_key, upstream.name)
            part = pl.scan_parquet(path, glob=False)
            return part if _wants_lazy(context) else part.collect()
        key = context.asset_key
        partitions = context.asset_partition_keys if context.has_asset_partitions else [None]
        fallback = (context.definition_metadata or {}).get(DAILY_FALLBACK)
        frames: list[pl.LazyFrame] = []
        from_daily: list[str] = []
        for partition in partitions:
            path = self._path(key, partition)
            if path.exists():
                frames.append(pl.scan_parquet(path))
            elif fallback and partition is not None:
                daily = self.partition_path(fallback, partition)
                if daily.exists():
                    frames.append(lookback_rows_from_daily(pl.scan_parquet(daily)))
                    from_daily.append(partition)
        if not frames:
            raise FileNotFoundError(f"no materialized partition of {key.to_user_string()}")
        if from_daily:
            context.log.info(
                "%s: %d day(s) read from %s (hourly partitions removed by retention): %s",
                key.to_user_string(), len(from_daily), fallback, ", ".join(from_daily),
            )  # fmt: skip
        # Partitions written before a column was added read it as null (diagonal concat).
        lookback = pl.concat(frames, how="diagonal_relaxed")
        return lookback if _wants_lazy(context) else lookback.collect()


def _wants_lazy(context: dg.InputContext) -> bool:
    """Whether the input is annotated LazyFrame, or list[LazyFrame] (a fan-in of shards)."""
    wanted = context.dagster_type.typing_type
    return wanted is pl.LazyFrame or typing.get_args(wanted) == (pl.LazyFrame,)


RUN_PARTS_KEPT = timedelta(days=2)
#: Input definition metadata naming the daily rollup that stands in for removed partitions of
#: an hourly asset (`dg.AssetIn("sli_hourly", metadata={DAILY_FALLBACK: "sli_daily"})`).
DAILY_FALLBACK = "slo_engine/daily_fallback"
