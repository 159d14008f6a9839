"""Circular dependencies: strongly connected components of the blocking (sync) call graph.

Only synchronous edges can make services wait on each other in a loop; an async hop already
breaks the loop for availability, which is why the advice for a cycle is to make one hop async.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import igraph as ig

BREAK_ADVICE = (
    "Break the cycle by making one of its calls asynchronous (a queue or event between the "
    "services) or by removing the dependency; until then the services are treated as one "
    "supernode whose availability is its weakest member's."
)


@dataclass(frozen=True)
class DependencyCycle:
    """One strongly connected component with more than one service."""

    members: tuple[str, ...]
    path: tuple[str, ...]

    @property
    def key(self) -> str:
        """Identity of the component regardless of where its cycle walk starts."""
        return "|".join(self.members)


def build_digraph(nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> ig.Graph:
    """An igraph digraph whose vertex `name` attribute holds the service id."""
    index = {name: i for i, name in enumerate(nodes)}
    graph = ig.Graph(n=len(nodes), directed=True)
    graph.vs["name"] = list(nodes)
    graph.add_edges([(index[s], index[t]) for s, t in edges])
    return graph


def find_cycles(edges: Iterable[tuple[str, str]]) -> list[DependencyCycle]:
    """Every SCC of size > 1, each with one concrete cycle through its first member."""
    edge_list = list(edges)
    nodes = sorted({n for edge in edge_list for n in edge})
    graph = build_digraph(nodes, edge_list)
    cycles: list[DependencyCycle] = []
    for component in graph.connected_components(mode="strong"):
        if len(component) < 2:
            continue
        members = tuple(sorted(nodes[i] for i in component))
        cycles.append(
            DependencyCycle(members=members, path=_cycle_through_first(graph, component, nodes))
        )
    return sorted(cycles, key=lambda c: c.members)


def _cycle_through_first(
    graph: ig.Graph, component: list[int], nodes: list[str]
) -> tuple[str, ...]:
    """Shortest cycle from the alphabetically first member back to itself, within the SCC."""
    inside = set(component)
    start = min(component, key=lambda i: nodes[i])
    parent: dict[int, int] = {}
    queue: deque[int] = deque([start])
    seen = {start}
    while queue:
        current = queue.popleft()
        for nxt in sorted(graph.successors(current), key=lambda i: nodes[i]):
            if nxt not in inside:
                continue
            if nxt == start:
                walk = [current]
                while walk[-1] != start:
                    walk.append(parent[walk[-1]])
                return (*(nodes[i] for i in reversed(walk)), nodes[start])
            if nxt not in seen:
                seen.add(nxt)
                parent[nxt] = current
                queue.append(nxt)
    raise AssertionError("a strongly connected component always has a cycle through each member")
