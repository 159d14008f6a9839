"""Least privilege in PostgreSQL: the audit log stays append-only against the application itself.

A store in a database owned by `slo_owner`, migrated as that owner with `--app-role slo_app`;
the API and the pipelines' store functions then run as `slo_app`, which does all their real
work, yet UPDATE, DELETE and TRUNCATE on slo_audit_log, and dropping or disabling its
triggers, are refused on privileges (SQLSTATE 42501, "permission denied"/"must be owner")
before any trigger is consulted.

The roles are cluster-wide: created here (through the admin DSN) when missing, never dropped;
`make test` creates them too (scripts/create-db-roles.sh). They log in without a password, as
the test server's trust authentication allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from psycopg import errors, sql
from sqlalchemy.engine import URL
from support.keys import make_key
from support.published_fleet import ingest_chain, publish
from typer.testing import CliRunner

from cli.main import app as cli
from config.settings import Settings, get_settings
from serving.main import create_app
from store.drift_outcomes import ConfirmedDrift, record_drift
from store.engine import make_engine
from store.grants import UnsafeApplicationRoleError, grant_application_role
from store.migrate import current_revision, downgrade, head_revision, upgrade
from store.tables import slo_audit_log

OWNER = "slo_owner"
APP = "slo_app"
ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
TRIGGERS = ("slo_audit_log_no_update_or_delete", "slo_audit_log_no_truncate")


def _ensure_role(admin: psycopg.Connection, role: str) -> None:
    if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
        return
    with suppress(errors.DuplicateObject):  # a concurrent run created it since the check
        admin.execute(sql.SQL(f"CREATE ROLE {{}} {ROLE_ATTRIBUTES}").format(sql.Identifier(role)))


def _url(database: URL, role: str) -> str:
    url = database.set(drivername="postgresql+psycopg", username=role, password=None)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def store(empty_postgres: URL) -> Iterator[tuple[str, str]]:
    """(owner URL, application URL) of a database owned by slo_owner, migrated by it with
    slo_app as the application role; dropped afterwards by `empty_postgres`."""
    with psycopg.connect(empty_postgres.render_as_string(hide_password=False)) as admin:
        admin.autocommit = True
        for role in (OWNER, APP):
            _ensure_role(admin, role)
        admin.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(str(empty_postgres.database)), sql.Identifier(OWNER)
            )
        )
    owner_url = _url(empty_postgres, OWNER)
    upgrade(owner_url, app_role=APP)
    yield owner_url, _url(empty_postgres, APP)


def _refused(engine: sa.Engine, statement: str) -> str:
    """Run `statement`; assert PostgreSQL refused it on privileges; return the message."""
    with pytest.raises(sa.exc.ProgrammingError) as raised, engine.begin() as conn:
        conn.exec_driver_sql(statement)
    cause = raised.value.orig
    assert isinstance(cause, errors.InsufficientPrivilege), statement
    assert cause.sqlstate == "42501"
    message = str(cause)
    # The triggers raise 42501 too; these must be stopped before any trigger runs.
    assert "append-only" not in message, statement
    assert "permission denied" in message or "must be owner" in message, message
    return message


def test_the_application_role_does_the_work_and_cannot_rewrite_history(
    store: tuple[str, str],
) -> None:
    owner_url, app_url = store
    app = make_engine(app_url)
    owner = make_engine(owner_url)
    try:
        # The pipelines' writes as slo_app: graph ingestion (a TEMP table and COPY),
        # publishing recommendations, and a confirmed drift's audit entry (below).
        ingest_chain(app)
        published = publish(app, generated_at=datetime.now(UTC))

        settings = Settings(database_url=app_url, api_key_bcrypt_rounds=4, rate_limit_enabled=False)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            client.headers["X-API-Key"] = make_key(settings)
            assert client.get("/api/v1/health/ready").status_code == 200  # reads alembic_version
            response = client.post(
                "/api/v1/services/payments/slos",
                json={"recommendation_id": published["payments"]["availability"],
                      "action": "accept", "selected_tier": "balanced",
                      "rationale": "as slo_app", "actor": "jane@x.io"},
            )  # fmt: skip
            assert response.status_code == 200, response.text
            record_drift(app, [ConfirmedDrift("payments", "p99 moved")], now=datetime.now(UTC))
            history = client.get("/api/v1/services/payments/slo-history").json()["entries"]
        assert [e["action"] for e in history] == ["drift_triggered", "accept"]

        for statement in (
            "UPDATE slo_audit_log SET actor = 'mallory'",
            "DELETE FROM slo_audit_log",
            "TRUNCATE slo_audit_log",
            *(f"DROP TRIGGER {trigger} ON slo_audit_log" for trigger in TRIGGERS),
            "ALTER TABLE slo_audit_log DISABLE TRIGGER ALL",
            f"ALTER TABLE slo_audit_log DISABLE TRIGGER {TRIGGERS[0]}",
            "DROP TABLE slo_audit_log",
            "SET ROLE slo_owner",
        ):
            _refused(app, statement)

        with owner.connect() as conn:
            actors = conn.execute(sa.select(slo_audit_log.c.actor)).scalars().all()
            triggers = conn.execute(
                sa.text(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'slo_audit_log'::regclass"
                    " AND NOT tgisinternal AND tgenabled <> 'D'"
                )
            ).scalars()
            assert set(triggers) == set(TRIGGERS)
        assert sorted(actors) == ["drift-detector", "jane@x.io"]
    finally:
        app.dispose()
        owner.dispose()


def test_only_the_owner_migrates_and_re_grants(
    store: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    owner_url, app_url = store
    app = make_engine(app_url)
    try:
        _refused(app, "ALTER TABLE services ADD COLUMN x int")
        with pytest.raises(sa.exc.ProgrammingError, match="must be owner"):
            downgrade(app_url, "0006")
    finally:
        app.dispose()

    # The owner goes down past the audit log and back up through the CLI, as a deployment does.
    downgrade(owner_url, "0002")
    monkeypatch.setenv("SLO_DATABASE_URL", owner_url)
    monkeypatch.setenv("SLO_DATABASE_APP_ROLE", APP)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"granted to {APP}" in " ".join(result.output.split())

    app = make_engine(app_url)
    try:
        assert current_revision(app) == head_revision()
        ingest_chain(app)  # the recreated tables are granted again
        with app.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(slo_audit_log)).scalar() == 0
        _refused(app, "DELETE FROM slo_audit_log")
        _refused(app, f"DROP TRIGGER {TRIGGERS[1]} ON slo_audit_log")
    finally:
        app.dispose()


def test_an_application_role_that_could_drop_the_triggers_is_refused(
    store: tuple[str, str], empty_postgres: URL, tmp_path: Path
) -> None:
    owner_url, _ = store
    with pytest.raises(UnsafeApplicationRoleError, match="owner"):
        grant_application_role(owner_url, OWNER)
    admin = make_engine(empty_postgres.set(drivername="postgresql+psycopg").render_as_string(False))
    try:
        with admin.connect() as conn:
            superuser = conn.execute(
                sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar()
    finally:
        admin.dispose()
    if superuser:
        with pytest.raises(UnsafeApplicationRoleError, match="superuser"):
            grant_application_role(owner_url, str(empty_postgres.username))
    # SQLite has no roles: nothing to grant.
    sqlite_url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(sqlite_url, app_role=APP)
    assert grant_application_role(sqlite_url, APP) == []
