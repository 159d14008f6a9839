"""The recorded outcome of one graph ingestion."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from serving.deps import EngineDep
from serving.problems import NotFoundProblem
from serving.schemas.graph import IngestionOut
from store.graph_ingest import get_ingestion

router = APIRouter(tags=["dependencies"])


@router.get("/ingestions/{ingestion_id}", response_model=IngestionOut)
def get_ingestion_result(ingestion_id: uuid.UUID, engine: EngineDep) -> IngestionOut:
    document = get_ingestion(engine, ingestion_id)
    if document is None:
        raise NotFoundProblem(f"No ingestion with ID '{ingestion_id}'.")
    return IngestionOut.model_validate(document)
