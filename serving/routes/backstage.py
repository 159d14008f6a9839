"""Backstage's entity page: one entity's service, recommendation, active SLO and budget."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from serving.backstage_entity import read_backstage_entity
from serving.deps import EngineDep, SettingsDep
from serving.schemas.backstage import BackstageEntityOut
from serving.security import PrincipalDep
from telemetry.backstage_catalog import KIND_PATTERN, MAX_NAME_LENGTH, NAME_PATTERN

router = APIRouter(tags=["backstage"])

BackstageName = Annotated[str, Path(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)]


@router.get(
    "/backstage/entities/{kind}/{namespace}/{name}",
    response_model=BackstageEntityOut,
    responses={404: {"description": "No service is known for this entity"}},
)
def get_backstage_entity(
    kind: Annotated[str, Path(min_length=1, max_length=MAX_NAME_LENGTH, pattern=KIND_PATTERN)],
    namespace: BackstageName,
    name: BackstageName,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    request: Request,
) -> BackstageEntityOut:
    """The service a catalog entity stands for (recorded by `slo-engine graph
    import-backstage`: the slo-engine.io/service-id annotation, else its name), the tiers of
    its published recommendation, its active SLO and its error-budget health, in one call."""
    return read_backstage_entity(
        engine, settings, principal, kind=kind, namespace=namespace, name=name,
        sli_source=request.app.state.sli_source,
        graph_source=request.app.state.service_graph_source,
    )  # fmt: skip
