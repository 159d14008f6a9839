"""The one lookup of a service by its id (the name people and payloads use).

Nine places used to select `services.id` by `service_id` each in their own way, and answered
an unknown id with three different errors (or a `None`). A row here carries what callers
needed next — the primary key the other tables join on, the owning team, the metadata with
the archetype — so a request looks the service up once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store.errors import BackstageEntityNotFoundError, ServiceNotFoundError
from store.tables import services

#: The service metadata key under which a Backstage import keeps the entity's facts; its
#: `entity_ref` (`component:default/checkout`) is what Backstage's entity page looks it up by.
BACKSTAGE_METADATA_KEY = "backstage"


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


@dataclass(frozen=True)
class EntityService:
    service: ServiceRow
    #: "entity_ref": an import recorded the entity on the service; "name": a service whose id
    #: is the entity's name and which no Backstage entity has claimed.
    resolved_by: Literal["entity_ref", "name"]


def find_service_of_entity(conn: Connection, entity_ref: str, name: str) -> EntityService:
    """The service a Backstage entity stands for: the one an import recorded the entity on
    (the newest, should an annotation have moved it), else the service named like the entity
    unless another entity claimed it. A ref is `kind:namespace/name`, kind and namespace in
    lower case (Backstage's `stringifyEntityRef`)."""
    recorded = services.c.metadata[(BACKSTAGE_METADATA_KEY, "entity_ref")].as_string()
    row = conn.execute(
        _select().where(recorded == entity_ref).order_by(services.c.updated_at.desc()).limit(1)
    ).first()
    if row is not None:
        found = ServiceRow(
            uuid.UUID(str(row.id)), row.service_id, row.team, dict(row.metadata or {})
        )
        return EntityService(found, "entity_ref")
    named = find_service(conn, name)
    if named is not None:
        facts = named.metadata.get(BACKSTAGE_METADATA_KEY)
        if not (isinstance(facts, dict) and facts.get("entity_ref")):
            return EntityService(named, "name")
    raise BackstageEntityNotFoundError(entity_ref)
