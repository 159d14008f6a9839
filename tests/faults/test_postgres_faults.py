"""PostgreSQL restarted under load, and killed in the middle of an ingestion (issue 7 §2).

A private cluster (its own initdb, port and socket) is crashed and restarted; the API runs as
`slo-engine serve` in its own process, driven by real HTTP clients from threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from support.keys import make_key
from support.processes import LiveApi, PrivatePostgres
from support.published_fleet import ingest_chain, publish

from config.settings import Settings
from store.engine import make_engine
from store.migrate import upgrade
from synthetic_fleet.topology import generate_topology

DATABASE = "slo_faults"
READS = [
    "/api/v1/services/web/slo-recommendations",
    "/api/v1/services/checkout/dependencies",
    "/api/v1/services/payments/slo-history",
]


@dataclass
class Stack:
    pg: PrivatePostgres
    url: str
    api: LiveApi
    key: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    pg = PrivatePostgres.create()
    try:
        with psycopg.connect(pg.url(driver="postgresql"), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {DATABASE}")
        url = pg.url(DATABASE)
        upgrade(url)
        engine = make_engine(url)
        try:
            ingest_chain(engine)
            publish(engine, generated_at=datetime.now(UTC))
        finally:
            engine.dispose()
        key = make_key(Settings(database_url=url, api_key_bcrypt_rounds=4))
        env = {"SLO_DATABASE_URL": url, "SLO_RATE_LIMIT_ENABLED": "false",
               "SLO_LOG_LEVEL": "WARNING", "SLO_REDIS_URL": ""}  # fmt: skip
        api = LiveApi.start(env, tmp_path_factory.mktemp("api") / "api.log")
        try:
            yield Stack(pg, url, api, key)
        finally:
            api.stop()
    finally:
        pg.destroy()


Seen = list[tuple[float, int, dict[str, str]]]


def _load(stack: Stack, stop: threading.Event, seen: Seen) -> None:
    with httpx.Client(base_url=stack.api.base, headers={"X-API-Key": stack.key}, timeout=10) as c:
        i = 0
        while not stop.is_set():
            answer = c.get(READS[i % len(READS)])
            seen.append((time.monotonic(), answer.status_code, dict(answer.headers)))
            i += 1


def test_postgres_restarted_under_load_gives_503_problems_then_recovers(stack: Stack) -> None:
    stop = threading.Event()
    seen: Seen = []
    clients = [threading.Thread(target=_load, args=(stack, stop, seen)) for _ in range(6)]
    for client in clients:
        client.start()
    try:
        time.sleep(1.5)
        stack.pg.stop("immediate")  # a crash, not a polite shutdown
        time.sleep(2.0)
        stack.pg.start()
        restarted = time.monotonic()
        time.sleep(4.0)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=30)
    statuses = [status for _, status, _ in seen]
    assert set(statuses) <= {200, 503}, sorted(set(statuses))  # never a 500, never a hang
    failures = [(t, h) for t, status, h in seen if status == 503]
    assert failures, "the outage was not seen by any request"
    for _, headers in failures:
        assert headers["content-type"].startswith("application/problem+json")
        assert headers["retry-after"] == "5"
    # Recovery: the pool drops its dead connections; within a second everything is fine again.
    late = [status for t, status, _ in seen if t > restarted + 1.0]
    assert len(late) > 50 and set(late) == {200}
    assert statuses[:20] == [200] * 20


def _tables(url: str) -> dict[str, list[Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: sorted(map(tuple, conn.execute(sa.text(f"SELECT * FROM {table}"))), key=str)
                for table in ("services", "service_dependencies", "graph_ingestions")
            }
    finally:
        engine.dispose()


def test_ingestion_interrupted_by_a_crash_leaves_the_previous_graph_intact(
    stack: Stack, tmp_path: Path
) -> None:
    before = _tables(stack.url)
    big = generate_topology(4000, seed=5, edges_per_service=4.0).to_payload(source="manual")
    # The big submission also rewrites services that exist: a partial write would show.
    big["nodes"].append({"service_id": "web", "metadata": {"team": "someone-else"}})
    big["edges"].append({"source": "web", "target": big["nodes"][0]["service_id"]})
    outcome: dict[str, Any] = {}

    def post() -> None:
        try:
            with httpx.Client(base_url=stack.api.base, timeout=120) as client:
                answer = client.post("/api/v1/services/dependencies", json=big,
                                     headers={"X-API-Key": stack.key})  # fmt: skip
                outcome["status"] = answer.status_code
        except httpx.TransportError as exc:
            outcome["error"] = exc

    poster = threading.Thread(target=post)
    poster.start()
    # Wait until the ingestion's transaction is writing, then crash the server under it.
    writing = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND xact_start IS NOT NULL"
        " AND query ILIKE '%%service_dependencies%%' AND backend_type = 'client backend'"
    )
    deadline = time.monotonic() + 60
    with psycopg.connect(stack.pg.url(driver="postgresql"), autocommit=True) as watcher:
        while time.monotonic() < deadline:
            row = watcher.execute(writing, (DATABASE,)).fetchone()
            if row and row[0]:
                break
            time.sleep(0.005)
        else:
            pytest.fail("the ingestion never started writing")
    stack.pg.stop("immediate")
    poster.join(timeout=120)
    stack.pg.start()
    assert outcome.get("status") == 503, outcome  # the client is told, cleanly
    assert _tables(stack.url) == before  # nothing of the interrupted submission survived

    # And the same submission, re-sent, goes through whole.
    with httpx.Client(base_url=stack.api.base, timeout=120) as client:
        for _ in range(3):  # the first request after the crash may meet a dead pooled connection
            answer = client.post("/api/v1/services/dependencies", json=big,
                                 headers={"X-API-Key": stack.key})  # fmt: skip
            if answer.status_code != 503:
                break
    assert answer.status_code == 202, answer.text[:500]
    engine = make_engine(stack.url)
    try:
        with engine.connect() as conn:
            ids = set(conn.execute(sa.text("SELECT service_id FROM services")).scalars())
            edges = conn.execute(sa.text("SELECT count(*) FROM service_dependencies")).scalar()
    finally:
        engine.dispose()
    sent = {n["service_id"] for n in big["nodes"]}
    assert sent <= ids and len(ids) > len(before["services"])
    assert edges == len(before["service_dependencies"]) + len(big["edges"])
