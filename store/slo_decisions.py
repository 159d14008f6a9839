"""Accept, modify or reject a recommendation: the active SLO and its audit trail, atomically.

A decision is one transaction that (1) claims the recommendation with a conditional UPDATE —
the row lock that serializes concurrent decisions and the check that it is still the service's
live recommendation, in one statement, so nothing is read before the write lock is held —
(2) locks and snapshots the service's active SLO, (3) writes the new one and (4) appends the
audit entry with the state before and after. Either all of it is committed or none of it.

An availability target above the service's composite bound is allowed — people may know
better, or plan to fix a dependency — but never silently (TRD FR-3): the response and the
audit entry's `new_slo` carry the TRD's warning (`bound_warnings`).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from analytics.burn_rate import OCCURRENCES, Budgeting
from analytics.slo_tiers import unachievable_target_warning
from store.acting_rights import ActingRights
from store.dependency_traversal import reach_depths
from store.errors import ConflictError, NoActiveSloError, NotFoundError
from store.published_recommendations import published_composite_bound
from store.service_lookup import get_service, service_pk_of
from store.tables import active_slos, services, slo_audit_log, slo_recommendations
from store.timeutil import as_utc

DECISIONS = {"accept": "accepted", "modify": "modified", "reject": "rejected",
             "auto_approve": "auto_approved"}  # fmt: skip
SOURCES = {"accept": "recommendation_accepted", "modify": "recommendation_modified",
           "auto_approve": "auto_approved"}  # fmt: skip
#: Latency tiers come at different percentiles; each lands in the active SLO's column for it
#: (a p99.9 target is a conservative p99 target: p99 ≤ p99.9).
PERCENTILE_COLUMN = {
    "p99.9": "latency_p99_target_ms",
    "p99": "latency_p99_target_ms",
    "p95": "latency_p95_target_ms",
}
TARGET_COLUMNS = ("availability_target", "latency_p99_target_ms", "latency_p95_target_ms")
#: How a recommendation's SLO counts its budget (the tiers simulate 30-day months of requests):
#: the budgeting columns a decision writes. An OpenSLO import may set others (`ManualSlo`).
RECOMMENDED_BUDGETING: dict[str, Any] = {
    "budgeting_method": "occurrences",
    "time_window_days": 30,
    "timeslice_target": None,
    "timeslice_window_seconds": None,
}
#: How far upstream an accepted SLO invalidates cached recommendations (the TRD's depth cap).
INVALIDATION_DEPTH = 10


class RecommendationNotFoundError(NotFoundError):
    slug, title = "recommendation-not-found", "Recommendation Not Found"


class RecommendationConflictError(ConflictError):
    """The recommendation is superseded, expired or already decided."""

    slug, title = "recommendation-conflict", "Recommendation Not Decidable"


@dataclass(frozen=True)
class Decision:
    service_id: str
    recommendation_id: uuid.UUID
    action: str  # accept | modify | reject
    actor: str
    selected_tier: str | None = None
    availability_target: float | None = None  # modifications
    latency_p99_target_ms: int | None = None
    latency_p95_target_ms: int | None = None
    rationale: str | None = None
    principal: str | None = None
    #: Checked against the service the decision locks. Keyword-only and without a default:
    #: a caller that forgot to pass a principal's rights must fail, not act as an admin.
    rights: ActingRights = field(kw_only=True)


@dataclass(frozen=True)
class DecisionOutcome:
    """What a decision did (TRD FR-5): the new state of the SLO, or the rejection, with the
    audit entry that records it. `SloDecisionOut` shapes it for the API."""

    service_id: str
    recommendation_id: str
    action: str
    recommendation_status: str
    audit_id: str
    rationale: str | None
    upstream_recommendations_invalidated: int
    warnings: list[str]
    status: str  # active | rejected
    targets: dict[str, Any] | None
    slo_id: str | None = None
    source: str | None = None
    selected_tier: str | None = None
    modification_delta: dict[str, str] | None = None
    activated_at: datetime | None = None
    activated_by: str | None = None


def decide(
    engine: Engine,
    decision: Decision,
    *,
    now: datetime | None = None,
    invalidate_upstream: bool = True,
) -> DecisionOutcome:
    """Apply a decision; returns what it did (the TRD FR-5 response, plus the audit entry).

    `invalidate_upstream=False` is for batches (auto-approval) that invalidate once at the
    end: approving a dependency must not expire its callers' recommendations before the same
    batch gets to approve them."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        claimed = _claim(conn, decision, now)
        # The one lookup of the service, after the claim's write lock (see `_claim`): the
        # caller's rights are held against it before anything else is read or written.
        service = get_service(conn, decision.service_id)
        decision.rights.require_for(service)
        if not claimed:
            _explain_refusal(conn, decision, service.pk, now)
        service_pk = service.pk
        recommended = _recommended_targets(conn, service_pk, decision, now)
        previous = _locked_active_slo(conn, service_pk)
        new_slo: dict[str, Any] | None = None
        delta: dict[str, str] | None = None
        warnings: list[str] = []
        if decision.action != "reject":
            targets = dict(recommended)
            if decision.action == "modify":
                delta = _modification_delta(decision, recommended)
                targets.update(_modifications(decision))
            warnings = bound_warnings(conn, service_pk, targets["availability_target"],
                                      recommendation_id=decision.recommendation_id)  # fmt: skip
            new_slo = _write_active_slo(conn, service_pk, previous, targets, decision, now)
        audit_id = uuid.uuid4()
        conn.execute(
            sa.insert(slo_audit_log).values(
                id=audit_id,
                service_id=service_pk,
                action=decision.action,
                actor=decision.actor,
                principal=decision.principal,
                recommendation_id=decision.recommendation_id,
                previous_slo=previous,
                new_slo=_with_warnings(new_slo, warnings),
                selected_tier=decision.selected_tier,
                rationale=decision.rationale,
                modification_delta=delta,
                timestamp=now,
            )
        )
        invalidated = (
            _invalidate_upstream(conn, decision.service_id, service_pk, now)
            if decision.action != "reject" and invalidate_upstream
            else 0
        )
    return DecisionOutcome(
        service_id=decision.service_id,
        recommendation_id=str(decision.recommendation_id),
        action=decision.action,
        recommendation_status=DECISIONS[decision.action],
        audit_id=str(audit_id),
        rationale=decision.rationale,
        upstream_recommendations_invalidated=invalidated,
        warnings=warnings,
        status="active" if new_slo is not None else "rejected",
        targets=_targets_out(new_slo) if new_slo is not None else None,
        slo_id=new_slo["slo_id"] if new_slo else None,
        source=new_slo["source"] if new_slo else None,
        selected_tier=new_slo["selected_tier"] if new_slo else None,
        modification_delta=delta if new_slo else None,
        activated_at=now if new_slo else None,
        activated_by=new_slo["activated_by"] if new_slo else None,
    )


