"""Composite availability against the math it claims and a Monte Carlo of real failures."""

from __future__ import annotations

import json
import math
import random
from itertools import pairwise

import numpy as np
import pytest

from analytics.composite_availability import (
    CompositeResult,
    Edge,
    composite_availability,
    external_availability,
    hard_supernodes,
)


def test_three_serial_hard_dependencies_multiply_ac003() -> None:
    r = {"checkout": 0.9995, "payment": 0.999, "inventory": 0.998, "ledger": 0.9999}
    edges = [Edge("checkout", "payment"), Edge("checkout", "inventory"), Edge("checkout", "ledger")]
    result = composite_availability(r, edges)["checkout"]
    assert result.composite_bound == pytest.approx(0.9995 * 0.999 * 0.998 * 0.9999)
    assert result.distinct_dependencies == 3
    assert result.bottleneck is not None and result.bottleneck.name == "inventory"


def test_a_shared_dependency_counts_once_and_soft_edges_do_not_bound() -> None:
    r = {"a": 0.999, "b": 0.99, "c": 0.995, "d": 0.9}
    edges = [
        Edge("a", "b"),
        Edge("a", "c"),
        Edge("b", "c"),
        Edge("a", "d", criticality="soft"),
        Edge("c", "d", communication_mode="async"),
    ]
    results = composite_availability(r, edges)
    assert results["a"].composite_bound == pytest.approx(0.999 * 0.99 * 0.995)
    assert [e.target for e in results["a"].degraded_mode_risks] == ["d"]
    assert results["c"].composite_bound == pytest.approx(0.995)


def test_a_cycle_is_one_supernode_bounded_by_its_weakest_member() -> None:
    r = {"a": 0.999, "b": 0.98, "c": 0.995, "db": 0.9999, "web": 0.9999}
    edges = [Edge("a", "b"), Edge("b", "c"), Edge("c", "a"), Edge("c", "db"), Edge("web", "a")]
    results = composite_availability(r, edges)
    for member in ("a", "b", "c"):
        assert results[member].composite_bound == pytest.approx(0.98 * 0.9999)
        assert results[member].supernode == ("a", "b", "c")
    assert results["web"].composite_bound == pytest.approx(0.9999 * 0.98 * 0.9999)
    assert results["web"].bottleneck is not None
    assert results["web"].bottleneck.kind == "supernode"


def test_redundancy_group_fails_only_when_every_alternative_does() -> None:
    r = {"api": 0.9999, "pay-a": 0.99, "pay-b": 0.98, "pay-a-db": 0.999}
    edges = [
        Edge("api", "pay-a", redundancy_group="payments"),
        Edge("api", "pay-b", redundancy_group="payments"),
        Edge("pay-a", "pay-a-db"),
    ]
    result = composite_availability(r, edges)["api"]
    alternative_a = 0.99 * 0.999
    assert result.composite_bound == pytest.approx(0.9999 * (1 - (1 - alternative_a) * (1 - 0.98)))
    assert result.bottleneck is not None and result.bottleneck.kind == "redundancy_group"


def test_external_sla_adjustment_and_budget_risk() -> None:
    assert external_availability(99.99) == pytest.approx(0.9989)
    r = {"checkout": 0.99995}
    externals = {"stripe": external_availability(99.99), "maps": 0.99999}
    edges = [Edge("checkout", "stripe"), Edge("checkout", "maps")]
    result = composite_availability(
        r, edges, externals=externals, observed_externals=frozenset({"maps"}), target=0.995
    )["checkout"]
    risks = {x.service: x for x in result.external_risks}
    assert risks["stripe"].source == "published_sla_adjusted"
    assert risks["stripe"].budget_consumption == pytest.approx(0.0011 / 0.005)
    assert risks["stripe"].high_dependency_risk is False
    assert risks["maps"].source == "observed"
    tight = composite_availability(r, edges, externals=externals, target=0.999)["checkout"]
    assert {x.service for x in tight.external_risks if x.high_dependency_risk} == {"stripe"}


def test_deep_chains_are_flagged_with_lower_confidence() -> None:
    chain = [f"s{i}" for i in range(13)]
    r = dict.fromkeys(chain, 0.9999)
    results = composite_availability(r, [Edge(a, b) for a, b in pairwise(chain)])
    assert results["s0"].depth == 12 and results["s0"].truncated
    assert results["s0"].confidence < 1.0
    assert results["s0"].composite_bound == pytest.approx(0.9999**13)
    assert not results["s5"].truncated


