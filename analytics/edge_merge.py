"""Merging what several discovery sources say about one dependency edge.

Each source keeps its own row (so nothing one source says is lost when another disagrees); the
*effective* edge is read from the most trusted source, and disagreements are surfaced instead of
being silently overwritten, because a conflict between the declared and the observed graph is
itself a finding an SRE wants to see.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Higher wins: a human's declaration beats the mesh, which beats trace sampling, which beats
#: what Kubernetes manifests imply. Backstage's catalog is a human declaration too (trusted like
#: manual); it ranks just below a declaration made to the engine itself only so that the two
#: never tie.
SOURCE_PRIORITY: Mapping[str, int] = {
    "manual": 5,
    "backstage": 4,
    "service_mesh": 3,
    "otel_service_graph": 2,
    "kubernetes": 1,
}

#: How much one source alone is trusted to report a real runtime dependency.
SOURCE_CONFIDENCE: Mapping[str, float] = {
    "manual": 1.0,
    "backstage": 1.0,
    "service_mesh": 0.95,
    "otel_service_graph": 0.9,
    "kubernetes": 0.7,
}

#: A stale edge may be gone; it keeps half of its weight until someone refreshes or removes it.
STALE_CONFIDENCE_FACTOR = 0.5

#: Attributes a source cannot observe: its rows carry the defaults, which must not be mistaken
#: for a disagreement with a source that does know (traces show that a call happens, not
#: whether the caller can live without it).
UNOBSERVED_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "otel_service_graph": frozenset({"criticality", "timeout_ms", "retry_config"}),
}

EDGE_ATTRIBUTES = (
    "communication_mode",
    "criticality",
    "protocol",
    "timeout_ms",
    "retry_config",
    "redundancy_group",
)


@dataclass(frozen=True)
class EdgeObservation:
    """One source's row for one directed edge."""

    source: str
    target: str
    discovery_source: str
    attributes: Mapping[str, Any]
    confidence: float = 1.0
    is_stale: bool = False


@dataclass(frozen=True)
class AttributeConflict:
    source: str
    target: str
    attribute: str
    values: dict[str, Any]
    effective_source: str
    effective_value: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "attribute": self.attribute,
            "values_by_source": self.values,
            "effective_source": self.effective_source,
            "effective_value": self.effective_value,
        }


@dataclass(frozen=True)
class EffectiveEdge:
    source: str
    target: str
    attributes: dict[str, Any]
    effective_source: str
    discovery_sources: tuple[str, ...]
    confidence: float
    is_stale: bool
    conflicts: tuple[AttributeConflict, ...] = field(default=())


def combined_confidence(observations: Iterable[EdgeObservation]) -> float:
    """Independent sources that agree an edge exists: P(real) = 1 − Π(1 − c_i)."""
    miss = 1.0
    for obs in observations:
        weight = obs.confidence * (STALE_CONFIDENCE_FACTOR if obs.is_stale else 1.0)
        miss *= 1.0 - min(max(weight, 0.0), 1.0)
    return round(1.0 - miss, 6)


def merge_edge(observations: list[EdgeObservation]) -> EffectiveEdge:
    """Pick the effective attributes of one (source, target) pair from its observations.

    A fresh observation is preferred over a stale one of any priority, since a stale row may
    describe an edge that has since changed.
    """
    if not observations:
        raise ValueError("merge_edge needs at least one observation")
    if len(observations) == 1:  # the common case, kept cheap for 50,000-edge fleets
        (only,) = observations
        return EffectiveEdge(
            source=only.source,
            target=only.target,
            attributes={a: only.attributes.get(a) for a in EDGE_ATTRIBUTES},
            effective_source=only.discovery_source,
            discovery_sources=(only.discovery_source,),
            confidence=combined_confidence(observations),
            is_stale=only.is_stale,
        )
    ranked = sorted(
        observations,
        key=lambda o: (not o.is_stale, SOURCE_PRIORITY[o.discovery_source]),
        reverse=True,
    )
    winner = ranked[0]
    conflicts: list[AttributeConflict] = []
    if len(ranked) > 1:
        for attribute in EDGE_ATTRIBUTES:
            values = {
                o.discovery_source: o.attributes.get(attribute)
                for o in ranked
                if o.attributes.get(attribute) is not None
                and attribute not in UNOBSERVED_ATTRIBUTES.get(o.discovery_source, ())
            }
            if len({_hashable(v) for v in values.values()}) > 1:
                conflicts.append(
                    AttributeConflict(
                        source=winner.source,
                        target=winner.target,
                        attribute=attribute,
                        values=values,
                        effective_source=winner.discovery_source,
                        effective_value=winner.attributes.get(attribute),
                    )
                )
    return EffectiveEdge(
        source=winner.source,
        target=winner.target,
        attributes={a: winner.attributes.get(a) for a in EDGE_ATTRIBUTES},
        effective_source=winner.discovery_source,
        discovery_sources=tuple(o.discovery_source for o in ranked),
        confidence=combined_confidence(ranked),
        is_stale=all(o.is_stale for o in ranked),
        conflicts=tuple(conflicts),
    )


def effective_edges(observations: Iterable[EdgeObservation]) -> list[EffectiveEdge]:
    """Collapse per-source rows into one edge per (source, target), in a stable order."""
    grouped: dict[tuple[str, str], list[EdgeObservation]] = defaultdict(list)
    for obs in observations:
        grouped[(obs.source, obs.target)].append(obs)
    return [merge_edge(grouped[key]) for key in sorted(grouped)]


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def confidence_from_volume(
    calls: int, *, ceiling: float = SOURCE_CONFIDENCE["otel_service_graph"]
) -> float:
    """Trust in a traced edge grows with the evidence: one call might be a probe or a sampling
    artefact, a hundred thousand calls a day is a dependency. Log-scaled from 0.5 to `ceiling`.
    """
    if calls <= 0:
        return 0.0
    return round(0.5 + (ceiling - 0.5) * min(1.0, math.log10(calls + 1) / 5), 4)
