"""Listing registered services with keyset (cursor) pagination.

Keyset pagination on the unique `service_id` stays O(page) however deep a client pages and
never skips or repeats a row when services are added between pages, unlike OFFSET.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.errors import InvalidError
from store.tables import services
from store.timeutil import as_utc


class InvalidCursorError(InvalidError):
    def __init__(self, cursor: str) -> None:
        message = "invalid cursor"
        super().__init__(
            "cursor", message, location="query",
            detail="The cursor is not one this API returned; start again without `cursor`.",
        )  # fmt: skip
        self.cursor = cursor


def encode_cursor(service_id: str) -> str:
    return base64.urlsafe_b64encode(service_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursorError(cursor) from exc


@dataclass
class ServicePage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def service_document(row: Any) -> dict[str, Any]:
    return {
        "service_id": row.service_id,
        "team": row.team,
        "criticality": row.criticality,
        "discovered": row.discovered,
        "registration_status": "unregistered" if row.discovered else "registered",
        "metadata": row.metadata or {},
        "created_at": as_utc(row.created_at),
        "updated_at": as_utc(row.updated_at),
    }


def list_services(
    engine: Engine,
    *,
    limit: int = 50,
    cursor: str | None = None,
    team: str | None = None,
    criticality: str | None = None,
    discovered: bool | None = None,
) -> ServicePage:
    query = sa.select(services).order_by(services.c.service_id).limit(limit + 1)
    if cursor is not None:
        query = query.where(services.c.service_id > decode_cursor(cursor))
    if team is not None:
        query = query.where(services.c.team == team)
    if criticality is not None:
        query = query.where(services.c.criticality == criticality)
    if discovered is not None:
        query = query.where(services.c.discovered.is_(discovered))
    with engine.connect() as conn:
        rows = list(conn.execute(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return ServicePage(
        items=[service_document(r) for r in rows],
        next_cursor=encode_cursor(rows[-1].service_id) if more else None,
    )