def random_dag(rng: random.Random, n: int, p: float) -> list[Edge]:
    edges = []
    for i in range(n):
        for j in range(i + 1, n):
            if rng.random() < p:
                roll = rng.random()
                edges.append(
                    Edge(
                        f"n{i}",
                        f"n{j}",
                        communication_mode="async" if roll < 0.1 else "sync",
                        criticality="soft" if 0.1 <= roll < 0.2 else "hard",
                    )
                )
    return edges


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_agrees_with_a_monte_carlo_of_independent_failures(seed: int) -> None:
    """Simulate: every service is up with probability R independently; a service works when it
    and everything it hard-depends on (transitively) is up. The bound is that probability."""
    rng = random.Random(seed)
    n, trials = 25, 200_000
    availability = {f"n{i}": rng.uniform(0.9, 0.999) for i in range(n)}
    edges = random_dag(rng, n, 0.15)
    results = composite_availability(availability, edges)
    np_rng = np.random.default_rng(seed)
    up = np.stack([np_rng.random(trials) < availability[f"n{i}"] for i in range(n)])
    works = up.copy()
    hard = [(int(e.source[1:]), int(e.target[1:])) for e in edges if e.is_hard_sync]
    for i in reversed(range(n)):  # targets have larger indices: already final
        for a, b in hard:
            if a == i:
                works[i] &= works[b]
    for i in range(n):
        simulated = float(works[i].mean())
        expected = results[f"n{i}"].composite_bound
        sigma = math.sqrt(expected * (1 - expected) / trials)
        assert abs(simulated - expected) <= 4 * sigma + 1e-4, (i, simulated, expected)


def test_redundancy_on_trees_agrees_with_monte_carlo() -> None:
    rng = np.random.default_rng(9)
    trials = 300_000
    r = {"root": 0.999, "x": 0.95, "y": 0.9, "z": 0.97, "x-db": 0.99}
    edges = [
        Edge("root", "x", redundancy_group="g"),
        Edge("root", "y", redundancy_group="g"),
        Edge("root", "z"),
        Edge("x", "x-db"),
    ]
    up = {k: rng.random(trials) < v for k, v in r.items()}
    x_path = up["x"] & up["x-db"]
    works = up["root"] & (x_path | up["y"]) & up["z"]
    expected = composite_availability(r, edges)["root"].composite_bound
    assert float(works.mean()) == pytest.approx(
        expected, abs=4 * math.sqrt(expected * (1 - expected) / trials)
    )


def _fleet_with_ties() -> tuple[dict[str, float], list[Edge], dict[str, float]]:
    """A generated fleet with deliberate cycles, redundancy groups and many equal
    availabilities (ties are where the order of components could show)."""
    from synthetic_fleet.topology import generate_topology

    topology = generate_topology(300, seed=7, cycles=4)
    edges = [
        Edge(
            e["source"],
            e["target"],
            e.get("communication_mode", "sync"),
            e.get("criticality", "hard"),
            e.get("redundancy_group"),
        )
        for e in topology.edges
    ]
    rng = random.Random(7)
    names = sorted({n for e in edges for n in (e.source, e.target)})
    availability = {n: rng.choice([0.999, 0.9995, 0.99, 1.0]) for n in names}
    return availability, edges, {n: 0.99 for n in names[::7]}


def test_a_given_condensation_gives_the_bound_that_computing_it_does() -> None:
    availability, edges, promises = _fleet_with_ties()
    supernodes = hard_supernodes(edges)
    assert len(supernodes) >= 2  # the fleet's deliberate cycles
    computed = composite_availability(
        availability, edges, delivered=availability, promises=promises
    )
    given = composite_availability(
        availability, edges, delivered=availability, promises=promises, supernodes=supernodes
    )
    assert given == computed  # every field, to the last bit and the choice among equals


def test_hard_supernodes_are_the_cycles_of_hard_sync_edges_only() -> None:
    edges = [
        Edge("a", "b"),
        Edge("b", "a"),
        Edge("c", "d"),
        Edge("d", "c", criticality="soft"),  # a soft back edge makes no supernode
        Edge("e", "f"),
        Edge("f", "e", communication_mode="async"),
        Edge("g", "g"),  # a self-loop is not a cycle of services
    ]
    assert hard_supernodes(edges) == [("a", "b")]


def test_a_condensation_of_other_services_is_refused() -> None:
    with pytest.raises(ValueError, match="does not condense"):
        composite_availability({"a": 0.99}, [Edge("a", "b")], supernodes=[("a", "zz")])


def test_a_stale_condensation_that_leaves_a_cycle_is_refused() -> None:
    """A condensation computed from other edges (an older partition's) must not give a bound:
    a cycle left between components would make the topological order partial."""
    edges = [Edge("a", "b"), Edge("b", "a"), Edge("b", "c")]
    with pytest.raises(ValueError, match="cycle remains"):
        composite_availability({"a": 0.99, "b": 0.99, "c": 0.99}, edges, supernodes=[])


def test_a_result_survives_the_warehouse_json_round_trip() -> None:
    r = {"web": 0.9999, "a": 0.999, "b": 0.98, "pay-a": 0.99, "pay-b": 0.98, "stripe": 0.0}
    edges = [
        Edge("web", "a"),
        Edge("a", "b"),
        Edge("b", "a"),
        Edge("web", "pay-a", redundancy_group="payments"),
        Edge("web", "pay-b", redundancy_group="payments"),
        Edge("web", "stripe"),
        Edge("web", "b", criticality="soft"),
    ]
    results = composite_availability(
        r,
        edges,
        externals={"stripe": 0.9989},
        delivered={"a": 0.9995},
        promises={"a": 0.999},
    )
    for result in results.values():
        assert CompositeResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    web = results["web"]
    assert web.bottleneck is not None and web.external_risks and web.degraded_mode_risks
    assert results["a"].supernode == ("a", "b")
