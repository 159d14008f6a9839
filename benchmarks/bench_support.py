"""What every benchmark needs: a throwaway PostgreSQL database, a free port, percentiles.

Benchmarks run as scripts (`python benchmarks/x.py`), so this module is imported by its
bare name from the scripts' own folder."""

from __future__ import annotations

import socket
import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (inclusive method, as the README reports them); 0 for no values."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
