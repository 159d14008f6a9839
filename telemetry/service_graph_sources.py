"""Calls between services as tracing sees them (OTel service graph): per UTC day, and per edge
and hour with the failed calls (`service_graph_hourly`, EDGE_HOURLY_SCHEMA)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from analytics.sli_schema import EDGE_HOURLY_SCHEMA
from telemetry.prometheus_http import PrometheusClient
from telemetry.promql import (
    MetricNames,
    edge_fan_out_query,
    service_graph_calls_query,
    service_graph_failed_query,
    service_graph_query,
)
from telemetry.query_shards import pack_shards, run_all
from telemetry.sli_sources import day_bounds

SERVICE_GRAPH_SCHEMA = pl.Schema(
    {"client": pl.String(), "server": pl.String(), "calls": pl.Int64()}
)


class ServiceGraphSource(Protocol):
    def fetch_day(self, day: date) -> pl.DataFrame:
        """(client, server, calls) for every pair that called during the UTC day."""
        ...

    def fetch_hourly(
        self, start: datetime, days: int, clients: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """EDGE_HOURLY_SCHEMA rows (calls and failed calls per edge and hour) for `days` whole
        UTC days from `start` (a midnight); `clients` restricts them to those callers."""
        ...


def empty_edge_hourly_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=EDGE_HOURLY_SCHEMA)


@dataclass
class ParquetServiceGraphSource:
    """Reads `<folder>/<day>.parquet` (daily calls) and `<hourly_folder>/<day>.parquet` (calls
    and failed calls per hour), as written by `slo-engine fleet generate`."""

    folder: Path
    #: Default: `service_graph_hourly` beside `folder`.
    hourly_folder: Path | None = None

    def fetch_day(self, day: date) -> pl.DataFrame:
        path = self.folder / f"{day.isoformat()}.parquet"
        if not path.exists():
            return pl.DataFrame(schema=SERVICE_GRAPH_SCHEMA)
        return pl.read_parquet(path).select(SERVICE_GRAPH_SCHEMA.names()).cast(SERVICE_GRAPH_SCHEMA)

    def fetch_hourly(
        self, start: datetime, days: int, clients: Sequence[str] | None = None
    ) -> pl.DataFrame:
        folder = self.hourly_folder or self.folder.parent / "service_graph_hourly"
        paths = [
            path
            for d in range(days)
            if (
                path := folder / f"{(start + timedelta(days=d)).date().isoformat()}.parquet"
            ).exists()
        ]
        if not paths:
            return empty_edge_hourly_frame()
        scans = [pl.scan_parquet(p) for p in paths]
        frame = pl.concat(scans, how="diagonal_relaxed")
        if clients is not None:
            frame = frame.filter(pl.col("client").is_in(list(clients)))
        return frame.select(EDGE_HOURLY_SCHEMA.names()).cast(EDGE_HOURLY_SCHEMA).collect()


@dataclass
class PrometheusServiceGraphSource:
    """Calls per (client, server) from the OTel service graph connector's counters.

    With `max_series_per_query` unset, each query is fleet-wide (one series per edge). Set (as
    the pipelines and the API build it), each is cut into shards of clients whose answers hold
    at most that many series. A client's share of an answer is its fan-out, which no id list
    tells: a probe asks Prometheus for it first, one series per client
    (`promql.edge_fan_out_query`), and clients without a call in the window are left out of
    the shards altogether. The frame is the same either way.
    """

    client: PrometheusClient
    names: MetricNames
    max_series_per_query: int | None = None

    def fetch_day(self, day: date) -> pl.DataFrame:
        _, end = day_bounds(day)
        shards = self._client_shards(end - timedelta(days=1), end, None, failed=False)
        tasks = [
            partial(self.client.query, service_graph_query(self.names, "1d", shard), end)
            for shard in shards
        ]
        result = [s for answer in run_all(tasks, what="service-graph query") for s in answer]
        rows = [
            (
                s["metric"].get(self.names.client_label, ""),
                s["metric"].get(self.names.server_label, ""),
                round(float(s["value"][1])),
            )
            for s in result
        ]
        return pl.DataFrame(rows, schema=SERVICE_GRAPH_SCHEMA, orient="row").filter(
            (pl.col("calls") > 0) & (pl.col("client") != "") & (pl.col("server") != "")
        )

    def fetch_hourly(
        self, start: datetime, days: int, clients: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """Two range queries (calls, failed calls) at one point an hour, each fleet-wide or in
        shards of clients. A missing failed series for an edge with calls means none failed."""
        only = list(clients) if clients is not None else None
        if only is not None and not only:
            return empty_edge_hourly_frame()
        # Each point at t is the increase over (t - 1h, t]: the hour that starts at t - 1h.
        first, last = start + timedelta(hours=1), start + timedelta(hours=24 * days)
        shards = self._client_shards(start, last, only, failed=True)
        builders = (service_graph_calls_query, service_graph_failed_query)
        tasks = [
            partial(self._long_of, build(self.names, "1h", shard), first, last)
            for build in builders
            for shard in shards
        ]
        longs = run_all(tasks, what="service-graph query")
        calls, failed = (
            pl.concat(
                [self._long([], "value"), *longs[k * len(shards) : (k + 1) * len(shards)]]
            ).rename({"value": name})
            for k, name in enumerate(("calls", "failed"))
        )
        keys = ["client", "server", "ts"]
        frame = (
            calls.join(failed, on=keys, how="left")
            .with_columns(pl.col("failed").fill_null(0))
            .filter((pl.col("client") != "") & (pl.col("server") != ""))
            .with_columns(
                hour=pl.from_epoch(pl.col("ts") - 3600, time_unit="s").dt.replace_time_zone("UTC")
            )
        )
        return (
            frame.select(EDGE_HOURLY_SCHEMA.names())
            .cast(EDGE_HOURLY_SCHEMA)
            .sort("client", "server", "hour")
        )

    def _long_of(self, query: str, first: datetime, last: datetime) -> pl.DataFrame:
        """One range query's answer as a long table, decoded in the worker that fetched it."""
        return self._long(self.client.query_range(query, first, last, 3600), "value")

    def _client_shards(
        self, since: datetime, until: datetime, clients: list[str] | None, *, failed: bool
    ) -> list[list[str] | None]:
        """The client restriction of each request of a query over (since, until]: the caller's
        (`None`: fleet-wide) when unbounded; otherwise shards of the clients (the caller's, or
        those Prometheus's label index holds) sized by each one's fan-out over the window."""
        if self.max_series_per_query is None:
            return [clients]
        # An hour more than the queries read: a wider probe over-counts, it never misses.
        since -= timedelta(hours=1)
        metrics = [self.names.service_graph, *([self.names.service_graph_failed] if failed else [])]
        label = self.names.client_label
        ids = sorted(
            set(clients)
            if clients is not None
            else self.client.label_values(label, metrics, since, until)
        )
        limit, seconds = self.max_series_per_query, int((until - since).total_seconds())
        probes = [
            partial(
                self.client.query,
                edge_fan_out_query(self.names, seconds, probe, failed=failed),
                until,
            )
            for probe in pack_shards(ids, 1, limit)
        ]
        fan_out = {
            s["metric"].get(label, ""): round(float(s["value"][1]))
            for answer in run_all(probes, what="fan-out probe")
            for s in answer
        }
        called = [c for c in ids if fan_out.get(c, 0) > 0]
        return [*pack_shards(called, fan_out, limit)]

    def _long(self, result: list[dict[str, Any]], value: str) -> pl.DataFrame:
        """A range-query matrix as (client, server, ts, value), rounded to whole calls."""
        clients: list[str] = []
        servers: list[str] = []
        stamps: list[float] = []
        values: list[str] = []
        for series in result:
            points = series["values"]
            if not points:
                continue
            metric = series["metric"]
            clients += [metric.get(self.names.client_label, "")] * len(points)
            servers += [metric.get(self.names.server_label, "")] * len(points)
            point_stamps, point_values = zip(*points, strict=True)
            stamps += point_stamps
            values += point_values
        return pl.DataFrame(
            {"client": clients, "server": servers, "ts": stamps, value: values},
            schema={"client": pl.String, "server": pl.String, "ts": pl.Float64, value: pl.String},
        ).with_columns(
            pl.col("ts").round().cast(pl.Int64),
            pl.col(value).cast(pl.Float64).round().cast(pl.Int64),
        )
