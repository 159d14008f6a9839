"""The human-on-the-loop workflow (TRD FR-5): decide on a recommendation, read the active SLO
and its history. Every decision is one transaction with its audit entry."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from serving.deps import EngineDep
from serving.observability import DECISIONS
from serving.schemas.slos import (
    ActiveSloOut,
    AuditEntryOut,
    SloDecisionIn,
    SloDecisionOut,
    SloHistoryOut,
)
from serving.security import ForbiddenProblem, Principal, PrincipalDep
from serving.service_id import ServiceIdPath
from store.errors import InvalidError
from store.slo_decisions import Decision, active_slo, decide, slo_history

router = APIRouter(tags=["slos"])
log = logging.getLogger("slo_engine.api.slos")


class ActorMismatchProblem(ForbiddenProblem):
    slug, title = "actor-mismatch", "Actor Is Not the Caller"


def audit_actor(given: str | None, principal: Principal, *, location: str) -> str | None:
    """Who the audit log names. A token names a person: that person is the actor, and an
    `actor` naming someone else is refused (403), never recorded. A key names a system, which
    must say on whose behalf it acts (None: it did not)."""
    if principal.kind == "token":
        if given and given.strip().casefold() != principal.actor.casefold():
            message = (
                f"must be the token's own person '{principal.actor}' (or left out): "
                "with a bearer token the audit log records the caller"
            )
            raise ActorMismatchProblem(
                f"actor: {message}. Nothing was written.",
                errors=[{"field": "actor", "location": location, "message": message,
                         "type": "value_error"}],
            )  # fmt: skip
        return principal.actor
    return given or (principal.actor if principal.kind != "api_key" else None)


def _validated(service_id: str, body: SloDecisionIn, principal: Principal) -> Decision:
    """Rules that span fields, each reported against the field a person must fix."""
    changes = body.modifications.model_dump(exclude_none=True) if body.modifications else {}
    if body.action in ("accept", "modify") and body.selected_tier is None:
        raise InvalidError("selected_tier", f"required to {body.action} a recommendation")
    if body.action == "modify" and not changes:
        raise InvalidError("modifications", "give at least one target to modify")
    if body.action != "modify" and changes:
        raise InvalidError(
            "modifications", f"only allowed with action 'modify', not '{body.action}'"
        )
    if body.action in ("modify", "reject") and not (body.rationale or "").strip():
        raise InvalidError("rationale", f"required to {body.action}: say why, for the audit log")
    who = audit_actor(body.actor, principal, location="body")
    if not who:
        raise InvalidError("actor", "required with an API key: the person who decided")
    return Decision(
        service_id=service_id,
        recommendation_id=body.recommendation_id,
        action=body.action,
        actor=who,
        selected_tier=body.selected_tier,
        availability_target=changes.get("availability_target"),
        latency_p99_target_ms=changes.get("latency_p99_target_ms"),
        latency_p95_target_ms=changes.get("latency_p95_target_ms"),
        rationale=body.rationale.strip() if body.rationale else None,
        principal=principal.id,
        rights=principal.rights,
    )


@router.post(
    "/services/{service_id}/slos",
    response_model=SloDecisionOut,
    status_code=status.HTTP_200_OK,
    responses={404: {"description": "Unknown service or recommendation"},
               409: {"description": "Recommendation superseded, expired or already decided"}},
)  # fmt: skip
def decide_on_recommendation(
    service_id: ServiceIdPath, body: SloDecisionIn, engine: EngineDep, principal: PrincipalDep
) -> SloDecisionOut:
    """Accept, modify or reject a recommendation: the active SLO changes (or not) and the
    audit log records who, why, and the state before and after — in one transaction.
    `sre_admin` may decide for any service, a `service_owner` for its own team's.
    An availability target above the recommendation's composite bound is still applied, with
    the TRD's unachievable-target warning in `warnings` and in the audit entry."""
    decision = _validated(service_id, body, principal)
    result = decide(engine, decision)
    DECISIONS.labels(decision.action).inc()
    log.info(
        "SLO %s", {"accept": "accepted", "modify": "modified", "reject": "rejected"}[body.action],
        extra={"fields": {"service_id": service_id, "action": body.action,
                          "selected_tier": body.selected_tier, "actor": decision.actor,
                          "audit_id": result.audit_id, "warnings": result.warnings}},
    )  # fmt: skip
    return SloDecisionOut.model_validate(result, from_attributes=True)


@router.get("/services/{service_id}/slos", response_model=ActiveSloOut)
def get_active_slo(service_id: ServiceIdPath, engine: EngineDep) -> ActiveSloOut:
    return ActiveSloOut.model_validate(active_slo(engine, service_id), from_attributes=True)


@router.get("/services/{service_id}/slo-history", response_model=SloHistoryOut)
def get_slo_history(
    service_id: ServiceIdPath,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        datetime | None, Query(description="Cursor: entries older than this.")
    ] = None,
) -> SloHistoryOut:
    entries = slo_history(engine, service_id, limit=limit, before=before)
    return SloHistoryOut(
        service_id=service_id,
        entries=[AuditEntryOut.model_validate(e, from_attributes=True) for e in entries],
        next_cursor=entries[-1].timestamp.isoformat() if len(entries) == limit else None,
    )