def bound_warnings(
    conn: Connection,
    service_pk: uuid.UUID,
    availability_target: float | None,
    *,
    recommendation_id: uuid.UUID | None = None,
) -> list[str]:
    """The TRD's unachievable-target warning when `availability_target` (percent) is above the
    composite bound of the service's published recommendation — the one being decided, or its
    latest active one — and nothing when it is not, or there is no bound to hold it against."""
    if availability_target is None:
        return []
    bound = published_composite_bound(conn, service_pk, recommendation_id=recommendation_id)
    if bound is None:
        return []
    warning = unachievable_target_warning(float(availability_target), bound / 100)
    return [warning] if warning is not None else []


def _with_warnings(snapshot: dict[str, Any] | None, warnings: list[str]) -> dict[str, Any] | None:
    """The audit entry's after-state, with the warnings the person was shown (only if any, so
    an entry without warnings keeps the plain snapshot the next entry's `previous_slo` has)."""
    return {**snapshot, "warnings": warnings} if snapshot is not None and warnings else snapshot


def _claim(conn: Connection, decision: Decision, now: datetime) -> bool:
    """Mark the recommendation (and its sibling of the other SLI type) decided; False when it
    is not the service's live, undecided recommendation (`_explain_refusal` says why)."""
    r = slo_recommendations
    # The write comes first: on SQLite a transaction that read first could not upgrade to a
    # writer once another decision committed; on PostgreSQL the UPDATE takes the row lock and a
    # concurrent decision re-checks `decision IS NULL` after it, then finds nothing to claim.
    claimed = conn.execute(
        sa.update(r)
        .where(
            r.c.id == decision.recommendation_id,
            r.c.service_id == service_pk_of(decision.service_id),
            r.c.status == "active",
            r.c.decision.is_(None),
            r.c.expires_at > now,
        )
        .values(decision=DECISIONS[decision.action], decided_at=now, decided_by=decision.actor)
        .returning(r.c.generated_at, r.c.service_id)
    ).first()
    if claimed is None:
        return False
    conn.execute(  # one publication holds both SLI types: one decision covers both
        sa.update(r)
        .where(
            r.c.service_id == claimed.service_id,
            r.c.generated_at == claimed.generated_at,
            r.c.status == "active",
            r.c.decision.is_(None),
        )
        .values(decision=DECISIONS[decision.action], decided_at=now, decided_by=decision.actor)
    )
    return True


