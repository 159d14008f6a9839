"""The availability a service can promise, given what its hard dependencies deliver.

A service that calls a dependency synchronously and cannot work without it (a hard sync edge)
is down whenever that dependency is: with independent failures, the service's availability is
bounded by the product of its own and every *distinct* service it transitively needs —
`R = R_self × Π R_dep` — where a dependency reached along two paths counts once. Alternatives
(a redundancy group: replicas, a fallback provider) fail only together: `1 − Π(1 − R_i)`.
Soft, degraded and async edges do not bound availability; they are listed as degraded-mode
risks. Cycles are contracted first: a strongly connected component acts as one supernode whose
availability is its weakest member's.

The whole fleet is computed in one pass over the condensed DAG: reachability sets as packed
bitsets built in reverse topological order (each edge ORs one row into another), then one
dot product per node with the log-availabilities — never a graph walk per service.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import igraph as ig
import numpy as np
import numpy.typing as npt

from analytics.graph_cycles import find_cycles

#: Published SLAs are optimistic: an external service without observations is assumed to
#: deliver its SLA minus this many percentage points (the TRD's example: 99.99 → 99.89).
EXTERNAL_SLA_ADJUSTMENT_PP = 0.1
#: An external dependency consuming more than this share of a service's error budget is
#: flagged as a high dependency risk.
HIGH_DEPENDENCY_RISK_SHARE = 0.30
#: Chains deeper than this are still computed in full, but flagged with lower confidence:
#: the deeper the chain, the less certain that every hop is really on the request path.
MAX_TRUSTED_DEPTH = 10
DEEP_CHAIN_CONFIDENCE = 0.7
#: How many of the weakest reachable dependencies each result lists.
LISTED_FACTORS = 10


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    communication_mode: str = "sync"
    criticality: str = "hard"
    redundancy_group: str | None = None

    @property
    def is_hard_sync(self) -> bool:
        return self.communication_mode == "sync" and self.criticality == "hard"


@dataclass(frozen=True)
class Factor:
    """One term of the product: a dependency (or a redundancy group) and its availability."""

    name: str
    availability: float
    share_of_unavailability: float  # this factor's share of the bound's total -log R
    kind: str = "service"  # service | external | redundancy_group | supernode
    members: tuple[str, ...] = ()  # a redundancy group's alternatives, a supernode's members


@dataclass(frozen=True)
class ExternalRisk:
    """One of the (up to LISTED_FACTORS) externals taking the largest share of the budget."""

    service: str
    availability: float
    source: str  # observed | published_sla_adjusted
    budget_consumption: float  # (1 − R_ext) / (1 − target)
    high_dependency_risk: bool


@dataclass(frozen=True)
class Promise:
    """A hard dependency whose accepted SLO is below what it delivers: it is entitled to spend
    the difference, and its callers must survive it if it does."""

    service: str
    target: float  # fraction
    delivered: float  # fraction


@dataclass(frozen=True)
class CompositeResult:
    service: str
    self_availability: float  # intrinsic: the service's own share, its dependencies divided out
    composite_bound: float
    distinct_dependencies: int
    weakest_factors: tuple[Factor, ...]
    bottleneck: Factor | None
    external_risks: tuple[ExternalRisk, ...]
    degraded_mode_risks: tuple[Edge, ...]
    supernode: tuple[str, ...] | None
    depth: int
    truncated: bool
    confidence: float
    notes: tuple[str, ...] = field(default=())
    #: The bound if every hard dependency with an accepted SLO delivered only its target.
    promised_bound: float | None = None
    promises: tuple[Promise, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the warehouse stores a bound between two assets)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompositeResult:
        def factor(f: Mapping[str, Any]) -> Factor:
            return Factor(**{**f, "members": tuple(f.get("members", ()))})

        return cls(
            **{
                **data,
                "weakest_factors": tuple(factor(f) for f in data["weakest_factors"]),
                "bottleneck": factor(data["bottleneck"]) if data["bottleneck"] else None,
                "external_risks": tuple(ExternalRisk(**x) for x in data["external_risks"]),
                "degraded_mode_risks": tuple(Edge(**e) for e in data["degraded_mode_risks"]),
                "supernode": tuple(data["supernode"]) if data["supernode"] else None,
                "notes": tuple(data.get("notes", ())),
                "promises": tuple(Promise(**p) for p in data.get("promises", ())),
            }
        )


def external_availability(published_sla_percent: float) -> float:
    """What an unobserved external service is assumed to deliver (a fraction)."""
    return max(0.0, published_sla_percent - EXTERNAL_SLA_ADJUSTMENT_PP) / 100.0


def _hard_group_key(edge: Edge) -> tuple[str, str] | None:
    return (edge.source, edge.redundancy_group) if edge.redundancy_group else None


def composite_availability(
    availability: Mapping[str, float],
    edges: Sequence[Edge],
    *,
    externals: Mapping[str, float] | None = None,
    observed_externals: frozenset[str] = frozenset(),
    target: float = 0.999,
    delivered: Mapping[str, float] | None = None,
    promises: Mapping[str, float] | None = None,
    supernodes: Iterable[Sequence[str]] | None = None,
) -> dict[str, CompositeResult]:
    """The composite bound of every service in `availability` (fractions in [0, 1]): each
    service's *intrinsic* availability, never its observed one (which already holds its
    dependencies' failures; see `analytics.intrinsic_availability`).

    `externals` maps external services to their assumed availability (observed, or
    `external_availability(published SLA)`); those in `observed_externals` were observed.
    `target` is the SLO against which external error-budget consumption is judged.
    `promises` maps services to their accepted availability targets and `delivered` to what
    they delivered: a reachable dependency promising less than it delivers may spend the
    difference, so `promised_bound` scales the bound by `target / delivered` for each.

    `supernodes` is the condensation of the hard sync graph of `edges` when the caller already
    has it (the pipeline's `scc_condensation` asset): the members of every strongly connected
    component of more than one service. Given, it is trusted instead of computed again; it must
    be the condensation of these very edges (`hard_supernodes(edges)`), or the bound is wrong.
    """
    externals = dict(externals or {})
    availability = {**availability, **{k: v for k, v in externals.items() if k not in availability}}
    names = sorted(set(availability) | {n for e in edges for n in (e.source, e.target)})
    index = {name: i for i, name in enumerate(names)}
    r_self = np.array([availability.get(n, 1.0) for n in names], dtype=np.float64)

    hard = hard_dependency_edges(edges)
    soft_by_source: dict[str, list[Edge]] = defaultdict(list)
    for e in edges:
        if not e.is_hard_sync:
            soft_by_source[e.source].append(e)

    # 1. Condense cycles of the hard sync graph into supernodes (weakest member).
    if supernodes is None:
        membership = _canonical(_strong_components(len(names), index, hard))
    else:
        membership = _canonical(_given_components(len(names), index, supernodes))
    components = int(membership.max()) + 1 if len(names) else 0
    members: dict[int, list[int]] = defaultdict(list)
    for node, comp in enumerate(membership):
        members[int(comp)].append(node)
    comp_r = np.ones(components)
    for comp, nodes in members.items():
        comp_r[comp] = float(r_self[nodes].min())

    # 2. Condensed edges; redundancy groups become virtual leaf nodes (one per source+group).
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    plain: set[tuple[int, int]] = set()
    for e in hard:
        a, b = int(membership[index[e.source]]), int(membership[index[e.target]])
        if a == b:
            continue
        key = _hard_group_key(e)
        if key is None:
            plain.add((a, b))
        else:
            groups[key].append(b)
    group_keys = sorted(groups)
    total = components + len(group_keys)
    reach_edges: list[tuple[int, int]] = sorted(plain)
    order_edges = list(reach_edges)
    for g, key in enumerate(group_keys):
        node = components + g
        owner = int(membership[index[key[0]]])
        reach_edges.append((owner, node))
        order_edges.append((owner, node))
        order_edges += [(node, alternative) for alternative in set(groups[key])]

    dag = ig.Graph(n=total, edges=order_edges, directed=True)
    if not dag.is_dag():  # only a given condensation can leave a cycle (e.g. a stale one)
        raise ValueError(
            "the given supernodes are not the condensation of these edges: a cycle remains "
            "between components (recompute scc_condensation for this partition)"
        )
    topo = dag.topological_sorting(mode="out")
    children: dict[int, list[int]] = defaultdict(list)
    for a, b in reach_edges:
        children[a].append(b)

    # 3. Reachability as packed bitsets, children before parents.
    width = (total + 7) // 8
    reach = np.zeros((total, width), dtype=np.uint8)
    depth = np.zeros(total, dtype=np.int64)
    for node in reversed(topo):
        row = reach[node]
        for child in children.get(node, ()):
            np.bitwise_or(row, reach[child], out=row)
            row[child >> 3] |= np.uint8(0x80 >> (child & 7))
            depth[node] = max(depth[node], depth[child] + 1)

    # 4. Composite per condensed node: its own log-availability plus the reachable ones'.
    log_r = np.zeros(total)
    composite = np.ones(total)
    for node in reversed(topo):
        if node >= components:  # a redundancy group: alternatives fail together
            alternatives = sorted(set(groups[group_keys[node - components]]))
            fail_all = float(np.prod(1.0 - composite[alternatives]))
            log_r[node] = math.log(max(1.0 - fail_all, 1e-300))
            composite[node] = math.exp(log_r[node])
            continue
        log_r[node] = math.log(max(comp_r[node], 1e-300))
        bits = np.unpackbits(reach[node], count=total).astype(bool)
        composite[node] = math.exp(log_r[node] + float(log_r[bits].sum()))

    # 5. What dependencies may spend: log(target / delivered) per single-service unit.
    delivered = dict(delivered or {})
    log_promise = np.zeros(total)
    entitled: dict[int, Promise] = {}
    for name, promised in (promises or {}).items():
        if name not in index or name not in delivered:
            continue
        comp = int(membership[index[name]])
        if len(members[comp]) == 1 and 0 < promised < delivered[name]:
            log_promise[comp] = math.log(promised / delivered[name])
            entitled[comp] = Promise(name, promised, delivered[name])

    is_external = np.zeros(total, dtype=bool)
    for comp, nodes in members.items():
        is_external[comp] = len(nodes) == 1 and names[nodes[0]] in externals
    return {
        name: _result(
            name,
            is_external,
            i,
            names,
            membership,
            members,
            r_self,
            composite,
            log_r,
            reach,
            depth,
            components,
            group_keys,
            groups,
            externals,
            observed_externals,
            soft_by_source,
            target,
            total,
            log_promise,
            entitled,
        )
        for name, i in index.items()
        if name in availability
    }


def hard_dependency_edges(edges: Iterable[Edge]) -> list[Edge]:
    """The edges the bound multiplies along: hard sync, without self-loops."""
    return [e for e in edges if e.is_hard_sync and e.source != e.target]


def hard_supernodes(edges: Iterable[Edge]) -> list[tuple[str, ...]]:
    """The condensation `composite_availability` uses: the sorted members of every strongly
    connected component (more than one service) of the hard sync graph of `edges`, sorted —
    what the `scc_condensation` asset stores, so that the bound can take it from there."""
    hard = hard_dependency_edges(edges)
    return [cycle.members for cycle in find_cycles((e.source, e.target) for e in hard)]


def _strong_components(
    n: int, index: Mapping[str, int], hard: Sequence[Edge]
) -> npt.NDArray[np.int64]:
    graph = ig.Graph(n=n, edges=[(index[e.source], index[e.target]) for e in hard],
                     directed=True)  # fmt: skip
    return np.asarray(graph.connected_components(mode="strong").membership, dtype=np.int64)


def _given_components(
    n: int, index: Mapping[str, int], supernodes: Iterable[Sequence[str]]
) -> npt.NDArray[np.int64]:
    """Component labels from a condensation computed elsewhere (each supernode labelled by
    its first member's index; every other node is its own component)."""
    labels = np.arange(n, dtype=np.int64)
    seen: set[str] = set()
    for group in supernodes:
        unknown = [m for m in group if m not in index]
        twice = seen.intersection(group)
        if unknown or twice:
            raise ValueError(
                f"supernode {sorted(group)} does not condense these edges "
                f"(unknown: {sorted(unknown)}, in another supernode: {sorted(twice)})"
            )
        seen.update(group)
        members = [index[m] for m in group]
        labels[members] = min(members)
    return labels


def _canonical(labels: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Components numbered 0, 1, … in the order of their first node.

    The numbering decides the order of floating-point sums and the choice between equally
    weak factors; numbering by node rather than by how igraph happened to find the components
    makes a bound computed from a given condensation identical to one that computed it.
    """
    if not len(labels):
        return labels
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def _smallest(
    nodes: npt.NDArray[np.int64], log_r: npt.NDArray[np.float64], k: int
) -> npt.NDArray[np.int64]:
    """The k nodes with the lowest availability, without sorting all of them."""
    if len(nodes) <= k:
        return nodes
    return nodes[np.argpartition(log_r[nodes], k - 1)[:k]]


def _factor(
    node: int,
    names: Sequence[str],
    members: Mapping[int, list[int]],
    components: int,
    group_keys: Sequence[tuple[str, str]],
    groups: Mapping[tuple[str, str], list[int]],
    externals: Mapping[str, float],
    log_r: npt.NDArray[np.float64],
    total_log: float,
) -> Factor:
    parts: tuple[str, ...] = ()
    if node >= components:
        source, group = group_keys[node - components]
        label, kind = f"{source}/{group}", "redundancy_group"
        parts = tuple(
            sorted({names[m] for c in groups[group_keys[node - components]] for m in members[c]})
        )
    elif len(members[node]) > 1:
        parts = tuple(sorted(names[m] for m in members[node]))
        label, kind = "+".join(parts), "supernode"
    else:
        label = names[members[node][0]]
        kind = "external" if label in externals else "service"
    share = float(-log_r[node] / total_log) if total_log > 0 else 0.0
    return Factor(label, math.exp(log_r[node]), share, kind, parts)


def _result(
    name: str,
    is_external: npt.NDArray[np.bool_],
    i: int,
    names: Sequence[str],
    membership: npt.NDArray[np.int64],
    members: Mapping[int, list[int]],
    r_self: npt.NDArray[np.float64],
    composite: npt.NDArray[np.float64],
    log_r: npt.NDArray[np.float64],
    reach: npt.NDArray[np.uint8],
    depth: npt.NDArray[np.int64],
    components: int,
    group_keys: Sequence[tuple[str, str]],
    groups: Mapping[tuple[str, str], list[int]],
    externals: Mapping[str, float],
    observed_externals: frozenset[str],
    soft_by_source: Mapping[str, list[Edge]],
    target: float,
    total: int,
    log_promise: npt.NDArray[np.float64],
    entitled: Mapping[int, Promise],
) -> CompositeResult:
    comp = int(membership[i])
    cycle = members[comp]
    bound = float(composite[comp])
    reachable = np.flatnonzero(np.unpackbits(reach[comp], count=total))
    total_log = -math.log(bound) if bound > 0 else math.inf
    # Only the weakest few and the largest external consumers become objects: a hub service
    # can reach thousands of dependencies.
    listed = _smallest(reachable, log_r, LISTED_FACTORS)
    external_nodes = _smallest(reachable[is_external[reachable]], log_r, LISTED_FACTORS)
    factors = [
        _factor(int(n), names, members, components, group_keys, groups, externals, log_r, total_log)
        for n in dict.fromkeys([*listed.tolist(), *external_nodes.tolist()])
    ]
    factors.sort(key=lambda f: f.availability)
    budget = max(1.0 - target, 1e-12)
    risks = tuple(
        ExternalRisk(
            service=f.name,
            availability=f.availability,
            source="observed" if f.name in observed_externals else "published_sla_adjusted",
            budget_consumption=(1.0 - f.availability) / budget,
            high_dependency_risk=(1.0 - f.availability) / budget > HIGH_DEPENDENCY_RISK_SHARE,
        )
        for f in factors
        if f.kind == "external"
    )
    promised = [entitled[int(n)] for n in reachable if int(n) in entitled] if entitled else []
    promised_bound = bound * math.exp(float(log_promise[reachable].sum())) if promised else None
    deep = int(depth[comp]) > MAX_TRUSTED_DEPTH
    notes = []
    if len(cycle) > 1:
        notes.append(
            "In a dependency cycle: its members share one bound, set by the weakest member."
        )
    if deep:
        notes.append(
            f"Hard dependency chain of depth {int(depth[comp])} (> {MAX_TRUSTED_DEPTH}): "
            "bound computed in full, confidence lowered."
        )
    return CompositeResult(
        service=name,
        self_availability=float(r_self[i]),
        composite_bound=bound,
        distinct_dependencies=len(reachable),
        weakest_factors=tuple(f for f in factors[:LISTED_FACTORS]),
        bottleneck=factors[0] if factors else None,
        external_risks=risks,
        degraded_mode_risks=tuple(soft_by_source.get(name, ())),
        supernode=tuple(sorted(names[m] for m in cycle)) if len(cycle) > 1 else None,
        depth=int(depth[comp]),
        truncated=deep,
        confidence=DEEP_CHAIN_CONFIDENCE if deep else 1.0,
        notes=tuple(notes),
        promised_bound=promised_bound,
        promises=tuple(sorted(promised, key=lambda p: p.target / p.delivered)),
    )
