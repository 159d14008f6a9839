"""OpenSLO import (FR-10): what an import wrote, and the warnings it was made with.

Pydantic models of the HTTP interface; they are the OpenAPI schema too."""

from __future__ import annotations

from pydantic import BaseModel

from serving.schemas.slos import SloTargetsOut


class ImportedSloOut(BaseModel):
    service_id: str
    slo_id: str
    audit_id: str
    targets: SloTargetsOut
    source: str
    upstream_recommendations_invalidated: int
    warnings: list[str]


class ImportWarningOut(BaseModel):
    """TRD FR-3: an availability objective above the service's composite bound, against the
    document that set it."""

    document: str | None
    service_id: str
    warning: str


class OpenSloImportOut(BaseModel):
    imported: list[ImportedSloOut]
    warnings: list[ImportWarningOut]