def _explain_refusal(
    conn: Connection, decision: Decision, service_pk: uuid.UUID, now: datetime
) -> None:
    r = slo_recommendations
    row = conn.execute(
        sa.select(r.c.service_id, r.c.status, r.c.decision, r.c.expires_at).where(
            r.c.id == decision.recommendation_id
        )
    ).first()
    if row is None or row.service_id != service_pk:
        raise RecommendationNotFoundError(
            f"Recommendation '{decision.recommendation_id}' does not exist for service "
            f"'{decision.service_id}'."
        )
    if row.decision is not None:
        raise RecommendationConflictError(
            f"Recommendation '{decision.recommendation_id}' was already {row.decision}."
        )
    if row.status != "active":
        raise RecommendationConflictError(
            f"Recommendation '{decision.recommendation_id}' is {row.status}: decide on the "
            "service's current recommendation instead."
        )
    raise RecommendationConflictError(
        f"Recommendation '{decision.recommendation_id}' expired at "
        f"{as_utc(row.expires_at).isoformat()}: regenerate it (force_regenerate=true) first."
    )


def _recommended_targets(
    conn: Connection, service_pk: uuid.UUID, decision: Decision, now: datetime
) -> dict[str, Any]:
    """The selected tier's targets from the claimed publication (both SLI types)."""
    r = slo_recommendations
    rows = conn.execute(
        sa.select(r.c.sli_type, r.c.tiers).where(
            r.c.service_id == service_pk,
            r.c.decided_at == now,
            r.c.decision == DECISIONS[decision.action],
        )
    ).all()
    tier = decision.selected_tier or "balanced"
    targets: dict[str, Any] = {
        "availability_target": None,
        "latency_p99_target_ms": None,
        "latency_p95_target_ms": None,
    }
    for sli_type, tiers in rows:
        chosen = (tiers or {}).get(tier) or {}
        if sli_type == "availability" and chosen.get("target") is not None:
            targets["availability_target"] = float(chosen["target"])
        elif sli_type == "latency" and chosen.get("target_ms") is not None:
            column = PERCENTILE_COLUMN.get(str(chosen.get("percentile")), "latency_p99_target_ms")
            targets[column] = math.ceil(float(chosen["target_ms"]))  # never tighter
    return targets


def _modifications(decision: Decision) -> dict[str, Any]:
    given = {
        "availability_target": decision.availability_target,
        "latency_p99_target_ms": decision.latency_p99_target_ms,
        "latency_p95_target_ms": decision.latency_p95_target_ms,
    }
    return {k: v for k, v in given.items() if v is not None}


def _modification_delta(decision: Decision, recommended: dict[str, Any]) -> dict[str, str]:
    """TRD FR-5: {"availability": "+0.05 from recommended 99.9"} per modified target."""
    names = {
        "availability_target": "availability",
        "latency_p99_target_ms": "latency_p99_ms",
        "latency_p95_target_ms": "latency_p95_ms",
    }
    delta = {}
    for column, value in _modifications(decision).items():
        base = recommended.get(column)
        name = names[column]
        if base is None:
            delta[name] = f"set to {value:g} (no recommended value)"
            continue
        change = round(float(value) - float(base), 4)
        delta[name] = f"{change:+g} from recommended {float(base):g}"
    return delta


def _locked_active_slo(conn: Connection, service_pk: uuid.UUID) -> dict[str, Any] | None:
    row = (
        conn.execute(
            sa.select(active_slos)
            .where(active_slos.c.service_id == service_pk)
            .with_for_update()  # PostgreSQL row lock; SQLite's write lock is already held
        )
        .mappings()
        .first()
    )
    return slo_snapshot(dict(row)) if row is not None else None


