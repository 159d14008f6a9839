"""One set of migrations creates the whole schema on both dialects and downgrades cleanly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.engine import make_engine
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn
from store.migrate import current_revision, downgrade, head_revision, upgrade
from store.tables import graph_ingestions, metadata, service_dependencies, services

EXPECTED_TABLES = {
    "services",
    "service_dependencies",
    "circular_dependency_alerts",
    "graph_snapshots",
    "graph_ingestions",
    "api_keys",
    "slo_recommendations",
}


def test_schema_matches_the_model(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    assert set(inspector.get_table_names()) >= EXPECTED_TABLES
    for table in metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name
    indexes = {i["name"] for i in inspector.get_indexes("service_dependencies")}
    assert {"idx_deps_source", "idx_deps_target"} <= indexes
    assert current_revision(engine) == head_revision()


def test_constraints_reject_bad_rows(engine: Engine) -> None:
    import uuid

    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO services (id, service_id, criticality) VALUES (:id, 'a', 'high')"),
            {"id": uuid.uuid4().hex if engine.dialect.name == "sqlite" else str(uuid.uuid4())},
        )
    bad = sa.text("INSERT INTO services (id, service_id, criticality) VALUES (:id, 'b', 'urgent')")
    try:
        with engine.begin() as conn:
            conn.execute(bad, {"id": uuid.uuid4().hex})
    except sa.exc.IntegrityError:
        pass
    else:
        raise AssertionError("the criticality CHECK constraint did not fire")


def test_downgrade_then_upgrade_round_trips(store_url: str) -> None:
    downgrade(store_url, "base")
    engine = make_engine(store_url)
    try:
        assert not EXPECTED_TABLES & set(sa.inspect(engine).get_table_names())
        upgrade(store_url)
        assert set(sa.inspect(engine).get_table_names()) >= EXPECTED_TABLES
    finally:
        engine.dispose()


def _ingest(engine: Engine, source: str, *edges: tuple[str, str]) -> None:
    attributes = {"communication_mode": "sync", "criticality": "hard"}
    payload: dict[str, Any] = {
        "source": source,
        "nodes": [{"service_id": s} for s in sorted({s for edge in edges for s in edge})],
        "edges": [{"source": a, "target": b, "attributes": attributes} for a, b in edges],
    }
    submission = DependencyGraphIn.model_validate(payload).to_submission()
    ingest_graph(engine, submission, stale_after=timedelta(days=365))


def test_downgrading_past_backstage_keeps_its_edges_as_manual(store_url: str) -> None:
    """0008's downgrade restores a CHECK without `backstage`: the rows naming it become
    `manual` first, and an edge both declared keeps one row, the manual one."""
    engine = make_engine(store_url)
    try:
        _ingest(engine, "manual", ("web", "api"))
        _ingest(engine, "backstage", ("web", "api"), ("api", "db"))
        downgrade(store_url, "0007")
        assert current_revision(engine) == "0007"
        source, target = services.alias("source"), services.alias("target")
        edges = (
            sa.select(
                source.c.service_id, target.c.service_id, service_dependencies.c.discovery_source
            )
            .join(source, source.c.id == service_dependencies.c.source_service_id)
            .join(target, target.c.id == service_dependencies.c.target_service_id)
            .order_by(source.c.service_id)
        )
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(edges)] == [
                ("api", "db", "manual"),
                ("web", "api", "manual"),
            ]
            sources = conn.execute(sa.select(graph_ingestions.c.source)).scalars().all()
            assert sorted(sources) == ["manual", "manual"]
        # The old constraint is back: it refuses the source it does not know.
        try:
            with engine.begin() as conn:
                conn.execute(sa.update(graph_ingestions).values(source="backstage"))
        except sa.exc.IntegrityError:
            pass
        else:
            raise AssertionError("0007's CHECK accepted discovery source 'backstage'")
    finally:
        upgrade(store_url)
        revision = current_revision(engine)
        engine.dispose()
    assert revision == head_revision()
