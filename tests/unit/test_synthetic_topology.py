"""The synthetic fleet has the shape the rest of the product relies on."""

from __future__ import annotations

import re
from collections import defaultdict

import igraph as ig
import pytest

from store.graph_payload import DependencyGraphIn
from store.service_id_rule import SERVICE_ID_PATTERN
from synthetic_fleet.topology import FleetTopology, generate_topology


def sync_sccs(fleet: FleetTopology) -> list[set[str]]:
    names = [n["service_id"] for n in fleet.nodes]
    index = {s: i for i, s in enumerate(names)}
    graph = ig.Graph(n=len(names), directed=True)
    graph.add_edges(
        [
            (index[e["source"]], index[e["target"]])
            for e in fleet.edges
            if e["attributes"]["communication_mode"] == "sync"
        ]
    )
    return [
        {names[i] for i in comp}
        for comp in graph.connected_components(mode="strong")
        if len(comp) > 1
    ]


def test_deterministic_by_seed() -> None:
    assert generate_topology(150, seed=9) == generate_topology(150, seed=9)
    assert generate_topology(150, seed=9) != generate_topology(150, seed=10)


@pytest.mark.parametrize(("services", "density"), [(60, 3.0), (400, 3.0), (5000, 10.0)])
def test_counts_and_well_formed_edges(services: int, density: float) -> None:
    fleet = generate_topology(services, seed=2, edges_per_service=density)
    ids = [n["service_id"] for n in fleet.nodes]
    assert len(ids) == services == len(set(ids))
    assert abs(len(fleet.edges) - services * density) <= 0.05 * services * density
    pairs = [(e["source"], e["target"]) for e in fleet.edges]
    assert len(pairs) == len(set(pairs))
    assert all(s != t for s, t in pairs)
    assert {x for p in pairs for x in p} == set(ids)  # every service takes part, no stranger
    assert all(re.fullmatch(SERVICE_ID_PATTERN, i) for i in ids)


def test_every_role_and_attribute_kind_is_present() -> None:
    fleet = generate_topology(300, seed=4)
    roles = {n["metadata"]["service_type"] for n in fleet.nodes}
    assert roles == {"api_gateway", "bff", "backend", "consumer", "queue", "datastore", "external"}
    assert all(
        n["metadata"]["published_sla"] > 99
        for n in fleet.nodes
        if n["metadata"]["service_type"] == "external"
    )
    attrs = [e["attributes"] for e in fleet.edges]
    assert {a["communication_mode"] for a in attrs} == {"sync", "async"}
    assert {a["criticality"] for a in attrs} == {"hard", "soft", "degraded"}
    assert len({n["metadata"]["team"] for n in fleet.nodes}) >= 10


def test_deliberate_cycles_are_exactly_the_sync_sccs() -> None:
    fleet = generate_topology(200, seed=3, cycles=3)
    assert len(fleet.cycles) == 3
    assert sorted(map(sorted, sync_sccs(fleet))) == sorted(map(sorted, fleet.cycles))
    assert sync_sccs(generate_topology(200, seed=3, cycles=0)) == []


def test_redundancy_groups_pair_alternatives_from_one_source() -> None:
    fleet = generate_topology(600, seed=5, redundancy_share=0.1)
    groups: dict[str, set[str]] = defaultdict(set)
    targets: dict[str, int] = defaultdict(int)
    for e in fleet.edges:
        group = e["attributes"].get("redundancy_group")
        if group:
            groups[group].add(e["source"])
            targets[group] += 1
    assert len(groups) >= 10
    assert all(len(sources) == 1 for sources in groups.values())
    assert all(n >= 2 for n in targets.values())


def test_payload_is_a_valid_ingestion_body() -> None:
    payload = generate_topology(120, seed=1).to_payload(source="otel_service_graph")
    body = DependencyGraphIn.model_validate(payload)
    assert body.duplicate_errors() == []
    assert len(body.edges) == len(payload["edges"])


def test_too_small_a_fleet_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_topology(5)
