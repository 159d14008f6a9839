"""Pure merge rules: priority, stale demotion, conflicts, combined confidence."""

from __future__ import annotations

import pytest

from analytics.edge_merge import EdgeObservation, combined_confidence, effective_edges, merge_edge


def obs(source: str, **attributes: object) -> EdgeObservation:
    stale = bool(attributes.pop("stale", False))
    confidence = float(attributes.pop("confidence", 1.0))  # type: ignore[arg-type]
    return EdgeObservation("a", "b", source, attributes, confidence=confidence, is_stale=stale)


def test_priority_manual_over_mesh_over_otel_over_kubernetes() -> None:
    edge = merge_edge(
        [
            obs("kubernetes", criticality="degraded"),
            obs("otel_service_graph", criticality="soft"),
            obs("service_mesh", criticality="hard", protocol="grpc"),
        ]
    )
    assert edge.effective_source == "service_mesh"
    assert edge.attributes["criticality"] == "hard"
    assert edge.discovery_sources == ("service_mesh", "otel_service_graph", "kubernetes")
    (conflict,) = edge.conflicts
    assert conflict.attribute == "criticality"
    # Traces cannot tell criticality: the OTel row's default is not a disagreement.
    assert conflict.values == {"service_mesh": "hard", "kubernetes": "degraded"}


def test_fresh_observation_beats_stale_higher_priority() -> None:
    edge = merge_edge(
        [obs("manual", timeout_ms=100, stale=True), obs("kubernetes", timeout_ms=200)]
    )
    assert edge.effective_source == "kubernetes"
    assert edge.attributes["timeout_ms"] == 200
    assert edge.is_stale is False


def test_missing_values_are_not_conflicts_and_dicts_compare_by_value() -> None:
    edge = merge_edge(
        [
            obs("manual", retry_config={"max_retries": 3, "backoff_strategy": "exponential"}),
            obs(
                "otel_service_graph",
                retry_config={"backoff_strategy": "exponential", "max_retries": 3},
            ),
            obs("kubernetes"),
        ]
    )
    assert edge.conflicts == ()


def test_combined_confidence_is_noisy_or_with_stale_discount() -> None:
    assert combined_confidence(
        [obs("x", confidence=0.9), obs("y", confidence=0.7)]
    ) == pytest.approx(0.97)
    assert combined_confidence([obs("x", confidence=0.8, stale=True)]) == pytest.approx(0.4)


def test_effective_edges_groups_by_pair_in_stable_order() -> None:
    edges = effective_edges(
        [
            EdgeObservation("b", "c", "manual", {}),
            EdgeObservation("a", "b", "kubernetes", {}),
            EdgeObservation("a", "b", "manual", {}),
        ]
    )
    assert [(e.source, e.target, e.effective_source) for e in edges] == [
        ("a", "b", "manual"),
        ("b", "c", "manual"),
    ]


def test_merge_needs_observations() -> None:
    with pytest.raises(ValueError):
        merge_edge([])