def slo_snapshot(row: dict[str, Any]) -> dict[str, Any]:
    """A JSON snapshot of an active_slos row, as the audit log keeps it."""
    return {
        "slo_id": str(row["id"]),
        "availability_target": row["availability_target"],
        "latency_p95_target_ms": row["latency_p95_target_ms"],
        "latency_p99_target_ms": row["latency_p99_target_ms"],
        "selected_tier": row["selected_tier"],
        "source": row["source"],
        "recommendation_id": str(row["recommendation_id"]) if row["recommendation_id"] else None,
        "activated_at": as_utc(row["activated_at"]).isoformat(),
        "activated_by": row["activated_by"],
        **{column: row.get(column, default) for column, default in RECOMMENDED_BUDGETING.items()},
    }


def _write_active_slo(
    conn: Connection,
    service_pk: uuid.UUID,
    previous: dict[str, Any] | None,
    targets: dict[str, Any],
    decision: Decision,
    now: datetime,
) -> dict[str, Any]:
    values = {
        **targets,
        "selected_tier": decision.selected_tier or "balanced",
        "source": SOURCES[decision.action],
        "recommendation_id": decision.recommendation_id,
        "activated_at": now,
        "activated_by": decision.actor,
        "updated_at": now,
        # A recommendation's targets are request-based over 30-day months: a decision brings
        # the SLO back to that budget, whatever an earlier OpenSLO import had set.
        **RECOMMENDED_BUDGETING,
    }
    if previous is None:
        slo_id = uuid.uuid4()
        row = {"id": slo_id, "service_id": service_pk, "created_at": now, **values}
        conn.execute(sa.insert(active_slos).values(**row))
    else:
        slo_id = uuid.UUID(previous["slo_id"])
        conn.execute(
            sa.update(active_slos).where(active_slos.c.service_id == service_pk).values(**values)
        )
    return slo_snapshot({"id": slo_id, **values})


def _targets_out(slo: dict[str, Any]) -> dict[str, Any]:
    return {
        "availability": slo["availability_target"],
        "latency_p99_ms": slo["latency_p99_target_ms"],
        "latency_p95_ms": slo["latency_p95_target_ms"],
    }


def _invalidate_upstream(
    conn: Connection,
    service_id: str,
    service_pk: uuid.UUID,
    now: datetime,
    keep: frozenset[uuid.UUID] = frozenset(),
) -> int:
    """Services that depend on this one were recommended against its old state: expire their
    cached recommendations so reads say `stale: true` until the next run recomputes them."""
    upstream = [
        pk
        for pk in reach_depths(conn, service_id, "upstream", INVALIDATION_DEPTH, False)
        if pk != service_pk and pk not in keep
    ]
    r = slo_recommendations
    expired = 0
    for start in range(0, len(upstream), 1000):
        expired += conn.execute(
            sa.update(r)
            .where(
                r.c.service_id.in_(upstream[start : start + 1000]),
                r.c.status == "active",
                r.c.expires_at > now,
            )
            .values(expires_at=now)
        ).rowcount
    return expired


@dataclass(frozen=True)
class ActiveSlo:
    """A service's active SLO as the store holds it; `ActiveSloOut` shapes it for the API and
    the exports read its fields (one shape, not a dict per caller)."""

    service_id: str
    slo_id: str
    availability_target: float | None
    latency_p95_target_ms: int | None
    latency_p99_target_ms: int | None
    selected_tier: str | None
    source: str
    recommendation_id: str | None
    activated_at: datetime
    activated_by: str
    updated_at: datetime
    status: str = "active"
    #: How the budget is counted and over how many days (see `analytics.burn_rate.Budgeting`;
    #: `timeslices` without a slice target is OpenSLO's RatioTimeslices).
    budgeting_method: str = "occurrences"
    time_window_days: int = 30
    timeslice_target: float | None = None
    timeslice_window_seconds: int | None = None

    @property
    def targets(self) -> dict[str, Any]:
        return {"availability": self.availability_target,
                "latency_p99_ms": self.latency_p99_target_ms,
                "latency_p95_ms": self.latency_p95_target_ms}  # fmt: skip

    @property
    def budgeting(self) -> Budgeting:
        return Budgeting(self.budgeting_method, self.timeslice_target,
                         self.timeslice_window_seconds)  # fmt: skip

    @property
    def openslo_budgeting_method(self) -> str:
        return self.budgeting.openslo_method


