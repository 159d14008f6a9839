"""Benchmark: a day of hourly SLIs from a real Prometheus, fleet-wide vs in bounded shards.

One fleet-wide latency-bucket query returns a series per service and bucket (12 here): past
what Prometheus or Mimir fetch for one query at tens of thousands of services. The sharded plan
(`PrometheusSliSource.max_series_per_query`, the pipeline's `SLO_PROMETHEUS_MAX_SERIES_PER_QUERY`)
cuts every query into shards of services whose answers stay under the bound. This compares the
two on the same day: fetch time, the fetching process's peak RSS (each plan in a process of its
own, so one's peak does not hide the other's), the largest answer (series), and checks that the
two frames are identical.

The fleet is generated and loaded as a user would: `slo-engine fleet generate --openmetrics`,
then `promtool tsdb create-blocks-from openmetrics` and Prometheus on a free port.

Usage: python benchmarks/prometheus_shards.py [--services 10000] [--repeat 3] [--max-series 50000]
(smoke size, as `make test` runs it: --services 30 --repeat 1 --max-series 60)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import requests
import requests.adapters

# free_port is tests/support's, re-exported by bench_support (outside mypy's path).
from bench_support import free_port, rss_mb  # type: ignore[attr-defined]
from polars.testing import assert_frame_equal
from rich.console import Console
from rich.table import Table

from cli import prometheus_local
from telemetry.prometheus_http import PrometheusClient
from telemetry.promql import MetricNames
from telemetry.sli_sources import PrometheusSliSource

ROOT = Path(__file__).resolve().parents[1]
PLANS = ("fleet-wide", "sharded")


class SeriesCounter(requests.adapters.HTTPAdapter):
    """The client's ordinary HTTP adapter, noting the series of each query answer (only in the
    untimed first fetch: counting decodes every answer once more)."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.series: list[int] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        response = super().send(request, stream, timeout, verify, cert, proxies)
        if "/api/v1/query" in (request.url or ""):
            self.series.append(len(orjson.loads(response.content)["data"]["result"]))
        return response


@dataclass
class Measured:
    """What one plan cost, as its process reports it to the parent (one JSON line)."""

    seconds: float
    requests: int
    largest_answer: int
    peak_rss_mb: float
    rss_before_mb: float
    rows: int


def measure(url: str, day: date, plan: str, max_series: int, repeat: int, out: Path) -> Measured:
    """Fetch `day` with one plan in this process: once untimed (warm caches; the frame is
    written for the comparison), `repeat` times timed (the median), and then — after the peak
    RSS is read, since counting decodes every answer once more — once counting series."""
    bound = max_series if plan == "sharded" else None
    names = MetricNames()
    rss_before = rss_mb(os.getpid())
    client = PrometheusClient(url)
    source = PrometheusSliSource(client, names, max_series_per_query=bound)
    frame = source.fetch_day(day)
    frame.write_parquet(out)
    rows = frame.height
    del frame
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        source.fetch_day(day)
        times.append(time.perf_counter() - started)
    peak = rss_mb(os.getpid(), "VmHWM")
    counter = SeriesCounter()
    counting = PrometheusClient(url, adapter=counter)
    PrometheusSliSource(counting, names, max_series_per_query=bound).fetch_day(day)
    return Measured(
        seconds=statistics.median(times),
        requests=counting.calls,
        largest_answer=max(counter.series, default=0),
        peak_rss_mb=peak,
        rss_before_mb=rss_before,
        rows=rows,
    )


def run_plan(url: str, day: date, plan: str, args: argparse.Namespace, out: Path) -> Measured:
    """`measure` in a fresh process, so that its peak RSS is this plan's alone."""
    command = [sys.executable, __file__, "--measure", plan, "--url", url, "--day",
               day.isoformat(), "--repeat", str(args.repeat), "--max-series",
               str(args.max_series), "--frame-out", str(out)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{plan} fetch failed:\n{done.stderr[-3000:]}")
    return Measured(**json.loads(done.stdout.strip().splitlines()[-1]))


def load_fleet(root: Path, services: int) -> tuple[prometheus_local.LocalPrometheus, float]:
    """A generated fleet's day backfilled into a Prometheus of its own, through the CLI and
    promtool; (the server, seconds it took)."""
    started = time.perf_counter()
    generate = [sys.executable, "-m", "cli.main", "fleet", "generate", "--services",
                str(services), "--days", "1", "--seed", "5", "--openmetrics", "--out",
                str(root / "fleet")]  # fmt: skip
    done = subprocess.run(generate, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"fleet generate failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    prometheus_local.backfill(root / "fleet" / "fleet.om", root / "tsdb")
    server = prometheus_local.start(root / "tsdb", port=free_port())
    return server, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-series", type=int, default=50_000, help="the sharded plan's bound")
    parser.add_argument("--measure", choices=PLANS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--day", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--frame-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # the child process of one plan
        measured = measure(
            args.url, args.day, args.measure, args.max_series, args.repeat, args.frame_out
        )
        print(json.dumps(asdict(measured)))
        return
    console = Console(width=150)
    # `fleet generate --days 1` writes the day before today 00:00 UTC.
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    with tempfile.TemporaryDirectory(prefix="slo-bench-shards-") as tmp:
        root = Path(tmp)
        server, loaded = load_fleet(root, args.services)
        try:
            results = {
                plan: run_plan(server.url, day, plan, args, root / f"{plan}.parquet")
                for plan in PLANS
            }
        finally:
            server.stop()
        frames = [
            pl.read_parquet(root / f"{plan}.parquet").sort("service", "hour") for plan in PLANS
        ]
        assert_frame_equal(frames[0], frames[1])  # the sharded day is the fleet-wide day
        services = frames[0]["service"].n_unique()
    whole, shards = results["fleet-wide"], results["sharded"]
    assert services == args.services, f"{services} services in the frame, {args.services} asked"
    assert shards.largest_answer <= args.max_series, shards.largest_answer

    table = Table(
        title=f"One day of hourly SLIs for {args.services} services from a real Prometheus: "
        f"fleet-wide vs shards of ≤ {args.max_series:,} series"
    )
    for column in ("plan", "requests", "seconds per day", "peak RSS (MB)",
                   "RSS before (MB)", "largest answer (series)"):  # fmt: skip
        table.add_column(column, justify="left" if column == "plan" else "right")
    for plan, m in results.items():
        table.add_row(plan, str(m.requests), f"{m.seconds:.3f}", f"{m.peak_rss_mb:.0f}",
                      f"{m.rss_before_mb:.0f}", f"{m.largest_answer:,}")  # fmt: skip
    table.add_row(
        "ratio sharded / fleet-wide",
        f"{shards.requests / whole.requests:.1f}×",
        f"{shards.seconds / whole.seconds:.2f}×",
        f"{shards.peak_rss_mb / whole.peak_rss_mb:.2f}×",
        "",
        f"{shards.largest_answer / whole.largest_answer:.2f}×",
    )
    console.print(table)
    console.print(
        f"frames identical: {frames[0].height} rows, {services} services; requests include the "
        f"label-index look-ups; setup (generate, backfill, start) {loaded:.1f} s"
    )


if __name__ == "__main__":
    main()
