"""Benchmark: the API at fleet scale (issue 18 item 5) — 5,000 / 20,000 / 50,000 services.

Per size, a throwaway PostgreSQL store with `generate_topology`'s graph (5 edges per service by
default) and one published recommendation per service (`scale_fleet.seed_fleet`: the
pipeline's per-service `recommend_service` and `publish_recommendations`, without the daily
run), active SLOs for a tenth of the fleet, then `slo-engine serve` (one uvicorn process, rate
limits in Redis, `MALLOC_ARENA_MAX=2` as in the image) on 127.0.0.1. Over real HTTP:

1. the first impact analysis after start: it loads the effective graph and builds the fleet
   state (composites of every service, the condensed hard graph); then the first dependency
   subgraph, which builds the adjacency index over the cached graph. RSS after both;
2. a few impact analyses one at a time (no other load): the analysis alone;
3. a new publication (one service's document published again), then `--burst` impact analyses
   at once: every one of them needs the rebuilt fleet state, as after each daily run under
   load. The slowest answer, and the peak RSS through it;
4. a mixed load for `--seconds`: `--clients` clients × 1 cached recommendation read/s and
   `--impact-clients` clients × 1 impact analysis per `--impact-interval` s (inside the API's
   10/min per-principal limit), every client with an API key of its own.

The load generator shares the machine's cores with the server (and the machine may be shared):
latencies are measured under that load.

Usage: python benchmarks/api_scale.py [--services 5000 20000 50000] [--edges-per-service 5]
Smoke size, as `make test` runs it: --services 200 --clients 4 --impact-clients 2 --seconds 3
       --warmup-seconds 1 --sequential 3 --burst 3 --seed-workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from bench_support import (
    PacedResult,
    live_server,
    paced_requests,
    pct,
    rss_mb,
    throwaway_postgres,
)
from rich.console import Console
from rich.table import Table
from scale_fleet import seed_fleet

from store.api_keys import create_api_key
from store.engine import make_engine
from store.published_recommendations import publish_recommendations

READ = "/api/v1/services/{}/slo-recommendations"
IMPACT = "/api/v1/slos/impact-analysis"
SUBGRAPH = "/api/v1/services/{}/dependencies"


@dataclass(frozen=True)
class SizeResult:
    services: int
    edges: int
    seed_s: float
    first_impact_s: float
    first_subgraph_s: float
    rss_idle_mb: float
    rss_built_mb: float
    rss_after_load_mb: float
    rss_peak_mb: float
    alone: list[float]  # seconds
    upstream: list[int]  # impacted services per analysis (the sequential ones)
    burst_slowest_s: float
    burst_errors: int
    rss_peak_burst_mb: float
    cached: PacedResult
    impact: PacedResult
    seconds: float


def _impact_body(service: str) -> dict[str, object]:
    return {
        "service_id": service,
        "proposed_change": {"sli_type": "availability", "proposed_target": 99.5},
    }


def _checked(response: httpx.Response, log: Path) -> httpx.Response:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} "
            f"{response.text[:2000]}\n{log.read_text()[-4000:]}"
        )
    return response


async def _burst(base: str, names: list[str], keys: list[str], n: int) -> tuple[float, int]:
    """`n` impact analyses sent at once (keys of their own): (slowest answer in s, errors)."""
    rng = random.Random(5)
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=base, timeout=900, limits=limits) as client:

        async def one(k: int) -> bool:
            response = await client.post(IMPACT, json=_impact_body(rng.choice(names)),
                                         headers={"X-API-Key": keys[k % len(keys)]})  # fmt: skip
            return response.status_code == 200

        began = time.perf_counter()
        answers = await asyncio.gather(*(one(k) for k in range(n)))
    return time.perf_counter() - began, sum(1 for ok in answers if not ok)


async def _mixed_load(
    base: str, names: list[str], keys: list[str], args: argparse.Namespace, seconds: float
) -> tuple[PacedResult, PacedResult]:
    readers, analysts = keys[: args.clients], keys[args.clients :]

    async def read(client: httpx.AsyncClient, rng: random.Random, k: int) -> httpx.Response:
        return await client.get(READ.format(rng.choice(names)), headers={"X-API-Key": readers[k]})

    async def analyse(client: httpx.AsyncClient, rng: random.Random, k: int) -> httpx.Response:
        return await client.post(IMPACT, json=_impact_body(rng.choice(names)),
                                 headers={"X-API-Key": analysts[k]})  # fmt: skip

    clients = len(keys)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        cached, impact = await asyncio.gather(
            paced_requests(client, read, len(readers), interval_s=1.0, seconds=seconds, seed=1),
            paced_requests(client, analyse, len(analysts), interval_s=args.impact_interval,
                           seconds=seconds, seed=2),
        )  # fmt: skip
    return cached, impact


def measure(size: int, args: argparse.Namespace, console: Console) -> SizeResult:
    with tempfile.TemporaryDirectory(prefix="slo-bench-scale-") as tmp, throwaway_postgres() as url:
        root = Path(tmp)
        started = time.perf_counter()
        with console.status(f"{size} services: seeding the store"):
            fleet = seed_fleet(url, size, edges_per_service=args.edges_per_service,
                               slo_share=args.slo_share, workers=args.seed_workers)  # fmt: skip
        seed_s = time.perf_counter() - started
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in fleet.seconds.items())
        console.print(f"{size} services, {fleet.edges} edges: seeded in {seed_s:.0f} s ({phases})")
        engine = make_engine(url)
        try:
            keys = [
                create_api_key(engine, name=f"bench-{k}", role="sre_admin", rounds=4)[0]
                for k in range(args.clients + args.impact_clients)
            ]
        finally:
            engine.dispose()
        (root / "sli_hourly").mkdir()
        env = {
            **os.environ,
            "SLO_DATABASE_URL": url,
            "SLO_TELEMETRY": "parquet",
            "SLO_TELEMETRY_PARQUET_PATH": str(root / "sli_hourly"),
            "SLO_WAREHOUSE_PATH": str(root / "warehouse"),
            "SLO_REDIS_URL": args.redis,
            "MALLOC_ARENA_MAX": "2",
        }
        rng = random.Random(3)
        names = fleet.names
        log = root / "server.log"
        with live_server(env, log) as (base, pid):
            rss_idle = rss_mb(pid)
            with httpx.Client(base_url=base, timeout=900) as client:
                first = rng.choice(names)
                began = time.perf_counter()
                _checked(client.post(IMPACT, json=_impact_body(first),
                                     headers={"X-API-Key": keys[0]}), log)  # fmt: skip
                first_impact = time.perf_counter() - began
                began = time.perf_counter()
                _checked(client.get(SUBGRAPH.format(first), params={"direction": "both",
                         "depth": 3}, headers={"X-API-Key": keys[0]}), log)  # fmt: skip
                first_subgraph = time.perf_counter() - began
                rss_built = rss_mb(pid)
                alone: list[float] = []
                upstream: list[int] = []
                for i, service in enumerate(rng.sample(names, min(args.sequential, len(names)))):
                    began = time.perf_counter()
                    key = keys[1 + i % (len(keys) - 1)]  # 10 analyses/min per principal
                    response = client.post(IMPACT, json=_impact_body(service),
                                           headers={"X-API-Key": key})  # fmt: skip
                    alone.append(time.perf_counter() - began)
                    upstream.append(len(_checked(response, log).json()["impacted_services"]))
            engine = make_engine(url)
            try:  # a new publication: the fleet state's key changes
                publish_recommendations(engine, [fleet.sample], snapshot_id=None,
                                        generated_at=datetime.now(UTC))  # fmt: skip
            finally:
                engine.dispose()
            burst_slowest, burst_errors = asyncio.run(_burst(base, names, keys[::-1], args.burst))
            rss_peak_burst = rss_mb(pid, "VmHWM")
            if args.warmup_seconds > 0:  # connection pools, the interpreter's caches
                asyncio.run(_mixed_load(base, names, keys, args, args.warmup_seconds))
            cached, impact = asyncio.run(_mixed_load(base, names, keys, args, args.seconds))
            rss_after = rss_mb(pid)
            rss_peak = rss_mb(pid, "VmHWM")
    return SizeResult(
        services=size, edges=fleet.edges, seed_s=seed_s, first_impact_s=first_impact,
        first_subgraph_s=first_subgraph, rss_idle_mb=rss_idle, rss_built_mb=rss_built,
        rss_after_load_mb=rss_after, rss_peak_mb=rss_peak, alone=alone, upstream=upstream,
        burst_slowest_s=burst_slowest, burst_errors=burst_errors,
        rss_peak_burst_mb=rss_peak_burst,
        cached=cached, impact=impact, seconds=args.seconds,
    )  # fmt: skip


def _ms(values: list[float], q: float) -> str:
    return f"{pct([v * 1000 for v in values], q):,.1f}" if values else "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, nargs="+", default=[5000, 20000, 50000])
    parser.add_argument("--edges-per-service", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=40, help="cached readers, 1 request/s")
    parser.add_argument("--impact-clients", type=int, default=10)
    parser.add_argument("--impact-interval", type=float, default=6.0,
                        help="seconds between one client's analyses (limit 10/min)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument("--sequential", type=int, default=10,
                        help="impact analyses one at a time, before the load")  # fmt: skip
    parser.add_argument("--burst", type=int, default=10,
                        help="impact analyses at once right after a new publication")  # fmt: skip
    parser.add_argument("--slo-share", type=float, default=0.1)
    parser.add_argument("--seed-workers", type=int, default=2)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14",
                        help="Rate-limit store ('' for in-process buckets).")  # fmt: skip
    args = parser.parse_args()
    console = Console(width=140)
    load_avg = os.getloadavg()
    results = [measure(size, args, console) for size in args.services]

    table = Table(
        title=f"API at scale: {args.edges_per_service:g} edges per service, PostgreSQL, one "
        f"uvicorn process; load: {args.clients} readers × 1/s + {args.impact_clients} impact "
        f"clients × 1/{args.impact_interval:g} s for {args.seconds:g} s"
    )
    table.add_column("measurement")
    for r in results:
        table.add_column(f"{r.services:,} / {r.edges:,}", justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("set-up: seed the store (s)", [f"{r.seed_s:.0f}" for r in results]),
        ("build: first impact analysis (effective graph + fleet state, s)",
         [f"{r.first_impact_s:.2f}" for r in results]),
        ("build: first subgraph (adjacency index, s)",
         [f"{r.first_subgraph_s:.2f}" for r in results]),
        ("RSS before any build (MB)", [f"{r.rss_idle_mb:.0f}" for r in results]),
        ("RSS after the builds (MB)", [f"{r.rss_built_mb:.0f}" for r in results]),
        ("RSS after the load / peak (MB)",
         [f"{r.rss_after_load_mb:.0f} / {r.rss_peak_mb:.0f}" for r in results]),
        (f"rebuild after a publication: {args.burst} analyses at once, slowest (s)",
         [f"{r.burst_slowest_s:.2f}" + (f" ({r.burst_errors} errors)" if r.burst_errors else "")
          for r in results]),
        ("peak RSS through that rebuild (MB)", [f"{r.rss_peak_burst_mb:.0f}" for r in results]),
        ("impact analysis alone p50 / p95 (ms)",
         [f"{_ms(r.alone, 50)} / {_ms(r.alone, 95)}" for r in results]),
        ("upstream services per analysis (median / max)",
         [f"{statistics.median(r.upstream):.0f} / {max(r.upstream)}" if r.upstream else "—"
          for r in results]),
        ("cached GET under load p50 / p95 (ms)",
         [f"{_ms(r.cached.latencies, 50)} / {_ms(r.cached.latencies, 95)}" for r in results]),
        ("cached GET answered / errors",
         [f"{len(r.cached.latencies)} / {r.cached.errors}" for r in results]),
        ("impact analysis under load p50 / p95 (ms)",
         [f"{_ms(r.impact.latencies, 50)} / {_ms(r.impact.latencies, 95)}" for r in results]),
        ("impact analysis answered / errors",
         [f"{len(r.impact.latencies)} / {r.impact.errors}" for r in results]),
        ("impact answer, mean (KiB)",
         [f"{statistics.fmean(r.impact.body_bytes) / 1024:.0f}" if r.impact.body_bytes else "—"
          for r in results]),
    ]  # fmt: skip
    for label, cells in rows:
        table.add_row(label, *cells)
    console.print(table)
    statuses = {r.services: dict(r.cached.statuses + r.impact.statuses) for r in results}
    console.print(
        f"status codes under load: {statuses}; load average at start "
        f"{load_avg[0]:.2f}, at end {os.getloadavg()[0]:.2f} (latencies are measured under load)"
    )


if __name__ == "__main__":
    main()
