"""Circular-dependency alerts and their triage by an SRE."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter

from serving.deps import EngineDep
from serving.schemas.cycles import (
    CircularDependencyListOut,
    CircularDependencyOut,
    CircularDependencyUpdate,
)
from store.cycle_alerts import list_alerts, update_alert

router = APIRouter(tags=["dependencies"])


@router.get("/circular-dependencies", response_model=CircularDependencyListOut)
def get_circular_dependencies(
    engine: EngineDep, status: Literal["open", "acknowledged", "resolved"] | None = None
) -> CircularDependencyListOut:
    return CircularDependencyListOut.model_validate({"items": list_alerts(engine, status)})


@router.patch("/circular-dependencies/{alert_id}", response_model=CircularDependencyOut)
def patch_circular_dependency(
    alert_id: uuid.UUID, change: CircularDependencyUpdate, engine: EngineDep
) -> CircularDependencyOut:
    document = update_alert(
        engine, alert_id, status=change.status, actor=change.actor, notes=change.resolution_notes
    )
    return CircularDependencyOut.model_validate(document)
