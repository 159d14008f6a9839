"""Auto-approval rules (TRD FR-11): their rows, and the run that applies them.

Each approval is an ordinary decision (`decide`, action `auto_approve`, its own transaction
and audit entry, actor `auto-approval:<rule>`); the batch invalidates upstream caches once at
the end, so approving a dependency does not expire the callers it is about to approve.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from analytics.auto_approval import Candidate, Rule, first_match
from store.acting_rights import ON_ANY_SERVICE
from store.errors import ConflictError, NotFoundError
from store.slo_decisions import (
    Decision,
    RecommendationConflictError,
    decide,
    invalidate_upstream_of,
)
from store.tables import auto_approval_rules, services, slo_recommendations
from store.timeutil import as_utc


class RuleNameTakenError(ConflictError):
    slug, title = "auto-approval-rule-exists", "Rule Name Taken"

    def __init__(self, name: str) -> None:
        super().__init__(f"An auto-approval rule named '{name}' exists.")


class RuleNotFoundError(NotFoundError):
    slug, title = "auto-approval-rule-not-found", "Auto-Approval Rule Not Found"

    def __init__(self, rule_id: str) -> None:
        super().__init__(f"No auto-approval rule '{rule_id}'.")


@dataclass(frozen=True)
class StoredRule:
    """An auto-approval rule as stored; `RuleOut` shapes it for the API."""

    id: str
    name: str
    conditions: dict[str, Any]
    enabled: bool
    created_by: str
    created_at: str
    updated_at: str


def _out(row: Any) -> StoredRule:
    return StoredRule(
        id=str(row.id),
        name=row.name,
        conditions=row.conditions,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=as_utc(row.created_at).isoformat(),
        updated_at=as_utc(row.updated_at).isoformat(),
    )


def create_rule(
    engine: Engine, *, name: str, conditions: dict[str, Any], enabled: bool, created_by: str
) -> StoredRule:
    now = datetime.now(UTC)
    rule_id = uuid.uuid4()
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(auto_approval_rules).values(
                id=rule_id, name=name, conditions=conditions, enabled=enabled,
                created_by=created_by, created_at=now, updated_at=now))  # fmt: skip
    except IntegrityError:
        raise RuleNameTakenError(name) from None
    return get_rule(engine, str(rule_id))


def list_rules(engine: Engine) -> list[StoredRule]:
    t = auto_approval_rules
    with engine.connect() as conn:
        return [_out(r) for r in conn.execute(sa.select(t).order_by(t.c.created_at, t.c.name))]


def get_rule(engine: Engine, rule_id: str) -> StoredRule:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(auto_approval_rules).where(auto_approval_rules.c.id == _uuid(rule_id))
        ).first()
    if row is None:
        raise RuleNotFoundError(rule_id)
    return _out(row)


def update_rule(engine: Engine, rule_id: str, changes: dict[str, Any]) -> StoredRule:
    t = auto_approval_rules
    try:
        with engine.begin() as conn:
            updated = conn.execute(
                sa.update(t).where(t.c.id == _uuid(rule_id))
                .values(**changes, updated_at=datetime.now(UTC))
            ).rowcount  # fmt: skip
    except IntegrityError:
        raise RuleNameTakenError(str(changes.get("name"))) from None
    if not updated:
        raise RuleNotFoundError(rule_id)
    return get_rule(engine, rule_id)


def delete_rule(engine: Engine, rule_id: str) -> None:
    t = auto_approval_rules
    with engine.begin() as conn:
        if not conn.execute(sa.delete(t).where(t.c.id == _uuid(rule_id))).rowcount:
            raise RuleNotFoundError(rule_id)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise RuleNotFoundError(value) from None


@dataclass
class AutoApprovalRun:
    rules: int = 0
    candidates: int = 0
    approved: dict[str, str] = field(default_factory=dict)  # service → rule name
    conflicts: int = 0  # decided by a person meanwhile
    invalidated: int = 0


def _candidates(engine: Engine, now: datetime) -> list[tuple[Candidate, uuid.UUID]]:
    """Live, undecided availability recommendations with their service's facts."""
    r, s = slo_recommendations, services
    query = (
        sa.select(
            s.c.service_id,
            s.c.criticality,
            s.c.team,
            r.c.id,
            r.c.tiers,
            r.c.data_quality,
            r.c.cold_start,
        )
        .join(s, s.c.id == r.c.service_id)
        .where(
            r.c.status == "active",
            r.c.sli_type == "availability",
            r.c.decision.is_(None),
            r.c.expires_at > now,
        )
        .order_by(s.c.service_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        (
            Candidate(
                service_id=row.service_id,
                criticality=row.criticality,
                team=row.team,
                confidence=str((row.data_quality or {}).get("confidence", "low")),
                cold_start=bool(row.cold_start),
                breach_probability={
                    tier: (values or {}).get("estimated_breach_probability")
                    for tier, values in (row.tiers or {}).items()
                },
            ),
            row.id,
        )
        for row in rows
    ]


def run_auto_approval(engine: Engine, *, now: datetime | None = None) -> AutoApprovalRun:
    """Accept every live recommendation an enabled rule matches."""
    now = now or datetime.now(UTC)
    t = auto_approval_rules
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t).where(t.c.enabled.is_(True)).order_by(t.c.created_at, t.c.name)
        ).all()
    rules = [Rule(id=str(row.id), name=row.name, conditions=row.conditions) for row in rows]
    run = AutoApprovalRun(rules=len(rules))
    if not rules:
        return run
    candidates = _candidates(engine, now)
    run.candidates = len(candidates)
    for candidate, recommendation_id in candidates:
        rule = first_match(rules, candidate)
        if rule is None:
            continue
        tier = rule.conditions["tier"]
        decision = Decision(
            service_id=candidate.service_id, recommendation_id=recommendation_id,
            action="auto_approve", actor=f"auto-approval:{rule.name}", selected_tier=tier,
            rationale=f"Auto-approved by rule '{rule.name}' ({rule.id}): {tier} tier, "
            f"criticality {candidate.criticality}, confidence {candidate.confidence}.",
            rights=ON_ANY_SERVICE,  # rules are sre_admin's (FR-11) and act for the platform
        )  # fmt: skip
        try:
            decide(engine, decision, now=now, invalidate_upstream=False)
        except RecommendationConflictError:
            run.conflicts += 1
            continue
        run.approved[candidate.service_id] = rule.name
    if run.approved:
        run.invalidated = invalidate_upstream_of(engine, list(run.approved), now=now)
    return run
