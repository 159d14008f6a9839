"""Benchmark: a day of hourly SLIs for a whole fleet from a real Prometheus.

Compares the pipeline's fleet-wide plan (three `sum by (service)` range queries per day) with
the per-service plan the TRD's TelemetryQueryService implies (three queries per service), and
measures the pipeline's overhead over the floor: the bare HTTP time of its own three queries.
Goals: fleet-wide ≥ 20× faster than per-service; fetch + transform ≤ 1.5× the floor.

Usage: python benchmarks/telemetry_fetch.py [--services 1000] [--repeat 3] [--per-service-sample N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from bench_support import free_port
from rich.console import Console
from rich.table import Table

from analytics.fleet_telemetry import generate_telemetry, openmetrics_lines
from analytics.fleet_topology import generate_topology
from cli import prometheus_local
from telemetry.prometheus_http import PrometheusClient
from telemetry.promql import MetricNames, buckets_query, errors_query, requests_query
from telemetry.sli_sources import PrometheusSliSource, day_bounds


def median_time(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--per-service-sample", type=int, default=0, help="time only N services and scale (0: all)"
    )
    args = parser.parse_args()
    console = Console(width=150)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = (end - timedelta(days=1)).date()
    with tempfile.TemporaryDirectory(prefix="slo-bench-prom-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        topology = generate_topology(args.services, seed=5, edges_per_service=3.0)
        telemetry = generate_telemetry(topology, days=1, seed=5, end=end)
        source = root / "fleet.om"
        with source.open("w", encoding="utf-8") as sink:
            sink.writelines(openmetrics_lines(telemetry))
        generated = time.perf_counter() - started
        started = time.perf_counter()
        prometheus_local.backfill(source, root / "tsdb")
        server = prometheus_local.start(root / "tsdb", port=free_port())
        loaded = time.perf_counter() - started
        try:
            names = MetricNames()
            client = PrometheusClient(server.url)
            sli = PrometheusSliSource(client, names)
            frame = sli.fetch_day(day)  # warm caches once, check the answer
            assert frame["service"].n_unique() == args.services, frame["service"].n_unique()

            fleet_wide = median_time(lambda: sli.fetch_day(day), args.repeat)

            start, finish = day_bounds(day)
            first = start + timedelta(hours=1)
            queries = [requests_query(names), errors_query(names), buckets_query(names)]

            def bare() -> None:
                with httpx.Client(base_url=server.url, timeout=60) as http:
                    for query in queries:
                        http.get(
                            "/api/v1/query_range",
                            params={
                                "query": query,
                                "start": f"{first.timestamp()}",
                                "end": f"{finish.timestamp()}",
                                "step": "3600",
                            },
                        ).raise_for_status()

            floor = median_time(bare, args.repeat)

            services = telemetry.services
            sample = services[: args.per_service_sample] if args.per_service_sample else services

            def per_service_plan(queries_for: object) -> tuple[float, int]:
                calls_before = client.calls
                begin = time.perf_counter()
                for service in sample:
                    for query in queries_for(service):  # type: ignore[operator]
                        client.query_range(query, first, finish, 3600)
                elapsed = (time.perf_counter() - begin) * len(services) / len(sample)
                return elapsed, (client.calls - calls_before) * len(services) // len(sample)

            # What the TRD's TelemetryQueryService implies, one service at a time:
            # get_availability_sli (good and total events) and get_latency_percentiles
            # (histogram_quantile per percentile), each a query of its own, in sequence.
            def trd_plan(service: str) -> list[str]:
                only = [service]
                selector = f'{names.duration_bucket}{{{names.service_label}="{service}"}}'
                return [
                    requests_query(names, "1h", only),
                    errors_query(names, "1h", only),
                    *(
                        f"histogram_quantile({q}, sum by (le) (increase({selector}[1h])))"
                        for q in (0.5, 0.95, 0.99, 0.999)
                    ),
                ]

            # Our own three queries, restricted to one service: the cheapest per-service plan.
            def lean_plan(service: str) -> list[str]:
                only = [service]
                return [b(names, "1h", only) for b in (requests_query, errors_query, buckets_query)]

            trd_seconds, trd_queries = per_service_plan(trd_plan)
            lean_seconds, lean_queries = per_service_plan(lean_plan)
        finally:
            server.stop()

    table = Table(title=f"One day of hourly SLIs from a real Prometheus ({args.services} services)")
    for column in ("plan", "queries", "seconds", "goal", "ratio"):
        table.add_column(column, justify="left" if column in ("plan", "goal") else "right")
    table.add_row("fleet-wide (pipeline: fetch + transform)", "3", f"{fleet_wide:.3f}", "", "")
    table.add_row("floor: bare HTTP of the same 3 queries", "3", f"{floor:.3f}",
                  "pipeline ≤ 1.5× floor", f"{fleet_wide / floor:.2f}×")  # fmt: skip
    scaled = f", {len(sample)} timed and scaled" if args.per_service_sample else ""
    table.add_row(
        f"per service, TRD TelemetryQueryService plan{scaled}",
        str(trd_queries), f"{trd_seconds:.2f}", "fleet-wide ≥ 20× faster",
        f"{trd_seconds / fleet_wide:.0f}×",
    )  # fmt: skip
    table.add_row(
        f"per service, our 3 queries restricted to it{scaled}",
        str(lean_queries), f"{lean_seconds:.2f}", "", f"{lean_seconds / fleet_wide:.0f}×",
    )  # fmt: skip
    console.print(table)
    console.print(
        f"setup: generated {args.services} services × 1 day in {generated:.1f} s; "
        f"promtool backfill + Prometheus start in {loaded:.1f} s"
    )


if __name__ == "__main__":
    main()