def active_slo(engine: Engine, service_id: str) -> ActiveSlo:
    with engine.connect() as conn:
        service_pk = get_service(conn, service_id).pk
        row = (
            conn.execute(sa.select(active_slos).where(active_slos.c.service_id == service_pk))
            .mappings()
            .first()
        )
    if row is None:
        raise NoActiveSloError(service_id)
    return ActiveSlo(
        service_id=service_id,
        slo_id=str(row["id"]),
        availability_target=row["availability_target"],
        latency_p95_target_ms=row["latency_p95_target_ms"],
        latency_p99_target_ms=row["latency_p99_target_ms"],
        selected_tier=row["selected_tier"],
        source=row["source"],
        recommendation_id=str(row["recommendation_id"]) if row["recommendation_id"] else None,
        activated_at=as_utc(row["activated_at"]),
        activated_by=row["activated_by"],
        updated_at=as_utc(row["updated_at"]),
        budgeting_method=row["budgeting_method"],
        time_window_days=row["time_window_days"],
        timeslice_target=row["timeslice_target"],
        timeslice_window_seconds=row["timeslice_window_seconds"],
    )


@dataclass(frozen=True)
class AuditEntry:
    """One entry of a service's append-only audit log, newest first in `slo_history`."""

    audit_id: str
    action: str
    actor: str
    principal: str | None
    recommendation_id: str | None
    selected_tier: str | None
    rationale: str | None
    previous_slo: dict[str, Any] | None
    new_slo: dict[str, Any] | None
    modification_delta: dict[str, Any] | None
    warnings: list[str]
    timestamp: datetime


