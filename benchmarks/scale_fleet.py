"""A published fleet of any size without the daily pipeline: what the API serves at 50,000
services, seeded in minutes instead of the pipeline's hours.

The graph is `generate_topology`'s, ingested with `ingest_graph`. Each service's composite
bound comes from `composite_bounds` over the effective graph the API itself loads, and its
document from `recommend_service` (the pipeline's own per-service step) over 30 days of hourly
SLIs drawn here with numpy, delivering what the bound says: so a document carries its
dependency impact, counterfactuals and model inputs as the pipeline's do. Everything is
published with `publish_recommendations` in one transaction, as the pipeline's last asset does.
Active SLOs (a share of the fleet, at the balanced target) are rows as the decisions write them.

Documents are computed in `workers` forked processes (≈ 20 ms each: 50,000 are ~17 CPU-minutes).
Benchmarks run as scripts, so this module is imported by its bare name.
"""

from __future__ import annotations

import math
import multiprocessing
import random
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa

from analytics.composite_availability import CompositeResult
from analytics.composite_inputs import composite_bounds, edges_of, inputs_from_availability
from analytics.latency_histogram import LATENCY_BUCKETS
from analytics.service_recommendation import recommend_service
from store.engine import make_engine
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn
from store.graph_snapshot import load_effective_graph
from store.migrate import upgrade
from store.published_recommendations import publish_recommendations
from store.tables import active_slos, services
from synthetic_fleet.topology import generate_topology

LOOKBACK_DAYS = 30


@dataclass(frozen=True)
class SeededFleet:
    names: list[str]
    edges: int
    published: int
    active_slos: int
    seconds: dict[str, float]  # set-up phase -> seconds
    sample: dict[str, Any]  # one published document (to publish again: a new publication)


@dataclass(frozen=True)
class _Job:
    service: str
    delivered: float
    composite: CompositeResult | None
    service_type: str | None
    seed: int


#: What the forked workers read (set before the pool forks, so nothing is pickled but jobs).
_END = datetime(2026, 1, 1, tzinfo=UTC)
_HOURS: list[datetime] = []


