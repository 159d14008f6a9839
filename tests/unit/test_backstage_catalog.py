"""Backstage catalog descriptors (backstage.io/v1alpha1) → the graph payload and its report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.backstage_catalog import CATALOG

from analytics.edge_merge import EdgeObservation, merge_edge
from analytics.graph_divergence import graph_divergences
from telemetry.backstage_catalog import (
    BackstageGraph,
    CatalogDocument,
    catalog_graph,
    parse_catalog_yaml,
    split_entity_ref,
)
from telemetry.backstage_sources import read_catalog_files


def _graph(text: str, name: str = "catalog-info.yaml") -> BackstageGraph:
    documents, issues = parse_catalog_yaml(text, name)
    return catalog_graph(documents, issues)


def _edges(graph: BackstageGraph) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (e.source, e.target): e.attributes.model_dump(exclude_none=True)
        for e in graph.payload.edges
    }


def _nodes(graph: BackstageGraph) -> dict[str, dict[str, Any]]:
    return {n.service_id: n.metadata.model_dump(exclude_none=True) for n in graph.payload.nodes}


def test_components_resources_and_apis_become_the_graph() -> None:
    graph = _graph(CATALOG)
    assert graph.payload.source == "backstage"
    nodes = _nodes(graph)
    assert set(nodes) == {"storefront", "checkout", "payments", "recommender", "orders-db",
                          "orders-events", "ledger-db"}  # fmt: skip
    assert nodes["checkout"] == {
        "team": "shop-team",
        "backstage": {"entity_ref": "component:default/checkout-service", "type": "service",
                      "lifecycle": "production"},
    }  # fmt: skip
    assert nodes["storefront"]["backstage"]["system"] == "shop"
    assert nodes["payments"]["team"] == "payments-team"  # kind and namespace stripped
    assert nodes["recommender"]["team"] == "jane"
    assert nodes["orders-db"]["service_type"] == "datastore"
    assert nodes["orders-events"]["service_type"] == "queue"
    assert nodes["ledger-db"]["backstage"]["entity_ref"] == "resource:money/ledger-db"

    hard_sync = {"communication_mode": "sync", "criticality": "hard"}
    assert _edges(graph) == {
        ("storefront", "checkout"): hard_sync,
        # consumesApis → the provider; asyncapi: async; the provider's annotation is not ours
        ("storefront", "recommender"): {"communication_mode": "async", "criticality": "hard"},
        ("checkout", "orders-db"): hard_sync,
        # annotated per target; the kindless `orders-events` resolves to the Resource
        ("checkout", "orders-events"): {"communication_mode": "async", "criticality": "soft"},
        ("checkout", "payments"): {**hard_sync, "protocol": "grpc"},
        # payments lives in namespace money: its kindless ref defaults to that namespace
        ("payments", "ledger-db"): hard_sync,
    }
    report = graph.report
    assert report.ignored == {"system": 1, "group": 1}
    assert report.entities == {"component": 4, "api": 2, "resource": 3}
    # recommender's dependsOn names a Resource that is not in the catalog
    (issue,) = report.issues
    assert (issue.severity, issue.code) == ("warning", "missing_entity")
    assert issue.entity == "component:default/recommender"
    assert "resource:default/feature-store" in issue.message
    assert (report.services, report.edges) == (7, 6)


def test_a_bare_annotation_value_applies_to_every_edge_of_the_entity() -> None:
    graph = _graph(CATALOG.replace("dependsOn: [resource:feature-store]",
                                   "dependsOn: [resource:orders-db, component:payments]")
                   .replace("name: payments\n  namespace: money", "name: payments"))  # fmt: skip
    edges = _edges(graph)
    assert edges[("recommender", "orders-db")]["criticality"] == "degraded"
    assert edges[("recommender", "payments")]["criticality"] == "degraded"
    assert edges[("checkout", "orders-db")]["criticality"] == "hard"


def test_malformed_documents_are_reported_with_file_and_document_and_the_rest_imported() -> None:
    text = (
        CATALOG
        + """\
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: [broken
---
- just
- a list
---
apiVersion: backstage.io/v1alpha1
metadata:
  name: no-kind
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  namespace: default
spec: {}
---
apiVersion: backstage.io/v1alpha1
kind: Template
metadata:
  name: new-service
---
apiVersion: example.com/v1
kind: Deployment
metadata:
  name: storefront
"""
    )
    graph = _graph(text, "repo/catalog-info.yaml")
    assert len(graph.payload.nodes) == 7 and len(graph.payload.edges) == 6
    errors = {(i.origin, i.message) for i in graph.report.issues if i.severity == "error"}
    assert len(errors) == 4
    origins = sorted(origin or "" for origin, _ in errors)
    assert origins == [
        "repo/catalog-info.yaml, document 12 (line 120)",
        "repo/catalog-info.yaml, document 13 (line 125)",
        "repo/catalog-info.yaml, document 14 (line 128)",
        "repo/catalog-info.yaml, document 15 (line 132)",
    ]
    messages = dict(errors)
    assert "not valid YAML at line 124 (while parsing a flow sequence)" in messages[origins[0]]
    assert "not a mapping" in messages[origins[1]]
    assert "missing `kind`" in messages[origins[2]]
    assert "missing `metadata.name`" in messages[origins[3]]
    assert graph.report.ignored["template"] == 1
    unknown = [i for i in graph.report.issues if i.code == "unknown_kind"]
    assert [i.entity for i in unknown] == ["deployment:default/storefront"]
    assert graph.report.documents == 16  # every parsed document; the broken YAML is an issue


def test_refs_to_missing_entities_and_bad_values_are_reported_not_fatal() -> None:
    text = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders
  annotations:
    slo-engine.io/dependency-criticality: "resource:cache=sometimes, component:ghost=soft"
    slo-engine.io/service-type: mainframe
spec:
  owner: team-a
  dependsOn: [component:ghost, system:shop, "bad:ref:x", resource:cache, orders]
  consumesApis: [unprovided-api, missing-api]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: unprovided-api}
spec: {type: openapi, owner: team-a, lifecycle: production, definition: "{}"}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: cache}
spec: {type: cache, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders-copy
  annotations: {slo-engine.io/service-id: orders}
spec: {owner: team-b}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: spaced
  annotations: {slo-engine.io/service-id: "has spaces"}
spec: {owner: team-b}
"""
    graph = _graph(text)
    codes = sorted((i.severity, i.code) for i in graph.report.issues)
    assert codes == [
        ("error", "duplicate_service_id"),  # orders-copy claims orders' id
        ("error", "invalid_service_id"),  # "has spaces"
        ("info", "self_dependency"),  # orders dependsOn orders
        ("warning", "annotation_unmatched"),  # component:ghost has no edge
        ("warning", "api_without_provider"),  # unprovided-api
        ("warning", "invalid_annotation"),  # service-type mainframe
        ("warning", "invalid_annotation"),  # resource:cache=sometimes
        ("warning", "invalid_reference"),  # bad:ref:x
        ("warning", "missing_entity"),  # component:ghost
        ("warning", "missing_entity"),  # missing-api
        ("warning", "unsupported_reference"),  # system:shop
    ]
    assert _edges(graph) == {("orders", "cache"): {"communication_mode": "sync",
                                                   "criticality": "hard"}}  # fmt: skip
    assert "service_type" not in _nodes(graph)["orders"]
    assert _nodes(graph)["cache"]["service_type"] == "cache"


def test_api_answers_are_documents_too_and_duplicates_keep_the_first() -> None:
    entity = {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
              "metadata": {"name": "a", "namespace": "default"},
              "spec": {"owner": "x", "dependsOn": ["Component:Default/b"]}}  # fmt: skip
    other = {**entity, "metadata": {"name": "b"}, "spec": {"owner": "y"}}
    again = {**entity, "spec": {"owner": "z"}}
    graph = catalog_graph([CatalogDocument("page 1, item 1", entity),
                           CatalogDocument("page 1, item 2", other),
                           CatalogDocument("page 2, item 1", again)])  # fmt: skip
    assert _nodes(graph)["a"]["team"] == "x"
    assert [(e.source, e.target) for e in graph.payload.edges] == [("a", "b")]  # case-insensitive
    (issue,) = graph.report.issues
    assert issue.code == "duplicate_entity" and issue.origin == "page 2, item 1"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("component:default/checkout", ("component", "default", "checkout")),
        ("resource:orders-db", ("resource", None, "orders-db")),
        ("money/payments", (None, "money", "payments")),
        ("payments", (None, None, "payments")),
    ],
)
def test_entity_refs_follow_backstages_format(text: str, parts: tuple[Any, ...]) -> None:
    assert split_entity_ref(text) == parts


