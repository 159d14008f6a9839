"""Benchmark: one daily partition of the recommendation chain for a whole fleet.

Generates a fleet with 30 days of telemetry as Parquet, materializes `sli_hourly` for the 30
days, then times the chain (graph_snapshot → … → published_recommendations) for the last day,
in process, on the embedded SQLite store. Goal: ≤ 60 s for 5,000 services, peak RSS ≤ 1.5 GB.

Usage: python benchmarks/recommendations_pipeline.py [--services 5000] [--edges-per-service 3]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from rich.console import Console
from rich.table import Table

from pipelines.definitions import DAILY_ASSETS, DAILY_CHECKS
from pipelines.defs.recommendations.automation import RECOMMENDATION_CHAIN
from pipelines.defs.telemetry.assets import service_graph_hourly, sli_hourly
from pipelines.notifications import WebhookResource
from pipelines.resources import OperationalStoreResource, PolarsParquetIOManager, TelemetryResource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--edges-per-service", type=float, default=3.0)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the chain here")
    args = parser.parse_args()
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory(prefix="slo-bench-recs-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        # Set-up in child processes, so that this process's peak RSS is the pipeline's own.
        folder = root / "fleet" / "sli_hourly"
        url = f"sqlite:///{root / 'store.db'}"
        env = {**os.environ, "SLO_DATABASE_URL": url}
        cli = [sys.executable, "-m", "cli.main"]
        generate = [*cli, "fleet", "generate", "--services", str(args.services), "--days"]
        generate += [str(args.days), "--seed", "3", "--out", str(root / "fleet")]
        generate += ["--edges-per-service", str(args.edges_per_service)]
        for command in (
            generate,
            [*cli, "db", "upgrade"],
            [*cli, "graph", "ingest", str(root / "fleet" / "graph.json")],
        ):
            subprocess.run(command, env=env, check=True, capture_output=True)
        setup = time.perf_counter() - started
        resources = {
            "telemetry": TelemetryResource(source="parquet", parquet_path=str(folder)),
            "store": OperationalStoreResource(database_url=url),
            "warehouse_io": PolarsParquetIOManager(base_path=str(root / "warehouse")),
            "webhook": WebhookResource(),  # drift notifications: none in a benchmark
        }
        quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
        started = time.perf_counter()
        for offset in range(args.days, 0, -1):
            day = (end - timedelta(days=offset)).date().isoformat()
            dg.materialize(
                [sli_hourly, service_graph_hourly],
                resources=resources,
                partition_key=day,
                run_config=quiet,
            )
        telemetry_time = time.perf_counter() - started
        last = (end - timedelta(days=1)).date().isoformat()
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = dg.materialize(
            [*DAILY_ASSETS, *DAILY_CHECKS],
            selection=RECOMMENDATION_CHAIN,  # what the daily job and the graph sensor run
            resources=resources,
            partition_key=last,
            run_config=quiet,
        )
        chain_time = time.perf_counter() - started
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        assert result.success
        steps = {
            event.step_key: event.event_specific_data.duration_ms / 1000
            for event in result.get_step_success_events()
            if event.step_key and event.event_specific_data is not None
        }
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    table = Table(
        title=f"Recommendation pipeline, {args.services} services, {args.days}-day lookback"
    )
    for column in ("step", "seconds", "goal"):
        table.add_column(column)
    table.add_row(
        "setup: generate fleet + telemetry, write Parquet, ingest graph", f"{setup:.1f}", ""
    )
    table.add_row(
        f"sli_hourly × {args.days} partitions (Parquet source)", f"{telemetry_time:.1f}", ""
    )
    table.add_row("recommendation chain for one partition", f"{chain_time:.1f}", "≤ 60 s")
    for step, seconds in steps.items():
        table.add_row(f"  of which {step}", f"{seconds:.1f}", "")
    table.add_row("peak RSS of this process (GB)", f"{rss_gb:.2f}", "≤ 1.5 GB")
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