def slo_history(
    engine: Engine, service_id: str, *, limit: int = 50, before: datetime | None = None
) -> list[AuditEntry]:
    """Audit entries of one service, newest first (`before`: a timestamp cursor)."""
    a = slo_audit_log
    with engine.connect() as conn:
        service_pk = get_service(conn, service_id).pk
        query = sa.select(a).where(a.c.service_id == service_pk)
        if before is not None:
            query = query.where(a.c.timestamp < before)
        rows = (
            conn.execute(query.order_by(a.c.timestamp.desc(), a.c.id.desc()).limit(limit))
            .mappings()
            .all()
        )
    return [
        AuditEntry(
            audit_id=str(row["id"]),
            action=row["action"],
            actor=row["actor"],
            principal=row["principal"],
            recommendation_id=str(row["recommendation_id"]) if row["recommendation_id"] else None,
            selected_tier=row["selected_tier"],
            rationale=row["rationale"],
            previous_slo=row["previous_slo"],
            new_slo=row["new_slo"],
            modification_delta=row["modification_delta"],
            warnings=list((row["new_slo"] or {}).get("warnings") or []),
            timestamp=as_utc(row["timestamp"]),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class ManualSlo:
    """An SLO set by hand (an OpenSLO import): targets not given keep their current value.

    The budgeting method and time window are the whole SLO's (one row per service), so they
    apply to the targets kept as well; `warnings` (the import's own) go into the audit entry."""

    service_id: str
    targets: dict[str, Any]
    rationale: str
    budgeting: Budgeting = OCCURRENCES
    time_window_days: int = 30
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.time_window_days <= 366:
            raise ValueError(f"a time window is 1 to 366 days, not {self.time_window_days}")

    @property
    def budgeting_columns(self) -> dict[str, Any]:
        return {
            "budgeting_method": self.budgeting.method,
            "time_window_days": self.time_window_days,
            "timeslice_target": self.budgeting.timeslice_target,
            "timeslice_window_seconds": self.budgeting.timeslice_window_seconds,
        }


@dataclass(frozen=True)
class ManualSloWritten:
    """One SLO an import set: the new state and the audit entry that records it."""

    service_id: str
    slo_id: str
    audit_id: str
    targets: dict[str, Any]
    source: str
    upstream_recommendations_invalidated: int
    #: Everything the audit entry records as shown: the bound's, the import's, and a note when
    #: kept objectives changed budgeting; `bound_warnings` is the first kind alone.
    warnings: list[str]
    bound_warnings: list[str] = field(default_factory=list)
    budgeting_method: str = "occurrences"
    openslo_budgeting_method: str = "Occurrences"
    time_window_days: int = 30
    timeslice_target: float | None = None
    timeslice_window_seconds: int | None = None


def set_manual_slos(
    engine: Engine,
    slos: list[ManualSlo],
    *,
    actor: str,
    principal: str | None = None,
    rights: ActingRights,
    now: datetime | None = None,
) -> list[ManualSloWritten]:
    """Write every SLO and its audit entry in one transaction: all or nothing.

    The audit action is `modify` (the TRD's actions have no import): a person replaced the
    service's SLO by hand, the new state's `source` says `manual`, the rationale names the
    documents, and the previous SLO is kept in the entry like any other decision's. `rights`
    has no default, as `Decision.rights`: an admin's rights are only ever passed on purpose."""
    now = now or datetime.now(UTC)
    written = []
    with engine.begin() as conn:
        for slo in slos:
            service = get_service(conn, slo.service_id)
            rights.require_for(service)
            service_pk = service.pk
            previous = _locked_active_slo(conn, service_pk)
            targets = {column: (previous or {}).get(column) for column in TARGET_COLUMNS}
            targets.update(slo.targets)
            values = {**targets, "selected_tier": None, "source": "manual",
                      "recommendation_id": None, "activated_at": now, "activated_by": actor,
                      "updated_at": now, **slo.budgeting_columns}  # fmt: skip
            if previous is None:
                slo_id = uuid.uuid4()
                conn.execute(sa.insert(active_slos).values(
                    id=slo_id, service_id=service_pk, created_at=now, **values))  # fmt: skip
            else:
                slo_id = uuid.UUID(previous["slo_id"])
                row = active_slos.c.service_id == service_pk
                conn.execute(sa.update(active_slos).where(row).values(**values))
            new_slo = slo_snapshot({"id": slo_id, **values})
            # Only an availability objective the import sets is held against the bound.
            bound = bound_warnings(conn, service_pk, slo.targets.get("availability_target"))
            warnings = [*bound, *slo.warnings, *_rebudgeted_warnings(previous, slo)]
            audit_id = uuid.uuid4()
            conn.execute(sa.insert(slo_audit_log).values(
                id=audit_id, service_id=service_pk, action="modify", actor=actor,
                principal=principal, recommendation_id=None, previous_slo=previous,
                new_slo=_with_warnings(new_slo, warnings), selected_tier=None,
                rationale=slo.rationale,
                modification_delta=None, timestamp=now,
            ))  # fmt: skip
            invalidated = _invalidate_upstream(conn, slo.service_id, service_pk, now)
            written.append(ManualSloWritten(
                service_id=slo.service_id, slo_id=str(slo_id), audit_id=str(audit_id),
                targets=_targets_out(new_slo), source="manual",
                upstream_recommendations_invalidated=invalidated, warnings=warnings,
                bound_warnings=bound, openslo_budgeting_method=slo.budgeting.openslo_method,
                **slo.budgeting_columns,
            ))  # fmt: skip
    return written


def _rebudgeted_warnings(previous: dict[str, Any] | None, slo: ManualSlo) -> list[str]:
    """Objectives the import keeps from the previous SLO, when the import changes how (or over
    how long) the budget is counted: they change meaning, and the person should know."""
    if previous is None:
        return []
    changed = any(previous.get(column) != value for column, value in slo.budgeting_columns.items())
    kept = [column for column in TARGET_COLUMNS
            if column not in slo.targets and previous.get(column) is not None]  # fmt: skip
    if not changed or not kept:
        return []
    return [
        f"{', '.join(kept)} kept from the previous SLO: now budgeted "
        f"{slo.budgeting.openslo_method} over {slo.time_window_days} days like the imported "
        "objectives (an active SLO counts its budget one way for all its objectives)."
    ]


def invalidate_upstream_of(
    engine: Engine, service_ids: list[str], *, now: datetime | None = None
) -> int:
    """The end of a batch of decisions: expire the cached recommendations upstream of every
    decided service, except the batch's own (they were just decided, against the new state)."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        pks = dict(
            conn.execute(
                sa.select(services.c.service_id, services.c.id).where(
                    services.c.service_id.in_(service_ids)
                )
            ).all()
        )
        keep = frozenset(uuid.UUID(str(pk)) for pk in pks.values())
        return sum(
            _invalidate_upstream(conn, sid, uuid.UUID(str(pk)), now, keep)
            for sid, pk in pks.items()
        )
