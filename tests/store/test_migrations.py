"""One set of migrations creates the whole schema on both dialects and downgrades cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.engine import make_engine
from store.migrate import current_revision, downgrade, head_revision, upgrade
from store.tables import metadata

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
