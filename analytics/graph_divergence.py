"""Where the declared graph and the runtime-observed graph disagree about who calls whom.

A declared dependency nobody observes may be dead configuration (or a rarely used path whose
failure will surprise everyone); an observed call nobody declared is a hidden dependency that
SLO math would otherwise miss. Only services that both views describe are compared: a service
with no runtime data yet says nothing about its declarations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from analytics.edge_merge import EdgeObservation

DECLARED_SOURCES = frozenset({"manual", "backstage", "kubernetes"})
OBSERVED_SOURCES = frozenset({"otel_service_graph", "service_mesh"})


@dataclass(frozen=True)
class Divergence:
    source: str
    target: str
    kind: str  # "declared_not_observed" | "observed_not_declared"

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "kind": self.kind}


def graph_divergences(
    observations: Iterable[EdgeObservation], services: Collection[str] | None = None
) -> list[Divergence]:
    """Divergences for the calling services in `services` (all when None), sorted."""
    declared: dict[str, set[str]] = defaultdict(set)
    observed: dict[str, set[str]] = defaultdict(set)
    for obs in observations:
        if obs.discovery_source in DECLARED_SOURCES:
            # Traces show calls; a declared async hop (a queue) is not a call to look for.
            if obs.attributes.get("communication_mode") != "async":
                declared[obs.source].add(obs.target)
        elif obs.discovery_source in OBSERVED_SOURCES:
            observed[obs.source].add(obs.target)
    found: list[Divergence] = []
    for caller in sorted(declared.keys() & observed.keys()):
        if services is not None and caller not in services:
            continue
        found += [
            Divergence(caller, t, "declared_not_observed")
            for t in sorted(declared[caller] - observed[caller])
        ]
        found += [
            Divergence(caller, t, "observed_not_declared")
            for t in sorted(observed[caller] - declared[caller])
        ]
    return found
