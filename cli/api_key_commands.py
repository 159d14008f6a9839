"""`slo-engine api-keys`: create, list and revoke API keys."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from config.settings import get_settings

if TYPE_CHECKING:
    pass


from cli.console import console

api_keys_app = typer.Typer(help="API keys (X-API-Key): create, list, revoke.", no_args_is_help=True)


@api_keys_app.command("create")
def api_keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses it, e.g. backstage-backend.")],
    role: Annotated[str, typer.Option(help="sre_admin | service_owner | viewer")],
    team: Annotated[str | None, typer.Option(help="For service_owner: the team it owns.")] = None,
) -> None:
    """Create a key. It is printed once, here; only its bcrypt hash is stored."""
    from store.api_keys import InvalidApiKeyError, create_api_key
    from store.engine import make_engine

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        key, record = create_api_key(
            engine, name=name, role=role, team=team, rounds=settings.api_key_bcrypt_rounds
        )
    except InvalidApiKeyError as exc:
        raise typer.BadParameter(str(exc)) from exc
    finally:
        engine.dispose()
    team_note = f", team {record.team}" if record.team else ""
    console.print(
        f"[green]created[/green] {record.name} ({record.role}{team_note}), prefix {record.prefix}"
    )
    console.print("[bold]Store it now: it cannot be shown again.[/bold]")
    print(key)


@api_keys_app.command("list")
def api_keys_list() -> None:
    """Keys by prefix, role, team, last use; never the keys themselves."""
    from store.api_keys import list_api_keys
    from store.engine import make_engine

    engine = make_engine(get_settings().database_url)
    try:
        records = list_api_keys(engine)
    finally:
        engine.dispose()
    table = Table(title=f"{len(records)} API keys")
    for column in ("prefix", "name", "role", "team", "created", "last used", "revoked"):
        table.add_column(column)

    def when(moment: datetime | None) -> str:
        return moment.isoformat(timespec="seconds") if moment else ""

    for r in records:
        table.add_row(r.prefix, r.name, r.role, r.team or "", when(r.created_at),
                      when(r.last_used_at), when(r.revoked_at))  # fmt: skip
    console.print(table)


@api_keys_app.command("revoke")
def api_keys_revoke(prefix: str) -> None:
    """Revoke a key by its prefix (takes effect within SLO_API_KEY_CACHE_SECONDS everywhere)."""
    from store.api_keys import revoke_api_key
    from store.engine import make_engine

    engine = make_engine(get_settings().database_url)
    try:
        revoked = revoke_api_key(engine, prefix)
    finally:
        engine.dispose()
    if not revoked:
        raise typer.BadParameter(f"no live key with prefix {prefix}")
    console.print(f"[green]revoked[/green] {prefix}")
