"""Benchmark (`make bench-load`): the API under a real load tool, locust, headless.

Set-up: a 5,000-service fleet published into a throwaway PostgreSQL database (30 days of
telemetry, the daily pipeline), 500 of its SLOs accepted, one API key per simulated user, and
`slo-engine serve` (uvicorn) on 127.0.0.1 with its rate limits in Redis, as in production.

Three phases, each a separate `locust --headless` run with statistics reset after ramp-up:
1. mixed: 200 users × 1 request/s — cached recommendation reads, dependency queries,
   active-SLO reads, and now and then a decision (read the recommendation, accept it);
2. saturation of the cached read (users with no wait), and
3. saturation of `/health` on the same server: the ceiling of the stack itself.

Goals (issue 7): cached read p95 ≤ 25 ms at 200 × 1/s, no errors, cached-read throughput
≥ 50% of the ceiling, API RSS ≤ 300 MB. Locust and the server share this machine's cores.

Usage: python benchmarks/load_test.py [--services 5000] [--users 200] [--seconds 60]
Smoke size, as `make test` runs it: --services 60 --days 8 --users 8 --seconds 6
       --saturation-users 4 --saturation-seconds 5 --warmup-seconds 0 --with-slo 10
       --decide 5 --keys 20
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from bench_support import ConnectionSampler, live_server, publish_fleet, rss_mb, throwaway_postgres
from rich.console import Console
from rich.table import Table

from store.acting_rights import ON_ANY_SERVICE
from store.api_keys import create_api_key
from store.engine import make_engine
from store.slo_decisions import Decision, decide

HERE = Path(__file__).resolve().parent
ACTIVE_RECOMMENDATIONS = """
SELECT s.service_id, r.id FROM slo_recommendations r JOIN services s ON s.id = r.service_id
WHERE r.status = 'active' AND r.sli_type = 'availability' ORDER BY s.service_id
"""


@dataclass(frozen=True)
class Row:
    name: str
    requests: int
    failures: int
    p50: float
    p95: float
    p99: float
    rps: float


def prepare(url: str, keys_count: int, with_slo: int, to_decide: int, data: Path) -> None:
    """Keys, accepted SLOs and the services decisions are made on, for the locust users."""
    engine = make_engine(url)
    try:
        keys = [
            create_api_key(engine, name=f"load-{k}", role="sre_admin", rounds=4)[0]
            for k in range(keys_count)
        ]
        with engine.connect() as conn:
            recommended = [(s, r) for s, r in conn.execute(sa.text(ACTIVE_RECOMMENDATIONS))]
            services = list(conn.execute(sa.text("SELECT service_id FROM services")).scalars())
        rng = random.Random(11)
        rng.shuffle(recommended)
        accepted = recommended[:with_slo]
        for service, recommendation in accepted:
            accept = Decision(service, recommendation, "accept", actor="setup@load-test",
                              selected_tier="balanced", rights=ON_ANY_SERVICE)  # fmt: skip
            decide(engine, accept, invalidate_upstream=False)
        spare = [s for s, _ in recommended[with_slo:]]
        decide_on = {"warm": spare[:to_decide], "mixed": spare[to_decide : 2 * to_decide]}
    finally:
        engine.dispose()
    document = {"keys": keys, "services": services, "with_slo": [s for s, _ in accepted],
                "decide": decide_on}  # fmt: skip
    data.write_text(json.dumps(document), encoding="utf-8")


def number(text: str) -> float:
    """A figure from locust's CSV: "N/A" (a row with no request since the reset) is 0."""
    return 0.0 if text in ("N/A", "") else float(text)


def run_locust(
    base: str, user_class: str, users: int, seconds: int, prefix: Path, env: dict[str, str]
) -> list[Row]:
    command = [
        sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), user_class,
        "--headless", "--host", base, "-u", str(users), "-r", str(max(users // 4, 1)),
        "-t", f"{seconds}s", "--reset-stats", "--csv", str(prefix), "--only-summary",
        "--stop-timeout", "5", "--loglevel", "WARNING",
    ]  # fmt: skip
    # The ramp-up (4 s) is not measured: statistics reset once every user is running.
    env = {**env, "SLO_LOAD_PHASE": prefix.name}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False,
                          timeout=seconds + 120)  # fmt: skip
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"locust failed ({done.returncode}):\n{done.stderr[-3000:]}")
    rows: list[Row] = []
    with stats.open(encoding="utf-8") as handle:
        for line in csv.DictReader(handle):
            rows.append(
                Row(
                    name=line["Name"] if line["Type"] else "all requests",
                    requests=int(line["Request Count"]),
                    failures=int(line["Failure Count"]),
                    p50=number(line["50%"]),
                    p95=number(line["95%"]),
                    p99=number(line["99%"]),
                    rps=number(line["Requests/s"]),
                )
            )
    failures = Path(f"{prefix}_failures.csv")
    if failures.exists():
        with failures.open(encoding="utf-8") as handle:
            for line in csv.DictReader(handle):
                FAILURES.append(f"{prefix.name}: {line['Method']} {line['Name']}: "
                                f"{line['Error'][:200]} × {line['Occurrences']}")  # fmt: skip
    return rows


