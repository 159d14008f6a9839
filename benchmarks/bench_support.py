"""What every benchmark needs: a throwaway PostgreSQL database, a free port, percentiles, a
published fleet and a live server over it.

Benchmarks run as scripts (`python benchmarks/x.py`), so this module is imported by its
bare name from the scripts' own folder."""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import psutil
import psycopg
from sqlalchemy.engine import make_url

# One free-port helper for tests and benchmarks: tests/support/ports.py (standard library only).
# Appended, so nothing on the path is shadowed; `bench_support.free_port` stays importable.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from support.ports import free_port

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"


class ProcessTreePeaks:
    """Peak RSS of this process and of every process under it, sampled every `interval`
    seconds: the step processes of Dagster's multiprocess executor are the forkserver's
    children, not ours, so `getrusage(RUSAGE_CHILDREN)` never sees them (nobody waits for them
    on our side). A peak shorter than the interval can be missed; steps last seconds."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peaks: dict[int, tuple[int, str]] = {}  # pid → (bytes, command line)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ProcessTreePeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for process in [me, *me.children(recursive=True)]:
                try:
                    rss = process.memory_info().rss
                    if rss > self.peaks.get(process.pid, (0, ""))[0]:
                        self.peaks[process.pid] = (rss, " ".join(process.cmdline())[:200])
                except psutil.Error:  # it ended between the listing and the reading
                    continue
            self._stop.wait(self.interval)

    def largest_child(self) -> tuple[float, int]:
        """GB and pid of the largest process under this one ((0, 0) when none ran)."""
        me = psutil.Process().pid
        rss, pid = max(((r, p) for p, (r, _) in self.peaks.items() if p != me), default=(0, 0))
        return rss / 1024**3, pid


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A database of its own, dropped afterwards even when the benchmark fails."""
    name = f"slo_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (inclusive method, as the README reports them); 0 for no values."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def publish_fleet(env: dict[str, str], root: Path, services: int, days: int, last: date) -> None:
    """A generated fleet with `days` of Parquet telemetry, its graph ingested, `sli_hourly`
    materialized over the whole history and the recommendation chain for the last day: what
    a production store holds after the daily run. All of it through the CLI, as users do."""
    cli = [sys.executable, "-m", "cli.main"]
    env = {k: v for k, v in env.items() if k != "DAGSTER_HOME"}  # an ephemeral instance
    for command in (
        [*cli, "fleet", "generate", "--services", str(services), "--days", str(days),
         "--seed", "5", "--out", str(root / "fleet")],
        [*cli, "db", "upgrade"],
        [*cli, "graph", "ingest", str(root / "fleet" / "graph.json")],
        [*cli, "materialize", "--date", last.isoformat(), "--days", str(days),
         "--assets", "telemetry"],
        [*cli, "materialize", "--date", last.isoformat(), "--days", "1"],
    ):  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[2:])} failed:\n{done.stdout[-3000:]}"
                               f"{done.stderr[-3000:]}")  # fmt: skip


@contextmanager
def live_server(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """`slo-engine serve` on a free port: (base URL, pid); stopped with SIGTERM afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log.read_text())
                time.sleep(0.3)
            yield base, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                # A server flooded with bogus keys may still owe minutes of queued bcrypt
                # checks (the gate-less run): graceful shutdown waits for them all.
                process.kill()
                process.wait(timeout=20)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory now (`VmRSS`) or at its peak so far (`VmHWM`), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


class ConnectionSampler:
    """The most connections a database had open at once, sampled while a benchmark runs
    (TRD PERF-007 caps them per application instance)."""

    def __init__(self, url: str, every_s: float = 0.2) -> None:
        parsed = make_url(url)
        self.url = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self.database = parsed.database
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        )
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(self.every_s):
                row = conn.execute(query, (self.database,)).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)


@dataclass
class PacedResult:
    """What one paced load saw: latencies of the answered requests (s), and the rest."""

    latencies: list[float] = field(default_factory=list)  # 2xx answers only
    body_bytes: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # non-2xx answers and transport failures
    sent: int = 0


#: One request of client k: (client, its own random generator, k) -> the response.
SendRequest = Callable[[httpx.AsyncClient, random.Random, int], Awaitable[httpx.Response]]


async def paced_requests(
    client: httpx.AsyncClient,
    send: SendRequest,
    clients: int,
    *,
    interval_s: float,
    seconds: float,
    seed: int = 0,
) -> PacedResult:
    """`clients` open-loop clients, each sending one request every `interval_s` from a random
    phase of its own (a fleet of dashboards, not a herd), for `seconds`. Several loads can
    run at once on one `client` (`asyncio.gather`): a mixed load over the same connections."""
    result = PacedResult()
    start = time.perf_counter()
    end = start + seconds

    async def one_client(k: int) -> None:
        rng = random.Random(seed * 100_003 + k)
        due = start + rng.random() * min(interval_s, seconds)
        while True:
            await asyncio.sleep(max(0.0, min(due, end) - time.perf_counter()))
            if time.perf_counter() >= end:
                return
            began = time.perf_counter()
            result.sent += 1
            try:
                response = await send(client, rng, k)
            except httpx.HTTPError:
                result.errors += 1
            else:
                result.statuses[response.status_code] += 1
                if response.is_success:
                    result.latencies.append(time.perf_counter() - began)
                    result.body_bytes.append(len(response.content))
                else:
                    result.errors += 1
            due += interval_s

    await asyncio.gather(*(one_client(k) for k in range(clients)))
    return result
