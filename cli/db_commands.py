"""`slo-engine db`: the operational store's schema (Alembic)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from config.settings import get_settings

if TYPE_CHECKING:
    pass


from cli.console import console

db_app = typer.Typer(help="Operational store schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(
    revision: str = "head",
    app_role: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL role the API and pipelines connect as: granted their DML, and only "
            "INSERT/SELECT on slo_audit_log (default: SLO_DATABASE_APP_ROLE)."
        ),
    ] = None,
) -> None:
    """Apply the Alembic migrations to SLO_DATABASE_URL, which must connect as the owner of the
    store's tables; then grant the application role (PostgreSQL)."""
    from store.migrate import upgrade

    settings = get_settings()
    url = settings.database_url
    role = app_role or settings.database_app_role
    upgrade(url, revision, app_role=role)
    granted = f", granted to {role}" if role and not url.startswith("sqlite") else ""
    console.print(f"[green]store migrated to {revision}[/green] ({redacted(url)}){granted}")


def redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
