"""Benchmark: impact analysis of a proposed availability change on a 5,000-service graph.

A PostgreSQL store with the generated fleet's graph (5,000 services / 50,000 edges), one
published recommendation per service and active SLOs for a tenth of them. Times the API's
analysis (`serving.impact.analyse`: upstream walk, incremental projection, active-SLO lookup)
for random services once the fleet state is cached, the cold first call that builds that state,
and the plan it replaces: recomputing every composite with the proposed value (one fleet pass).
Goal: ≤ 300 ms per analysis (TRD 10 s).

Usage: python benchmarks/impact_analysis.py [--services 5000] [--edges-per-service 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from bench_support import pct, throwaway_postgres
from rich.console import Console
from rich.table import Table

from analytics.composite_availability import composite_availability
from serving.impact import analyse, fleet_state
from store.engine import make_engine
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn
from store.migrate import upgrade
from store.published_recommendations import publish_recommendations
from store.tables import active_slos, services
from synthetic_fleet.topology import generate_topology


def _document(service: str, availability: float, now: datetime) -> dict[str, object]:
    return {
        "service_id": service,
        "lookback_window": {
            "start": (now - timedelta(days=30)).isoformat(),
            "end": now.isoformat(),
        },
        "data_quality": {"data_completeness": 1.0},
        "recommendations": [
            {
                "sli_type": "availability",
                "metric": "error_rate",
                "tiers": {},
                "explanation": {"observed_availability": availability},
            }
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--edges-per-service", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    console = Console(width=120)
    topology = generate_topology(args.services, seed=11, edges_per_service=args.edges_per_service)
    rng = random.Random(11)
    now = datetime.now(UTC)
    with throwaway_postgres() as url:
        upgrade(url)
        engine = make_engine(url)
        ingest_graph(
            engine,
            DependencyGraphIn.model_validate(topology.to_payload()).to_submission(),
            stale_after=timedelta(days=3650),
        )
        names = [n["service_id"] for n in topology.nodes]
        documents = [_document(s, 1 - 10 ** rng.uniform(-4.5, -2.5), now) for s in names]
        publish_recommendations(engine, documents, snapshot_id=None, generated_at=now)
        with engine.begin() as conn:
            ids = dict(conn.execute(sa.select(services.c.service_id, services.c.id)).all())
            conn.execute(
                sa.insert(active_slos),
                [
                    {"id": uuid.uuid4(), "service_id": ids[s], "availability_target": 99.9,
                     "source": "manual", "activated_at": now, "activated_by": "bench",
                     "created_at": now, "updated_at": now}
                    for s in rng.sample(names, len(names) // 10)
                ],
            )  # fmt: skip

        started = time.perf_counter()
        state = fleet_state(engine)
        cold = time.perf_counter() - started
        sample = rng.sample(names, args.samples)
        warm: list[float] = []
        impacted: list[int] = []
        for service in sample:
            started = time.perf_counter()
            result = analyse(engine, service, {"sli_type": "availability", "proposed_target": 99.5})
            warm.append(time.perf_counter() - started)
            assert result is not None
            impacted.append(len(result["impacted_services"]))
        # The replaced plan: one full recomputation with the proposed value per analysis.
        full: list[float] = []
        for service in sample[:5]:
            started = time.perf_counter()
            composite_availability({**state.availability, service: 0.995}, state.edges)
            full.append(time.perf_counter() - started)
        engine.dispose()

    table = Table(
        title=f"Impact analysis, {args.services} services / {len(state.edges)} edges, PostgreSQL"
    )
    for column in ("measurement", "n", "p50 ms", "p95 ms", "max ms", "goal"):
        table.add_column(column, justify="left" if column in ("measurement", "goal") else "right")
    ms = [v * 1000 for v in warm]
    table.add_row("analysis (cached fleet state)", str(len(ms)), f"{pct(ms, 50):.1f}",
                  f"{pct(ms, 95):.1f}", f"{max(ms):.1f}", "≤ 300 ms (TRD 10 s)")  # fmt: skip
    table.add_row("first analysis after a publication", "1", f"{cold * 1000:.0f}", "", "",
                  "(builds the fleet state)")  # fmt: skip
    fm = [v * 1000 for v in full]
    table.add_row("full recomputation per analysis", str(len(fm)), f"{statistics.median(fm):.0f}",
                  "", f"{max(fm):.0f}", "the replaced plan")  # fmt: skip
    console.print(table)
    console.print(
        f"upstream services per analysis: median {statistics.median(impacted):.0f}, "
        f"max {max(impacted)}; speed-up over full recomputation "
        f"{statistics.median(fm) / statistics.median(ms):.0f}× (median)"
    )


if __name__ == "__main__":
    main()