@pytest.mark.parametrize("text", ["", "a:b:c", "kind:", ":name", "ns/", "a/b/c"])
def test_malformed_entity_refs_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an entity reference"):
        split_entity_ref(text)


def test_a_folder_is_every_yaml_below_it_but_hidden_ones(tmp_path: Path) -> None:
    (tmp_path / "services" / "checkout").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    documents = CATALOG.split("---\n")
    checkout = tmp_path / "services" / "checkout" / "catalog-info.yaml"
    checkout.write_text("---\n".join(documents[:6]))
    (tmp_path / "services" / "apis.yml").write_text("---\n".join(documents[6:]))
    (tmp_path / ".git" / "junk.yaml").write_text("kind: [")
    (tmp_path / "README.md").write_text("# not yaml")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9".encode("latin-1"))
    found, issues = read_catalog_files([tmp_path, tmp_path / "missing.yaml"])
    graph = catalog_graph(found, issues)
    assert _edges(graph) == _edges(_graph(CATALOG))
    assert sorted((i.code, Path(i.origin or "").name) for i in graph.report.issues
                  if i.severity == "error") == [("unreadable_file", "latin1.yaml"),
                                                ("unreadable_file", "missing.yaml")]  # fmt: skip


def test_backstage_is_trusted_like_manual_in_the_merge() -> None:
    def obs(source: str, **attributes: Any) -> EdgeObservation:
        return EdgeObservation("a", "b", source, {"communication_mode": "sync", **attributes},
                               confidence=1.0 if source == "backstage" else 0.9)  # fmt: skip

    over_mesh = merge_edge([obs("service_mesh", criticality="soft"),
                            obs("backstage", criticality="hard")])  # fmt: skip
    assert over_mesh.effective_source == "backstage"
    assert over_mesh.attributes["criticality"] == "hard"
    assert [c.attribute for c in over_mesh.conflicts] == ["criticality"]
    under_manual = merge_edge([obs("backstage", criticality="hard"),
                               obs("manual", criticality="degraded")])  # fmt: skip
    assert under_manual.effective_source == "manual"
    assert merge_edge([obs("backstage")]).confidence == 1.0
    # A declared source: runtime traces that miss a Backstage dependency are a divergence.
    declared = EdgeObservation("a", "b", "backstage", {"communication_mode": "sync"})
    seen = EdgeObservation("a", "c", "otel_service_graph", {})
    kinds = {(d.target, d.kind) for d in graph_divergences([declared, seen])}
    assert kinds == {("b", "declared_not_observed"), ("c", "observed_not_declared")}


def test_the_payload_carries_the_observation_time() -> None:
    when = datetime.now(UTC) - timedelta(hours=2)
    documents, _ = parse_catalog_yaml(CATALOG, "c.yaml")
    assert catalog_graph(documents, observed_at=when).payload.timestamp == when
