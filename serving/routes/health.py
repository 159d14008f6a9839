"""Liveness (process up) and readiness (store reachable and migrated)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from serving.deps import EngineDep
from serving.problems import ServiceUnavailableProblem
from serving.schemas import HealthOut, ReadyOut
from serving.version import app_version
from store.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
def health() -> HealthOut:
    return HealthOut(status="ok", version=app_version())


@router.get("/health/ready", response_model=ReadyOut)
def ready(engine: EngineDep) -> ReadyOut:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        revision = current_revision(engine)
    except sa.exc.SQLAlchemyError:
        raise ServiceUnavailableProblem(
            "The operational store is unreachable.", headers={"Retry-After": "5"}
        ) from None
    expected = head_revision()
    if revision != expected:
        raise ServiceUnavailableProblem(
            f"The store schema is at revision {revision!r}, expected {expected!r}: "
            "run `slo-engine db upgrade`."
        )
    return ReadyOut(status="ready", database=engine.dialect.name, schema_revision=revision)
