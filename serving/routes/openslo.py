"""OpenSLO v1 in and out (FR-10): export a service's active SLO, import SLO documents."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from analytics.latency_histogram import LATENCY_BUCKETS
from serving.deps import EngineDep, SettingsDep
from serving.routes.slo_alerts import SloPeriod, slo_period_days
from serving.routes.slos import audit_actor
from serving.schemas.openslo import ImportedSloOut, ImportWarningOut, OpenSloImportOut
from serving.security import PrincipalDep
from serving.service_id import ServiceIdPath
from store.errors import InvalidError
from store.slo_decisions import ManualSlo, ManualSloWritten, active_slo, set_manual_slos
from store.storable_text import StorableStr
from telemetry.openslo import (
    ImportedSlo,
    export_documents,
    imported_slos,
    parse_documents,
    to_yaml,
)
from telemetry.sources_from_settings import metric_names_from_settings

router = APIRouter(tags=["slos"])
log = logging.getLogger("slo_engine.api.openslo")

YAML = "application/yaml"


@router.get(
    "/services/{service_id}/slos/openslo",
    response_class=Response,
    responses={200: {"content": {YAML: {"schema": {"type": "string"}}},
                     "description": "OpenSLO v1 documents (multi-document YAML)"},
               404: {"description": "Unknown service, or no active SLO"}},
)  # fmt: skip
def export_openslo(
    service_id: ServiceIdPath,
    engine: EngineDep,
    settings: SettingsDep,
    period_days: SloPeriod = None,
) -> Response:
    """The active SLO as OpenSLO v1: `Service`, and per objective an `SLI` (availability a
    ratioMetric over the engine's metric names, latency a thresholdMetric), an `SLO` (the
    SLO's rolling window and budgeting method) and burn-rate `AlertPolicy` documents."""
    slo = active_slo(engine, service_id)
    documents = export_documents(
        service_id,
        slo,
        metric_names_from_settings(settings),
        bucket_bounds=LATENCY_BUCKETS,
        period_days=slo_period_days(slo, period_days, settings),
    )
    filename = f"{service_id}.openslo.yaml"
    return Response(to_yaml(documents), media_type=YAML,
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})  # fmt: skip


@router.post(
    "/slos/openslo",
    response_model=OpenSloImportOut,
    openapi_extra={"requestBody": {"required": True, "content": {
        YAML: {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}}}}},
    responses={422: {"description": "Invalid documents; the field is named"},
               404: {"description": "A document names an unknown service"}},
)  # fmt: skip
async def import_openslo(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    actor: Annotated[
        StorableStr | None,
        Query(
            max_length=255,
            description="Who imports (required with an API key: a key names a system; "
            "with a token, the token's person or left out)",
        ),
    ] = None,
    rationale: Annotated[StorableStr | None, Query(max_length=2000)] = None,
) -> OpenSloImportOut:
    """Import OpenSLO v1 `SLO` documents (with their `SLI`s and `Service`s) as `manual`
    active SLOs: one transaction for all of them, an audit entry each. Objectives a document
    does not give keep their current value."""
    body = (await request.body()).decode("utf-8", errors="replace")
    slos = imported_slos(parse_documents(body))
    who = audit_actor(actor, principal, location="query")  # a token's person, never another
    if not who:
        raise InvalidError(
            "actor", "required with an API key: the person who imports", location="query"
        )
    note = f" {rationale.strip()}" if rationale and rationale.strip() else ""
    manual = [
        ManualSlo(service_id, slo.targets,
                  f"Imported from OpenSLO ({', '.join(slo.documents)}).{note}",
                  budgeting=slo.budgeting, time_window_days=slo.time_window_days,
                  warnings=tuple(warning for _, warning in slo.warnings))
        for service_id, slo in slos.items()
    ]  # fmt: skip
    written = set_manual_slos(
        engine, manual, actor=who, principal=principal.id, rights=principal.rights
    )
    warnings = [warning for entry in written for warning in _warnings(entry, slos)]
    log.info("OpenSLO import", extra={"fields": {"services": list(slos), "actor": who,
                                                 "warnings": len(warnings)}})  # fmt: skip
    return OpenSloImportOut(
        imported=[ImportedSloOut.model_validate(e, from_attributes=True) for e in written],
        warnings=warnings,
    )


def _warnings(entry: ManualSloWritten, slos: dict[str, ImportedSlo]) -> list[ImportWarningOut]:
    """An entry's warnings against the document each concerns: what the import read by
    assumption (its document); TRD FR-3's bound warning — an availability objective above the
    service's composite bound is imported, but said out loud — against the availability
    document; a note that kept objectives changed budgeting against none."""
    imported = slos[entry.service_id]
    own = {warning: document for document, warning in imported.warnings}
    availability = imported.document_of.get("availability_target")
    return [
        ImportWarningOut(
            document=own.get(warning, availability if warning in entry.bound_warnings else None),
            service_id=entry.service_id,
            warning=warning,
        )
        for warning in entry.warnings
    ]
