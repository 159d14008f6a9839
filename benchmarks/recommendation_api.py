"""Benchmark: the recommendation endpoint of a live server over a published fleet.

Set-up (child processes): generate a fleet with 30 days of Parquet telemetry, ingest its graph
into a throwaway PostgreSQL database, materialize 30 days of `sli_hourly` and the
recommendation chain for the last day, start `slo-engine serve` (uvicorn) on 127.0.0.1.

Then, over real HTTP:
1. `force_regenerate=true` for random services, one at a time (goal p95 ≤ 1 s, TRD 5 s);
2. cached reads from 200 concurrent clients at 1 request/s each (goal p95 ≤ 25 ms, TRD
   500 ms), and the same load against `/api/v1/health` (no store access) as the ceiling.

The load generator shares the machine's two cores with the server: the figures include it.

Usage: python benchmarks/recommendation_api.py [--services 5000] [--clients 200] [--seconds 30]
Smoke size, as `make test` runs it: --services 60 --days 8 --clients 5 --seconds 2
       --regenerations 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from bench_support import live_server, pct, publish_fleet, rss_mb, throwaway_postgres
from rich.console import Console
from rich.table import Table

from store.api_keys import create_api_key
from store.engine import make_engine

API = "/api/v1/services/{}/slo-recommendations"


body_bytes: list[int] = []  # response sizes of the last paced_load


async def paced_load(
    base: str, paths: list[str], keys: list[str], seconds: float
) -> tuple[list[float], int, int]:
    """One client per key, each sending one request per second (open loop, random phase)."""
    clients = len(keys)
    latencies: list[float] = []
    errors = 0
    sent = 0
    body_bytes.clear()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:

        async def one_client(k: int) -> None:
            nonlocal errors, sent
            rng = random.Random(k)
            await asyncio.sleep(rng.random())
            start = time.perf_counter()
            tick = 0
            while time.perf_counter() - start < seconds:
                began = time.perf_counter()
                sent += 1
                try:
                    response = await client.get(rng.choice(paths), headers={"X-API-Key": keys[k]})
                    if response.status_code != 200:
                        errors += 1
                    body_bytes.append(len(response.content))
                    latencies.append(time.perf_counter() - began)
                except httpx.HTTPError:
                    errors += 1
                tick += 1
                await asyncio.sleep(max(0.0, start + tick - time.perf_counter()))

        await asyncio.gather(*(one_client(k) for k in range(clients)))
    return latencies, errors, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--regenerations", type=int, default=30)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14",
                        help="Rate-limit store ('' for in-process buckets).")  # fmt: skip
    args = parser.parse_args()
    console = Console(width=130)
    last = datetime.now(UTC).date() - timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="slo-bench-api-") as tmp, throwaway_postgres() as url:
        root = Path(tmp)
        env = {
            **os.environ,
            "SLO_DATABASE_URL": url,
            "SLO_TELEMETRY": "parquet",
            "SLO_TELEMETRY_PARQUET_PATH": str(root / "fleet" / "sli_hourly"),
            "SLO_WAREHOUSE_PATH": str(root / "warehouse"),
            "SLO_LOOKBACK_DAYS": str(args.days),
            "SLO_REDIS_URL": args.redis,  # rate limits shared by replicas, as in production
        }
        started = time.perf_counter()
        with console.status(f"setting up: fleet, graph, {args.days} days of SLIs, recommendations"):
            publish_fleet(env, root, args.services, args.days, last)
        setup = time.perf_counter() - started
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            names = [r[0] for r in conn.execute("SELECT service_id FROM services")]
        # One sre_admin key per simulated client: rate limits are per principal, as in real use.
        engine = make_engine(url)
        try:
            keys = [
                create_api_key(engine, name=f"bench-{k}", role="sre_admin", rounds=4)[0]
                for k in range(args.clients)
            ]
        finally:
            engine.dispose()
        rng = random.Random(7)
        with live_server(env, root / "server.log") as (base, pid):
            regenerate: list[float] = []
            with httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": keys[0]}) as client:
                for service in rng.sample(names, min(args.regenerations, len(names))):
                    began = time.perf_counter()
                    response = client.get(API.format(service), params={"force_regenerate": "true"})
                    regenerate.append(time.perf_counter() - began)
                    if response.status_code != 200:
                        log = (root / "server.log").read_text()[-4000:]
                        raise RuntimeError(
                            f"{service}: {response.status_code} {response.text}\n{log}"
                        )
            cached_paths = [API.format(s) for s in names]
            for _ in range(2):  # warm the connection pools and the interpreter
                asyncio.run(paced_load(base, cached_paths, keys, min(3.0, args.seconds)))
            cached, cached_errors, cached_sent = asyncio.run(
                paced_load(base, cached_paths, keys, args.seconds)
            )
            cached_bytes = statistics.fmean(body_bytes) if body_bytes else 0.0
            bare, bare_errors, bare_sent = asyncio.run(
                paced_load(base, ["/api/v1/health"], keys, args.seconds)
            )
            server_rss = rss_mb(pid)

    table = Table(
        title=f"Recommendation API, {args.services} services, PostgreSQL store, live uvicorn "
        f"(set-up {setup:.0f} s)"
    )
    for column in ("measurement", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "goal"):
        table.add_column(column, justify="left" if column in ("measurement", "goal") else "right")
    rows = (
        ("force_regenerate (sequential)", regenerate, 0, "p95 ≤ 1000 ms (TRD 5 s)"),
        (f"cached GET, {args.clients} clients × 1/s", cached, cached_errors, "p95 ≤ 25 ms"),
        (f"bare /health, {args.clients} × 1/s", bare, bare_errors, "ceiling"),
    )
    for label, values, errors, goal in rows:
        ms = [v * 1000 for v in values]
        table.add_row(
            label, str(len(values)), str(errors), f"{pct(ms, 50):.1f}", f"{pct(ms, 95):.1f}",
            f"{pct(ms, 99):.1f}", goal,
        )  # fmt: skip
    console.print(table)
    duration = args.seconds
    console.print(
        f"cached throughput {len(cached) / duration:.0f} req/s of {cached_sent / duration:.0f} "
        f"offered; bare {len(bare) / duration:.0f} req/s; ratio cached/bare p95 "
        f"{pct(cached, 95) / max(pct(bare, 95), 1e-9):.2f}×; mean cached answer "
        f"{cached_bytes / 1024:.1f} KiB; server RSS {server_rss:.0f} MB"
    )
    console.print(
        f"force_regenerate p95 {pct(regenerate, 95) * 1000:.0f} ms "
        f"({'meets' if pct(regenerate, 95) <= 1 else 'misses'} the 1 s goal); cached p95 "
        f"{pct(cached, 95) * 1000:.1f} ms "
        f"({'meets' if pct(cached, 95) <= 0.025 else 'misses'} the 25 ms goal)"
    )
    _ = bare_sent


if __name__ == "__main__":
    main()
