"""Benchmark: one daily partition of the recommendation chain for a whole fleet.

Generates a fleet with 30 days of telemetry as Parquet, materializes `sli_hourly` for the 30
days, then times the chain (graph_snapshot → … → published_recommendations) for the last day,
in process, on the embedded SQLite store. Goal: ≤ 60 s for 5,000 services, peak RSS ≤ 1.5 GB.

With `--processes N` the chain runs as the daemon runs it — `execute_job` of the chain's job
on Dagster's multiprocess executor, N steps at once (forkserver, the code location preloaded),
each step's resources from the `SLO_*` environment — so the shards of `intrinsic_availability`
and `slo_recommendations` spread over N processes; `--processes 0` (the default) is the
in-process `dg.materialize` of the demo. The set-up (generator, ingestion, the 30 `sli_hourly`
partitions) runs in child processes, so this process's peak RSS is the chain's orchestration
(in process: the whole chain); with processes, every step process is sampled and the largest
one is named by its step.

Usage: python benchmarks/recommendations_pipeline.py [--services 5000] [--edges-per-service 3]
       [--processes 2] [--shard-size 5000] [--fleet-cache DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from bench_support import ProcessTreePeaks
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
    parser.add_argument("--processes", type=int, default=0, help="0: in process")
    parser.add_argument("--shard-size", type=int, default=None, help="services per shard")
    parser.add_argument("--json", type=Path, help="also write the figures here (scale table)")
    parser.add_argument("--fleet-cache", type=Path, help="make the set-up once, here; reuse it")
    parser.add_argument("--telemetry-only", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.telemetry_only:
        _materialize_telemetry(args.telemetry_only, args.days)
        return
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory(prefix="slo-bench-recs-") as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'store.db'}"
        folder = root / "fleet" / "sli_hourly"
        setup, telemetry_time, generator_gb, telemetry_gb = _set_up(args, root, url)
        resources = _resources(root)
        quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
        last = (end - timedelta(days=1)).date().isoformat()
        profiler = cProfile.Profile() if args.profile else None
        cpu_before = _own_cpu()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        with ProcessTreePeaks() as peaks:
            if args.processes:
                success, steps, step_of = _in_processes(args, root, url, folder, last)
            else:
                shards = (
                    {"ops": {"slo_recommendations": {"ops": {"plan_recommendation_shards": {
                        "config": {"services_per_shard": args.shard_size}}}}}}
                    if args.shard_size else {}
                )  # fmt: skip
                result = dg.materialize(
                    [*DAILY_ASSETS, *DAILY_CHECKS],
                    selection=RECOMMENDATION_CHAIN,  # what the daily job and the sensor run
                    resources=resources,
                    partition_key=last,
                    run_config={**quiet, **shards},
                )
                success, steps, step_of = result.success, _step_times(result), {}
        chain_time = time.perf_counter() - started
        own_cpu = _own_cpu() - cpu_before
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        assert success
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    step_gb, step_pid = peaks.largest_child()
    largest_step = step_of.get(step_pid, "-")
    mode = f"{args.processes} processes" if args.processes else "in process"
    table = Table(
        title=f"Recommendation pipeline, {args.services} services, {args.days}-day lookback, {mode}"
    )
    for column in ("step", "seconds", "goal"):
        table.add_column(column)
    table.add_row(
        "setup: generate fleet + telemetry, write Parquet, ingest graph", f"{setup:.1f}", ""
    )
    table.add_row(
        f"sli_hourly × {args.days} partitions (Parquet source)", f"{telemetry_time:.1f}", ""
    )
    table.add_row(f"recommendation chain for one partition ({mode})", f"{chain_time:.1f}", "")
    for step, seconds in steps.items():
        table.add_row(f"  step time of {step} (summed over its shards)", f"{seconds:.1f}", "")
    table.add_row(
        "peak RSS of this process (GB): " + ("the run's orchestration" if args.processes
                                              else "the whole chain"),
        f"{rss_gb:.2f}",
        "≤ 2 GB",
    )  # fmt: skip
    table.add_row("CPU seconds of this process during the chain", f"{own_cpu:.1f}", "")
    table.add_row(f"peak RSS of the largest step process (GB): {largest_step}",
                  f"{step_gb:.2f}", "≤ 2 GB")  # fmt: skip
    table.add_row("peak RSS of the fleet generator (GB)", f"{generator_gb:.2f}", "≤ 2 GB")
    table.add_row(f"peak RSS of sli_hourly × {args.days} (set-up, GB)", f"{telemetry_gb:.2f}", "")
    Console(width=140).print(table)
    if args.json:
        figures = {
            "services": args.services,
            "processes": args.processes,
            "chain_s": chain_time,
            "own_cpu_s": own_cpu,
            "steps_s": steps,
            "rss_gb": rss_gb,
            "step_rss_gb": step_gb,
            "largest_step": largest_step,
            "generator_rss_gb": generator_gb,
        }
        args.json.write_text(json.dumps(figures), encoding="utf-8")


def _set_up(args: argparse.Namespace, root: Path, url: str) -> tuple[float, float, float, float]:
    """The fleet, its graph ingested and its 30 `sli_hourly` partitions, in child processes
    (so that this process's peak RSS is the pipeline's own): seconds of the generator and
    ingestion, seconds of the partitions, peak RSS of the generator and of the partitions.

    With `--fleet-cache DIR` the set-up is made once, in DIR, and every later run starts from
    hard links to it (the store a copy: the chain writes to it): a 50,000-service fleet takes
    ~15 minutes to make, and the 1- and 2-process runs then measure the same fleet."""
    cache = args.fleet_cache
    made_for = datetime.now(UTC).date().isoformat()  # the partitions are days before today
    marker = cache / SET_UP if cache else None
    if marker and marker.exists() and json.loads(marker.read_text())["made_for"] != made_for:
        shutil.rmtree(marker.parent)  # made on another day: its partitions are not this run's
    if cache and (cache / SET_UP).exists():
        _link_fleet(cache, root)
        figures = json.loads((cache / SET_UP).read_text(encoding="utf-8"))
        return 0.0, 0.0, figures["generator_gb"], figures["telemetry_gb"]
    started = time.perf_counter()
    env = {**os.environ, "SLO_DATABASE_URL": url}
    cli = [sys.executable, "-m", "cli.main"]
    generate = [*cli, "fleet", "generate", "--services", str(args.services), "--days"]
    generate += [str(args.days), "--seed", "3", "--out", str(root / "fleet")]
    generate += ["--edges-per-service", str(args.edges_per_service)]
    generator_gb = telemetry_gb = setup = 0.0
    materialize = [sys.executable, __file__, "--telemetry-only", str(root)]
    materialize += ["--days", str(args.days)]
    for command in (
        generate,
        [*cli, "db", "upgrade"],
        [*cli, "graph", "ingest", str(root / "fleet" / "graph.json")],
        materialize,
    ):
        if command is materialize:
            setup = time.perf_counter() - started
            started = time.perf_counter()
        log = root / "setup.log"  # a file, not a pipe: nobody reads it while the child runs
        with log.open("wb") as sink:
            child = subprocess.Popen(command, env=env, stdout=sink, stderr=sink)
            _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"{command[3:5]} failed: {log.read_text()[-2000:]}")
        if command is generate:
            generator_gb = usage.ru_maxrss / 1024 / 1024
        if command is materialize:
            telemetry_gb = usage.ru_maxrss / 1024 / 1024
    telemetry_time = time.perf_counter() - started
    if cache:
        _link_fleet(root, cache)
        figures = {"generator_gb": generator_gb, "telemetry_gb": telemetry_gb, "made_for": made_for}
        (cache / SET_UP).write_text(json.dumps(figures), encoding="utf-8")
    return setup, telemetry_time, generator_gb, telemetry_gb


def _link_fleet(source: Path, target: Path) -> None:
    """A set-up's files as hard links (the chain only adds files beside them), its store as a
    copy (the chain writes to it); never the cache's marker."""
    shutil.copytree(source, target, copy_function=os.link, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("store.db*", SET_UP))  # fmt: skip
    shutil.copy2(source / "store.db", target / "store.db")


