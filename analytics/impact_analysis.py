"""What a changed availability does to everyone upstream (TRD FR-4), without recomputing the fleet.

A service's composite is a product over the distinct condensed nodes it reaches (its SCC, the
SCCs below it, redundancy groups as single factors). Changing one service changes exactly two
kinds of factor: its SCC's value (the weakest member's availability) and the value of any
redundancy group whose alternatives reach it. So each upstream composite moves by the product
of those factors' ratios, taken once per factor it reaches — the same distinct-set semantics as
the bound, computed by reverse walks from the changed factors only. Groups nest, so their
ratios are iterated to a fixpoint (one round per level of nesting).
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import igraph as ig

from analytics.composite_availability import Edge

T = TypeVar("T")

#: Ratios closer to 1 than this are "unchanged" (float noise of products of ~1e4 factors).
UNCHANGED = 1e-13


@dataclass(frozen=True)
class ImpactedService:
    service_id: str
    relationship: str  # upstream | upstream (transitive) | cycle member
    hops: int
    current: float  # composite availability, fraction
    projected: float

    @property
    def delta(self) -> float:
        return self.projected - self.current


@dataclass(frozen=True)
class Impact:
    service_id: str
    old_availability: float  # the value the bound used for it (fraction)
    new_availability: float
    supernode: tuple[str, ...] | None  # the cycle the changed service is in, if any
    groups_affected: int
    impacted: tuple[ImpactedService, ...]  # sorted by |delta|, largest first


def _walk(start: Iterable[T], adjacency: Mapping[T, Sequence[T]]) -> dict[T, int]:
    """Hops from the nearest start node to everything reachable (BFS)."""
    hops = {node: 0 for node in start}
    queue = deque(hops)
    while queue:
        node = queue.popleft()
        for nxt in adjacency.get(node, ()):
            if nxt not in hops:
                hops[nxt] = hops[node] + 1
                queue.append(nxt)
    return hops


@dataclass(frozen=True)
class CondensedGraph:
    """The hard sync graph as the bound sees it, prepared once for many analyses."""

    comp: dict[str, int]  # service -> its SCC
    members_of: dict[int, list[str]]
    callers: dict[str, list[str]]  # every hard edge, reversed (service level)
    plain_callers: dict[int, list[int]]  # non-group edges between SCCs, reversed
    groups: dict[tuple[str, str], frozenset[int]]  # (owner, group) -> alternative SCCs


def condense(edges: Sequence[Edge]) -> CondensedGraph:
    hard = [e for e in edges if e.is_hard_sync and e.source != e.target]
    names = sorted({n for e in hard for n in (e.source, e.target)})
    index = {name: i for i, name in enumerate(names)}
    graph = ig.Graph(n=len(names), edges=[(index[e.source], index[e.target]) for e in hard],
                     directed=True)  # fmt: skip
    membership = graph.connected_components(mode="strong").membership
    comp = {name: int(membership[i]) for name, i in index.items()}
    # Edges inside an SCC vanish; a group is one factor of its owner, valued by its
    # alternatives' composites.
    callers: dict[str, list[str]] = defaultdict(list)
    plain_callers: dict[int, list[int]] = defaultdict(list)
    groups: dict[tuple[str, str], set[int]] = defaultdict(set)
    for e in hard:
        callers[e.target].append(e.source)
        a, b = comp[e.source], comp[e.target]
        if a == b:
            continue
        if e.redundancy_group:
            groups[(e.source, e.redundancy_group)].add(b)
        else:
            plain_callers[b].append(a)
    members_of: dict[int, list[str]] = defaultdict(list)
    for name, c in comp.items():
        members_of[c].append(name)
    return CondensedGraph(
        comp=comp,
        members_of=dict(members_of),
        callers=dict(callers),
        plain_callers=dict(plain_callers),
        groups={k: frozenset(v) for k, v in groups.items()},
    )


def impact_of_change(
    service_id: str,
    new_availability: float,
    edges: Sequence[Edge] | CondensedGraph,
    availability: Mapping[str, float],
    current: Mapping[str, float],
) -> Impact:
    """Upstream impact of `service_id` delivering `new_availability` (fraction).

    `edges` may be prepared with `condense` once for many analyses. `availability` is each
    service's R_self as the bound used it (externals included; missing means 1.0), `current`
    each service's current composite from the same inputs.
    """
    graph = edges if isinstance(edges, CondensedGraph) else condense(edges)
    comp = dict(graph.comp)
    members_of = graph.members_of
    if service_id not in comp:  # no hard edges at all: its own SCC, nobody upstream
        comp[service_id] = -1
        members_of = {**members_of, -1: [service_id]}
    callers, plain_callers, groups = graph.callers, graph.plain_callers, graph.groups

    def comp_current(c: int) -> float:
        return current.get(members_of[c][0], 1.0)

    upstream = _walk([service_id], callers)
    changed = comp[service_id]
    scc = sorted(members_of[changed])
    old = min(availability.get(m, 1.0) for m in scc)
    others = [availability.get(m, 1.0) for m in scc if m != service_id]
    new = min([new_availability, *others])
    scc_ratio = new / old if old > 0 else 1.0

    ancestors: dict[object, dict[int, int]] = {"scc": _walk([changed], plain_callers)}
    ratios: dict[object, float] = {"scc": scc_ratio}
    factor: dict[int, float] = {}
    for _ in range(len(groups) + 2):
        factor = defaultdict(lambda: 1.0)
        for node, ratio in ratios.items():
            for c in ancestors[node]:
                factor[c] *= ratio
        updated: dict[object, float] = {"scc": scc_ratio}
        for key, alternatives in groups.items():
            if not any(a in factor for a in alternatives):
                continue
            before = 1 - math.prod(1 - comp_current(a) for a in alternatives)
            after = 1 - math.prod(1 - comp_current(a) * factor.get(a, 1.0) for a in alternatives)
            if before > 0 and abs(after / before - 1) > UNCHANGED:
                updated[key] = after / before
                if key not in ancestors:
                    ancestors[key] = _walk([comp[key[0]]], plain_callers)
        if updated.keys() == ratios.keys() and all(
            abs(updated[k] - ratios[k]) <= UNCHANGED for k in updated
        ):
            break
        ratios = updated

    members = set(scc)
    impacted = []
    for name, hops in upstream.items():
        if name == service_id:
            continue
        base = current.get(name, 1.0)
        relationship = (
            "cycle member"
            if name in members
            else ("upstream" if hops == 1 else "upstream (transitive)")
        )
        projected = base * factor.get(comp[name], 1.0)
        impacted.append(ImpactedService(name, relationship, hops, base, projected))
    impacted.sort(key=lambda s: (-abs(s.delta), s.hops, s.service_id))
    return Impact(
        service_id=service_id,
        old_availability=availability.get(service_id, 1.0),
        new_availability=new_availability,
        supernode=tuple(scc) if len(scc) > 1 else None,
        groups_affected=len(ratios) - 1,
        impacted=tuple(impacted),
    )