FAILURES: list[str] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--saturation-users", type=int, default=50)
    parser.add_argument("--saturation-seconds", type=int, default=20)
    parser.add_argument("--with-slo", type=int, default=500)
    parser.add_argument("--decide", type=int, default=400)
    parser.add_argument("--warmup-seconds", type=int, default=15, help="0: no warm-up phase")
    parser.add_argument("--keys", type=int, default=800,
                        help="API keys the saturation readers rotate over (≥ --users)")  # fmt: skip
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14",
                        help="Rate-limit store ('' for in-process buckets).")  # fmt: skip
    args = parser.parse_args()
    console = Console(width=130)
    last = datetime.now(UTC).date() - timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="slo-bench-load-") as tmp, throwaway_postgres() as url:
        root = Path(tmp)
        env = {
            **os.environ,
            "SLO_DATABASE_URL": url,
            "SLO_TELEMETRY": "parquet",
            "SLO_TELEMETRY_PARQUET_PATH": str(root / "fleet" / "sli_hourly"),
            "SLO_WAREHOUSE_PATH": str(root / "warehouse"),
            "SLO_REDIS_URL": args.redis,
            "SLO_LOAD_DATA": str(root / "load.json"),
            "MALLOC_ARENA_MAX": "2",  # as the image (Dockerfile) runs the API
        }
        started = time.perf_counter()
        with console.status(f"setting up: fleet, graph, {args.days} days of SLIs, "
                            "recommendations, keys"):  # fmt: skip
            publish_fleet(env, root, args.services, args.days, last)
            # Saturation runs far above one principal's 60/min: its readers rotate over many
            # keys, so the limiter still runs (and is measured) but does not refuse them.
            prepare(url, max(args.users, args.keys), args.with_slo, args.decide,
                    root / "load.json")  # fmt: skip
        setup = time.perf_counter() - started
        with (
            live_server(env, root / "server.log") as (base, pid),
            ConnectionSampler(url) as connections,
        ):
            if args.warmup_seconds:
                with console.status("warming up"):
                    run_locust(base, "SloUser", args.users, args.warmup_seconds, root / "warm", env)
            with console.status(f"mixed load: {args.users} users × 1/s for {args.seconds} s"):
                mixed = run_locust(base, "SloUser", args.users, args.seconds, root / "mixed", env)
            rss = rss_mb(pid)
            n, s = args.saturation_users, args.saturation_seconds
            with console.status("saturating the cached read, then /health"):
                cached = run_locust(base, "CachedReader", n, s, root / "cached", env)
                bare = run_locust(base, "BareProbe", n, s, root / "bare", env)
            rss = max(rss, rss_mb(pid))
            peak_rss = rss_mb(pid, "VmHWM")

    table = Table(
        title=f"Load (locust), {args.services} services, PostgreSQL store, Redis rate limits, "
        f"live uvicorn (set-up {setup:.0f} s)"
    )
    for column in ("phase", "endpoint", "requests", "errors", "p50 ms", "p95 ms", "p99 ms",
                   "req/s"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("phase", "endpoint") else "right")
    phases = (
        (f"{args.users} users × 1/s, {args.seconds} s", mixed),
        (f"saturation, {n} users", cached),
        (f"ceiling, {n} users", bare),
    )
    for phase, rows in phases:
        for row in rows:
            table.add_row(phase, row.name, str(row.requests), str(row.failures), f"{row.p50:.0f}",
                          f"{row.p95:.0f}", f"{row.p99:.0f}", f"{row.rps:.0f}")  # fmt: skip
            phase = ""
    console.print(table)

    for failure in FAILURES:
        console.print(f"[red]{failure}[/red]")
    read = next(r for r in mixed if r.name == "GET slo-recommendations (cached)")
    errors = sum(r.failures for r in mixed if r.name == "all requests")
    total = next(r for r in mixed if r.name == "all requests")
    ratio = cached[-1].rps / max(bare[-1].rps, 1e-9)
    verdicts = [
        (f"cached read p95 {read.p95:.0f} ms", read.p95 <= 25, "≤ 25 ms"),
        (f"errors {errors} of {total.requests}", errors == 0, "0"),
        (f"cached/ceiling throughput {cached[-1].rps:.0f}/{bare[-1].rps:.0f} = {ratio:.2f}",
         ratio >= 0.5, "≥ 0.50"),
        (f"API RSS {rss:.0f} MB after the phases, peak {peak_rss:.0f} MB", peak_rss <= 300,
         "≤ 300 MB"),
        (f"PostgreSQL connections, most at once {connections.peak}", connections.peak <= 50,
         "TRD PERF-007 ≤ 50"),
    ]  # fmt: skip
    for label, met, goal in verdicts:
        console.print(f"{label}: {'meets' if met else 'MISSES'} the goal ({goal})")


if __name__ == "__main__":
    main()
