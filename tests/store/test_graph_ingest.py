"""Graph ingestion against the real store: merge, placeholders, staleness, cycles, atomicity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store import graph_ingest
from store.graph_ingest import IngestionError, get_ingestion, ingest_graph
from store.graph_model import EdgeRecord, GraphSubmission, NodeRecord
from store.tables import circular_dependency_alerts, service_dependencies, services

WEEK = timedelta(hours=168)


def submit(engine: Engine, source: str = "manual", nodes: Any = (), edges: Any = (), **kw: Any):
    submission = GraphSubmission(
        source=source,
        nodes=[NodeRecord(n, m) if isinstance(n, str) else NodeRecord(*n) for n, m in nodes],
        edges=[EdgeRecord(*e) for e in edges],
        observed_at=kw.pop("observed_at", None),
    )
    return ingest_graph(engine, submission, stale_after=kw.pop("stale_after", WEEK), **kw)


def rows(engine: Engine, table: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]


def edge_rows(engine: Engine) -> dict[tuple[str, str, str], dict[str, Any]]:
    src, tgt = services.alias(), services.alias()
    d = service_dependencies
    query = (
        sa.select(src.c.service_id.label("src_sid"), tgt.c.service_id.label("tgt_sid"), d)
        .join(src, src.c.id == d.c.source_service_id)
        .join(tgt, tgt.c.id == d.c.target_service_id)
    )
    with engine.connect() as conn:
        return {
            (r.src_sid, r.tgt_sid, r.discovery_source): dict(r._mapping)
            for r in conn.execute(query)
        }


def test_unknown_services_become_discovered_placeholders(engine: Engine) -> None:
    result = submit(
        engine,
        nodes=[("checkout", {"team": "payments", "criticality": "high"})],
        edges=[("checkout", "payment", {}), ("payment", "ledger", {"protocol": "grpc"})],
    )
    assert result.status == "completed"
    assert result.counts.services_created == 1
    assert result.counts.placeholders_created == 2
    by_id = {r["service_id"]: r for r in rows(engine, services)}
    assert by_id["checkout"]["discovered"] is False
    assert by_id["checkout"]["team"] == "payments"
    assert by_id["checkout"]["criticality"] == "high"
    assert by_id["payment"]["discovered"] is True and by_id["ledger"]["discovered"] is True
    assert any(w["code"] == "placeholder_services_created" for w in result.warnings)

    # Declaring the placeholder later registers it, keeping its id and its edges.
    placeholder_pk = by_id["payment"]["id"]
    submit(engine, nodes=[("payment", {"team": "payments"})])
    by_id = {r["service_id"]: r for r in rows(engine, services)}
    assert by_id["payment"]["discovered"] is False
    assert by_id["payment"]["id"] == placeholder_pk
    assert len(edge_rows(engine)) == 2


def test_same_payload_twice_changes_only_last_observed_at(engine: Engine) -> None:
    nodes = [("a", {"team": "t"}), ("b", {})]
    edges = [("a", "b", {"timeout_ms": 300}), ("b", "c", {"communication_mode": "async"})]
    t0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
    submit(engine, nodes=nodes, edges=edges, now=t0)
    before_services = {r["service_id"]: r for r in rows(engine, services)}
    before_edges = edge_rows(engine)

    second = submit(engine, nodes=nodes, edges=edges, now=t0 + timedelta(hours=1))
    assert second.counts.edges_created == 0 and second.counts.edges_updated == 0
    assert second.counts.edges_refreshed == 2
    assert second.counts.services_created == 0 and second.counts.services_updated == 0
    assert {r["service_id"]: r for r in rows(engine, services)} == before_services
    after_edges = edge_rows(engine)
    assert after_edges.keys() == before_edges.keys()
    for key, before in before_edges.items():
        after = after_edges[key]
        assert after["last_observed_at"] > before["last_observed_at"]
        assert {k: v for k, v in after.items() if k != "last_observed_at"} == {
            k: v for k, v in before.items() if k != "last_observed_at"
        }


def test_changed_attributes_update_the_row_and_bump_updated_at(engine: Engine) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    submit(engine, edges=[("a", "b", {"timeout_ms": 300})], now=t0)
    result = submit(engine, edges=[("a", "b", {"timeout_ms": 900})], now=t0 + timedelta(hours=1))
    assert result.counts.edges_updated == 1
    row = edge_rows(engine)[("a", "b", "manual")]
    assert row["timeout_ms"] == 900
    assert row["updated_at"].replace(tzinfo=UTC) == t0 + timedelta(hours=1)


def test_sources_keep_their_own_rows_and_conflicts_are_reported(engine: Engine) -> None:
    submit(engine, "service_mesh", edges=[("a", "b", {"criticality": "soft"})])
    result = submit(
        engine, "manual", edges=[("a", "b", {"criticality": "hard", "protocol": "grpc"})]
    )
    assert set(edge_rows(engine)) == {("a", "b", "service_mesh"), ("a", "b", "manual")}
    conflicts = {c["attribute"]: c for c in result.conflicts}
    assert set(conflicts) == {"criticality"}
    assert conflicts["criticality"]["effective_source"] == "manual"
    assert conflicts["criticality"]["effective_value"] == "hard"
    assert conflicts["criticality"]["values_by_source"] == {
        "manual": "hard",
        "service_mesh": "soft",
    }
    # A lower-priority source reporting later still does not win.
    later = submit(engine, "kubernetes", edges=[("a", "b", {"criticality": "degraded"})])
    assert {c["effective_value"] for c in later.conflicts} == {"hard"}


def test_edges_not_refreshed_within_the_window_become_stale_not_deleted(engine: Engine) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    submit(engine, "otel_service_graph", edges=[("a", "b", {}), ("b", "c", {})], now=t0)
    # Eight days later only a->b is seen again.
    later = t0 + timedelta(days=8)
    result = submit(engine, "otel_service_graph", edges=[("a", "b", {})], now=later)
    assert result.counts.edges_marked_stale == 1
    current = edge_rows(engine)
    assert len(current) == 2
    assert current[("b", "c", "otel_service_graph")]["is_stale"] is True
    assert current[("a", "b", "otel_service_graph")]["is_stale"] is False
    # Seen again: revived.
    revived = submit(engine, "otel_service_graph", edges=[("b", "c", {})], now=later)
    assert revived.counts.edges_revived == 1
    assert edge_rows(engine)[("b", "c", "otel_service_graph")]["is_stale"] is False


def test_an_old_payload_never_moves_last_observed_at_backwards(engine: Engine) -> None:
    t0 = datetime(2026, 11, 10, tzinfo=UTC)
    submit(engine, edges=[("a", "b", {})], observed_at=t0, now=t0)
    submit(engine, edges=[("a", "b", {})], observed_at=t0 - timedelta(days=3), now=t0)
    observed = edge_rows(engine)[("a", "b", "manual")]["last_observed_at"]
    assert observed.replace(tzinfo=UTC) == t0


def test_cycles_raise_one_alert_per_component_and_never_duplicate(engine: Engine) -> None:
    edges = [
        ("a", "b", {}),
        ("b", "c", {}),
        ("c", "a", {}),
        ("x", "y", {}),
        ("y", "x", {}),
        ("c", "q", {"communication_mode": "async"}),
        ("q", "a", {}),
    ]
    first = submit(engine, edges=edges)
    paths = sorted(tuple(c["cycle_path"]) for c in first.circular_dependencies)
    assert paths == [("a", "b", "c", "a"), ("x", "y", "x")]
    warning = next(w for w in first.warnings if w["code"] == "circular_dependency")
    assert "asynchronous" in warning["message"]
    second = submit(engine, edges=edges)
    assert [c["new"] for c in second.circular_dependencies] == [False, False]
    assert len(rows(engine, circular_dependency_alerts)) == 2

    # Making one hop async breaks the x<->y cycle: its alert resolves itself.
    submit(engine, edges=[("y", "x", {"communication_mode": "async"})])
    statuses = {tuple(r["members"]): r["status"] for r in rows(engine, circular_dependency_alerts)}
    assert statuses == {("a", "b", "c"): "open", ("x", "y"): "resolved"}


def test_a_failure_mid_ingestion_writes_nothing_but_the_failure_record(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(engine, edges=[("a", "b", {})])
    before = (rows(engine, services), edge_rows(engine))

    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(graph_ingest, "_sweep_staleness", explode)
    with pytest.raises(IngestionError) as failure:
        submit(engine, nodes=[("new", {})], edges=[("new", "a", {}), ("b", "zz", {})])
    assert (rows(engine, services), edge_rows(engine)) == before
    recorded = get_ingestion(engine, failure.value.result.ingestion_id)
    assert recorded is not None and recorded["status"] == "failed"
    assert "rolled back" in recorded["error"]


def test_ingestion_result_is_recorded(engine: Engine) -> None:
    result = submit(engine, edges=[("a", "b", {})])
    document = get_ingestion(engine, result.ingestion_id)
    assert document is not None
    assert document["status"] == "completed"
    assert document["counts"]["edges_created"] == 1
    assert document["edges_received"] == 1


def test_runtime_view_is_compared_with_the_declared_one(engine: Engine) -> None:
    submit(engine, "manual", edges=[("api", "db", {}), ("api", "cache", {})])
    result = submit(engine, "otel_service_graph", edges=[("api", "db", {}), ("api", "search", {})])
    assert result.divergences == [
        {"source": "api", "target": "cache", "kind": "declared_not_observed"},
        {"source": "api", "target": "search", "kind": "observed_not_declared"},
    ]
    assert any(w["code"] == "declared_vs_observed_divergence" for w in result.warnings)


def test_concurrent_overlapping_ingestions_converge_on_postgres(pg_engine: Engine) -> None:
    """Sources report at the same time: no deadlock, no lost edge, no duplicate alert.

    PostgreSQL only: it is the multi-writer production store (SQLite serializes writers)."""
    engine = pg_engine
    import random
    from concurrent.futures import ThreadPoolExecutor

    universe = [(f"s{i}", f"s{(i * 7 + k) % 60}") for i in range(60) for k in (1, 2, 3)]
    universe = [e for e in universe if e[0] != e[1]] + [("s1", "s0"), ("s0", "s1")]
    sources = ["manual", "otel_service_graph", "kubernetes", "service_mesh"]
    parts = []
    for n, source in enumerate(sources * 2):
        rng = random.Random(n)
        parts.append((source, [*rng.sample(universe, 120), ("s1", "s0"), ("s0", "s1")]))

    def run(part: tuple[str, list[tuple[str, str]]]) -> str:
        source, edges = part
        return submit(engine, source, edges=[(s, t, {}) for s, t in set(edges)]).status

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(run, parts)) == ["completed"] * len(parts)
    expected = {(s, t, src) for src, edges in parts for s, t in edges}
    assert set(edge_rows(engine)) == expected
    keys = [r["scc_key"] for r in rows(engine, circular_dependency_alerts)]
    assert len(keys) == len(set(keys))
