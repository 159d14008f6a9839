"""API keys: shown once, stored as bcrypt hashes, found by a public prefix, revocable.

A key reads `slo_<prefix>_<secret>`. The prefix is stored in clear to find the row without
scanning every hash; only bcrypt of the whole key is kept, so the table leaks no usable key.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import bcrypt
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.tables import API_KEY_ROLES, api_keys
from store.timeutil import as_utc

KEY_PREFIX = "slo_"


@dataclass(frozen=True)
class ApiKeyRecord:
    id: uuid.UUID
    name: str
    prefix: str
    role: str
    team: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class InvalidApiKeyError(ValueError):
    pass


def create_api_key(
    engine: Engine, *, name: str, role: str, team: str | None = None, rounds: int = 12
) -> tuple[str, ApiKeyRecord]:
    """A new key: (the key itself, to show once; its record)."""
    if role not in API_KEY_ROLES:
        raise InvalidApiKeyError(f"role must be one of {', '.join(API_KEY_ROLES)}")
    if role == "service_owner" and not team:
        raise InvalidApiKeyError("a service_owner key needs --team: it may decide only for it")
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    hashed = bcrypt.hashpw(key.encode(), bcrypt.gensalt(rounds=rounds)).decode()
    record = ApiKeyRecord(uuid.uuid4(), name, prefix, role, team, datetime.now(UTC), None, None)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(api_keys).values(
                id=record.id,
                name=name,
                key_prefix=prefix,
                key_hash=hashed,
                role=role,
                team=team,
                created_at=record.created_at,
            )
        )
    return key, record


def prefix_of(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    return prefix if sep and secret and len(prefix) == 12 else None


def verify_api_key(engine: Engine, key: str) -> ApiKeyRecord | None:
    """The live record of a presented key, or None (unknown, wrong secret or revoked)."""
    prefix = prefix_of(key)
    if prefix is None:
        return None
    with engine.begin() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.key_prefix == prefix)).first()
        if row is None or row.revoked_at is not None:
            return None
        if not bcrypt.checkpw(key.encode(), row.key_hash.encode()):
            return None
        now = datetime.now(UTC)
        conn.execute(sa.update(api_keys).where(api_keys.c.id == row.id).values(last_used_at=now))
    return _record(row._mapping, last_used_at=now)


def is_revoked(engine: Engine, key_id: uuid.UUID) -> bool:
    with engine.connect() as conn:
        revoked = conn.execute(
            sa.select(api_keys.c.revoked_at).where(api_keys.c.id == key_id)
        ).first()
    return revoked is None or revoked[0] is not None


def revoke_api_key(engine: Engine, prefix: str) -> bool:
    with engine.begin() as conn:
        changed = conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.key_prefix == prefix, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        ).rowcount
    return bool(changed)


def list_api_keys(engine: Engine) -> list[ApiKeyRecord]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).all()
    return [_record(row._mapping) for row in rows]


def _record(row: sa.RowMapping, last_used_at: datetime | None = None) -> ApiKeyRecord:
    used = last_used_at or row["last_used_at"]
    return ApiKeyRecord(
        id=row["id"],
        name=row["name"],
        prefix=row["key_prefix"],
        role=row["role"],
        team=row["team"],
        created_at=as_utc(row["created_at"]),
        last_used_at=as_utc(used) if used else None,
        revoked_at=as_utc(row["revoked_at"]) if row["revoked_at"] else None,
    )
