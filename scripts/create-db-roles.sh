#!/usr/bin/env bash
# Create the two PostgreSQL roles of a least-privilege deployment on the local server, when
# missing (idempotent; the machine's trust authentication means no passwords):
#   slo_owner  owns the store's database and tables, and runs the migrations;
#   slo_app    what the API and the pipelines connect as. It owns nothing, so it cannot drop or
#              disable the triggers that keep slo_audit_log append-only;
#              `slo-engine db upgrade --app-role slo_app` grants it the DML it needs.
# Connects as the superuser `postgres` (override with PG_ADMIN_DSN).
set -euo pipefail

admin_dsn="${PG_ADMIN_DSN:-postgresql://postgres@127.0.0.1:5432/postgres}"

if ! pg_isready -q -d "$admin_dsn" 2>/dev/null; then
  echo "PostgreSQL roles: not created (server not reachable)"
  exit 0
fi

create_role() { # name, attributes
  psql "$admin_dsn" --quiet --no-psqlrc -v ON_ERROR_STOP=1 <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$1') THEN
        CREATE ROLE $1 $2;
    END IF;
EXCEPTION
    WHEN duplicate_object THEN NULL;  -- created concurrently since the check
END
\$\$;
SQL
}

create_role slo_owner "LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB"
create_role slo_app "LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB"
echo "PostgreSQL roles: slo_owner, slo_app"
