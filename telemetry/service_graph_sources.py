"""Calls between services as tracing sees them (OTel service graph), one UTC day at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

import polars as pl

from telemetry.prometheus_http import PrometheusClient
from telemetry.promql import MetricNames, service_graph_query
from telemetry.sli_sources import day_bounds

SERVICE_GRAPH_SCHEMA = pl.Schema(
    {"client": pl.String(), "server": pl.String(), "calls": pl.Int64()}
)


class ServiceGraphSource(Protocol):
    def fetch_day(self, day: date) -> pl.DataFrame:
        """(client, server, calls) for every pair that called during the UTC day."""
        ...


@dataclass
class ParquetServiceGraphSource:
    folder: Path

    def fetch_day(self, day: date) -> pl.DataFrame:
        path = self.folder / f"{day.isoformat()}.parquet"
        if not path.exists():
            return pl.DataFrame(schema=SERVICE_GRAPH_SCHEMA)
        return pl.read_parquet(path).select(SERVICE_GRAPH_SCHEMA.names()).cast(SERVICE_GRAPH_SCHEMA)


@dataclass
class PrometheusServiceGraphSource:
    client: PrometheusClient
    names: MetricNames

    def fetch_day(self, day: date) -> pl.DataFrame:
        _, end = day_bounds(day)
        result = self.client.query(service_graph_query(self.names, "1d"), end)
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
