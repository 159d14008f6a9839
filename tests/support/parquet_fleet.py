"""A generated fleet on disk, its graph ingested: what the pipeline tests run the chain over.

Each test used to generate a topology and its telemetry, write one `sli_hourly`-shaped Parquet
file per day for the Parquet telemetry source and ingest the graph, in the same fifteen lines;
a change to how a fleet is laid out (a file name, a staleness horizon) now happens once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

from pipelines.resources import TelemetryResource
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn
from synthetic_fleet.telemetry import generate_telemetry, hourly_frame
from synthetic_fleet.topology import FleetTopology, generate_topology


@dataclass(frozen=True)
class ParquetFleet:
    topology: FleetTopology
    #: Where the telemetry files are (`<day>.parquet`), for a source built by other means.
    folder: Path
    source: TelemetryResource
    #: The day partitions the telemetry covers, oldest first (ISO dates).
    days: list[str]

    def materialize_each_day(self, materialize_day: Any, assets: Sequence[Any]) -> None:
        """Run `assets` for every day of the telemetry, oldest first (the conftest fixture
        `materialize_day`), so the chain's lookback finds every day materialized."""
        for day in self.days:
            assert materialize_day(list(assets), self.source, day).success, day


def parquet_fleet(
    engine: Engine,
    folder: Path,
    *,
    services: int,
    seed: int,
    cycles: int,
    days: int,
    end: datetime,
) -> ParquetFleet:
    """`services` generated services with `days` of telemetry ending at `end` (a midnight),
    written under `folder` and read through the Parquet source; the graph ingested into
    `engine`'s store with a staleness horizon no test outlives (its edges are never stale)."""
    topology = generate_topology(services, seed=seed, cycles=cycles)
    telemetry = generate_telemetry(topology, days=days, seed=seed, end=end)
    folder.mkdir(parents=True)
    for (day,), part in hourly_frame(telemetry).group_by(pl.col("hour").dt.date()):
        part.write_parquet(folder / f"{day}.parquet")
    ingest_graph(
        engine,
        DependencyGraphIn.model_validate(topology.to_payload()).to_submission(),
        stale_after=timedelta(days=3650),
    )
    return ParquetFleet(
        topology=topology,
        folder=folder,
        source=TelemetryResource(source="parquet", parquet_path=str(folder)),
        days=[(end - timedelta(days=days - n)).date().isoformat() for n in range(days)],
    )
