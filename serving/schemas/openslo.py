"""OpenSLO import (FR-10): what an import wrote, and the warnings it was made with.

Pydantic models of the HTTP interface; they are the OpenAPI schema too."""

from __future__ import annotations

from typing import Literal

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
    budgeting_method: Literal["occurrences", "timeslices"]
    openslo_budgeting_method: Literal["Occurrences", "Timeslices", "RatioTimeslices"]
    time_window_days: int
    timeslice_target: float | None = None
    timeslice_window_seconds: int | None = None


class ImportWarningOut(BaseModel):
    """What the import read by assumption (a month read as 30 days, a threshold without a
    unit read as milliseconds, a p99.9 objective kept as p99, fields ignored), TRD FR-3's
    availability objective above the service's composite bound, or objectives kept from the
    previous SLO now budgeted differently — against the SLO document it concerns, if one."""

    document: str | None
    service_id: str
    warning: str


class OpenSloImportOut(BaseModel):
    imported: list[ImportedSloOut]
    warnings: list[ImportWarningOut]