def _erf(x: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.vectorize(math.erf)(x)  # type: ignore[no-any-return]


def hourly_rows(rng: np.random.Generator, hours: Sequence[datetime], delivered: float,
                rate: float, median_s: float) -> pl.DataFrame:  # fmt: skip
    """`sli_hourly` rows of one service: Poisson requests, binomial errors at 1 − delivered,
    cumulative latency buckets of a log-normal around `median_s` (+Inf last)."""
    n = len(hours)
    requests = rng.poisson(rate, n).astype(np.int64)
    errors = rng.binomial(requests, 1.0 - delivered).astype(np.int64)
    bounds = np.asarray(LATENCY_BUCKETS, dtype=np.float64)
    cdf = 0.5 * (1 + _erf((np.log(bounds) - math.log(median_s)) / (0.7 * math.sqrt(2))))
    cumulative = np.rint(requests[:, None] * cdf[None, :]).astype(np.int64)
    buckets = np.concatenate([cumulative, requests[:, None]], axis=1)
    return pl.DataFrame(
        {
            "hour": pl.Series(hours, dtype=pl.Datetime("us", "UTC")),
            "requests": requests,
            "errors": errors,
            "latency_buckets": pl.Series(buckets).cast(pl.List(pl.Int64)),
            "has_data": np.ones(n, dtype=bool),
            "cpu_throttling": pl.Series([None] * n, dtype=pl.Float64),
        }
    )


def _documents(jobs: list[_Job]) -> list[dict[str, Any]]:
    out = []
    for job in jobs:
        rng = np.random.default_rng(job.seed)
        rows = hourly_rows(rng, _HOURS, job.delivered, float(rng.lognormal(7.5, 1.0)),
                           float(rng.lognormal(-3.0, 0.8)))  # fmt: skip
        _, document = recommend_service(
            job.service, rows, _HOURS, job.composite, generated_at=_END,
            service_type=job.service_type, seed=job.seed,
        )  # fmt: skip
        document["provenance"] = {"dagster_run_id": "bench-seed", "partition": "bench"}
        out.append(document)
    return out


def seed_fleet(
    url: str,
    services_count: int,
    *,
    edges_per_service: float = 5.0,
    seed: int = 11,
    slo_share: float = 0.1,
    workers: int = 2,
    generated_at: datetime | None = None,
) -> SeededFleet:
    """Migrate the (empty) store at `url` and publish a fleet into it; see the module."""
    global _END, _HOURS
    seconds: dict[str, float] = {}
    now = generated_at or datetime.now(UTC)
    started = time.perf_counter()
    topology = generate_topology(services_count, seed=seed, edges_per_service=edges_per_service)
    seconds["topology"] = time.perf_counter() - started

    started = time.perf_counter()
    upgrade(url)
    engine = make_engine(url)
    try:
        ingest_graph(
            engine,
            DependencyGraphIn.model_validate(topology.to_payload()).to_submission(),
            stale_after=timedelta(days=3650),
        )
        seconds["ingest"] = time.perf_counter() - started

        started = time.perf_counter()
        graph = load_effective_graph(engine)  # what the API loads: the bound over the same
        rng = random.Random(seed)
        names = sorted(graph.nodes)
        own = {s: 1 - 10 ** rng.uniform(-4.5, -2.5) for s in names}
        inputs = inputs_from_availability({}, own, graph.nodes)
        bounds = composite_bounds(inputs, edges_of(graph.edges))
        jobs = [
            _Job(
                service=s,
                # Dependencies failing independently: it delivers its bound.
                delivered=bounds[s].composite_bound if s in bounds else own[s],
                composite=bounds.get(s),
                service_type=graph.nodes[s].get("service_type"),
                seed=seed * 1_000_003 + i,
            )
            for i, s in enumerate(names)
        ]
        del graph, bounds, inputs
        seconds["bounds"] = time.perf_counter() - started

        started = time.perf_counter()
        _END = now.replace(minute=0, second=0, microsecond=0)
        hours_n = LOOKBACK_DAYS * 24
        _HOURS = [_END - timedelta(hours=hours_n - h) for h in range(hours_n)]
        chunks = [jobs[i : i + 250] for i in range(0, len(jobs), 250)]
        documents: list[dict[str, Any]] = []
        if workers > 1:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as ex:
                for part in ex.map(_documents, chunks):
                    documents.extend(part)
        else:
            for chunk in chunks:
                documents.extend(_documents(chunk))
        seconds["documents"] = time.perf_counter() - started

        started = time.perf_counter()
        published = publish_recommendations(engine, documents, snapshot_id=None,
                                            generated_at=now)["published"]  # fmt: skip
        targets = {
            d["service_id"]: d["recommendations"][0]["tiers"]["balanced"]["target"]
            for d in documents
            if not d.get("cold_start")
        }
        sample = documents[0]
        del documents
        with engine.begin() as conn:
            ids = dict(conn.execute(sa.select(services.c.service_id, services.c.id)).all())
            chosen = rng.sample(sorted(targets), int(len(targets) * slo_share))
            if chosen:
                conn.execute(
                    sa.insert(active_slos),
                    [
                        {"id": uuid.uuid4(), "service_id": ids[s],
                         "availability_target": targets[s], "source": "manual",
                         "activated_at": now, "activated_by": "bench", "created_at": now,
                         "updated_at": now}
                        for s in chosen
                    ],
                )  # fmt: skip
        seconds["publish"] = time.perf_counter() - started
    finally:
        engine.dispose()
    return SeededFleet(
        names=names,
        edges=len(topology.edges),
        published=published,
        active_slos=len(chosen),
        seconds=seconds,
        sample=sample,
    )
