"""What the application role may do in PostgreSQL: the grants that make the audit log's
append-only rule hold against the API and the pipelines themselves.

The triggers on `slo_audit_log` (sql/audit_log_append_only.postgresql.sql) refuse UPDATE,
DELETE and TRUNCATE, but a table's owner (and a superuser) can drop or disable them. So the
store is meant to be run with two roles: an owner that the migrations connect as, and an
application role, owning nothing, that the API and the pipelines connect as. The application
role gets the DML its real work needs on every table of `store.tables.metadata`; on the audit
log only INSERT and SELECT, so UPDATE, DELETE and TRUNCATE fail on privileges before any
trigger runs, and DROP TRIGGER / ALTER TABLE … DISABLE TRIGGER (owner only) fail as well.

What the runtime does beyond DML, and is covered here: graph ingestion stages edges in a
`CREATE TEMP TABLE … (LIKE service_dependencies)` + COPY (TEMPORARY on the database, SELECT
on the table), decisions lock `active_slos` rows with SELECT … FOR UPDATE (UPDATE on it), and
the API's readiness check reads `alembic_version` (SELECT only). The primary keys are UUIDs
made by the application, so there are no sequences today; any that a later migration adds get
USAGE and SELECT.

SQLite has no roles: there the triggers are the whole protection, against this application's
own code, not against whoever can write the file.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from store.engine import is_postgres, make_engine
from store.tables import metadata, slo_audit_log

#: Privileges on every table of the store except the audit log and Alembic's version table.
TABLE_DML = ("SELECT", "INSERT", "UPDATE", "DELETE")
#: The audit log is appended to and read, nothing else.
AUDIT_LOG_PRIVILEGES = ("SELECT", "INSERT")
#: Revoked explicitly from the application role on the audit log, in case an earlier, broader
#: grant (ALL PRIVILEGES, say) gave them.
AUDIT_LOG_REFUSED = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")
ALEMBIC_VERSION_TABLE = "alembic_version"


class UnsafeApplicationRoleError(ValueError):
    """The role named as the application role could change or drop the audit log's triggers."""


def grant_application_role(engine_or_url: Engine | str, role: str) -> list[str]:
    """Grant `role` what the API and the pipelines need, and no more; returns the statements.

    Run it connected as the owner of the store's tables (`slo-engine db upgrade --app-role`
    does, after the migrations). Idempotent. Raises `UnsafeApplicationRoleError` if `role` is a
    superuser or may act as the tables' owner, since such a role can remove the triggers
    whatever is granted. On SQLite it does nothing and returns no statements.
    """
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        if not is_postgres(engine):
            return []
        with engine.begin() as conn:
            _check_not_owner(conn, role)
            statements = grant_statements(conn, role)
            for statement in statements:
                conn.exec_driver_sql(statement)
        return statements
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def grant_statements(conn: Connection, role: str) -> list[str]:
    """The GRANT/REVOKE statements for `role` on the store's tables as they exist now (a
    migration to an older revision may not have created all of them yet)."""
    quote = conn.dialect.identifier_preparer.quote
    grantee = quote(role)
    database = conn.execute(sa.text("SELECT current_database()")).scalar_one()
    existing = set(sa.inspect(conn).get_table_names(schema="public"))
    audit_log = quote(slo_audit_log.name)

    statements = [
        f"GRANT CONNECT, TEMPORARY ON DATABASE {quote(database)} TO {grantee}",
        f"GRANT USAGE ON SCHEMA public TO {grantee}",
    ]
    for table in sorted(t for t in metadata.tables if t in existing and t != slo_audit_log.name):
        statements.append(f"GRANT {', '.join(TABLE_DML)} ON TABLE {quote(table)} TO {grantee}")
    if slo_audit_log.name in existing:
        statements += [
            f"GRANT {', '.join(AUDIT_LOG_PRIVILEGES)} ON TABLE {audit_log} TO {grantee}",
            f"REVOKE {', '.join(AUDIT_LOG_REFUSED)} ON TABLE {audit_log} FROM {grantee}",
            f"REVOKE {', '.join(AUDIT_LOG_REFUSED)} ON TABLE {audit_log} FROM PUBLIC",
        ]
    if ALEMBIC_VERSION_TABLE in existing:
        statements.append(f"GRANT SELECT ON TABLE {ALEMBIC_VERSION_TABLE} TO {grantee}")
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {grantee}")
    return statements


def _check_not_owner(conn: Connection, role: str) -> None:
    row = conn.execute(
        sa.text(
            "SELECT r.rolsuper,"
            " pg_has_role(r.oid, c.relowner, 'MEMBER') AS acts_as_owner,"
            " pg_get_userbyid(c.relowner) AS owner"
            " FROM pg_roles r, pg_class c"
            " WHERE r.rolname = :role AND c.oid = to_regclass(:table)"
        ),
        {"role": role, "table": f"public.{slo_audit_log.name}"},
    ).first()
    if row is None:  # no audit log yet (an early revision): nothing to protect
        return
    if row.rolsuper:
        raise UnsafeApplicationRoleError(f"{role!r} is a superuser: it can drop any trigger")
    if row.acts_as_owner:
        raise UnsafeApplicationRoleError(
            f"{role!r} is (or is a member of) {row.owner!r}, the owner of {slo_audit_log.name}:"
            " it could drop the triggers that keep the audit log append-only. The API and the"
            " pipelines must connect as a role that owns nothing."
        )
