"""Which auto-approval rule, if any, accepts a recommendation (TRD FR-11).

Pure matching: the store gathers each candidate's facts, this decides. Rules are disabled
until an sre_admin enables them, and a critical service is only ever auto-approved by a rule
that names it in `services`: a criticality list alone never reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CONFIDENCE_ORDER = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True)
class Candidate:
    service_id: str
    criticality: str
    team: str | None
    confidence: str  # the recommendation's data-quality confidence: low | medium | high
    cold_start: bool
    breach_probability: Mapping[str, float | None]  # per availability tier


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    conditions: Mapping[str, Any]


def why_not(rule: Rule, candidate: Candidate) -> str | None:
    """None when the rule accepts the candidate, else the first condition it fails."""
    c = rule.conditions
    named = c.get("services")
    if named is not None and candidate.service_id not in named:
        return "not among the rule's services"
    if candidate.criticality == "critical" and not (named and candidate.service_id in named):
        return "critical services need a rule that names them"
    if named is None and candidate.criticality not in c.get("criticality", ()):
        return f"criticality {candidate.criticality} not in {c.get('criticality')}"
    teams = c.get("teams")
    if teams is not None and candidate.team not in teams:
        return f"team {candidate.team} not in {teams}"
    if candidate.cold_start and not c.get("include_cold_start", False):
        return "cold-start recommendation (archetype baseline)"
    minimum = c.get("confidence_min")
    if (
        minimum is not None
        and CONFIDENCE_ORDER.get(candidate.confidence, -1) < CONFIDENCE_ORDER[minimum]
    ):
        return f"confidence {candidate.confidence} below {minimum}"
    ceiling = c.get("max_breach_probability")
    if ceiling is not None:
        probability = candidate.breach_probability.get(c["tier"])
        if probability is None or probability > ceiling:
            return f"breach probability {probability} above {ceiling}"
    return None


def first_match(rules: Sequence[Rule], candidate: Candidate) -> Rule | None:
    """Rules are tried oldest first; the first that accepts decides the tier."""
    return next((rule for rule in rules if why_not(rule, candidate) is None), None)
