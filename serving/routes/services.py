"""The service catalog, paged by cursor."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from serving.deps import EngineDep
from serving.schemas.services import ServicePageOut
from store.service_catalog import list_services
from store.storable_text import StorableStr

router = APIRouter(tags=["services"])


@router.get("/services", response_model=ServicePageOut)
def get_services(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    team: Annotated[StorableStr | None, Query(max_length=255)] = None,
    criticality: Literal["critical", "high", "medium", "low"] | None = None,
    discovered: bool | None = None,
) -> ServicePageOut:
    page = list_services(
        engine, limit=limit, cursor=cursor, team=team, criticality=criticality,
        discovered=discovered,
    )  # fmt: skip
    return ServicePageOut.model_validate(
        {"items": page.items, "next_cursor": page.next_cursor, "limit": limit}
    )
