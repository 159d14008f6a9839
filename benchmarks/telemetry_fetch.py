"""Benchmark: a day of telemetry for a whole fleet from a real Prometheus.

Compares the pipeline's fleet-wide SLI plan (`PrometheusSliSource.fetch_day`: four `sum by
(service)` range queries per day — requests, errors, latency buckets, CPU throttling) with
the per-service plan the TRD's TelemetryQueryService implies, and measures the pipeline's
overhead over the floor: the bare HTTP time of exactly the queries it sent (recorded, not
restated, so a query added to the pipeline is timed here too). The day's service graph
(`service_graph_hourly`: calls and failed calls per edge and hour; `observed_service_graph`:
the day's calls) is timed the same way, on its own rows.
Goals: fleet-wide ≥ 20× faster than per-service; fetch + transform ≤ 1.5× the floor.

Usage: python benchmarks/telemetry_fetch.py [--services 1000] [--repeat 3] [--per-service-sample N]
(smoke size, as `make test` runs it: --services 30 --repeat 1 --per-service-sample 5)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import requests
import requests.adapters
from bench_support import free_port
from rich.console import Console
from rich.table import Table

from cli import prometheus_local
from synthetic_fleet.telemetry import generate_telemetry, openmetrics_lines
from synthetic_fleet.topology import generate_topology
from telemetry.prometheus_http import PrometheusClient
from telemetry.promql import (
    MetricNames,
    buckets_query,
    errors_query,
    requests_query,
    throttling_query,
)
from telemetry.service_graph_sources import PrometheusServiceGraphSource
from telemetry.sli_sources import PrometheusSliSource, day_bounds

#: The SLI queries the pipeline sends, as builders (restricted to one service for the lean
#: per-service plan). Checked against what it really sends: a mismatch fails the benchmark.
SLI_BUILDERS = (requests_query, errors_query, buckets_query, throttling_query)

Request = tuple[str, tuple[tuple[str, str], ...]]  # (path, query parameters)


class Recorder(requests.adapters.HTTPAdapter):
    """The client's ordinary HTTP adapter, noting every request sent through it."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.sent: list[Request] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        self.sent.append((url.path, tuple(parse_qsl(url.query))))
        return super().send(request, **kwargs)


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def recorded(recorder: Recorder, fn: Callable[[], object]) -> list[Request]:
    """What `fn` sent to Prometheus (it runs once)."""
    recorder.sent.clear()
    fn()
    return list(recorder.sent)


def through(
    query_range: Callable[[str, datetime, datetime, int], object],
    query: Callable[[str, datetime], object],
    requests: list[Request],
) -> Callable[[], None]:
    """Replay recorded requests through a client's own range and instant query calls."""

    def at(value: str) -> datetime:
        return datetime.fromtimestamp(float(value), UTC)

    def send() -> None:
        for path, params in requests:
            p = dict(params)
            if path.endswith("query_range"):
                query_range(p["query"], at(p["start"]), at(p["end"]), int(p["step"]))
            else:
                query(p["query"], at(p["time"]))

    return send


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
            recorder = Recorder()
            client = PrometheusClient(server.url, adapter=recorder)
            sli = PrometheusSliSource(client, names)
            graph = PrometheusServiceGraphSource(client, names)
            start, finish = day_bounds(day)

            def graph_day() -> None:  # the day's two service-graph assets
                graph.fetch_hourly(start, 1)
                graph.fetch_day(day)

            frame = sli.fetch_day(day)  # warm caches once, check the answers
            assert frame["service"].n_unique() == args.services, frame["service"].n_unique()
            assert graph.fetch_day(day).height > 0, "no service-graph calls in the fleet"
            sli_sent = recorded(recorder, lambda: sli.fetch_day(day))
            graph_sent = recorded(recorder, graph_day)
            expected = sorted(b(names, "1h") for b in SLI_BUILDERS)
            sent = sorted(dict(params)["query"] for _, params in sli_sent)
            assert sent == expected, f"the pipeline's SLI queries changed: {sent}"

            fleet_wide = median_time(lambda: sli.fetch_day(day), args.repeat)
            graph_seconds = median_time(graph_day, args.repeat)

            def bare(requests: list[Request]) -> Callable[[], None]:
                def send() -> None:
                    with httpx.Client(base_url=server.url, timeout=60) as http:
                        for path, params in requests:
                            http.get(path, params=list(params)).raise_for_status()

                return send

            floor = median_time(bare(sli_sent), args.repeat)
            graph_floor = median_time(bare(graph_sent), args.repeat)
            # The same queries through the client, parsed, one after the other: what the
            # HTTP library and JSON parsing cost over the bare requests.
            parsed = median_time(through(client.query_range, client.query, sli_sent), args.repeat)

            services = telemetry.services
            sample = services[: args.per_service_sample] if args.per_service_sample else services
            first = start + timedelta(hours=1)

            def per_service_plan(queries_for: Callable[[str], list[str]]) -> tuple[float, int]:
                calls_before = client.calls
                begin = time.perf_counter()
                for service in sample:
                    for query in queries_for(service):
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

            # The pipeline's own queries, restricted to one service: the cheapest per-service
            # plan.
            def lean_plan(service: str) -> list[str]:
                return [b(names, "1h", [service]) for b in SLI_BUILDERS]

            trd_seconds, trd_queries = per_service_plan(trd_plan)
            lean_seconds, lean_queries = per_service_plan(lean_plan)
        finally:
            server.stop()

    n, g = len(sli_sent), len(graph_sent)
    table = Table(
        title=f"One day of hourly telemetry from a real Prometheus ({args.services} services)"
    )
    for column in ("plan", "queries", "seconds", "goal", "ratio"):
        table.add_column(column, justify="left" if column in ("plan", "goal") else "right")
    table.add_row(f"fleet-wide SLIs (pipeline: {n} concurrent queries, fetch + transform)",
                  str(n), f"{fleet_wide:.3f}", "", "")  # fmt: skip
    table.add_row(f"floor: bare HTTP of the same {n} queries, sequential", str(n), f"{floor:.3f}",
                  "pipeline ≤ 1.5× floor", f"{fleet_wide / floor:.2f}×")  # fmt: skip
    table.add_row(f"our client (prometheus-api-client): the {n} queries, parsed, sequential",
                  str(n), f"{parsed:.3f}", "", f"{parsed / floor:.2f}×")  # fmt: skip
    scaled = f", {len(sample)} timed and scaled" if args.per_service_sample else ""
    table.add_row(
        f"per service, TRD TelemetryQueryService plan{scaled}",
        str(trd_queries), f"{trd_seconds:.2f}", "fleet-wide ≥ 20× faster",
        f"{trd_seconds / fleet_wide:.0f}×",
    )  # fmt: skip
    table.add_row(
        f"per service, our {len(SLI_BUILDERS)} queries restricted to it{scaled}",
        str(lean_queries), f"{lean_seconds:.2f}", "", f"{lean_seconds / fleet_wide:.0f}×",
    )  # fmt: skip
    table.add_row(f"service graph of the day (pipeline: {g} queries, fetch + transform)",
                  str(g), f"{graph_seconds:.3f}", "", "")  # fmt: skip
    table.add_row(f"floor: bare HTTP of the same {g} queries, sequential", str(g),
                  f"{graph_floor:.3f}", "", f"{graph_seconds / graph_floor:.2f}×")  # fmt: skip
    console.print(table)
    console.print(
        f"setup: generated {args.services} services × 1 day in {generated:.1f} s; "
        f"promtool backfill + Prometheus start in {loaded:.1f} s"
    )


if __name__ == "__main__":
    main()
