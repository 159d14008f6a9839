"""Impact analysis moves each upstream composite exactly as a full recomputation would."""

from __future__ import annotations

import random

import pytest

from analytics.composite_availability import Edge, composite_availability
from analytics.impact_analysis import impact_of_change


def _graph(rng: random.Random, n: int) -> list[Edge]:
    """Random hard/soft/async edges, some redundancy groups, and a few back edges (cycles)."""
    edges = []
    for a in range(n):
        for b in rng.sample(range(a + 1, n), k=min(n - a - 1, rng.randint(0, 3))):
            mode = rng.choice(["sync"] * 8 + ["async"])
            crit = rng.choice(["hard"] * 6 + ["soft", "degraded"])
            edges.append(Edge(f"s{a}", f"s{b}", mode, crit))
        if a + 3 < n and rng.random() < 0.25:  # a group of two or three alternatives
            alts = rng.sample(range(a + 1, n), k=min(n - a - 1, rng.randint(2, 3)))
            edges += [Edge(f"s{a}", f"s{b}", "sync", "hard", f"g{a}") for b in alts]
    for _ in range(n // 10):  # back edges make SCCs
        a, b = sorted(rng.sample(range(n), 2))
        edges.append(Edge(f"s{b}", f"s{a}", "sync", "hard"))
    return edges


@pytest.mark.parametrize("seed", range(12))
def test_matches_a_full_recomputation(seed: int) -> None:
    rng = random.Random(seed)
    n = 60
    edges = _graph(rng, n)
    availability = {f"s{i}": 1 - 10 ** rng.uniform(-5, -1.5) for i in range(n)}
    current = {k: r.composite_bound for k, r in composite_availability(availability, edges).items()}
    for changed in rng.sample(sorted(availability), 5):
        proposed = rng.choice([0.95, 0.99, 0.999, 0.99999])
        impact = impact_of_change(changed, proposed, edges, availability, current)
        truth = composite_availability({**availability, changed: proposed}, edges)
        upstream = {s.service_id for s in impact.impacted}
        for service in impact.impacted:
            assert service.current == pytest.approx(current[service.service_id], rel=1e-12)
            assert service.projected == pytest.approx(
                truth[service.service_id].composite_bound, rel=1e-9
            ), (seed, changed, service.service_id)
        # Everyone not upstream is untouched by the change.
        for name, result in truth.items():
            if name not in upstream and name != changed:
                assert result.composite_bound == pytest.approx(current[name], rel=1e-12)


def test_serial_chain_and_the_trd_example_shape() -> None:
    edges = [Edge("gateway", "checkout"), Edge("checkout", "payment"), Edge("batch", "payment",
             "async")]  # fmt: skip
    availability = {"gateway": 0.9995, "checkout": 0.999, "payment": 0.9993, "batch": 0.99}
    current = {k: r.composite_bound for k, r in composite_availability(availability, edges).items()}
    impact = impact_of_change("payment", 0.995, edges, availability, current)
    assert [(s.service_id, s.relationship) for s in impact.impacted] == [
        ("gateway", "upstream (transitive)"),
        ("checkout", "upstream"),
    ] or [(s.service_id, s.relationship) for s in impact.impacted] == [
        ("checkout", "upstream"),
        ("gateway", "upstream (transitive)"),
    ]
    checkout = next(s for s in impact.impacted if s.service_id == "checkout")
    assert checkout.projected == pytest.approx(0.999 * 0.995)
    assert impact.old_availability == 0.9993 and impact.supernode is None
    # An async caller is not upstream in the availability sense.
    assert "batch" not in {s.service_id for s in impact.impacted}


def test_a_cycle_is_a_supernode_of_its_weakest_member() -> None:
    edges = [Edge("web", "a"), Edge("a", "b"), Edge("b", "a")]
    availability = {"web": 0.9999, "a": 0.999, "b": 0.995}
    current = {k: r.composite_bound for k, r in composite_availability(availability, edges).items()}
    better = impact_of_change("a", 0.9999, edges, availability, current)
    assert better.supernode == ("a", "b")
    assert all(s.delta == 0 for s in better.impacted)  # b is still the weakest
    worse = impact_of_change("a", 0.99, edges, availability, current)
    member = next(s for s in worse.impacted if s.service_id == "b")
    assert member.relationship == "cycle member"
    assert member.projected == pytest.approx(0.99)
    web = next(s for s in worse.impacted if s.service_id == "web")
    assert web.projected == pytest.approx(0.9999 * 0.99)
