"""Liveness and readiness answers.

Pydantic models of the HTTP interface; they are the OpenAPI schema too."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    Field,
)


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class ReadyOut(BaseModel):
    status: Literal["ready"]
    database: str
    schema_revision: str | None
    redis: Literal["up", "down", "not_configured"] = Field(
        description="Rate-limit store; while down, limits hold in-process (not a readiness gate)."
    )
    telemetry: Literal["up", "down"] = Field(
        description="Prometheus/Mimir (or the Parquet folder); while down, answers are served "
        "with `stale: true` (not a readiness gate)."
    )
    telemetry_source: Literal["prometheus", "parquet"]
    telemetry_circuit: Literal["closed", "open", "half_open"] | None = None
