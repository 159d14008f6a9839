"""Liveness (process up) and readiness (store reachable and migrated).

Readiness also reports Redis and Prometheus (TRD REL-007) but is gated on the store alone: the
API keeps its promises without the other two (cached answers marked stale, REL-005; rate
limits in-process), and a probe that failed with them would take every replica out of
service at once when one shared dependency blinks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import redis
import sqlalchemy as sa
from fastapi import APIRouter, Request

from serving.deps import EngineDep
from serving.problems import ServiceUnavailableProblem
from serving.schemas.health import HealthOut, ReadyOut
from serving.version import app_version
from store.migrate import current_revision, head_revision
from telemetry.prometheus_http import PrometheusClient

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
def health() -> HealthOut:
    return HealthOut(status="ok", version=app_version())


@router.get("/health/ready", response_model=ReadyOut)
def ready(request: Request, engine: EngineDep) -> ReadyOut:
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
    settings = request.app.state.settings
    source = request.app.state.sli_source
    client = getattr(source, "client", None)
    if isinstance(client, PrometheusClient):
        telemetry_up, circuit = client.ping(), client.breaker.state
    else:
        telemetry_up, circuit = Path(settings.telemetry_parquet_path).is_dir(), None
    return ReadyOut(
        status="ready",
        database=engine.dialect.name,
        schema_revision=revision,
        redis=_redis_status(settings.redis_url),
        telemetry="up" if telemetry_up else "down",
        telemetry_source=settings.telemetry,
        telemetry_circuit=circuit,
    )


def _redis_status(url: str | None) -> Literal["up", "down", "not_configured"]:
    if not url:
        return "not_configured"
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        return "up" if client.ping() else "down"
    except (redis.RedisError, OSError):
        return "down"
    finally:
        client.close()