#: The file that marks a fleet cache as complete, with the set-up's peak RSS figures.
SET_UP = "set-up.json"


def _own_cpu() -> float:
    """CPU seconds of this process so far: with processes, the run's orchestration, which
    competes with the steps for the machine's cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _resources(root: Path) -> dict[str, object]:
    """The chain's resources over the benchmark's folder: Parquet telemetry, SQLite store."""
    return {
        "telemetry": TelemetryResource(
            source="parquet", parquet_path=str(root / "fleet" / "sli_hourly")
        ),
        "store": OperationalStoreResource(database_url=f"sqlite:///{root / 'store.db'}"),
        "warehouse_io": PolarsParquetIOManager(base_path=str(root / "warehouse")),
        "webhook": WebhookResource(),  # drift notifications: none in a benchmark
    }


def _materialize_telemetry(root: Path, days: int) -> None:
    """`sli_hourly` and the observed graph for the `days` partitions before today: set-up, run
    in a child process so that the chain's peak RSS is measured apart from it."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    for offset in range(days, 0, -1):
        dg.materialize(
            [sli_hourly, service_graph_hourly],
            resources=_resources(root),
            partition_key=(end - timedelta(days=offset)).date().isoformat(),
            run_config=quiet,
        )


def _step_times(result: dg.ExecutionResult) -> dict[str, float]:
    """Seconds per op; mapped steps (`…recommend_shard[shard_0001]`) summed over their shards."""
    steps: dict[str, float] = {}
    for event in result.get_step_success_events():
        if event.step_key and event.event_specific_data is not None:
            name = event.step_key.split("[")[0]
            steps[name] = steps.get(name, 0.0) + event.event_specific_data.duration_ms / 1000
    return steps


def _in_processes(
    args: argparse.Namespace, root: Path, url: str, folder: Path, partition: str
) -> tuple[bool, dict[str, float], dict[int, str]]:
    """The chain's job on the multiprocess executor, as the daemon launches it."""
    from pipelines.definitions import recommendation_chain_job
    from pipelines.step_processes import multiprocess_execution

    os.environ.update({
        "SLO_DATABASE_URL": url,
        "SLO_WAREHOUSE_PATH": str(root / "warehouse"),
        "SLO_TELEMETRY": "parquet",
        "SLO_TELEMETRY_PARQUET_PATH": str(folder),
        "SLO_LOG_LEVEL": "ERROR",
    })  # fmt: skip
    if args.shard_size:
        os.environ["SLO_RECOMMENDATION_SHARD_SIZE"] = str(args.shard_size)
    (root / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(str(root / "dagster")) as instance:
        result = dg.execute_job(
            dg.reconstructable(recommendation_chain_job),
            instance=instance,
            run_config={
                "execution": multiprocess_execution(args.processes),
                "loggers": {"console": {"config": {"log_level": "ERROR"}}},
            },
            tags={"dagster/partition": partition},
        )
        step_of = {e.pid: e.step_key for e in result.all_events if e.pid and e.step_key}
        return result.success, _step_times(result), step_of


if __name__ == "__main__":
    main()
