"""Cycle detection: one component per SCC, a real cycle path, async edges excluded by caller."""

from __future__ import annotations

import random
from itertools import pairwise

import igraph as ig

from analytics.graph_cycles import find_cycles


def is_cycle(path: tuple[str, ...], edges: set[tuple[str, str]]) -> bool:
    return path[0] == path[-1] and all((a, b) in edges for a, b in pairwise(path))


def test_components_and_paths() -> None:
    edges = {("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("x", "y"), ("y", "x"), ("d", "e")}
    cycles = find_cycles(edges)
    assert [c.members for c in cycles] == [("a", "b", "c"), ("x", "y")]
    assert cycles[0].path == ("a", "b", "c", "a")
    assert cycles[0].key == "a|b|c"
    for cycle in cycles:
        assert is_cycle(cycle.path, edges)


def test_dag_has_no_cycles() -> None:
    assert find_cycles([("a", "b"), ("b", "c"), ("a", "c")]) == []


def test_random_graphs_agree_with_igraph_and_paths_are_real_cycles() -> None:
    rng = random.Random(3)
    for _ in range(20):
        n = 40
        edges = {(f"s{rng.randrange(n)}", f"s{rng.randrange(n)}") for _ in range(60)}
        edges = {e for e in edges if e[0] != e[1]}
        cycles = find_cycles(edges)
        names = sorted({x for e in edges for x in e})
        graph = ig.Graph(directed=True)
        graph.add_vertices(names)
        graph.add_edges(list(edges))
        expected = sorted(
            tuple(sorted(names[i] for i in comp))
            for comp in graph.connected_components(mode="strong")
            if len(comp) > 1
        )
        assert [c.members for c in cycles] == expected
        for cycle in cycles:
            assert is_cycle(cycle.path, edges)
            assert set(cycle.path) <= set(cycle.members)
