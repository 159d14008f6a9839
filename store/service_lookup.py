"""The one lookup of a service by its id (the name people and payloads use).

Nine places used to select `services.id` by `service_id` each in their own way, and answered
an unknown id with three different errors (or a `None`). A row here carries what callers
needed next — the primary key the other tables join on, the owning team, the metadata with
the archetype — so a request looks the service up once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store.errors import ServiceNotFoundError
from store.tables import services


@dataclass(frozen=True)
class ServiceRow:
    pk: uuid.UUID
    service_id: str
    team: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def owning_team(self) -> str | None:
        """The team column, else the team a source declared in metadata."""
        team = self.team or self.metadata.get("team")
        return str(team) if team else None

    @property
    def service_type(self) -> str | None:
        kind = self.metadata.get("service_type")
        return str(kind) if kind else None


def _select() -> sa.Select[Any]:
    return sa.select(services.c.id, services.c.service_id, services.c.team, services.c.metadata)


def find_service(conn: Connection, service_id: str) -> ServiceRow | None:
    row = conn.execute(_select().where(services.c.service_id == service_id)).first()
    if row is None:
        return None
    return ServiceRow(uuid.UUID(str(row.id)), row.service_id, row.team, dict(row.metadata or {}))


def get_service(conn: Connection, service_id: str) -> ServiceRow:
    """The service, or the one not-found error every caller answers with."""
    found = find_service(conn, service_id)
    if found is None:
        raise ServiceNotFoundError(service_id)
    return found


def service_pk_of(service_id: str) -> sa.ScalarSelect[Any]:
    """The same lookup as a scalar subquery, for a statement that must not read first (a
    decision's claim takes its row lock in one UPDATE)."""
    return sa.select(services.c.id).where(services.c.service_id == service_id).scalar_subquery()
